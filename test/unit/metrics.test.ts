/**
 * The metrics of train/metrics.ts on tiny arrays worked by hand (RMSE, MAE, SRE, PSNR, ERGAS, SAM), SSIM
 * against a direct 2-D evaluation of its definition, nodata handling, and streaming in row blocks giving
 * the same numbers as one pass.
 */
import { describe, expect, it } from 'vitest';
import { computeMetrics, dataRanges, MetricsAccumulator } from '../../train/metrics.js';
import { TrainRng } from '../../train/rng.js';

describe('metrics on a 2x2, two-band image (by hand)', () => {
  const ref = [
    [10, 20, 30, 40],
    [5, 5, 5, 5],
  ];
  const pred = [
    [12, 18, 30, 44], // errors 2, -2, 0, 4: squared sum 24, MSE 6
    [5, 6, 4, 5], // errors 0, 1, -1, 0: squared sum 2, MSE 0.5
  ];
  const m = computeMetrics(pred, ref, { bands: ['A', 'B'], factor: 2, width: 2, height: 2 });

  it('RMSE pools pixels and bands; MAE likewise', () => {
    expect(m.pixels).toBe(4);
    expect(m.rmse).toBeCloseTo(Math.sqrt(26 / 8), 12);
    expect(m.mae).toBeCloseTo(10 / 8, 12);
    expect(m.bands[0].rmse).toBeCloseTo(Math.sqrt(6), 12);
    expect(m.bands[1].rmse).toBeCloseTo(Math.sqrt(0.5), 12);
    expect(m.bands[0].mae).toBe(2);
    expect(m.bands[1].mae).toBe(0.5);
  });

  it('SRE = 10 log10(mean(ref)^2 / MSE) per band, averaged', () => {
    expect(m.bands[0].sre).toBeCloseTo(10 * Math.log10(625 / 6), 12);
    expect(m.bands[1].sre).toBeCloseTo(10 * Math.log10(25 / 0.5), 12);
    expect(m.sre).toBeCloseTo((10 * Math.log10(625 / 6) + 10 * Math.log10(50)) / 2, 12);
  });

  it('PSNR uses the reference band maximum as the peak, averaged over bands', () => {
    expect(m.bands[0].psnr).toBeCloseTo(10 * Math.log10(1600 / 6), 12);
    expect(m.bands[1].psnr).toBeCloseTo(10 * Math.log10(25 / 0.5), 12);
    expect(m.psnr).toBeCloseTo((m.bands[0].psnr + m.bands[1].psnr) / 2, 12);
  });

  it('ERGAS = 100 / factor * sqrt(mean over bands of (RMSE / mean)^2)', () => {
    expect(m.ergas).toBeCloseTo(50 * Math.sqrt((6 / 625 + 0.5 / 25) / 2), 12);
  });

  it('SAM is the mean angle between spectral vectors, in degrees', () => {
    const angle = (p: number[], t: number[]) => Math.acos((p[0] * t[0] + p[1] * t[1]) / (Math.hypot(...p) * Math.hypot(...t)));
    const want = [0, 1, 2, 3].map((i) => angle([pred[0][i], pred[1][i]], [ref[0][i], ref[1][i]]));
    expect(m.sam).toBeCloseTo(((want.reduce((a, b) => a + b) / 4) * 180) / Math.PI, 10);
    expect(m.sam).toBeGreaterThan(0.1);
  });

  it('has no SSIM for images smaller than its 11x11 window', () => {
    expect(m.ssim).toBeNull();
    expect(m.bands[0].ssim).toBeNull();
    expect(m.bands[0].dataRange).toBe(30);
  });

  it('is zero error for a perfect prediction', () => {
    const p = computeMetrics(ref, ref, { bands: ['A', 'B'], factor: 2, width: 2, height: 2 });
    expect(p.rmse).toBe(0);
    expect(p.sam).toBe(0);
    expect(p.ergas).toBe(0);
    expect(p.sre).toBe(Infinity);
  });
});

/** SSIM straight from its definition: 2-D Gaussian weights (sigma 1.5, 11x11), every full window, averaged. */
function ssimDirect(x: number[], y: number[], W: number, H: number, L: number, skip: (cx: number, cy: number) => boolean = () => false): number {
  const r = 5;
  const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * 1.5 * 1.5)));
  const gs = g.reduce((a, b) => a + b);
  const w = g.map((v) => v / gs);
  const c1 = (0.01 * L) ** 2;
  const c2 = (0.03 * L) ** 2;
  let sum = 0;
  let n = 0;
  for (let cy = r; cy < H - r; cy++) {
    for (let cx = r; cx < W - r; cx++) {
      if (skip(cx, cy)) continue;
      let mx = 0;
      let my = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let i = -r; i <= r; i++) {
        for (let j = -r; j <= r; j++) {
          const k = w[i + r] * w[j + r];
          const a = x[(cy + i) * W + cx + j];
          const b = y[(cy + i) * W + cx + j];
          mx += k * a;
          my += k * b;
          sxx += k * a * a;
          syy += k * b * b;
          sxy += k * a * b;
        }
      }
      const vx = sxx - mx * mx;
      const vy = syy - my * my;
      const vxy = sxy - mx * my;
      sum += ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      n++;
    }
  }
  return sum / n;
}

describe('SSIM', () => {
  const W = 17;
  const H = 14;
  const rng = new TrainRng(3);
  const ref = Array.from({ length: W * H }, (_, i) => 1000 + 300 * Math.sin(i / 7) + 50 * rng.next());
  const pred = ref.map((v) => v + 40 * (rng.next() - 0.5) + 10);

  it('equals the direct evaluation of its definition', () => {
    const m = computeMetrics([pred], [ref], { bands: ['A'], factor: 2, width: W, height: H });
    const L = Math.max(...ref) - Math.min(...ref);
    expect(m.bands[0].dataRange).toBeCloseTo(L, 9);
    expect(m.ssim).toBeCloseTo(ssimDirect(pred, ref, W, H, L), 10);
    expect(m.ssim!).toBeLessThan(1);
    expect(m.ssim!).toBeGreaterThan(0.5);
  });

  it('is 1 for identical images', () => {
    const m = computeMetrics([ref], [ref], { bands: ['A'], factor: 2, width: W, height: H });
    expect(m.ssim).toBeCloseTo(1, 12);
  });

  it('leaves out windows touching nodata, and pixels where any band is nodata', () => {
    const W = 30;
    const H = 24;
    const ref = Array.from({ length: W * H }, (_, i) => 1000 + 300 * Math.sin(i / 7) + 50 * rng.next());
    const pred = ref.map((v) => v + 40 * (rng.next() - 0.5) + 10);
    const p2 = [...pred];
    p2[7 * W + 8] = Number.NaN;
    const other = ref.map((v) => v / 2);
    const m = computeMetrics([p2, other], [ref, other], { bands: ['A', 'B'], factor: 2, width: W, height: H });
    expect(m.pixels).toBe(W * H - 1);
    // Band B is perfect, but its pixel under A's NaN is left out too.
    expect(m.bands[1].rmse).toBe(0);
    // Only the SSIM windows that do not hold (8, 7) count.
    const away = (cx: number, cy: number) => Math.abs(cx - 8) <= 5 && Math.abs(cy - 7) <= 5;
    expect(m.bands[0].ssim).toBeCloseTo(ssimDirect(pred, ref, W, H, m.bands[0].dataRange, away), 10);
    expect(m.bands[0].ssim).not.toBeCloseTo(ssimDirect(pred, ref, W, H, m.bands[0].dataRange), 10);
  });
});

describe('streaming', () => {
  it('gives the same numbers fed row block by row block as in one pass', () => {
    const W = 23;
    const H = 31;
    const rng = new TrainRng(8);
    const ref = [0, 1, 2].map((b) => Float32Array.from({ length: W * H }, (_, i) => 500 + 100 * b + 200 * Math.cos(i / (5 + b)) + 30 * rng.next()));
    const pred = ref.map((plane) => plane.map((v) => v + 25 * (rng.next() - 0.5)));
    pred[1][40] = Number.NaN;
    const opts = { bands: ['a', 'b', 'c'], factor: 6, width: W, height: H };
    const once = computeMetrics(pred, ref, opts);
    const acc = new MetricsAccumulator({ ...opts, dataRange: dataRanges(pred, ref, W * H) });
    for (let y = 0; y < H; ) {
      const h = Math.min(H - y, 1 + Math.floor(rng.next() * 7));
      acc.add(
        pred.map((p) => p.subarray(y * W, (y + h) * W)),
        ref.map((p) => p.subarray(y * W, (y + h) * W)),
        h,
      );
      y += h;
    }
    const streamed = acc.result();
    expect(streamed.rmse).toBeCloseTo(once.rmse, 9);
    expect(streamed.sam).toBeCloseTo(once.sam, 9);
    expect(streamed.ssim!).toBeCloseTo(once.ssim!, 9);
    expect(streamed.bands.map((b) => b.psnr)).toEqual(once.bands.map((b) => b.psnr));
    expect(streamed.pixels).toBe(W * H - 1);
  });

  it('rejects mismatched inputs and empty comparisons', () => {
    const acc = new MetricsAccumulator({ bands: ['a'], factor: 2, width: 2 });
    expect(() => acc.add([[1, 2]], [[1, 2], [3, 4]], 1)).toThrow(/expected 1 bands/);
    expect(() => acc.add([[1]], [[1]], 1)).toThrow(/fewer than 1x2 values/);
    acc.add([[Number.NaN, 1]], [[1, Number.NaN]], 1);
    expect(() => acc.result()).toThrow(/no pixel is valid/);
  });
});
