/**
 * The seeded generator training draws patch positions from: mulberry32 (as model/random.ts) with a
 * state that can be saved in a checkpoint and restored, so a resumed run draws the same patches.
 */

/** A mulberry32 generator whose 32-bit state can be read and restored. */
export class TrainRng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }

  /** The generator's state, for a checkpoint. */
  get state(): number {
    return this.s;
  }

  /** A generator continuing from a saved state. */
  static fromState(state: number): TrainRng {
    const r = new TrainRng(1);
    r.s = state >>> 0;
    return r;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.next() * n));
  }
}

/** A 32-bit seed derived from a seed and a purpose label, so independent streams do not overlap. */
export function deriveSeed(seed: number, label: string): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  // One round of mixing so nearby seeds give unrelated streams.
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0 || 1;
}
