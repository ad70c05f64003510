/**
 * Resampling of coarse band patches onto the fine grid, as DSen2 does it per patch: bilinear with
 * mirror extension at the patch edges (skimage `resize(order=1, mode='reflect')`), and MATLAB-style
 * bicubic (Keys, a = -0.5, symmetric extension) for the bicubic baseline.
 */

/** Index reflection without repeating the edge sample (numpy 'reflect', ndimage 'mirror'). */
export function mirrorIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let k = ((i % period) + period) % period;
  if (k >= n) k = period - k;
  return k;
}

/** Index reflection repeating the edge sample (numpy 'symmetric'). */
export function symmetricIndex(i: number, n: number): number {
  const period = 2 * n;
  let k = ((i % period) + period) % period;
  if (k >= n) k = period - 1 - k;
  return k;
}

/** Where fine pixels fall in a coarse patch: coordinate of fine pixel i is offset + (i + 0.5) * scale - 0.5. */
export interface Placement {
  readonly offsetX: number;
  readonly offsetY: number;
  /** Coarse pixels per fine pixel (0.5 for 20 m -> 10 m). */
  readonly scaleX: number;
  readonly scaleY: number;
}

function cubic(x: number): number {
  const a = -0.5;
  const ax = Math.abs(x);
  if (ax <= 1) return (a + 2) * ax ** 3 - (a + 3) * ax ** 2 + 1;
  if (ax < 2) return a * ax ** 3 - 5 * a * ax ** 2 + 8 * a * ax - 4 * a;
  return 0;
}

interface Taps {
  readonly idx: Int32Array;
  readonly w: Float32Array;
  readonly n: number;
}

// Patches of one scene share a handful of geometries: cache their taps.
const tapCache = new Map<string, Taps>();

function taps(count: number, offset: number, scale: number, size: number, method: 'bilinear' | 'bicubic'): Taps {
  const key = `${count}|${offset}|${scale}|${size}|${method}`;
  let t = tapCache.get(key);
  if (!t) {
    if (tapCache.size > 256) tapCache.clear();
    t = computeTaps(count, offset, scale, size, method);
    tapCache.set(key, t);
  }
  return t;
}

function computeTaps(count: number, offset: number, scale: number, size: number, method: 'bilinear' | 'bicubic'): Taps {
  const n = method === 'bilinear' ? 2 : 4;
  const idx = new Int32Array(count * n);
  const w = new Float32Array(count * n);
  for (let i = 0; i < count; i++) {
    const u = offset + (i + 0.5) * scale - 0.5;
    const f = Math.floor(u);
    if (method === 'bilinear') {
      const t = u - f;
      idx[i * 2] = mirrorIndex(f, size);
      idx[i * 2 + 1] = mirrorIndex(f + 1, size);
      w[i * 2] = 1 - t;
      w[i * 2 + 1] = t;
    } else {
      let sum = 0;
      for (let k = 0; k < 4; k++) {
        const j = f - 1 + k;
        const wk = cubic(u - j);
        idx[i * 4 + k] = symmetricIndex(j, size);
        w[i * 4 + k] = wk;
        sum += wk;
      }
      for (let k = 0; k < 4; k++) w[i * 4 + k] /= sum;
    }
  }
  return { idx, w, n };
}

// The row pass's intermediate, reused across calls (resampling is synchronous, so never shared).
let scratch = new Float32Array(0);

/**
 * Resamples a coarse patch (rows x cols, row-major) to an outH x outW fine patch, writing into `out`
 * at `outOffset`. Separable: rows first, then columns.
 */
export function resamplePatch(
  src: Float32Array,
  rows: number,
  cols: number,
  outH: number,
  outW: number,
  place: Placement,
  method: 'bilinear' | 'bicubic',
  out: Float32Array,
  outOffset = 0,
): void {
  const tx = taps(outW, place.offsetX, place.scaleX, cols, method);
  const ty = taps(outH, place.offsetY, place.scaleY, rows, method);
  if (scratch.length < rows * outW) scratch = new Float32Array(rows * outW);
  const tmp = scratch;
  const xi = tx.idx;
  const xw = tx.w;
  const nx = tx.n;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const o = r * outW;
    if (nx === 2) {
      for (let i = 0; i < outW; i++) tmp[o + i] = xw[2 * i] * src[base + xi[2 * i]] + xw[2 * i + 1] * src[base + xi[2 * i + 1]];
    } else {
      for (let i = 0; i < outW; i++) {
        let v = 0;
        for (let k = 0; k < nx; k++) v += xw[i * nx + k] * src[base + xi[i * nx + k]];
        tmp[o + i] = v;
      }
    }
  }
  for (let j = 0; j < outH; j++) {
    const o = outOffset + j * outW;
    for (let i = 0; i < outW; i++) out[o + i] = 0;
    for (let k = 0; k < ty.n; k++) {
      const wk = ty.w[j * ty.n + k];
      const rb = ty.idx[j * ty.n + k] * outW;
      for (let i = 0; i < outW; i++) out[o + i] += wk * tmp[rb + i];
    }
  }
}
