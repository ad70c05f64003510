/** onnxruntime sessions run in a worker thread: the event loop keeps turning during inference, runs queue in order, errors reach the caller. */
import { describe, expect, it } from 'vitest';
import { runReference } from '../../model/reference.js';
import { Rng } from '../../model/random.js';
import { onnxCpuRuntime } from '../../model/runtimes/onnxruntime.js';
import { SessionPool } from '../../operators/super-resolve.js';
import { satellites } from '../../satellites/registry.js';
import { tinyDsen2 } from '../helpers/models.js';

const s2 = satellites().get('sentinel-2-l1c');

describe('onnxruntime worker sessions', async () => {
  const ok = (await onnxCpuRuntime.available()).ok;

  it.skipIf(!ok)('keeps the event loop turning while the network runs', async () => {
    const pkg = tinyDsen2(s2, '20m', 4, 64, 3);
    const c = pkg.manifest.graph.inputChannels;
    const side = 256;
    const x = new Float32Array(4 * c * side * side).fill(0.5);
    const session = await onnxCpuRuntime.load(pkg, { threads: 1 });
    try {
      await session.run(x.subarray(0, c * 64 * 64), 1, 64, 64); // warm-up
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const t0 = performance.now();
      await session.run(x, 4, side, side);
      const ms = performance.now() - t0;
      clearInterval(timer);
      // On the calling thread a run blocks every timer until it returns; in a worker they keep firing.
      expect(ms).toBeGreaterThan(50);
      expect(ticks).toBeGreaterThanOrEqual(Math.floor(ms / 5 / 4));
    } finally {
      await session.dispose();
    }
  });

  it.skipIf(!ok)('answers queued runs in order with the right outputs, and leaves the caller its input', async () => {
    const pkg = tinyDsen2(s2, '20m', 2, 16, 7);
    const c = pkg.manifest.graph.inputChannels;
    const session = await onnxCpuRuntime.load(pkg, { threads: 1 });
    try {
      const inputs = [1, 2, 3].map((seed) => {
        const rng = new Rng(seed);
        return Float32Array.from({ length: c * 20 * 20 }, () => rng.uniform(0, 2));
      });
      // A view into a larger buffer, as the patch builder passes.
      const big = new Float32Array(inputs[2].length * 2);
      big.set(inputs[2]);
      const views = [inputs[0], inputs[1], big.subarray(0, inputs[2].length)];
      const outs = await Promise.all(views.map((v) => session.run(v, 1, 20, 20)));
      for (let k = 0; k < 3; k++) {
        const ref = runReference(pkg.manifest.graph, pkg.weights, inputs[k], 1, 20, 20);
        let max = 0;
        for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(outs[k][i] - ref[i]));
        expect(max).toBeLessThan(1e-4);
      }
      // The caller's arrays are still usable (not transferred away).
      expect(views[2].length).toBe(inputs[2].length);
      expect(views[2][0]).toBe(inputs[2][0]);
    } finally {
      await session.dispose();
    }
  });

  it.skipIf(!ok)('rejects a malformed input with a message, keeps working, and refuses runs after dispose', async () => {
    const pkg = tinyDsen2(s2, '20m', 2, 16, 7);
    const c = pkg.manifest.graph.inputChannels;
    const session = await onnxCpuRuntime.load(pkg, { threads: 1 });
    await expect(session.run(new Float32Array(5), 1, 2, 2)).rejects.toThrow(/input has 5 values, expected 1x10x2x2/);
    const y = await session.run(new Float32Array(c * 8 * 8).fill(1), 1, 8, 8);
    expect(y.length).toBe(6 * 8 * 8);
    await session.dispose();
    await expect(session.run(new Float32Array(c * 8 * 8), 1, 8, 8)).rejects.toThrow(/disposed/);
  });

  it.skipIf(!ok)('a session pool replaces a session that can no longer run', async () => {
    const pkg = tinyDsen2(s2, '20m', 2, 16, 7);
    const c = pkg.manifest.graph.inputChannels;
    const pool = new SessionPool('onnx', 1);
    try {
      const first = (await pool.acquire(pkg)).session;
      expect(first.broken?.()).toBe(false);
      expect((await pool.acquire(pkg)).session).toBe(first);
      // As if its worker had died: the pool must not hand it out again.
      await first.dispose();
      expect(first.broken?.()).toBe(true);
      const second = (await pool.acquire(pkg)).session;
      expect(second).not.toBe(first);
      const y = await second.run(new Float32Array(c * 8 * 8).fill(1), 1, 8, 8);
      expect(y.length).toBe(6 * 8 * 8);
    } finally {
      await pool.close();
    }
  });
});
