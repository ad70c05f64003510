import { describe, expect, it } from 'vitest';
import { averagingRule, downsample2x, pyramidSizes } from '../../cog/overview.js';
import { allocPixels, type DataType, type PixelArray } from '../../raster/types.js';

/** Independent reference: the mean of the valid pixels of each 2x2 block of a whole array. */
function referenceHalf(src: ArrayLike<number>, w: number, h: number, nodata: number | null, float: boolean): number[] {
  const ow = Math.ceil(w / 2);
  const oh = Math.ceil(h / 2);
  const out: number[] = [];
  for (let j = 0; j < oh; j++) {
    for (let i = 0; i < ow; i++) {
      const vals: number[] = [];
      for (let dy = 0; dy < 2; dy++) {
        for (let dx = 0; dx < 2; dx++) {
          const x = 2 * i + dx;
          const y = 2 * j + dy;
          if (x >= w || y >= h) continue;
          const v = src[y * w + x];
          if (nodata !== null && v === nodata) continue;
          if (float && Number.isNaN(v)) continue;
          vals.push(v);
        }
      }
      if (vals.length === 0) out.push(nodata ?? (float ? Number.NaN : 0));
      else {
        const m = vals.reduce((a, b) => a + b, 0) / vals.length;
        out.push(float ? m : Math.sign(m) * Math.round(Math.abs(m)));
      }
    }
  }
  return out;
}

describe('pyramidSizes', () => {
  it('halves, rounding up, until a level fits in one tile', () => {
    expect(pyramidSizes(1300, 900, 512)).toEqual([
      { width: 1300, height: 900 },
      { width: 650, height: 450 },
      { width: 325, height: 225 },
    ]);
    expect(pyramidSizes(10980, 10980, 512).map((s) => s.width)).toEqual([10980, 5490, 2745, 1373, 687, 344]);
    expect(pyramidSizes(1025, 40, 512)).toEqual([
      { width: 1025, height: 40 },
      { width: 513, height: 20 },
      { width: 257, height: 10 },
    ]);
  });

  it('gives no overview to an image that fits in one tile', () => {
    expect(pyramidSizes(512, 512, 512)).toEqual([{ width: 512, height: 512 }]);
    expect(pyramidSizes(300, 200, 512)).toHaveLength(1);
  });
});

describe('downsample2x', () => {
  it('averages valid pixels only, gives nodata where none is valid and rounds integers half away from zero', () => {
    // 4x2 -> 2x1
    const src = new Uint16Array([
      0, 0, 3, 0,
      0, 0, 4, 0,
    ]);
    const dst = new Uint16Array(2);
    downsample2x(src, 4, 2, 4, dst, 2, 0, 0, averagingRule('uint16', 0));
    expect([...dst]).toEqual([0, 4]); // all nodata -> nodata; mean(3,4)=3.5 -> 4
    const neg = new Int16Array([-3, -4, 5, 5]);
    const out = new Int16Array(2);
    downsample2x(neg, 2, 2, 2, out, 2, 1, 0, averagingRule('int16', null));
    expect(out[1]).toBe(1); // (-3-4+5+5)/4 = 0.75 -> 1
    downsample2x(new Int16Array([-3, -4]), 2, 1, 2, out, 2, 0, 0, averagingRule('int16', null));
    expect(out[0]).toBe(-4); // -3.5 -> -4
  });

  it('handles odd widths and heights by averaging the partial edge blocks', () => {
    const src = new Uint8Array([
      1, 3, 5,
      7, 9, 11,
      20, 30, 40,
    ]);
    const dst = new Uint8Array(4);
    downsample2x(src, 3, 3, 3, dst, 2, 0, 0, averagingRule('uint8', null));
    expect([...dst]).toEqual([5, 8, 25, 40]);
  });

  it('writes at an offset of a wider destination and reads a source with a row stride', () => {
    const src = new Float32Array([1, 2, -1, 3, 4, -1]); // 2x2 valid, stride 3
    const dst = new Float32Array(6).fill(-7);
    downsample2x(src, 2, 2, 3, dst, 3, 2, 1, averagingRule('float32', null));
    expect([...dst]).toEqual([-7, -7, -7, -7, -7, 2.5]);
  });

  it('skips NaN in floats and matches a float32 nodata stored with float32 precision', () => {
    const nd = -9999.99; // not representable in float32
    const src = new Float32Array([nd, Number.NaN, 2, nd, Number.NaN, nd, nd, nd]);
    const dst = new Float32Array(2);
    downsample2x(src, 4, 2, 4, dst, 2, 0, 0, averagingRule('float32', nd));
    expect(dst[0]).toBe(Math.fround(nd)); // nodata and NaN only
    expect(dst[1]).toBe(2); // the one valid pixel
    const nanNodata = new Float32Array(1);
    downsample2x(new Float32Array([Number.NaN, Number.NaN]), 2, 1, 2, nanNodata, 1, 0, 0, averagingRule('float32', Number.NaN));
    expect(Number.isNaN(nanNodata[0])).toBe(true);
  });

  const cases: [DataType, number | null, number, number][] = [
    ['uint16', 0, 37, 23],
    ['uint16', null, 64, 64],
    ['int32', -1, 15, 40],
    ['float32', -9999, 33, 17],
    ['float64', null, 20, 9],
  ];
  it.each(cases)('matches an independent reference on random %s data (nodata %s, %ix%i)', (dataType, nodata, w, h) => {
    let s = 99;
    const src = allocPixels(dataType, w * h);
    for (let i = 0; i < src.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const r = s / 2 ** 32;
      src[i] = nodata !== null && r < 0.3 ? nodata : dataType.startsWith('float') ? r * 1000 - 200 : Math.floor(r * 5000) + (dataType === 'int32' ? -2500 : 0);
      if (dataType === 'int32' && src[i] === -1 && nodata === -1 && r >= 0.3) src[i] = 0;
    }
    const float = dataType.startsWith('float');
    const expected = referenceHalf(src, w, h, nodata === null ? null : float ? src.constructor === Float32Array ? Math.fround(nodata) : nodata : nodata, float);
    const dst: PixelArray = allocPixels(dataType, Math.ceil(w / 2) * Math.ceil(h / 2));
    downsample2x(src, w, h, w, dst, Math.ceil(w / 2), 0, 0, averagingRule(dataType, nodata));
    const want = dataType === 'float32' ? expected.map((v) => Math.fround(v)) : expected;
    expect([...dst]).toEqual(want);
  });
});
