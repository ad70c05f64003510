/**
 * The custom Conv2D gradient (train/conv-grad.ts) against tfjs' own: gradients of the same loss on the
 * cpu backend (stock Conv2D / fused-conv gradients) and on the wasm backend (custom gradient) agree, for
 * single convolutions of several shapes and for a whole DSen2 forward pass.
 */
import type * as TF from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dsen2Graph, dsen2InitialWeights } from '../../model/dsen2.js';
import { loadTf } from '../../model/runtimes/tfjs.js';
import { convFilterGrad, convInputGrad, trainableConv } from '../../train/conv-grad.js';
import { loadTrainingBackend, trainingForward } from '../../train/network.js';
import { TrainRng } from '../../train/rng.js';

type Tf = typeof TF;
let tf: Tf;

function randomArray(n: number, seed: number): Float32Array {
  const r = new TrainRng(seed);
  return Float32Array.from({ length: n }, () => r.next() * 2 - 1);
}

/** Largest absolute difference relative to the largest magnitude of the reference. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  expect(m).toBeGreaterThan(0);
  return d / m;
}

async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  const t = await loadTf(name === 'cpu' ? { backend: 'cpu', pkg: '@tensorflow/tfjs' } : { backend: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm' });
  if (t instanceof Error) throw t;
  tf = t;
}

beforeAll(async () => {
  await useBackend('wasm');
});

afterAll(async () => {
  await useBackend('wasm');
});

/** Gradients of sum(conv(x, w) * g) with respect to x and w. */
async function convGrads(kind: 'stock' | 'custom', xs: number[], ws: number[], seed: number): Promise<{ dx: Float32Array; dw: Float32Array }> {
  const x = tf.tensor4d(randomArray(xs.reduce((a, b) => a * b), seed), xs as [number, number, number, number]);
  const w = tf.tensor4d(randomArray(ws.reduce((a, b) => a * b), seed + 1), ws as [number, number, number, number]);
  const gShape = [xs[0], xs[1], xs[2], ws[3]] as [number, number, number, number];
  const g = tf.tensor4d(randomArray(gShape.reduce((a, b) => a * b), seed + 2), gShape);
  const conv = kind === 'custom' ? trainableConv(tf) : (a: TF.Tensor4D, b: TF.Tensor4D) => tf.conv2d(a, b, 1, 'same');
  const [dx, dw] = tf.grads((a: TF.Tensor, b: TF.Tensor) => tf.sum(tf.mul(conv(a as TF.Tensor4D, b as TF.Tensor4D), g)))([x, w]);
  const out = { dx: (await dx.data()) as Float32Array, dw: (await dw.data()) as Float32Array };
  tf.dispose([x, w, g, dx, dw]);
  return out;
}

describe('custom Conv2D gradient', () => {
  const shapes: [string, number[], number[]][] = [
    ['3x3, 3->4 channels', [2, 7, 6, 3], [3, 3, 3, 4]],
    ['3x3, 16->16 channels', [3, 9, 9, 16], [3, 3, 16, 16]],
    ['1x1', [2, 5, 5, 4], [1, 1, 4, 3]],
    ['5x3 (odd, not square)', [2, 8, 7, 2], [5, 3, 2, 5]],
    ['3x3 on a 1-pixel-high image', [1, 1, 9, 2], [3, 3, 2, 2]],
  ];
  for (const [name, xs, ws] of shapes) {
    it(`matches the cpu backend's stock gradients (${name})`, async () => {
      await useBackend('cpu');
      const ref = await convGrads('stock', xs, ws, 11);
      const customCpu = await convGrads('custom', xs, ws, 11);
      await useBackend('wasm');
      const customWasm = await convGrads('custom', xs, ws, 11);
      for (const got of [customCpu, customWasm]) {
        expect(relDiff(got.dx, ref.dx)).toBeLessThan(1e-5);
        expect(relDiff(got.dw, ref.dw)).toBeLessThan(1e-5);
      }
    });
  }

  it('works on the wasm backend, whose stock Conv2D gradient is missing', async () => {
    await useBackend('wasm');
    const x = tf.ones([1, 4, 4, 2]) as TF.Tensor4D;
    const w = tf.ones([3, 3, 2, 2]) as TF.Tensor4D;
    // The stock gradient needs Conv2DBackpropFilter, which the wasm backend lacks: the reason for the custom one.
    expect(() => tf.grads((a: TF.Tensor, b: TF.Tensor) => tf.sum(tf.conv2d(a as TF.Tensor4D, b as TF.Tensor4D, 1, 'same')))([x, w])).toThrow(/Conv2DBackpropFilter/);
    // For an all-ones image and kernel, dW[ky,kx,c,o] counts the output pixels whose tap (ky,kx) lands inside: 3x3 of 4x4 for the centre tap.
    const dw = await convFilterGrad(tf, x, tf.ones([1, 4, 4, 2]) as TF.Tensor4D, [3, 3, 2, 2]).data();
    expect(dw[(1 * 3 + 1) * 4]).toBe(16);
    expect(dw[0]).toBe(9);
    const dx = await convInputGrad(tf, tf.ones([1, 4, 4, 2]) as TF.Tensor4D, w).data();
    // A corner input pixel feeds 4 outputs x 2 output channels.
    expect(dx[0]).toBe(8);
    tf.dispose([x, w]);
  });

  it('rejects even kernels with a clear error', async () => {
    await useBackend('wasm');
    expect(() => convFilterGrad(tf, tf.zeros([1, 4, 4, 1]) as TF.Tensor4D, tf.zeros([1, 4, 4, 1]) as TF.Tensor4D, [2, 2, 1, 1])).toThrow(/must be odd/);
  });

  it("gives a whole DSen2 pass the gradients of the cpu backend's fused convolutions", async () => {
    const size = { blocks: 2, filters: 8 };
    const graph = dsen2Graph(5, 2, size);
    const init = dsen2InitialWeights(5, 2, size, 3);
    for (const [k, t] of init) if (k.endsWith('/bias')) t.data.forEach((_, i) => (t.data[i] = 0.05 * ((i % 5) - 2)));
    const x = randomArray(2 * 10 * 10 * 5, 21);
    const y = randomArray(2 * 10 * 10 * 2, 22);
    const run = async (backend: 'cpu' | 'wasm'): Promise<Map<string, Float32Array>> => {
      await useBackend(backend);
      const b = await loadTrainingBackend(backend === 'cpu' ? 'tfjs-cpu' : 'tfjs-wasm');
      expect(b.conv === null).toBe(backend === 'cpu');
      const vars = new Map([...init].map(([k, t]) => [k, tf.variable(tf.tensor(t.data, [...t.shape]), true, `grad-test-${backend}/${k}`)]));
      const xt = tf.tensor4d(x, [2, 10, 10, 5]);
      const yt = tf.tensor4d(y, [2, 10, 10, 2]);
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.abs(tf.sub(trainingForward(tf, graph, vars, xt, b.conv), yt))) as TF.Scalar, [...vars.values()]);
      const out = new Map<string, Float32Array>();
      for (const [k, v] of vars) out.set(k, (await grads[v.name].data()) as Float32Array);
      tf.dispose([xt, yt, value, ...Object.values(grads), ...vars.values()]);
      return out;
    };
    const ref = await run('cpu');
    const got = await run('wasm');
    expect([...got.keys()]).toEqual([...init.keys()]);
    for (const [k, g] of got) expect(relDiff(g, ref.get(k)!), k).toBeLessThan(1e-4);
  });
});
