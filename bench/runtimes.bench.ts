/**
 * Model runtimes on the DSen2 20 m network (6 ResBlocks x 128 filters, 10 inputs, 6 outputs):
 * Mpixel/s and GFLOP/s per runtime on 256x256 and 512x512 inputs, as a fraction of this CPU's
 * measured fp32 FMA peak (bench/fma-peak.c, compiled here when a C compiler exists).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { macsPerPixel } from '../model/graph.js';
import { Rng } from '../model/random.js';
import { registeredRuntimes } from '../model/runtimes/index.js';
import { dsen2BenchPackage } from './lib/dsen2-package.js';
import { median, sessionRunSeconds } from './lib/timing.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

/** fp32 peak GFLOP/s of all cores, measured with an FMA kernel, or null without a compiler. */
export async function measurePeak(threads: number): Promise<{ gflops: number; perCore: number; threads: number; vectorLanes: number } | { error: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fma-'));
  const exe = join(dir, 'fma');
  try {
    // -march=native: the kernel uses AVX-512 where this CPU has it, as onnxruntime's MLAS then does.
    await run('cc', ['-O2', '-march=native', '-mfma', '-pthread', '-o', exe, join(here, 'fma-peak.c')]);
  } catch (e) {
    return { error: `cannot compile the FMA kernel: ${(e as Error).message.split('\n')[0]}` };
  }
  const all = JSON.parse((await run(exe, [String(threads)])).stdout) as { gflops: number; lanes: number };
  const one = JSON.parse((await run(exe, ['1'])).stdout) as { gflops: number };
  return { gflops: all.gflops, perCore: one.gflops, threads, vectorLanes: all.lanes };
}

/** Runs the benchmark. */
export default async function bench(): Promise<Record<string, unknown>> {
  const quick = process.env.BENCH_QUICK === '1';
  const threads = cpus().length;
  const pkg = dsen2BenchPackage(1);
  const graph = pkg.manifest.graph;
  const weights = pkg.weights;
  const flopPerPixel = 2 * macsPerPixel(graph, weights);
  process.stderr.write(`runtimes: measuring the FMA peak on ${threads} threads\n`);
  const peak = await measurePeak(threads);
  const sizes = quick ? [128] : [256, 512];
  const results: Record<string, unknown>[] = [];
  for (const rt of registeredRuntimes()) {
    const a = await rt.available();
    if (!a.ok) {
      results.push({ runtime: rt.name, available: false, reason: a.reason });
      continue;
    }
    const session = await rt.load(pkg, { threads });
    for (const side of sizes) {
      const rng = new Rng(2);
      const x = Float32Array.from({ length: 10 * side * side }, () => rng.uniform(0, 1));
      const reps = quick ? 1 : rt.name.startsWith('tfjs-wasm') ? 2 : side >= 512 ? 3 : 5;
      const s = median(await sessionRunSeconds(session, x, 1, side, side, reps));
      const mpx = (side * side) / s / 1e6;
      const gflops = (mpx * 1e6 * flopPerPixel) / 1e9;
      const r = { runtime: rt.name, device: session.device, input: `${side}x${side}`, secondsPerPass: +s.toFixed(4), mpixelPerSecond: +mpx.toFixed(4), gflops: +gflops.toFixed(1) } as Record<string, unknown>;
      // The peak is the CPU's: a GPU runtime's fraction of it would mean nothing.
      if ('gflops' in peak && session.device === 'cpu') r.fractionOfPeak = +(gflops / peak.gflops).toFixed(3);
      process.stderr.write(`runtimes: ${JSON.stringify(r)}\n`);
      results.push(r);
    }
    await session.dispose();
  }
  // The CPU default on one thread, against one core's peak: how well its convolution kernels use a
  // core, apart from how it scales across cores.
  const onnx = registeredRuntimes().find((r) => r.name === 'onnx');
  if (onnx && (await onnx.available()).ok && 'perCore' in peak) {
    const session = await onnx.load(pkg, { threads: 1 });
    const side = quick ? 64 : 128;
    const rng = new Rng(3);
    const x = Float32Array.from({ length: 10 * side * side }, () => rng.uniform(0, 1));
    const times = await sessionRunSeconds(session, x, 1, side, side, quick ? 1 : 5);
    await session.dispose();
    const s = Math.min(...times);
    const gflops = (side * side * flopPerPixel) / s / 1e9;
    const r = { runtime: 'onnx', threads: 1, input: `${side}x${side}`, secondsPerPass: +s.toFixed(4), gflops: +gflops.toFixed(1), fractionOfOneCorePeak: +(gflops / peak.perCore).toFixed(3) };
    process.stderr.write(`runtimes: ${JSON.stringify(r)}\n`);
    results.push(r);
  }
  return {
    network: 'DSen2 20 m (6 ResBlocks x 128 filters, 10 -> 6 bands)',
    flopPerOutputPixel: flopPerPixel,
    threads,
    peak,
    results,
  };
}
