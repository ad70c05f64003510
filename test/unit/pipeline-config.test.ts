/** Run configuration: defaults, config file, SHARPSTREAM_* environment and flags, in that order; clear errors. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromEnv, DEFAULT_CONFIG, readConfigFile, resolveConfig } from '../../pipeline/config.js';
import { outputHash, outputKey, safeName } from '../../pipeline/output-key.js';

describe('run config', () => {
  it('layers defaults < file < environment < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ out: '/file/out', concurrency: 3, sources: [{ kind: 'bus' }] }));
    const c = resolveConfig(readConfigFile(file), configFromEnv({ SHARPSTREAM_OUT: '/env/out', SHARPSTREAM_RUNTIME: 'onnx' }), { runtime: 'tfjs-wasm' });
    expect(c).toMatchObject({ out: '/env/out', concurrency: 3, runtime: 'tfjs-wasm', sources: [{ kind: 'bus' }], catalogue: DEFAULT_CONFIG.catalogue });
    expect(resolveConfig().sources).toEqual([{ kind: 'inbox', dir: './inbox' }]);
  });

  it('reads Kafka settings from the environment and names bad settings', () => {
    expect(configFromEnv({ SHARPSTREAM_KAFKA_BROKERS: 'a:9092,b:9092', SHARPSTREAM_KAFKA_TOPIC: 'scenes' }).sources).toEqual([{ kind: 'kafka', brokers: ['a:9092', 'b:9092'], topic: 'scenes', group: 'sharpstream' }]);
    expect(() => configFromEnv({ SHARPSTREAM_KAFKA_TOPIC: 'scenes' })).toThrow(/go together/);
    expect(() => configFromEnv({ SHARPSTREAM_CONCURRENCY: '0' })).toThrow(/SHARPSTREAM_CONCURRENCY must be a positive integer/);
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ outt: 'x' }));
    expect(() => readConfigFile(join(dir, 'bad.json'))).toThrow(/bad\.json: unknown setting outt/);
    writeFileSync(join(dir, 'src.json'), JSON.stringify({ sources: [{ kind: 'ftp' }] }));
    expect(() => readConfigFile(join(dir, 'src.json'))).toThrow(/each source needs "kind"/);
    expect(() => resolveConfig({ sources: [] })).toThrow(/no source of scene events/);
  });
});

describe('output keys', () => {
  const base = { sceneId: 'S2B_MSIL1C_X', models: [{ id: 'm20', version: '1' }, { id: 'm60', version: '2' }], collection: 'sentinel-2-l1c-sr' };

  it('are stable for the same input and models, in any model order', () => {
    const k = outputKey(base);
    expect(k.cog).toMatch(/^sentinel-2-l1c-sr\/S2B_MSIL1C_X_sr-[0-9a-f]{8}\/S2B_MSIL1C_X_sr\.tif$/);
    expect(k.item).toBe(`${k.prefix}/S2B_MSIL1C_X_sr.json`);
    expect(k.thumbnailBicubic).toBe(`${k.prefix}/S2B_MSIL1C_X_sr_bicubic.png`);
    expect(outputKey({ ...base, models: [...base.models].reverse() })).toEqual(k);
  });

  it('change with the input version, a model version, retrained weights or the region', () => {
    const h = outputHash(base);
    // Same id and version, other weights (a model retrained in place): another output.
    const w1 = outputHash({ ...base, models: [{ ...base.models[0], weights: 'aa'.repeat(32) }, base.models[1]] });
    const w2 = outputHash({ ...base, models: [{ ...base.models[0], weights: 'bb'.repeat(32) }, base.models[1]] });
    expect(w1).not.toBe(h);
    expect(w2).not.toBe(w1);
    expect(outputHash({ ...base, version: '2024-01-02' })).not.toBe(h);
    expect(outputHash({ ...base, models: [{ id: 'm20', version: '1.1' }, base.models[1]] })).not.toBe(h);
    expect(outputHash({ ...base, window: { x: 0, y: 0, width: 60, height: 60 } })).not.toBe(h);
  });

  it('keep names safe for paths and URLs', () => {
    expect(safeName('a b/c?d')).toBe('a_b_c_d');
    expect(safeName('../x')).toBe('__x');
    expect(safeName('a..b')).toBe('a_b');
    expect(outputKey({ ...base, sceneId: '../../etc' }).prefix.includes('..')).toBe(false);
  });
});
