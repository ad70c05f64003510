/**
 * In-memory band sources and synthetic scenes, for unit tests and benchmarks that must not depend on
 * shared data: every band of a satellite definition rendered from one smooth seeded field (so the bands
 * correlate as real ones do), block-averaged to each band's resolution, held as uint16 DN.
 */
import { assembleScene } from '../scene/assemble.js';
import { allocPixels, type DataType, type PixelArray } from '../raster/types.js';
import { intersectWindows, type Grid, type PixelWindow } from '../raster/grid.js';
import type { SatelliteSpec } from '../satellites/spec.js';
import type { BandSource, Scene } from '../scene/types.js';
import { TrainRng } from './rng.js';

/** A band source over an array held in memory (row-major, grid.width x grid.height). */
export class MemoryBandSource implements BandSource {
  /** Windows read so far (to check access patterns in tests). */
  reads = 0;

  constructor(
    readonly uri: string,
    readonly grid: Grid,
    readonly data: PixelArray,
    readonly dataType: DataType,
    readonly nodata: number | null = null,
  ) {
    if (data.length !== grid.width * grid.height) throw new Error(`${uri}: ${data.length} values for a ${grid.width}x${grid.height} grid`);
  }

  /** Reads a window; parts outside the grid are `fill`. */
  async read(window: PixelWindow, fill: number): Promise<PixelArray> {
    this.reads++;
    const out = allocPixels(this.dataType, window.width * window.height);
    const inside = intersectWindows(window, { x: 0, y: 0, width: this.grid.width, height: this.grid.height });
    if (!inside || inside.width !== window.width || inside.height !== window.height) out.fill(fill);
    if (!inside) return out;
    for (let r = 0; r < inside.height; r++) {
      const src = (inside.y + r) * this.grid.width + inside.x;
      out.set(this.data.subarray(src, src + inside.width) as never, (inside.y - window.y + r) * window.width + (inside.x - window.x));
    }
    return out;
  }

  /** Nothing to release. */
  async close(): Promise<void> {
    /* memory only */
  }
}

/** Options of syntheticScene. */
export interface SyntheticSceneOptions {
  /** Size of the finest grid in pixels (must be a multiple of every band's ratio to the finest). */
  readonly width: number;
  readonly height: number;
  readonly seed?: number;
  /** Fine-grid rectangles set to nodata (0) in every band. */
  readonly holes?: readonly PixelWindow[];
  /** Bands to leave out. */
  readonly omit?: readonly string[];
  /** UTM-like origin of the fine grid (default 500000, 5000000). */
  readonly origin?: { readonly x: number; readonly y: number };
}

/** A synthetic scene of a satellite: smooth correlated bands in DN (100..~6000), EPSG:32633. */
export function syntheticScene(satellite: SatelliteSpec, opts: SyntheticSceneOptions): Scene {
  const rng = new TrainRng(opts.seed ?? 1);
  const finest = Math.min(...satellite.bands.map((b) => b.resolution));
  const { width: W, height: H } = opts;
  // A smooth field: a few random plane waves plus fine texture.
  const waves = Array.from({ length: 6 }, () => ({ fx: (rng.next() - 0.5) * 0.2, fy: (rng.next() - 0.5) * 0.2, ph: rng.next() * 6.283, a: 0.3 + rng.next() }));
  const base = new Float64Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let v = 0;
      for (const w of waves) v += w.a * Math.sin(w.fx * x + w.fy * y + w.ph);
      base[y * W + x] = v + 0.3 * (rng.next() - 0.5);
    }
  }
  const x0 = opts.origin?.x ?? 500000;
  const y0 = opts.origin?.y ?? 5000000;
  const bands = satellite.bands
    .filter((b) => !(opts.omit ?? []).includes(b.id))
    .map((b, i) => {
      const ratio = Math.round(b.resolution / finest);
      if (W % ratio !== 0 || H % ratio !== 0) throw new Error(`synthetic scene ${W}x${H} is not a multiple of band ${b.id}'s ratio ${ratio}`);
      const w = W / ratio;
      const h = H / ratio;
      const gain = 400 + 150 * ((i * 7) % 5);
      const offset = 1500 + 300 * ((i * 3) % 7);
      const data = new Uint16Array(w * h);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          let s = 0;
          for (let dy = 0; dy < ratio; dy++) for (let dx = 0; dx < ratio; dx++) s += base[(y * ratio + dy) * W + x * ratio + dx];
          data[y * w + x] = Math.max(1, Math.round(offset + gain * (s / (ratio * ratio))));
        }
      }
      for (const hole of opts.holes ?? []) {
        for (let y = Math.floor(hole.y / ratio); y < Math.ceil((hole.y + hole.height) / ratio); y++) {
          for (let x = Math.floor(hole.x / ratio); x < Math.ceil((hole.x + hole.width) / ratio); x++) if (x >= 0 && y >= 0 && x < w && y < h) data[y * w + x] = 0;
        }
      }
      const grid: Grid = { width: w, height: h, crs: { epsg: 32633 }, transform: { x0, y0, dx: b.resolution, dy: -b.resolution } };
      return { spec: b, source: new MemoryBandSource(`memory://${b.id}`, grid, data, 'uint16', 0), dnOffset: 0 };
    });
  return assembleScene({ id: `synthetic-${satellite.id}`, uri: `memory://synthetic-${satellite.id}`, satellite, bands, metadata: {} });
}
