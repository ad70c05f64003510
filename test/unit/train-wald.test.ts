/**
 * Wald's protocol degradation (train/wald.ts): scipy's Gaussian kernel, whole-array degradation worked by
 * hand, windowed degraded sources equal to the whole-array reference at every position (edges included),
 * nodata and saturation masks over exactly the blur support, and the degraded scene's geometry.
 */
import { describe, expect, it } from 'vitest';
import { satellites } from '../../satellites/registry.js';
import { coveredWindow, degradeArray, DegradedBandSource, degradeScene, gaussianKernel, labelGrid, MASK_NODATA, MASK_SATURATED } from '../../train/wald.js';
import { assembleScene } from '../../scene/assemble.js';
import { PatchSource, groupBands } from '../../train/dataset.js';
import { MemoryBandSource, syntheticScene } from '../../train/synthetic.js';
import { TrainRng } from '../../train/rng.js';
import type { Grid } from '../../raster/grid.js';

function grid(width: number, height: number, res = 10): Grid {
  return { width, height, crs: { epsg: 32633 }, transform: { x0: 300000, y0: 5000000, dx: res, dy: -res } };
}

function randomBand(width: number, height: number, seed: number): Uint16Array {
  const r = new TrainRng(seed);
  return Uint16Array.from({ length: width * height }, () => 100 + Math.floor(r.next() * 3000));
}

describe('Gaussian kernel', () => {
  it("is scipy's: radius int(4 sigma + 0.5), normalised exp(-x^2 / 2 sigma^2)", () => {
    const k = gaussianKernel(0.5);
    expect(k.length).toBe(5);
    // exp(-2 x^2) at x = 0, 1, 2, divided by their sum 1 + 2e^-2 + 2e^-8.
    const sum = 1 + 2 * Math.exp(-2) + 2 * Math.exp(-8);
    expect(k[2]).toBeCloseTo(1 / sum, 12);
    expect(k[1]).toBeCloseTo(Math.exp(-2) / sum, 12);
    expect(k[0]).toBeCloseTo(Math.exp(-8) / sum, 12);
    expect(k[0]).toBe(k[4]);
    expect(gaussianKernel(1 / 6).length).toBe(3);
    expect(gaussianKernel(0)).toEqual(Float64Array.of(1));
    expect(() => gaussianKernel(-1)).toThrow(/non-negative/);
  });
});

describe('degradeArray', () => {
  it('block-averages without blur (hand-worked 4x4 -> 2x2, odd edge dropped)', () => {
    // 4 rows x 5 columns; the fifth column is not a whole block and is dropped.
    const src = [1, 2, 3, 4, 9, 5, 6, 7, 8, 9, 0, 0, 0, 0, 4, 8, 1, 1, 1, 1];
    const { data, rows, cols } = degradeArray(src, 4, 5, 2, { sigmaScale: 0 });
    expect([rows, cols]).toEqual([2, 2]);
    expect(Array.from(data)).toEqual([(1 + 2 + 5 + 6) / 4, (3 + 4 + 7 + 8) / 4, (0 + 0 + 8 + 1) / 4, (0 + 0 + 1 + 1) / 4]);
  });

  it('keeps a constant image constant and blurs with mirrored edges (hand-worked 1-D case)', () => {
    const c = degradeArray(new Array(36).fill(7), 6, 6, 2);
    for (const v of c.data) expect(v).toBeCloseTo(7, 5);
    // One row [0, 0, 4, 0] (height 2, identical rows): blur along x with sigma 0.5, mirror 'reflect' (d c b a | a b c d).
    const row = [0, 0, 4, 0];
    const k = gaussianKernel(0.5);
    const at = (i: number) => row[i < 0 ? -i - 1 : i >= 4 ? 7 - i : i];
    const blurred = row.map((_, x) => [-2, -1, 0, 1, 2].reduce((s, d) => s + k[d + 2] * at(x + d), 0));
    const d = degradeArray([...row, ...row], 2, 4, 2);
    expect(d.data[0]).toBeCloseTo((blurred[0] + blurred[1]) / 2, 6);
    expect(d.data[1]).toBeCloseTo((blurred[2] + blurred[3]) / 2, 6);
  });
});

describe('DegradedBandSource', () => {
  const W = 37;
  const H = 29;
  const data = randomBand(W, H, 5);
  const src = new MemoryBandSource('memory://b', grid(W, H), data, 'uint16', 0);

  for (const factor of [2, 3, 6]) {
    it(`reads every window as the whole-array degradation does (x${factor})`, async () => {
      const ref = degradeArray(data, H, W, factor);
      const d = new DegradedBandSource(src, factor);
      expect([d.grid.width, d.grid.height]).toEqual([ref.cols, ref.rows]);
      expect(d.grid.transform).toEqual({ x0: 300000, y0: 5000000, dx: 10 * factor, dy: -10 * factor });
      const r = new TrainRng(factor);
      for (let k = 0; k < 25; k++) {
        const w = { x: r.int(ref.cols), y: r.int(ref.rows), width: 1 + r.int(ref.cols), height: 1 + r.int(ref.rows) };
        const { data: got, mask } = await d.readMasked(w);
        for (let y = 0; y < w.height; y++) {
          for (let x = 0; x < w.width; x++) {
            const gx = w.x + x;
            const gy = w.y + y;
            const i = y * w.width + x;
            if (gx >= ref.cols || gy >= ref.rows) {
              expect(mask[i]).toBe(MASK_NODATA);
            } else {
              expect(mask[i]).toBe(0);
              expect(got[i]).toBeCloseTo(ref.data[gy * ref.cols + gx], 3);
            }
          }
        }
      }
    });
  }

  it('flags exactly the degraded pixels whose block plus blur radius holds a nodata or saturated pixel', async () => {
    const a = Uint16Array.from(data);
    a[10 * W + 10] = 0; // nodata
    a[20 * W + 30] = 65535; // saturated
    const d = new DegradedBandSource(new MemoryBandSource('memory://m', grid(W, H), a, 'uint16', 0), 2, { saturated: 65535 });
    expect(d.radius).toBe(2);
    const { data: v, mask } = await d.readMasked({ x: 0, y: 0, width: d.grid.width, height: d.grid.height });
    const touches = (b: number, p: number) => 2 * b - 2 <= p && p <= 2 * b + 1 + 2;
    for (let by = 0; by < d.grid.height; by++) {
      for (let bx = 0; bx < d.grid.width; bx++) {
        const want = (touches(bx, 10) && touches(by, 10) ? MASK_NODATA : 0) | (touches(bx, 30) && touches(by, 20) ? MASK_SATURATED : 0);
        expect(mask[by * d.grid.width + bx], `${bx},${by}`).toBe(want);
      }
    }
    // read() fills nodata-flagged pixels only.
    const filled = await d.read({ x: 0, y: 0, width: d.grid.width, height: d.grid.height }, -1);
    expect(filled[5 * d.grid.width + 5]).toBe(-1);
    expect(filled[10 * d.grid.width + 15]).toBe(v[10 * d.grid.width + 15]);
    expect(filled[10 * d.grid.width + 15]).toBeGreaterThan(1000);
  });

  it('refuses bands too small to degrade and bad factors', () => {
    expect(() => new DegradedBandSource(new MemoryBandSource('memory://t', grid(3, 3), new Uint16Array(9), 'uint16'), 6)).toThrow(/too small to degrade by 6/);
    expect(() => new DegradedBandSource(src, 1.5)).toThrow(/positive integer/);
  });
});

describe('degradeScene', () => {
  const s2 = satellites().get('sentinel-2-l1c');
  const scene = syntheticScene(s2, { width: 120, height: 96, seed: 3 });

  it("puts the degraded bands on the group's target grid", async () => {
    const g20 = s2.groups.find((g) => g.id === '20m')!;
    const ds = degradeScene(scene, g20);
    expect(ds.grid).toEqual(labelGrid(scene, g20));
    expect(ds.grid.transform.dx).toBe(20);
    expect(ds.degraded.get('B02')!.grid.transform.dx).toBe(20);
    expect(ds.degraded.get('B05')!.grid.transform.dx).toBe(40);
    expect(ds.degraded.get('B01')!.grid.transform.dx).toBe(120);
    const w = await ds.readWindow({ x: 4, y: 6, width: 10, height: 8 }, { bands: ['B02', 'B05'] });
    expect(w.bands.map((b) => [b.band, b.window.width, b.window.height, b.scaleX])).toEqual([
      ['B02', 10, 8, 1],
      ['B05', 5, 4, 0.5],
    ]);
    // B02 degraded by 2 lands on the 20 m grid: its values are the whole-band degradation's.
    const b02 = scene.bands.find((b) => b.spec.id === 'B02')!.source as MemoryBandSource;
    const ref = degradeArray(b02.data, 96, 120, 2);
    expect(w.bands[0].data[0]).toBeCloseTo(ref.data[6 * ref.cols + 4], 3);
  });

  it('degrades by 6 for the 60 m group', () => {
    const ds = degradeScene(scene, s2.groups.find((g) => g.id === '60m')!);
    expect(ds.grid.transform.dx).toBe(60);
    expect(ds.degraded.get('B02')!.grid.transform.dx).toBe(60);
    expect(ds.degraded.get('B09')!.grid.transform.dx).toBe(360);
  });

  it('names a missing target band', () => {
    const partial = syntheticScene(s2, { width: 60, height: 60, omit: ['B11'] });
    expect(() => degradeScene(partial, s2.groups.find((g) => g.id === '20m')!)).toThrow(/lacks band B11, a target of group 20m/);
  });
});

describe('covered window', () => {
  it("leaves out the target column a half-pixel-offset pan band misses after degradation (Landsat)", async () => {
    const l8 = satellites().get('landsat-c2-l1');
    const group = l8.groups.find((g) => g.id === '30m')!;
    const ms = { width: 40, height: 30 };
    // As in Landsat products cropped by their MTL: the 15 m pan grid starts 7.5 m east and 7.5 m north of the 30 m grid.
    const bands = l8.bands
      .filter((b) => groupBands(l8, group).inputs.includes(b.id))
      .map((b, i) => {
        const pan = b.resolution === 15;
        const w = pan ? 2 * ms.width - 1 : ms.width;
        const h = pan ? 2 * ms.height : ms.height;
        const g: Grid = { width: w, height: h, crs: { epsg: 32616 }, transform: { x0: 543975 + (pan ? 7.5 : 0), y0: 1378995 + (pan ? 7.5 : 0), dx: b.resolution, dy: -b.resolution } };
        return { spec: b, source: new MemoryBandSource(`memory://${b.id}`, g, randomBand(w, h, 20 + i), 'uint16', 0), dnOffset: 0 };
      });
    const scene = assembleScene({ id: 'l8', uri: 'memory://l8', satellite: l8, bands, metadata: {} });
    const ds = degradeScene(scene, group);
    // Degraded pan pixels start a quarter of a target pixel east: the first target column is not covered;
    // 79 pan columns give 39 degraded ones, so the last target column is not either.
    const c = coveredWindow(ds, groupBands(l8, group).inputs, { x: 0, y: 0, width: ms.width, height: ms.height });
    expect(c).toEqual({ x: 1, y: 0, width: 38, height: 30 - 1 });
    const src = new PatchSource(scene, group, { ...groupBands(l8, group), upsample: 'bilinear', normalisation: { divisor: 2000, applyDnOffset: true } }, { size: 8 });
    expect(src.extent).toEqual(c);
    expect(await src.read(0, 0)).toBeNull();
    const p = await src.read(2, 2);
    expect(p).not.toBeNull();
    expect(p!.input.every(Number.isFinite)).toBe(true);
    expect(() => coveredWindow(ds, ['B8'], { x: 0, y: 0, width: 1, height: 5 })).toThrow(/lies outside what the degraded bands/);
  });
});
