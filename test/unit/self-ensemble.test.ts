/**
 * Geometric self-ensemble (model/runtimes/self-ensemble.ts): the eight transforms are the dihedral
 * group of the square, each output is turned back before averaging, and the ensemble of a network that
 * is already equivariant is that network.
 */
import { describe, expect, it } from 'vitest';
import type { Session } from '../../model/runtimes/runtime.js';
import { dihedralSource, dihedralTransform, DIHEDRAL_TRANSFORMS, selfEnsemble } from '../../model/runtimes/self-ensemble.js';

const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

describe('dihedral transforms', () => {
  it('are eight distinct permutations of a plane, the identity first', () => {
    const h = 3;
    const w = 4;
    const seen = new Set<string>();
    for (let t = 0; t < DIHEDRAL_TRANSFORMS; t++) {
      const out = dihedralTransform(ramp(h * w), 1, h, w, t);
      expect([...out].sort((a, b) => a - b)).toEqual([...ramp(h * w)]);
      seen.add(out.join(','));
    }
    expect(seen.size).toBe(8);
    expect([...dihedralTransform(ramp(h * w), 1, h, w, 0)]).toEqual([...ramp(h * w)]);
  });

  it('mirror and transpose as their bits say', () => {
    // 2 x 3 plane: rows [0 1 2], [3 4 5]
    const src = ramp(6);
    expect([...dihedralTransform(src, 1, 2, 3, 1)]).toEqual([0, 3, 1, 4, 2, 5]); // transpose: 3 x 2
    expect([...dihedralTransform(src, 1, 2, 3, 2)]).toEqual([2, 1, 0, 5, 4, 3]); // mirror columns
    expect([...dihedralTransform(src, 1, 2, 3, 4)]).toEqual([3, 4, 5, 0, 1, 2]); // mirror rows
    expect(dihedralSource(1, 2, 1, 2, 3)).toBe(5);
  });

  it('transform every plane of an NCHW array alike', () => {
    const two = dihedralTransform(ramp(12), 2, 2, 3, 2);
    expect([...two]).toEqual([2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9]);
  });
});

/** A fake network: y = f(x) per pixel, or a fixed ramp added (not equivariant), with call counting. */
function fakeSession(kind: 'pixelwise' | 'ramp', inputs: number, outputs: number) {
  const calls: [number, number][] = [];
  const session: Session = {
    runtime: 'fake',
    device: 'cpu',
    async run(input, batch, h, w) {
      calls.push([h, w]);
      const out = new Float32Array(batch * outputs * h * w);
      for (let b = 0; b < batch; b++)
        for (let c = 0; c < outputs; c++)
          for (let i = 0; i < h * w; i++) {
            const x = input[(b * inputs + c) * h * w + i];
            out[(b * outputs + c) * h * w + i] = kind === 'pixelwise' ? 2 * x + 1 : x + (i % w);
          }
      return out;
    },
    async dispose() {},
  };
  return { session, calls };
}

describe('selfEnsemble', () => {
  it('leaves an equivariant network unchanged, running it on all eight transforms', async () => {
    const { session, calls } = fakeSession('pixelwise', 3, 2);
    const e = selfEnsemble(session, 3);
    const input = Float32Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => Math.sin(i));
    const want = await session.run(input, 2, 4, 5);
    calls.length = 0;
    const got = await e.run(input, 2, 4, 5);
    expect(calls).toHaveLength(8);
    expect(calls.filter(([h, w]) => h === 5 && w === 4)).toHaveLength(4);
    expect(got.length).toBe(want.length);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(want[i], 5);
    expect(e.runtime).toBe('fake, self-ensemble x8');
  });

  it('averages what a non-equivariant network adds over the orientations', async () => {
    // The fake adds the column index; averaged over the eight orientations of a 4 x 4 patch, that is
    // (x + (3 - x) + y + (3 - y)) / 4 = 1.5 everywhere.
    const { session } = fakeSession('ramp', 1, 1);
    const got = await selfEnsemble(session, 1).run(new Float32Array(16), 1, 4, 4);
    for (const v of got) expect(v).toBeCloseTo(1.5, 6);
  });

  it('names a wrongly sized input', async () => {
    const { session } = fakeSession('pixelwise', 3, 2);
    await expect(selfEnsemble(session, 3).run(new Float32Array(10), 1, 2, 2)).rejects.toThrow(/expected 1x3x2x2 input values, got 10/);
  });
});
