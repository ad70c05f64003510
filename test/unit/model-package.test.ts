import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hwioToOihw, exportOnnx } from '../../model/onnx.js';
import { loadModel, makePackage, saveModel, ModelError } from '../../model/package.js';
import { ProtoWriter } from '../../model/protobuf.js';
import { satellites } from '../../satellites/registry.js';
import { tinyDsen2 } from '../helpers/models.js';

const s2 = satellites().get('sentinel-2-l2a');

async function saved(): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'model-')), 'm');
  const pkg = tinyDsen2(s2, '20m');
  const { format: _f, weights: _w, ...rest } = pkg.manifest;
  await saveModel(dir, rest, pkg.weights);
  return dir;
}

describe('model package', () => {
  it('round-trips manifest and weights exactly', async () => {
    const dir = await saved();
    const pkg = await loadModel(dir);
    const orig = tinyDsen2(s2, '20m');
    expect(pkg.manifest.inputs).toEqual(orig.manifest.inputs);
    for (const [k, t] of orig.weights) expect(pkg.weights.get(k)!.data).toEqual(t.data);
  });

  it('refuses corrupt weights, naming the file', async () => {
    const dir = await saved();
    const w = join(dir, 'weights.bin');
    const bytes = readFileSync(w);
    bytes[100] ^= 0xff;
    writeFileSync(w, bytes);
    await expect(loadModel(dir)).rejects.toThrow(/weights\.bin: weights are corrupt \(sha256/);
  });

  it('refuses truncated weights even with a matching checksum', async () => {
    const dir = await saved();
    const m = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const w = join(dir, 'weights.bin');
    const cut = readFileSync(w).subarray(0, 1000);
    writeFileSync(w, cut);
    const { createHash } = await import('node:crypto');
    m.weights.sha256 = createHash('sha256').update(cut).digest('hex');
    writeFileSync(join(dir, 'model.json'), JSON.stringify(m));
    await expect(loadModel(dir)).rejects.toThrow(/lies outside the 1000-byte file/);
  });

  it('explains a folder that is not a model, and malformed manifests', async () => {
    await expect(loadModel(mkdtempSync(join(tmpdir(), 'empty-')))).rejects.toThrow(/not a model folder/);
    const dir = await saved();
    writeFileSync(join(dir, 'model.json'), '{"format": "sharpstream-model/1", ');
    await expect(loadModel(dir)).rejects.toThrow(/model\.json: not valid JSON/);
    writeFileSync(join(dir, 'model.json'), '{"format": "something-else"}');
    await expect(loadModel(dir)).rejects.toThrow(/model\.json: not a sharpstream-model\/1 manifest/);
  });

  it('checks band lists against the network', () => {
    const pkg = tinyDsen2(s2, '20m');
    expect(() => makePackage({ ...pkg.manifest, inputs: pkg.manifest.inputs.slice(1) }, pkg.weights)).toThrow(ModelError);
    expect(() => makePackage({ ...pkg.manifest, outputs: ['B05'] }, pkg.weights)).toThrow(/lists 1 output bands but the network gives 6/);
    const w = new Map(pkg.weights);
    w.delete('conv2d_3/kernel');
    expect(() => makePackage(pkg.manifest, w)).toThrow(/weight tensor "conv2d_3\/kernel" is missing/);
  });
});

describe('ONNX export', () => {
  it('reorders HWIO kernels to OIHW', () => {
    // kh=1, kw=2, in=2, out=3: value encodes (h, w, i, o).
    const shape = [1, 2, 2, 3];
    const hwio = new Float32Array(12);
    for (let w = 0; w < 2; w++) for (let i = 0; i < 2; i++) for (let o = 0; o < 3; o++) hwio[(w * 2 + i) * 3 + o] = 100 * o + 10 * i + w;
    const oihw = hwioToOihw(hwio, shape);
    for (let o = 0; o < 3; o++) for (let i = 0; i < 2; i++) for (let w = 0; w < 2; w++) expect(oihw[(o * 2 + i) * 2 + w]).toBe(100 * o + 10 * i + w);
  });

  it('encodes protobuf varints, including negative int64', () => {
    expect([...new ProtoWriter().int(1, 300).finish()]).toEqual([0x08, 0xac, 0x02]);
    const neg = new ProtoWriter().int(1, -1).finish();
    expect(neg.length).toBe(11);
    expect(neg[10]).toBe(0x01);
  });

  it('writes a model whose weights are all inside', () => {
    const pkg = tinyDsen2(s2, '60m');
    const bytes = exportOnnx(pkg.manifest.graph, pkg.weights, 2);
    const floats = [...pkg.weights.values()].reduce((s, t) => s + t.data.length, 0);
    expect(bytes.length).toBeGreaterThan(floats * 4);
  });
});
