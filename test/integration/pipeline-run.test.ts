/** `sharpstream run --once` on a real scene dropped (as a link) into an inbox: processed, stored, catalogued, moved to done/, skipped when dropped again. */
import { existsSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { command } from '../../cli/commands/run.js';
import { Catalogue } from '../../stac/catalogue/catalogue.js';
import { dataPath, missingData } from '../helpers/data.js';
import { validateCogGdal } from '../helpers/gdal.js';

const SCENE = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'];
const missing = missingData(SCENE);

async function run(argv: Record<string, string | boolean | string[]>, env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await command.run({ positionals: [], values: argv }, { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) }, env });
  return { code: code ?? 0, out, err };
}

describe.skipIf(missing)('sharpstream run --once', () => {
  it('processes what is in the inbox, publishes into the embedded catalogue, moves it to done/ and exits; a second drop is skipped', async () => {
    const root = mkdtempSync(join(tmpdir(), 'run-'));
    const inbox = join(root, 'inbox');
    const out = join(root, 'results');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(inbox);
    symlinkSync(dataPath(...SCENE), join(inbox, 'S2A_MSIL2A_20170617T113321_36_85'));
    symlinkSync(join(root, 'missing-scene'), join(inbox, 'broken'));
    const r = await run({ once: true, inbox, out, runtime: 'onnx' }, { SHARPSTREAM_WORK_DIR: join(root, 'work') });
    expect(r.out).toMatch(/1 done, 0 skipped, 1 failed/);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAILED broken at read: .*no such file or folder/);
    expect(r.err).toMatch(/S2A_MSIL2A_20170617T113321_36_85: writeCog 100% of 120 rows/);
    expect(r.err).toMatch(/no trained model for sentinel-2-l2a groups? (20m, )?60m: using the bicubic baseline/);
    expect(readdirSync(join(inbox, 'done'))).toEqual(['S2A_MSIL2A_20170617T113321_36_85']);
    expect(readdirSync(join(inbox, 'failed')).sort()).toEqual(['broken', 'broken.error.txt']);

    const cat = Catalogue.open(join(out, 'catalogue.sqlite'));
    try {
      const items = cat.search({ collections: ['sentinel-2-l2a-sr'] }).items as unknown as { id: string; assets: Record<string, { href: string }> }[];
      expect(items).toHaveLength(1);
      expect(items[0].id).toMatch(/^S2A_MSIL2A_20170617T113321_36_85_sr-[0-9a-f]{8}$/);
      expect((await validateCogGdal(items[0].assets.data.href)).valid).toBe(true);
      expect(existsSync(items[0].assets['thumbnail-bicubic'].href)).toBe(true);
    } finally {
      cat.close();
    }
    expect(readdirSync(join(root, 'work'))).toEqual([]);

    symlinkSync(dataPath(...SCENE), join(inbox, 'S2A_MSIL2A_20170617T113321_36_85'));
    const again = await run({ once: true, inbox, out, runtime: 'onnx' });
    expect(again.out).toMatch(/0 done, 1 skipped, 0 failed/);
    expect(again.code).toBe(0);
  });

  it('stops before taking any scene when the runtime it is told to use cannot run here, naming why', async () => {
    const { registeredRuntimes } = await import('../../model/runtimes/index.js');
    let absent: { name: string; reason: string } | null = null;
    for (const rt of registeredRuntimes()) {
      const a = await rt.available();
      if (!a.ok) {
        absent = { name: rt.name, reason: a.reason ?? '' };
        break;
      }
    }
    expect(absent, 'some optional runtime (GPU, tfjs-node) is absent on a test machine').not.toBeNull();
    const root = mkdtempSync(join(tmpdir(), 'run-rt-'));
    const inbox = join(root, 'inbox');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(inbox);
    symlinkSync(dataPath(...SCENE), join(inbox, 'scene'));
    const attempt = run({ once: true, inbox, out: join(root, 'results'), runtime: absent!.name });
    await expect(attempt).rejects.toThrow(`runtime "${absent!.name}" is not available here: ${absent!.reason}`);
    // The scene was not taken: still in the inbox, nothing in done/ or failed/.
    expect(readdirSync(inbox)).toEqual(['scene']);
  });

  it('refuses --once with a Kafka source and a bad concurrency, as usage errors', async () => {
    await expect(run({ once: true, kafka: '127.0.0.1:9092', topic: 't' })).rejects.toThrow(/--once .* inbox sources only/);
    await expect(run({ concurrency: 'lots' })).rejects.toThrow(/--concurrency must be a positive integer/);
  });
});
