/**
 * Runs one super-resolution group over a region of a scene, patch row by patch row, exactly as DSen2
 * tiles a scene: per-patch upsampling of the coarse inputs, symmetric padding at the region's edges,
 * batched inference, cores pasted without seams. Yields finished output rows in order, so memory stays
 * bounded by one row of patches whatever the scene size.
 */
import { bandWindowFor, type PixelWindow } from '../raster/grid.js';
import type { PixelArray } from '../raster/types.js';
import type { ModelManifest } from '../model/package.js';
import type { Session } from '../model/runtimes/runtime.js';
import type { Scene, SceneBand } from '../scene/types.js';
import { coreStarts, ownedSpan } from './plan.js';
import { resamplePatch, symmetricIndex } from './upsample.js';

/** Finished output rows: one plane per output band, rows x width, DN values; NaN marks nodata. */
export interface RowBlock {
  /** First row, relative to the region. */
  readonly y: number;
  readonly height: number;
  readonly width: number;
  readonly bands: readonly Float32Array[];
}

/** Options of sharpenGroup. */
export interface SharpenOptions {
  readonly scene: Scene;
  /** The region, in fine-grid pixels. */
  readonly roi: PixelWindow;
  readonly model: ModelManifest;
  readonly session: Session;
  /** Patches per inference call (default 8). */
  readonly batch?: number;
  /** Called after each patch row with (rows done, total rows). */
  readonly onProgress?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

const EPS = 1e-6;

interface InputBand {
  readonly band: SceneBand;
  readonly window: PixelWindow;
  readonly originX: number;
  readonly originY: number;
  readonly scaleX: number;
  readonly scaleY: number;
  readonly nodata: number | null;
}

/** The scene bands a model needs, or an error naming those the scene lacks. */
export function modelBands(scene: Scene, model: ModelManifest): SceneBand[] {
  const missing = model.inputs.filter((id) => !scene.bands.some((b) => b.spec.id === id));
  if (missing.length) {
    throw new Error(
      `model ${model.id} needs band${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which scene ${scene.id} (${scene.satellite.id}) lacks (scene bands: ${scene.bands
        .map((b) => b.spec.id)
        .join(', ')})`,
    );
  }
  return model.inputs.map((id) => scene.bands.find((b) => b.spec.id === id)!);
}

/** Reads band rows [r0, r1] of a band window (all its columns) as normalised floats plus a nodata mask. */
async function readStrip(ib: InputBand, r0: number, r1: number, model: ModelManifest): Promise<{ data: Float32Array; mask: Uint8Array }> {
  const w = { x: ib.window.x, y: ib.window.y + r0, width: ib.window.width, height: r1 - r0 + 1 };
  const raw: PixelArray = await ib.band.source.read(w, ib.nodata ?? 0);
  const n = raw.length;
  const data = new Float32Array(n);
  const mask = new Uint8Array(n);
  const off = model.normalisation.applyDnOffset ? ib.band.dnOffset : 0;
  const div = model.normalisation.divisor;
  const nd = ib.nodata;
  for (let i = 0; i < n; i++) {
    const v = raw[i];
    if (nd !== null && v === nd) {
      mask[i] = 1;
      data[i] = 0;
    } else if (Number.isNaN(v)) {
      mask[i] = 1;
      data[i] = 0;
    } else data[i] = (v + off) / div;
  }
  return { data, mask };
}

/** Super-resolves one group over a region; yields finished rows in order. */
export async function* sharpenGroup(opts: SharpenOptions): AsyncGenerator<RowBlock> {
  const { scene, roi, model, session } = opts;
  const patch = model.patch ?? { size: 128, border: 8 };
  const { size: p, border: b } = patch;
  const step = p - 2 * b;
  const batchSize = Math.max(1, opts.batch ?? 8);
  const bands = modelBands(scene, model);
  const outBands = model.outputs.map((id) => scene.satellite.bands.find((x) => x.id === id));
  const outOffsets = model.outputs.map((id) => {
    const sb = scene.bands.find((x) => x.spec.id === id);
    return model.normalisation.applyDnOffset && sb ? sb.dnOffset : 0;
  });
  if (outBands.some((x) => !x)) throw new Error(`model ${model.id} outputs bands unknown to ${scene.satellite.id}: ${model.outputs.join(', ')}`);

  const inputs: InputBand[] = bands.map((band) => {
    const m = bandWindowFor(scene.grid.transform, band.source.grid.transform, roi, 0);
    return {
      band,
      window: m.window,
      originX: m.originX - m.window.x,
      originY: m.originY - m.window.y,
      scaleX: m.scaleX,
      scaleY: m.scaleY,
      nodata: band.source.nodata ?? scene.satellite.radiometry.nodata,
    };
  });
  const C = inputs.length;
  const O = model.outputs.length;
  const rowStarts = coreStarts(roi.height, p, b);
  const colStarts = coreStarts(roi.width, p, b);
  const divisor = model.normalisation.divisor;

  for (let k = 0; k < rowStarts.length; k++) {
    if (opts.signal?.aborted) throw new Error('super-resolution cancelled');
    const cy = rowStarts[k];
    // Per input band: the band rows this patch row needs (symmetric padding at the region's edges).
    const strips = await Promise.all(
      inputs.map(async (ib) => {
        const u0 = ib.originY + (cy - b) * ib.scaleY;
        const r0 = Math.floor(u0 + EPS);
        const r1 = Math.ceil(ib.originY + (cy - b + p) * ib.scaleY - EPS);
        const rows: number[] = [];
        for (let r = r0; r < r1; r++) rows.push(symmetricIndex(r, ib.window.height));
        const lo = Math.min(...rows);
        const hi = Math.max(...rows);
        const strip = await readStrip(ib, lo, hi, model);
        return { ib, rows: rows.map((r) => r - lo), fracY: u0 - r0, strip };
      }),
    );

    const out = model.outputs.map(() => new Float32Array(step * roi.width).fill(Number.NaN));
    const rowTop = cy; // region row of out[0]
    const pending: number[] = [];
    let batchInput = new Float32Array(batchSize * C * p * p);
    let batchMask = new Uint8Array(batchSize * p * p);

    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const n = pending.length;
      const y = await session.run(batchInput.subarray(0, n * C * p * p), n, p, p);
      for (let i = 0; i < n; i++) {
        const cx = pending[i];
        for (let o = 0; o < O; o++) {
          const plane = y.subarray((i * O + o) * p * p, (i * O + o + 1) * p * p);
          const dst = out[o];
          for (let r = b; r < p - b; r++) {
            const oy = cy + (r - b) - rowTop;
            for (let c = b; c < p - b; c++) {
              const ox = cx + (c - b);
              if (ox < 0 || ox >= roi.width || oy < 0 || oy >= step) continue;
              dst[oy * roi.width + ox] = batchMask[i * p * p + r * p + c] ? Number.NaN : plane[r * p + c] * divisor - outOffsets[o];
            }
          }
        }
      }
      pending.length = 0;
      batchInput = new Float32Array(batchSize * C * p * p);
      batchMask = new Uint8Array(batchSize * p * p);
    };

    for (const cx of colStarts) {
      const slot = pending.length;
      for (let j = 0; j < C; j++) {
        const { ib, rows, fracY, strip } = strips[j];
        const v0 = ib.originX + (cx - b) * ib.scaleX;
        const c0 = Math.floor(v0 + EPS);
        const c1 = Math.ceil(ib.originX + (cx - b + p) * ib.scaleX - EPS);
        const nc = c1 - c0;
        const nr = rows.length;
        const lr = new Float32Array(nr * nc);
        const lm = new Uint8Array(nr * nc);
        const W = ib.window.width;
        const cols = new Int32Array(nc);
        for (let c = 0; c < nc; c++) cols[c] = symmetricIndex(c0 + c, W);
        let anyMasked = false;
        for (let r = 0; r < nr; r++) {
          const sr = rows[r] * W;
          const o = r * nc;
          for (let c = 0; c < nc; c++) {
            lr[o + c] = strip.data[sr + cols[c]];
            if (strip.mask[sr + cols[c]]) {
              lm[o + c] = 1;
              anyMasked = true;
            }
          }
        }
        const dstOff = (slot * C + j) * p * p;
        if (nr === p && nc === p && Math.abs(ib.scaleX - 1) < EPS) {
          batchInput.set(lr, dstOff);
        } else {
          resamplePatch(lr, nr, nc, p, p, { offsetX: v0 - c0, offsetY: fracY, scaleX: ib.scaleX, scaleY: ib.scaleY }, model.upsample, batchInput, dstOff);
        }
        // Nodata: a fine pixel is masked when the input pixel under its centre is nodata.
        const mo = slot * p * p;
        for (let r = 0; anyMasked && r < p; r++) {
          const lrRow = Math.min(nr - 1, Math.max(0, Math.floor(fracY + (r + 0.5) * ib.scaleY)));
          for (let c = 0; c < p; c++) {
            const lcCol = Math.min(nc - 1, Math.max(0, Math.floor(v0 - c0 + (c + 0.5) * ib.scaleX)));
            if (lm[lrRow * nc + lcCol]) batchMask[mo + r * p + c] = 1;
          }
        }
      }
      pending.push(cx);
      if (pending.length === batchSize) await flush();
    }
    await flush();

    const [a, z] = ownedSpan(rowStarts, k, roi.height);
    if (z > a) {
      const h = z - a;
      yield {
        y: a,
        height: h,
        width: roi.width,
        bands: out.map((plane) => plane.subarray((a - rowTop) * roi.width, (a - rowTop + h) * roi.width)),
      };
    }
    opts.onProgress?.(z, roi.height);
  }
}
