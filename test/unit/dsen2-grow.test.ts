/**
 * Growing a trained DSen2 network (more blocks, more filters) keeps its function: the grown weights
 * give the same output as the originals through the reference executor, and the new filters are live
 * (non-zero kernels on their inputs) so that training can use them.
 */
import { describe, expect, it } from 'vitest';
import { dsen2Graph, dsen2InitialWeights, growDsen2Weights, type Dsen2Size } from '../../model/dsen2.js';
import { Rng } from '../../model/random.js';
import { runReference } from '../../model/reference.js';

const IN = 10;
const OUT = 6;
const small: Dsen2Size = { blocks: 2, filters: 8 };

/** Trained-looking weights: He-uniform kernels with a full-gain output layer and non-zero biases. */
function trained(size: Dsen2Size) {
  const w = dsen2InitialWeights(IN, OUT, size, 7, 1);
  const rng = new Rng(11);
  for (const [name, t] of w) if (name.endsWith('/bias')) for (let i = 0; i < t.data.length; i++) t.data[i] = rng.uniform(-0.1, 0.1);
  return w;
}

function input(h: number, w: number) {
  const rng = new Rng(3);
  return Float32Array.from({ length: IN * h * w }, () => rng.uniform(0, 1));
}

describe('growDsen2Weights', () => {
  it.each([
    ['wider', { blocks: 2, filters: 16 }],
    ['deeper', { blocks: 4, filters: 8 }],
    ['wider and deeper', { blocks: 3, filters: 12 }],
  ] as const)('grows %s and computes the same function', (_, to) => {
    const w = trained(small);
    const grown = growDsen2Weights(w, IN, OUT, small, to, 5);
    const x = input(9, 11);
    const before = runReference(dsen2Graph(IN, OUT, small), w, x, 1, 9, 11);
    const after = runReference(dsen2Graph(IN, OUT, to), grown, x, 1, 9, 11);
    expect(after.length).toBe(before.length);
    let maxDiff = 0;
    for (let i = 0; i < before.length; i++) maxDiff = Math.max(maxDiff, Math.abs(after[i] - before[i]));
    expect(maxDiff).toBeLessThan(1e-5);
    // every kernel has the grown shape, and the first conv's new filters read the input
    expect(grown.get('conv2d/kernel')!.shape).toEqual([3, 3, IN, to.filters]);
    expect(grown.get(`conv2d_${1 + 2 * to.blocks}/kernel`)!.shape).toEqual([3, 3, to.filters, OUT]);
    if (to.filters > small.filters) {
      const k = grown.get('conv2d/kernel')!;
      let live = 0;
      for (let t = 0; t < 9 * IN; t++) for (let c = small.filters; c < to.filters; c++) live += k.data[t * to.filters + c] !== 0 ? 1 : 0;
      expect(live).toBe(9 * IN * (to.filters - small.filters));
    }
  });

  it('keeps the old weights in place', () => {
    const w = trained(small);
    const grown = growDsen2Weights(w, IN, OUT, small, { blocks: 3, filters: 12 });
    const ok = w.get('conv2d_1/kernel')!;
    const nk = grown.get('conv2d_1/kernel')!;
    for (let t = 0; t < 9; t++) for (let ci = 0; ci < 8; ci++) for (let co = 0; co < 8; co++) {
      expect(nk.data[(t * 12 + ci) * 12 + co]).toBe(ok.data[(t * 8 + ci) * 8 + co]);
    }
    // the old output conv becomes the new last conv
    expect(Array.from(grown.get('conv2d_7/bias')!.data)).toEqual(Array.from(w.get('conv2d_5/bias')!.data));
  });

  it('refuses to shrink, to change the residual scale, or weights of another shape', () => {
    const w = trained(small);
    expect(() => growDsen2Weights(w, IN, OUT, small, { blocks: 1, filters: 8 })).toThrow(/can only grow: 2 x 8 cannot become 1 x 8/);
    expect(() => growDsen2Weights(w, IN, OUT, small, { blocks: 2, filters: 16, residualScale: 1 })).toThrow(/residual scale/);
    expect(() => growDsen2Weights(w, IN + 1, OUT, small, { blocks: 2, filters: 16 })).toThrow(/conv2d is 10 -> 8 channels, expected 11 -> 8/);
  });
});
