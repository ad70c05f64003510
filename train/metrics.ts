/**
 * Image-quality metrics of Wald's protocol, computed in one streaming pass over rows of a super-resolved
 * group and its reference bands (DN values): RMSE pooled over pixels and bands (as DSen2 reports it),
 * per-band RMSE, MAE, SRE, SAM, ERGAS, PSNR and SSIM. The exact formulas, and the references they follow,
 * are in docs/metrics.md. A pixel is used only where every band of both images is finite (NaN = nodata).
 */

/** Metrics of one band. */
export interface BandMetrics {
  readonly band: string;
  /** Root-mean-square error, DN. */
  readonly rmse: number;
  /** Mean absolute error, DN. */
  readonly mae: number;
  /** Signal-to-reconstruction error, dB: 10 log10(mean(ref)^2 / MSE). */
  readonly sre: number;
  /** Peak signal-to-noise ratio, dB, with the reference band's maximum as the peak. */
  readonly psnr: number;
  /** Mean SSIM (Gaussian 11x11 window, sigma 1.5, K1 0.01, K2 0.03), or null when the image is smaller than the window. */
  readonly ssim: number | null;
  /** Mean of the reference band, DN. */
  readonly mean: number;
  /** Data range used by SSIM (reference max - min), DN. */
  readonly dataRange: number;
}

/** Metrics of a super-resolved group against its reference. */
export interface MetricsResult {
  /** RMSE pooled over every pixel and band, DN. */
  readonly rmse: number;
  /** MAE pooled over every pixel and band, DN. */
  readonly mae: number;
  /** Mean of the per-band SRE, dB. */
  readonly sre: number;
  /** Mean spectral angle, degrees. */
  readonly sam: number;
  /** ERGAS (dimensionless). */
  readonly ergas: number;
  /** Mean of the per-band PSNR, dB. */
  readonly psnr: number;
  /** Mean of the per-band SSIM, or null when no band has one. */
  readonly ssim: number | null;
  /** Pixels compared (valid in every band of both images). */
  readonly pixels: number;
  readonly bands: readonly BandMetrics[];
}

/** Options of the metrics. */
export interface MetricsOptions {
  /** Band ids, in plane order. */
  readonly bands: readonly string[];
  /** Resolution ratio of the reference to the inputs' coarse grid (the super-resolution factor) for ERGAS. */
  readonly factor: number;
  /** Image width in pixels. */
  readonly width: number;
  /** SSIM data range per band (default: computed from the reference by computeMetrics; required for streaming). */
  readonly dataRange?: readonly number[];
}

/** scipy's Gaussian with sigma 1.5 and truncate 3.5, as scikit-image's SSIM uses: 11 taps. */
function ssimKernel(): Float64Array {
  const sigma = 1.5;
  const r = Math.floor(3.5 * sigma + 0.5);
  const k = new Float64Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) {
    k[i + r] = Math.exp((-0.5 * i * i) / (sigma * sigma));
    s += k[i + r];
  }
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

const SSIM_K = ssimKernel();
const SSIM_WIN = SSIM_K.length;
const SSIM_R = (SSIM_WIN - 1) / 2;

/** Streaming SSIM of one band: rows arrive in order; each full 11-row window gives one row of SSIM values. */
class SsimBand {
  private readonly xs: Float64Array[] = [];
  private readonly ys: Float64Array[] = [];
  private readonly bad: Uint8Array[] = [];
  private readonly c1: number;
  private readonly c2: number;
  sum = 0;
  count = 0;

  constructor(
    private readonly width: number,
    dataRange: number,
  ) {
    this.c1 = (0.01 * dataRange) ** 2;
    this.c2 = (0.03 * dataRange) ** 2;
  }

  push(x: Float64Array, y: Float64Array, bad: Uint8Array): void {
    this.xs.push(x);
    this.ys.push(y);
    this.bad.push(bad);
    if (this.xs.length < SSIM_WIN) return;
    this.row();
    this.xs.shift();
    this.ys.shift();
    this.bad.shift();
  }

  private row(): void {
    const W = this.width;
    if (W < SSIM_WIN) return;
    const k = SSIM_K;
    const mx = new Float64Array(W);
    const my = new Float64Array(W);
    const mxx = new Float64Array(W);
    const myy = new Float64Array(W);
    const mxy = new Float64Array(W);
    const nbad = new Int32Array(W + 1); // prefix sums of columns holding a bad pixel in the window
    for (let c = 0; c < W; c++) {
      let a = 0;
      let b = 0;
      let aa = 0;
      let bb = 0;
      let ab = 0;
      let bad = 0;
      for (let i = 0; i < SSIM_WIN; i++) {
        const w = k[i];
        const xv = this.xs[i][c];
        const yv = this.ys[i][c];
        a += w * xv;
        b += w * yv;
        aa += w * xv * xv;
        bb += w * yv * yv;
        ab += w * xv * yv;
        bad |= this.bad[i][c];
      }
      mx[c] = a;
      my[c] = b;
      mxx[c] = aa;
      myy[c] = bb;
      mxy[c] = ab;
      nbad[c + 1] = nbad[c] + bad;
    }
    for (let c = SSIM_R; c < W - SSIM_R; c++) {
      if (nbad[c + SSIM_R + 1] - nbad[c - SSIM_R] > 0) continue;
      let ux = 0;
      let uy = 0;
      let uxx = 0;
      let uyy = 0;
      let uxy = 0;
      for (let i = 0; i < SSIM_WIN; i++) {
        const w = k[i];
        const j = c - SSIM_R + i;
        ux += w * mx[j];
        uy += w * my[j];
        uxx += w * mxx[j];
        uyy += w * myy[j];
        uxy += w * mxy[j];
      }
      const vx = uxx - ux * ux;
      const vy = uyy - uy * uy;
      const vxy = uxy - ux * uy;
      const s = ((2 * ux * uy + this.c1) * (2 * vxy + this.c2)) / ((ux * ux + uy * uy + this.c1) * (vx + vy + this.c2));
      this.sum += s;
      this.count++;
    }
  }
}

/**
 * Accumulates the metrics over rows of a group: call add() with consecutive blocks of rows (one plane
 * per band, prediction and reference), then result().
 */
export class MetricsAccumulator {
  private readonly B: number;
  private readonly sq: Float64Array;
  private readonly abs: Float64Array;
  private readonly refSum: Float64Array;
  private readonly refMax: Float64Array;
  private readonly refMin: Float64Array;
  private samSum = 0;
  private samCount = 0;
  private pixels = 0;
  private readonly ssim: SsimBand[] | null;

  constructor(private readonly opts: MetricsOptions) {
    this.B = opts.bands.length;
    if (this.B === 0) throw new Error('metrics need at least one band');
    if (!(opts.factor > 0)) throw new Error(`metrics: the factor must be positive, got ${opts.factor}`);
    this.sq = new Float64Array(this.B);
    this.abs = new Float64Array(this.B);
    this.refSum = new Float64Array(this.B);
    this.refMax = new Float64Array(this.B).fill(Number.NEGATIVE_INFINITY);
    this.refMin = new Float64Array(this.B).fill(Number.POSITIVE_INFINITY);
    if (opts.dataRange && opts.dataRange.length !== this.B) throw new Error(`metrics: ${opts.dataRange.length} data ranges for ${this.B} bands`);
    this.ssim = opts.dataRange ? opts.dataRange.map((r) => new SsimBand(opts.width, r)) : null;
  }

  /** Adds `rows` rows: pred[b] and ref[b] hold rows x width values of band b (NaN marks nodata). */
  add(pred: readonly ArrayLike<number>[], ref: readonly ArrayLike<number>[], rows: number): void {
    const B = this.B;
    const W = this.opts.width;
    if (pred.length !== B || ref.length !== B) throw new Error(`metrics: expected ${B} bands, got ${pred.length} predicted and ${ref.length} reference`);
    for (let b = 0; b < B; b++) {
      if (pred[b].length < rows * W || ref[b].length < rows * W) throw new Error(`metrics: band ${this.opts.bands[b]} holds fewer than ${rows}x${W} values`);
    }
    for (let r = 0; r < rows; r++) {
      const bad = new Uint8Array(W);
      const xs = this.ssim ? Array.from({ length: B }, () => new Float64Array(W)) : [];
      const ys = this.ssim ? Array.from({ length: B }, () => new Float64Array(W)) : [];
      for (let c = 0; c < W; c++) {
        const i = r * W + c;
        let ok = true;
        for (let b = 0; b < B; b++) {
          if (!Number.isFinite(pred[b][i]) || !Number.isFinite(ref[b][i])) {
            ok = false;
            break;
          }
        }
        if (!ok) {
          bad[c] = 1;
          continue;
        }
        this.pixels++;
        let dot = 0;
        let nx = 0;
        let ny = 0;
        for (let b = 0; b < B; b++) {
          const p = pred[b][i];
          const t = ref[b][i];
          const e = p - t;
          this.sq[b] += e * e;
          this.abs[b] += Math.abs(e);
          this.refSum[b] += t;
          if (t > this.refMax[b]) this.refMax[b] = t;
          if (t < this.refMin[b]) this.refMin[b] = t;
          dot += p * t;
          nx += p * p;
          ny += t * t;
          if (this.ssim) {
            xs[b][c] = p;
            ys[b][c] = t;
          }
        }
        if (nx > 0 && ny > 0) {
          const cos = Math.max(-1, Math.min(1, dot / Math.sqrt(nx * ny)));
          this.samSum += Math.acos(cos);
          this.samCount++;
        }
      }
      if (this.ssim) for (let b = 0; b < B; b++) this.ssim[b].push(xs[b], ys[b], bad);
    }
  }

  /** The metrics of everything added. */
  result(): MetricsResult {
    const B = this.B;
    const n = this.pixels;
    if (n === 0) throw new Error('metrics: no pixel is valid in both images');
    const bands: BandMetrics[] = [];
    let sqAll = 0;
    let absAll = 0;
    let ergas = 0;
    for (let b = 0; b < B; b++) {
      const mse = this.sq[b] / n;
      const mean = this.refSum[b] / n;
      const rmse = Math.sqrt(mse);
      sqAll += this.sq[b];
      absAll += this.abs[b];
      ergas += (rmse / mean) ** 2;
      const s = this.ssim?.[b];
      bands.push({
        band: this.opts.bands[b],
        rmse,
        mae: this.abs[b] / n,
        sre: 10 * Math.log10((mean * mean) / mse),
        psnr: 10 * Math.log10((this.refMax[b] * this.refMax[b]) / mse),
        ssim: s && s.count > 0 ? s.sum / s.count : null,
        mean,
        dataRange: this.opts.dataRange ? this.opts.dataRange[b] : this.refMax[b] - this.refMin[b],
      });
    }
    const ssims = bands.map((x) => x.ssim).filter((x): x is number => x !== null);
    return {
      rmse: Math.sqrt(sqAll / (n * B)),
      mae: absAll / (n * B),
      sre: bands.reduce((a, x) => a + x.sre, 0) / B,
      sam: this.samCount ? ((this.samSum / this.samCount) * 180) / Math.PI : Number.NaN,
      ergas: (100 / this.opts.factor) * Math.sqrt(ergas / B),
      psnr: bands.reduce((a, x) => a + x.psnr, 0) / B,
      ssim: ssims.length ? ssims.reduce((a, x) => a + x, 0) / ssims.length : null,
      pixels: n,
      bands,
    };
  }
}

/** The reference's data range (max - min over pixels valid in every band of both images), per band. */
export function dataRanges(pred: readonly ArrayLike<number>[], ref: readonly ArrayLike<number>[], length: number): number[] {
  const B = ref.length;
  const lo = new Array<number>(B).fill(Number.POSITIVE_INFINITY);
  const hi = new Array<number>(B).fill(Number.NEGATIVE_INFINITY);
  for (let i = 0; i < length; i++) {
    let ok = true;
    for (let b = 0; b < B && ok; b++) ok = Number.isFinite(pred[b][i]) && Number.isFinite(ref[b][i]);
    if (!ok) continue;
    for (let b = 0; b < B; b++) {
      const t = ref[b][i];
      if (t < lo[b]) lo[b] = t;
      if (t > hi[b]) hi[b] = t;
    }
  }
  return hi.map((h, b) => h - lo[b]);
}

/** Every metric for whole images: pred[b] and ref[b] are height x width planes of band b. */
export function computeMetrics(pred: readonly ArrayLike<number>[], ref: readonly ArrayLike<number>[], options: Omit<MetricsOptions, 'dataRange'> & { readonly height: number; readonly dataRange?: readonly number[] }): MetricsResult {
  const acc = new MetricsAccumulator({ ...options, dataRange: options.dataRange ?? dataRanges(pred, ref, options.width * options.height) });
  acc.add(pred, ref, options.height);
  return acc.result();
}
