/**
 * Optimisers and the learning-rate schedule: Nadam and Adam follow Keras 2's update rules (recomputed
 * here in double precision, step by step), their state restores bit for bit, and ReduceLROnPlateau
 * halves the rate exactly as Keras does (patience, min_delta, cooldown, min_lr).
 */
import type * as TF from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTrainingBackend } from '../../train/network.js';
import { MomentOptimizer, PlateauSchedule } from '../../train/optimizer.js';

type Tf = typeof TF;
let tf: Tf;

beforeAll(async () => {
  tf = (await loadTrainingBackend('tfjs-wasm')).tf;
});

const GRADS = [
  [0.5, -1, 2],
  [0.25, -0.5, -2],
  [-1, 0.125, 1],
  [0.75, 0.3, -0.2],
];

/** Keras 2 Nadam in double precision. */
function nadamReference(p0: number[], lr: number): number[] {
  const [b1, b2, eps, decay] = [0.9, 0.999, 1e-8, 0.004];
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  let mSchedule = 1;
  GRADS.forEach((g, k) => {
    const t = k + 1;
    const mu = b1 * (1 - 0.5 * 0.96 ** (t * decay));
    const mu1 = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * decay));
    const mNew = mSchedule * mu;
    const mNext = mSchedule * mu * mu1;
    mSchedule = mNew;
    for (let i = 0; i < p.length; i++) {
      const gp = g[i] / (1 - mNew);
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      const mp = m[i] / (1 - mNext);
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const vp = v[i] / (1 - b2 ** t);
      const mBar = (1 - mu) * gp + mu1 * mp;
      p[i] -= (lr * mBar) / (Math.sqrt(vp) + eps);
    }
  });
  return p;
}

/** Keras 2 Adam in double precision. */
function adamReference(p0: number[], lr: number): number[] {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  GRADS.forEach((g, k) => {
    const t = k + 1;
    const lrT = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      p[i] -= (lrT * m[i]) / (Math.sqrt(v[i]) + eps);
    }
  });
  return p;
}

async function runOptimizer(kind: 'nadam' | 'adam', p0: number[], lr: number, steps = GRADS.length, from?: MomentOptimizer): Promise<{ p: Float32Array; opt: MomentOptimizer; w: TF.Variable }> {
  const w = tf.variable(tf.tensor1d(p0), true);
  const opt = new MomentOptimizer(tf, new Map([['w', w]]), { kind });
  if (from) opt.restore(from.scalars(), await from.moments());
  const start = from ? from.scalars().iterations : 0;
  for (let k = start; k < start + steps; k++) {
    const g = tf.tensor1d(GRADS[k]);
    opt.apply({ w: g }, lr);
    g.dispose();
  }
  return { p: (await w.data()) as Float32Array, opt, w };
}

describe('optimisers', () => {
  const p0 = [1, -2, 0.5];
  it('Nadam follows Keras 2, step by step', async () => {
    const want = nadamReference(p0, 0.01);
    const { p, opt, w } = await runOptimizer('nadam', p0, 0.01);
    for (let i = 0; i < p0.length; i++) expect(p[i]).toBeCloseTo(want[i], 5);
    // The parameters moved (an update that did nothing would also be "close" to nothing).
    expect(Math.abs(p[0] - p0[0])).toBeGreaterThan(0.01);
    expect(opt.scalars().iterations).toBe(4);
    opt.dispose();
    w.dispose();
  });

  it('Adam follows Keras 2, step by step', async () => {
    const want = adamReference(p0, 0.01);
    const { p, opt, w } = await runOptimizer('adam', p0, 0.01);
    for (let i = 0; i < p0.length; i++) expect(p[i]).toBeCloseTo(want[i], 5);
    // Adam and Nadam differ.
    expect(Math.abs(want[0] - nadamReference(p0, 0.01)[0])).toBeGreaterThan(1e-4);
    opt.dispose();
    w.dispose();
  });

  it('restores its state so that a split run equals a straight one, bit for bit', async () => {
    const straight = await runOptimizer('nadam', p0, 0.01);
    const half = await runOptimizer('nadam', p0, 0.01, 2);
    const rest = await runOptimizer('nadam', Array.from(half.p), 0.01, 2, half.opt);
    expect(Array.from(rest.p)).toEqual(Array.from(straight.p));
    for (const r of [straight, half, rest]) {
      r.opt.dispose();
      r.w.dispose();
    }
  });

  it('refuses state of another optimiser or of the wrong size', async () => {
    const a = await runOptimizer('adam', p0, 0.01, 1);
    const n = await runOptimizer('nadam', p0, 0.01, 1);
    expect(() => n.opt.restore(a.opt.scalars(), new Map())).toThrow(/adam state but the optimiser is nadam/);
    expect(() => n.opt.restore(n.opt.scalars(), new Map([['w', { m: new Float32Array(2), v: new Float32Array(2) }]]))).toThrow(/2 values, the variable 3/);
    for (const r of [a, n]) {
      r.opt.dispose();
      r.w.dispose();
    }
  });
});

describe('plateau schedule', () => {
  it('halves the rate after `patience` epochs without improvement, down to the floor', () => {
    const s = new PlateauSchedule(1e-3, { patience: 2, minLr: 2e-4, minDelta: 1e-6 });
    const seen = [1.0, 0.9, 0.95, 0.9, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96].map((v) => [s.update(v), s.lr] as const);
    expect(seen.map(([r]) => r)).toEqual([false, false, false, true, false, true, false, true, false, false, false]);
    expect(seen.map(([, lr]) => lr)).toEqual([1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4, 2e-4, 2e-4, 2e-4, 2e-4]);
  });

  it('ignores improvements smaller than minDelta and waits out the cooldown', () => {
    const s = new PlateauSchedule(1, { patience: 1, minDelta: 0.01, cooldown: 2 });
    expect(s.update(1)).toBe(false); // first value is an improvement on +infinity
    expect(s.update(0.995)).toBe(true); // not better by minDelta: reduce (patience 1)
    expect(s.lr).toBe(0.5);
    // Keras counts the cooldown down at the start of each epoch: with cooldown 2 the first epoch after a
    // reduction is skipped, and the second (counter back to 0) may reduce again.
    expect(s.update(0.999)).toBe(false);
    expect(s.lr).toBe(0.5);
    expect(s.update(0.999)).toBe(true);
    expect(s.lr).toBe(0.25);
    const noCooldown = new PlateauSchedule(1, { patience: 1, minDelta: 0.01 });
    [1, 0.995].forEach((v) => noCooldown.update(v));
    expect(noCooldown.update(0.999)).toBe(true);
  });

  it('continues from a saved state', () => {
    const a = new PlateauSchedule(1, { patience: 3 });
    [5, 4, 4.5, 4.6].forEach((v) => a.update(v));
    const b = new PlateauSchedule(1, { patience: 3 }, a.state);
    expect(b.update(4.7)).toBe(true);
    expect(a.update(4.7)).toBe(true);
    expect(b.state).toEqual(a.state);
  });

  it('rejects bad settings', () => {
    expect(() => new PlateauSchedule(1, { factor: 1.5 })).toThrow(/factor/);
    expect(() => new PlateauSchedule(1, { patience: -1 })).toThrow(/patience/);
  });
});
