import { describe, expect, it } from 'vitest';
import {
  applyFloatPredictor,
  applyHorizontalPredictor,
  bytesOf,
  interleavePredictTile,
  interleaveTile,
  predictorFor,
  undoFloatPredictor,
  undoHorizontalPredictor,
} from '../../cog/predictor.js';
import { allocPixels, type DataType } from '../../raster/types.js';

/** Deterministic pseudo-random integers. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

describe('predictor 2 (horizontal differencing)', () => {
  it('differences each band against its left neighbour, per row', () => {
    // 3 pixels x 2 rows, 2 samples per pixel
    const a = new Uint16Array([10, 100, 13, 90, 20, 95, /* row 2 */ 5, 0, 4, 65535, 4, 1]);
    applyHorizontalPredictor(a, 3, 2);
    expect([...a]).toEqual([10, 100, 3, 65526, 7, 5, /* row 2 restarts */ 5, 0, 65535, 65535, 0, 2]);
  });

  const cases: [DataType, number, number][] = [
    ['uint8', 0, 255],
    ['uint16', 0, 65535],
    ['int16', -32768, 32767],
    ['uint32', 0, 4294967295],
    ['int32', -2147483648, 2147483647],
  ];
  it.each(cases)('round-trips %s samples including the extremes', (dataType, min, max) => {
    const rnd = lcg(7);
    const width = 37;
    const spp = 3;
    const rows = 5;
    const a = allocPixels(dataType, width * spp * rows);
    for (let i = 0; i < a.length; i++) a[i] = i % 11 === 0 ? min : i % 13 === 0 ? max : min + (rnd() % (max - min + 1));
    const original = a.slice();
    applyHorizontalPredictor(a, width, spp);
    expect([...a]).not.toEqual([...original]);
    undoHorizontalPredictor(a, width, spp);
    expect([...a]).toEqual([...original]);
  });

  it('refuses float samples', () => {
    expect(() => applyHorizontalPredictor(new Float32Array(8), 4, 2)).toThrow(/predictor 3/);
  });
});

describe('predictor 3 (floating point, Tech Note 3)', () => {
  it('puts the most significant bytes first, then differences bytes', () => {
    // 1.0 = 0x3f800000, 2.0 = 0x40000000; one row of two single-band samples
    const out = applyFloatPredictor(new Float32Array([1, 2]), 2, 1);
    // shuffled: [3f 40 | 80 00 | 00 00 | 00 00] then byte differences
    expect([...out]).toEqual([0x3f, 0x01, 0x40, 0x80, 0x00, 0x00, 0x00, 0x00]);
  });

  it('differences with a stride of samples per pixel', () => {
    const out = applyFloatPredictor(new Float32Array([1, 2]), 1, 2);
    // same shuffle; stride 2: [3f, 40, 80-3f, 00-40, 00-80, 00, 00, 00]
    expect([...out]).toEqual([0x3f, 0x40, 0x41, 0xc0, 0x80, 0x00, 0x00, 0x00]);
  });

  it.each(['float32', 'float64'] as const)('round-trips %s including NaN, infinities, -0 and denormals', (dataType) => {
    const width = 29;
    const spp = 4;
    const rows = 3;
    const n = width * spp * rows;
    const a = dataType === 'float32' ? new Float32Array(n) : new Float64Array(n);
    const rnd = lcg(3);
    for (let i = 0; i < n; i++) a[i] = ((rnd() / 2 ** 32) - 0.5) * 10 ** ((i % 9) - 4);
    a.set([Number.NaN, Infinity, -Infinity, -0, 1e-40, 5e-324, 3.4e38], 10);
    const encoded = applyFloatPredictor(a, width, spp);
    expect(encoded.length).toBe(a.byteLength);
    const back = undoFloatPredictor(encoded, dataType, width, spp);
    // compare bit patterns so NaN and -0 count
    expect(Buffer.from(bytesOf(back)).equals(Buffer.from(bytesOf(a)))).toBe(true);
  });

  it('chooses predictor 3 for floats and 2 for integers', () => {
    expect(predictorFor('float32')).toBe(3);
    expect(predictorFor('float64')).toBe(3);
    expect(predictorFor('uint16')).toBe(2);
    expect(predictorFor('int32')).toBe(2);
  });
});

describe('interleaveTile', () => {
  it('interleaves clipped planes and pads the rest of the tile with the fill value', () => {
    // 3x2 valid pixels, 2 bands, in a 4x4 tile; plane rows have stride 3
    const b1 = new Uint16Array([1, 2, 3, 4, 5, 6]);
    const b2 = new Uint16Array([11, 12, 13, 14, 15, 16]);
    const t = interleaveTile([b1, b2], 3, 2, 3, 4, 'uint16', 9);
    expect(t).toBeInstanceOf(Uint16Array);
    expect([...t.subarray(0, 8)]).toEqual([1, 11, 2, 12, 3, 13, 9, 9]);
    expect([...t.subarray(8, 16)]).toEqual([4, 14, 5, 15, 6, 16, 9, 9]);
    expect([...t.subarray(16)].every((v) => v === 9)).toBe(true);
  });

  it('reads planes with a row stride wider than the tile part and reuses scratch buffers', () => {
    const plane = new Float32Array([1, 2, 99, 3, 4, 99]); // 2x2 valid pixels, stride 3
    const scratch = new Float32Array(4).fill(7);
    const t = interleaveTile([plane], 2, 2, 3, 2, 'float32', 0, scratch);
    expect(t).toBe(scratch);
    expect([...t]).toEqual([1, 2, 3, 4]);
    const padded = interleaveTile([plane], 1, 1, 3, 2, 'float32', 0, scratch);
    expect([...padded]).toEqual([1, 0, 0, 0]); // stale scratch content is cleared
  });
});

describe('interleavePredictTile', () => {
  it.each([
    ['uint16', 0, 64, 64],
    ['uint16', 500, 37, 21],
    ['int16', -7, 64, 1],
    ['uint8', 3, 1, 64],
    ['int32', 0, 63, 64],
    ['uint32', 4000000000, 20, 30],
  ] as const)('equals interleaving then predictor 2 (%s, fill %d, %ix%i valid in a 64 tile)', (dataType, fill, w, h) => {
    let s = 5;
    const stride = w + 3;
    const planes = Array.from({ length: 3 }, () => {
      const p = allocPixels(dataType, stride * h);
      for (let i = 0; i < p.length; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        p[i] = dataType === 'uint8' ? s >>> 24 : dataType.startsWith('int') ? (s | 0) >> 8 : s >>> 1;
      }
      return p;
    });
    const expected = interleaveTile(planes, w, h, stride, 64, dataType, fill);
    applyHorizontalPredictor(expected, 64, 3);
    const scratch = allocPixels(dataType, 64 * 64 * 3).fill(9); // stale content must be overwritten
    const got = interleavePredictTile(planes, w, h, stride, 64, dataType, fill, scratch);
    expect(got).toBe(scratch);
    expect([...got]).toEqual([...expected]);
  });
});
