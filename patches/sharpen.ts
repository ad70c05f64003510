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
/** Batches submitted to the runtime and not yet finished, per group. */
const MAX_IN_FLIGHT = 2;

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

  // Inference is pipelined: up to MAX_IN_FLIGHT batches run (in the runtime's worker thread) while the
  // next ones are built, and a row is yielded only once the next row's batches have been submitted, so
  // reading, patch building and the consumer's stitching overlap the network. Memory: two rows of
  // output planes and MAX_IN_FLIGHT + 1 batches, whatever the scene size.
  const inFlight: Promise<void>[] = [];
  // Scratch buffers reused patch after patch (they only live inside one band's copy).
  let scratchLr = new Float32Array(0);
  let scratchLm = new Uint8Array(0);
  let scratchCols = new Int32Array(0);
  const rowsPending: { k: number; rowTop: number; out: Float32Array[]; done: Promise<unknown> }[] = [];

  const finishRow = async (): Promise<RowBlock | null> => {
    const row = rowsPending.shift()!;
    await row.done;
    const [a, z] = ownedSpan(rowStarts, row.k, roi.height);
    opts.onProgress?.(z, roi.height);
    if (z <= a) return null;
    const h = z - a;
    return { y: a, height: h, width: roi.width, bands: row.out.map((plane) => plane.subarray((a - row.rowTop) * roi.width, (a - row.rowTop + h) * roi.width)) };
  };

  try {
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
      const rowBatches: Promise<void>[] = [];
      let pending: number[] = [];
      let batchInput = new Float32Array(batchSize * C * p * p);
      let batchMask = new Uint8Array(batchSize * p * p);

      /** Runs one batch and pastes its cores into this row's output planes. */
      const runBatch = async (cxs: number[], input: Float32Array, mask: Uint8Array): Promise<void> => {
        const n = cxs.length;
        const y = await session.run(input.subarray(0, n * C * p * p), n, p, p);
        for (let i = 0; i < n; i++) {
          const cx = cxs[i];
          for (let o = 0; o < O; o++) {
            const plane = y.subarray((i * O + o) * p * p, (i * O + o + 1) * p * p);
            const dst = out[o];
            const off = outOffsets[o];
            for (let r = b; r < p - b; r++) {
              const oy = cy + (r - b) - rowTop;
              if (oy < 0 || oy >= step) continue;
              for (let c = b; c < p - b; c++) {
                const ox = cx + (c - b);
                if (ox < 0 || ox >= roi.width) continue;
                dst[oy * roi.width + ox] = mask[i * p * p + r * p + c] ? Number.NaN : plane[r * p + c] * divisor - off;
              }
            }
          }
        }
      };

      const submit = async (): Promise<void> => {
        if (pending.length === 0) return;
        while (inFlight.length >= MAX_IN_FLIGHT) await inFlight.shift();
        const run = runBatch(pending, batchInput, batchMask);
        run.catch(() => undefined); // awaited below or by the row; never an unhandled rejection
        inFlight.push(run);
        rowBatches.push(run);
        pending = [];
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
          const W = ib.window.width;
          const cols = scratchCols.length >= nc ? scratchCols : (scratchCols = new Int32Array(nc));
          for (let c = 0; c < nc; c++) cols[c] = symmetricIndex(c0 + c, W);
          const dstOff = (slot * C + j) * p * p;
          // A band on the fine grid is copied straight into the batch; a coarse one goes through a
          // scratch patch and is resampled.
          const direct = nr === p && nc === p && Math.abs(ib.scaleX - 1) < EPS;
          if (!direct && scratchLr.length < nr * nc) scratchLr = new Float32Array(nr * nc);
          if (scratchLm.length < nr * nc) scratchLm = new Uint8Array(nr * nc);
          const dst = direct ? batchInput : scratchLr;
          const base = direct ? dstOff : 0;
          const lm = scratchLm;
          const { data: sd, mask: sm } = strip;
          let anyMasked = false;
          for (let r = 0; r < nr; r++) {
            const sr = rows[r] * W;
            const o = r * nc;
            for (let c = 0; c < nc; c++) {
              const si = sr + cols[c];
              dst[base + o + c] = sd[si];
              const m = sm[si];
              lm[o + c] = m;
              if (m) anyMasked = true;
            }
          }
          if (!direct) {
            resamplePatch(scratchLr, nr, nc, p, p, { offsetX: v0 - c0, offsetY: fracY, scaleX: ib.scaleX, scaleY: ib.scaleY }, model.upsample, batchInput, dstOff);
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
        if (pending.length === batchSize) await submit();
      }
      await submit();
      const done = Promise.all(rowBatches);
      done.catch(() => undefined);
      rowsPending.push({ k, rowTop, out, done });
      // The previous row is finished (or nearly): hand it on while this one runs.
      if (rowsPending.length > 1) {
        const block = await finishRow();
        if (block) yield block;
      }
    }
    while (rowsPending.length) {
      const block = await finishRow();
      if (block) yield block;
    }
  } finally {
    // Abandoned early (an error, or the consumer stopped): let in-flight runs settle before returning.
    await Promise.allSettled(inFlight);
  }
}
