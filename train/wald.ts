/**
 * Wald's protocol, as DSen2 trains and evaluates (lanha/DSen2 `utils/patches.py` downPixelAggr): every
 * band is degraded by the group's factor s (a Gaussian blur of sigma = 1/s pixels of the band's own
 * grid, scipy `gaussian_filter` with truncate 4 and mirrored edges, then s x s block averaging), so the
 * original coarse bands become the targets of a network run on the degraded scene. Degraded bands are
 * computed lazily, window by window, from the original band sources: nothing is held whole in memory.
 */
import { bandWindowFor, assertWindow, intersectWindows, windowTransform, type Grid, type PixelWindow } from '../raster/grid.js';
import { symmetricIndex } from '../patches/upsample.js';
import type { GroupSpec } from '../satellites/spec.js';
import { SceneError, type BandSource, type BandWindow, type ReadWindowOptions, type Scene, type SceneBand } from '../scene/types.js';

/** How bands are degraded. */
export interface DegradeOptions {
  /** Blur sigma in pixels of the band's own grid is `sigmaScale / s` (DSen2: 1). 0 turns the blur off. */
  readonly sigmaScale?: number;
  /** Kernel half-width in sigmas, as scipy's `truncate` (default 4). */
  readonly truncate?: number;
}

/** Mask bits of a degraded pixel whose support (its block plus the blur radius) holds a bad original pixel. */
export const MASK_NODATA = 1;
/** Mask bit: the support holds a saturated pixel. */
export const MASK_SATURATED = 2;

/** scipy.ndimage's 1-D Gaussian kernel: radius int(truncate*sigma + 0.5), weights exp(-x^2 / 2 sigma^2), normalised. */
export function gaussianKernel(sigma: number, truncate = 4): Float64Array {
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw new Error(`blur sigma must be a non-negative number, got ${sigma}`);
  if (sigma === 0) return Float64Array.of(1);
  const radius = Math.floor(truncate * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const w = Math.exp((-0.5 * i * i) / (sigma * sigma));
    k[i + radius] = w;
    sum += w;
  }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/** The blur kernel used to degrade by a factor s. */
export function degradeKernel(factor: number, options: DegradeOptions = {}): Float64Array {
  const scale = options.sigmaScale ?? 1;
  return gaussianKernel(scale / factor, options.truncate ?? 4);
}

/**
 * Degrades a whole array (rows x cols, row-major) by `factor`: blur with mirrored edges (scipy 'reflect')
 * then block averaging over floor(rows/s) x floor(cols/s) blocks. The reference the windowed sources match.
 */
export function degradeArray(src: ArrayLike<number>, rows: number, cols: number, factor: number, options: DegradeOptions = {}): { data: Float32Array; rows: number; cols: number } {
  if (src.length !== rows * cols) throw new Error(`array has ${src.length} values, expected ${rows}x${cols}`);
  const k = degradeKernel(factor, options);
  const r = (k.length - 1) / 2;
  const outR = Math.floor(rows / factor);
  const outC = Math.floor(cols / factor);
  const tmp = new Float64Array(rows * cols);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      let v = 0;
      for (let i = -r; i <= r; i++) v += k[i + r] * src[y * cols + symmetricIndex(x + i, cols)];
      tmp[y * cols + x] = v;
    }
  }
  const blurred = new Float64Array(rows * cols);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      let v = 0;
      for (let i = -r; i <= r; i++) v += k[i + r] * tmp[symmetricIndex(y + i, rows) * cols + x];
      blurred[y * cols + x] = v;
    }
  }
  const out = new Float32Array(outR * outC);
  const n = factor * factor;
  for (let by = 0; by < outR; by++) {
    for (let bx = 0; bx < outC; bx++) {
      let s = 0;
      for (let dy = 0; dy < factor; dy++) for (let dx = 0; dx < factor; dx++) s += blurred[(by * factor + dy) * cols + bx * factor + dx];
      out[by * outC + bx] = s / n;
    }
  }
  return { data: out, rows: outR, cols: outC };
}

/** A degraded window: DN values and, per pixel, MASK_* bits. */
export interface MaskedWindow {
  readonly data: Float32Array;
  readonly mask: Uint8Array;
}

/** Options of DegradedBandSource. */
export interface DegradedSourceOptions extends DegradeOptions {
  /** DN marking missing original pixels (default: the source's own nodata). */
  readonly nodata?: number | null;
  /** DN at or above which an original pixel is saturated (flagged with MASK_SATURATED). */
  readonly saturated?: number;
}

/**
 * A band degraded by Wald's protocol, readable by window like any band source: each read fetches the
 * original pixels under the window plus the blur radius (mirrored at the band's edges), blurs and
 * block-averages them. Its grid has s-times larger pixels and floor(size/s) of them.
 */
export class DegradedBandSource implements BandSource {
  readonly uri: string;
  readonly grid: Grid;
  readonly dataType = 'float32' as const;
  readonly nodata: number | null;
  readonly factor: number;
  private readonly kernel: Float64Array;
  private readonly saturated: number | undefined;

  constructor(
    readonly original: BandSource,
    factor: number,
    options: DegradedSourceOptions = {},
  ) {
    if (!Number.isInteger(factor) || factor < 1) throw new Error(`degradation factor must be a positive integer, got ${factor}`);
    const g = original.grid;
    const width = Math.floor(g.width / factor);
    const height = Math.floor(g.height / factor);
    if (width < 1 || height < 1) throw new SceneError(original.uri, `band of ${g.width}x${g.height} pixels is too small to degrade by ${factor}`);
    this.factor = factor;
    this.uri = `${original.uri}#wald${factor}`;
    this.grid = { width, height, crs: g.crs, transform: { x0: g.transform.x0, y0: g.transform.y0, dx: g.transform.dx * factor, dy: g.transform.dy * factor } };
    this.nodata = options.nodata === undefined ? original.nodata : options.nodata;
    this.saturated = options.saturated;
    this.kernel = degradeKernel(factor, options);
  }

  /** The blur radius in original pixels. */
  get radius(): number {
    return (this.kernel.length - 1) / 2;
  }

  /** Reads a degraded window with a mask of pixels whose support holds nodata or saturated pixels; outside the grid is masked nodata. */
  async readMasked(window: PixelWindow): Promise<MaskedWindow> {
    assertWindow(window, `${this.uri}: window`);
    const s = this.factor;
    const r = this.radius;
    const { width: W, height: H } = this.original.grid;
    const out = new Float32Array(window.width * window.height);
    const mask = new Uint8Array(window.width * window.height);
    const inside = intersectWindows(window, { x: 0, y: 0, width: this.grid.width, height: this.grid.height });
    if (!inside) {
      mask.fill(MASK_NODATA);
      return { data: out, mask };
    }
    // Original pixels of the inside part, plus the blur radius, mirrored at the band's edges.
    const ox0 = inside.x * s - r;
    const oy0 = inside.y * s - r;
    const ow = inside.width * s + 2 * r;
    const oh = inside.height * s + 2 * r;
    const cols = Array.from({ length: ow }, (_, i) => symmetricIndex(ox0 + i, W));
    const rows = Array.from({ length: oh }, (_, i) => symmetricIndex(oy0 + i, H));
    const cx0 = Math.min(...cols);
    const cx1 = Math.max(...cols);
    const cy0 = Math.min(...rows);
    const cy1 = Math.max(...rows);
    const rw = cx1 - cx0 + 1;
    const fill = this.nodata ?? 0;
    let raw;
    try {
      raw = await this.original.read({ x: cx0, y: cy0, width: rw, height: cy1 - cy0 + 1 }, fill);
    } catch (e) {
      if (e instanceof SceneError) throw e;
      throw new SceneError(this.original.uri, `cannot read for degradation: ${(e as Error).message}`, { cause: e });
    }
    const nd = this.nodata;
    const sat = this.saturated;
    const k = this.kernel;
    // Horizontal blur at the original columns the blocks cover, and a bad-pixel flag OR-ed over the kernel support.
    const bw = inside.width * s;
    const hv = new Float64Array(oh * bw);
    const hm = new Uint8Array(oh * bw);
    const rowBad = new Uint8Array(ow);
    const rowVal = new Float64Array(ow);
    for (let y = 0; y < oh; y++) {
      const base = (rows[y] - cy0) * rw;
      for (let i = 0; i < ow; i++) {
        const v = raw[base + cols[i] - cx0];
        let b = 0;
        if ((nd !== null && v === nd) || Number.isNaN(v)) b |= MASK_NODATA;
        if (sat !== undefined && v >= sat) b |= MASK_SATURATED;
        rowBad[i] = b;
        rowVal[i] = b & MASK_NODATA ? 0 : v;
      }
      for (let x = 0; x < bw; x++) {
        let v = 0;
        let b = 0;
        for (let j = 0; j < k.length; j++) {
          v += k[j] * rowVal[x + j];
          b |= rowBad[x + j];
        }
        hv[y * bw + x] = v;
        hm[y * bw + x] = b;
      }
    }
    // Vertical blur and block averaging.
    const n = s * s;
    const colSum = new Float64Array(bw);
    const colBad = new Uint8Array(bw);
    for (let by = 0; by < inside.height; by++) {
      colSum.fill(0);
      colBad.fill(0);
      for (let dy = 0; dy < s; dy++) {
        const y = by * s + dy; // output original row index relative to the inside part (0-based, before the radius)
        for (let j = 0; j < k.length; j++) {
          const src = (y + j) * bw;
          const w = k[j];
          for (let x = 0; x < bw; x++) {
            colSum[x] += w * hv[src + x];
            colBad[x] |= hm[src + x];
          }
        }
      }
      const orow = (inside.y - window.y + by) * window.width + (inside.x - window.x);
      for (let bx = 0; bx < inside.width; bx++) {
        let v = 0;
        let b = 0;
        for (let dx = 0; dx < s; dx++) {
          v += colSum[bx * s + dx];
          b |= colBad[bx * s + dx];
        }
        out[orow + bx] = v / n;
        mask[orow + bx] = b;
      }
    }
    if (inside.width !== window.width || inside.height !== window.height) {
      for (let y = 0; y < window.height; y++) {
        for (let x = 0; x < window.width; x++) {
          const gx = window.x + x;
          const gy = window.y + y;
          if (gx < inside.x || gy < inside.y || gx >= inside.x + inside.width || gy >= inside.y + inside.height) mask[y * window.width + x] = MASK_NODATA;
        }
      }
    }
    return { data: out, mask };
  }

  /** Reads a degraded window; pixels whose support holds nodata, and parts outside the grid, are `fill`. */
  async read(window: PixelWindow, fill: number): Promise<Float32Array> {
    const { data, mask } = await this.readMasked(window);
    for (let i = 0; i < data.length; i++) if (mask[i] & MASK_NODATA) data[i] = fill;
    return data;
  }

  /** Closing a degraded source leaves the original open (the scene owns it). */
  async close(): Promise<void> {
    /* the original scene closes its sources */
  }
}

/** The grid the network works on in Wald's protocol: the group's target bands' own grid (checked to be shared). */
export function labelGrid(scene: Scene, group: GroupSpec): Grid {
  const targets = group.targets.map((id) => {
    const b = scene.bands.find((x) => x.spec.id === id);
    if (!b) throw new SceneError(scene.uri, `scene ${scene.id} lacks band ${id}, a target of group ${group.id}`);
    return b;
  });
  const g = targets[0].source.grid;
  for (const b of targets.slice(1)) {
    const h = b.source.grid;
    const t = h.transform;
    if (h.width !== g.width || h.height !== g.height || Math.abs(t.x0 - g.transform.x0) > 1e-6 * Math.abs(t.dx) + 1e-9 || Math.abs(t.y0 - g.transform.y0) > 1e-6 * Math.abs(t.dx) + 1e-9 || t.dx !== g.transform.dx || t.dy !== g.transform.dy) {
      throw new SceneError(b.source.uri, `target band ${b.spec.id} is not on the grid of target band ${targets[0].spec.id}; Wald's protocol needs the group's targets on one grid`);
    }
  }
  return g;
}

/**
 * The part of a target-grid window that every named degraded band covers: a degraded band holds
 * floor(size / s) pixels, and a band offset from the target grid (Landsat's pan, half a pan pixel off)
 * may miss its first row or column. Throws when nothing is left.
 */
export function coveredWindow(ds: DegradedScene, bands: readonly string[], window: PixelWindow): PixelWindow {
  const srcs = bands.map((id) => {
    const s = ds.degraded.get(id);
    if (!s) throw new SceneError(ds.uri, `scene ${ds.id} lacks band ${id}`);
    return s;
  });
  const inX = (x: number, w: number) =>
    srcs.every((s) => {
      const m = bandWindowFor(ds.grid.transform, s.grid.transform, { x, y: 0, width: w, height: 1 }, 0).window;
      return m.x >= 0 && m.x + m.width <= s.grid.width;
    });
  const inY = (y: number, h: number) =>
    srcs.every((s) => {
      const m = bandWindowFor(ds.grid.transform, s.grid.transform, { x: 0, y, width: 1, height: h }, 0).window;
      return m.y >= 0 && m.y + m.height <= s.grid.height;
    });
  let x0 = window.x;
  let x1 = window.x + window.width;
  let y0 = window.y;
  let y1 = window.y + window.height;
  while (x0 < x1 && !inX(x0, 1)) x0++;
  while (x1 > x0 && !inX(x0, x1 - x0)) x1--;
  while (y0 < y1 && !inY(y0, 1)) y0++;
  while (y1 > y0 && !inY(y0, y1 - y0)) y1--;
  if (x1 <= x0 || y1 <= y0) {
    throw new SceneError(ds.uri, `window ${window.x},${window.y},${window.width}x${window.height} lies outside what the degraded bands of ${ds.id} cover`);
  }
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Options of degradeScene. */
export interface DegradedSceneOptions extends DegradeOptions {
  /** Flag saturated original pixels in readMasked (training skips such patches). */
  readonly markSaturated?: boolean;
}

/** A scene degraded by Wald's protocol for one group, with the degraded bands' sources. */
export interface DegradedScene extends Scene {
  /** The degraded sources by band id. */
  readonly degraded: ReadonlyMap<string, DegradedBandSource>;
  /** The factor every band was degraded by. */
  readonly factor: number;
}

/**
 * Wald's protocol for one group of a scene: every band degraded by the group's factor, on a scene whose
 * fine grid is the group's target grid (the degraded finest bands land on it), so the model's normal
 * inference path super-resolves it back to the target grid, where the original target bands are the truth.
 * Closing it leaves the original scene open.
 */
export function degradeScene(scene: Scene, group: GroupSpec, options: DegradedSceneOptions = {}): DegradedScene {
  const factor = group.factor;
  if (!Number.isInteger(factor)) throw new SceneError(scene.uri, `group ${group.id} has a non-integer factor ${factor}; Wald's protocol needs an integer`);
  const grid = labelGrid(scene, group);
  const sat = scene.satellite.radiometry.saturated;
  const degraded = new Map<string, DegradedBandSource>();
  const bands: SceneBand[] = scene.bands.map((b) => {
    const src = new DegradedBandSource(b.source, factor, {
      ...options,
      nodata: b.source.nodata ?? scene.satellite.radiometry.nodata,
      ...(options.markSaturated && sat !== undefined ? { saturated: sat } : {}),
    });
    degraded.set(b.spec.id, src);
    return { spec: b.spec, source: src, dnOffset: b.dnOffset };
  });
  const uri = `${scene.uri}#wald${factor}`;
  return {
    id: `${scene.id}_wald${factor}`,
    satellite: scene.satellite,
    uri,
    metadata: scene.metadata,
    bands,
    grid,
    degraded,
    factor,
    async readWindow(window: PixelWindow, opts: ReadWindowOptions = {}) {
      assertWindow(window, `${uri}: window`);
      const wanted = opts.bands ? new Set(opts.bands) : null;
      for (const id of wanted ?? []) if (!degraded.has(id)) throw new SceneError(uri, `band ${id} is not in this scene`);
      const margin = opts.margin ?? 0;
      const out: BandWindow[] = await Promise.all(
        bands
          .filter((b) => !wanted || wanted.has(b.spec.id))
          .map(async (b) => {
            const src = b.source;
            const m = bandWindowFor(grid.transform, src.grid.transform, window, margin);
            return {
              band: b.spec.id,
              resolution: b.spec.resolution * factor,
              data: await src.read(m.window, src.nodata ?? 0),
              window: m.window,
              transform: windowTransform(src.grid.transform, m.window),
              originX: m.originX - m.window.x,
              originY: m.originY - m.window.y,
              scaleX: m.scaleX,
              scaleY: m.scaleY,
              nodata: src.nodata,
              dnOffset: b.dnOffset,
            };
          }),
      );
      return { window, transform: windowTransform(grid.transform, window), bands: out };
    },
    async close() {
      /* the original scene owns the files */
    },
  };
}
