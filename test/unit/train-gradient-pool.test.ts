/**
 * Data-parallel gradients (train/gradient-pool.ts): worker threads, each with the network on its own
 * tfjs-wasm backend, compute a batch's loss and gradients in shards; combined, they equal the
 * gradients of the whole batch computed on one thread, and the same threads give the same numbers on
 * every run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type * as TF from '@tensorflow/tfjs';
import { dsen2Graph, dsen2InitialWeights, DSEN2_SIZES } from '../../model/dsen2.js';
import type { Batch } from '../../train/dataset.js';
import { GradientPool, shardRanges } from '../../train/gradient-pool.js';
import { loadTrainingBackend, trainingForward } from '../../train/network.js';
import { Rng } from '../../model/random.js';

describe('shardRanges', () => {
  it('splits a batch into contiguous, near-equal shards covering every patch once', () => {
    expect(shardRanges(16, 2)).toEqual([
      [0, 8],
      [8, 16],
    ]);
    expect(shardRanges(7, 3)).toEqual([
      [0, 3],
      [3, 5],
      [5, 7],
    ]);
    expect(shardRanges(2, 4)).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(shardRanges(5, 1)).toEqual([[0, 5]]);
  });
});

describe('GradientPool', () => {
  const inputs = 5;
  const outputs = 3;
  const size = DSEN2_SIZES['dsen2-tiny'];
  const graph = dsen2Graph(inputs, outputs, size);
  const weights = dsen2InitialWeights(inputs, outputs, size, 7, 1);
  const names = [...weights.keys()];
  const shapes = names.map((k) => [k, [...weights.get(k)!.shape]] as const);
  const rng = new Rng(3);
  const n = 6;
  const px = 12;
  const batch: Batch = {
    n,
    size: px,
    channels: inputs,
    outputs,
    input: Float32Array.from({ length: n * px * px * inputs }, () => rng.next()),
    label: Float32Array.from({ length: n * px * px * outputs }, () => rng.next()),
  };
  const pools: GradientPool[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  /** The batch's loss and gradients on this thread, as training without a pool computes them. */
  async function direct(): Promise<{ loss: number; grads: Float32Array[] }> {
    const b = await loadTrainingBackend('tfjs-wasm');
    const tf = b.tf;
    const vars = new Map<string, TF.Variable>(names.map((k) => [k, tf.variable(tf.tensor(weights.get(k)!.data, [...weights.get(k)!.shape]), true, `pool-test/${k}`)]));
    const x = tf.tensor4d(batch.input, [n, px, px, inputs]);
    const y = tf.tensor4d(batch.label, [n, px, px, outputs]);
    const list = names.map((k) => vars.get(k)!);
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.abs(tf.sub(trainingForward(tf, graph, vars, x, b.conv), y))) as TF.Scalar, list);
    const out = { loss: value.dataSync()[0], grads: list.map((v) => Float32Array.from(grads[v.name].dataSync() as Float32Array)) };
    tf.dispose([value, x, y, ...Object.values(grads), ...list]);
    return out;
  }

  it('gives the loss and gradients of the whole batch, as one thread computes them', async () => {
    const pool = await GradientPool.start(2, 'tfjs-wasm', graph, shapes);
    pools.push(pool);
    expect(pool.threads).toBe(2);
    const w = names.map((k) => weights.get(k)!.data);
    const got = await pool.gradients(w, batch);
    const want = await direct();
    expect(got.loss).toBeCloseTo(want.loss, 6);
    let maxErr = 0;
    let maxAbs = 0;
    got.grads.forEach((g, i) => {
      expect(g.length).toBe(want.grads[i].length);
      for (let k = 0; k < g.length; k++) {
        maxErr = Math.max(maxErr, Math.abs(g[k] - want.grads[i][k]));
        maxAbs = Math.max(maxAbs, Math.abs(want.grads[i][k]));
      }
    });
    expect(maxAbs).toBeGreaterThan(1e-4);
    expect(maxErr).toBeLessThan(1e-5 * Math.max(1, maxAbs));
    // The weights were sent, not left at the workers' zeros: the same call again gives the same answer.
    const again = await pool.gradients(w, batch);
    expect(again.loss).toBe(got.loss);
    again.grads.forEach((g, i) => expect(Array.from(g)).toEqual(Array.from(got.grads[i])));
  });

  it('names what is wrong: bad thread counts and a wrong number of weights', async () => {
    await expect(GradientPool.start(0, 'tfjs-wasm', graph, shapes)).rejects.toThrow(/threads must be a positive integer/);
    await expect(GradientPool.start(1, 'no-such-runtime', graph, shapes)).rejects.toThrow(/could not start: unknown training runtime "no-such-runtime"/);
    const pool = await GradientPool.start(1, 'tfjs-wasm', graph, shapes);
    pools.push(pool);
    await expect(pool.gradients([weights.get(names[0])!.data], batch)).rejects.toThrow(new RegExp(`expected ${names.length} weight arrays, got 1`));
  });
});
