/**
 * stitch: gathers the groups' finished rows back into the output's strips, in row order: each strip
 * (one COG tile high) holds the fine bands copied unchanged, then every sharpened band, converted to
 * the output data type. Lazy: a strip is assembled when the COG writer asks for it, so memory holds
 * one strip plus the rows a group has finished beyond it.
 */
import type { OperatorFunction } from 'rxjs';
import type { CogDataType } from '../cog/writer.js';
import type { RowBlock } from '../patches/sharpen.js';
import { allocPixels, type PixelArray } from '../raster/types.js';
import { stageOperator, type StageOptions } from './job.js';
import { tagErrors, type SuperResolvedJob } from './super-resolve.js';

/** Rows [y, y + height) of the output, relative to the region: one plane per output band. */
export interface Strip {
  readonly y: number;
  readonly height: number;
  readonly planes: readonly PixelArray[];
}

/** A job whose output strips can be pulled. */
export interface StitchedJob extends SuperResolvedJob {
  readonly strips: AsyncGenerator<Strip>;
}

/** Pulls RowBlocks from a group's stream and hands out exact row ranges. */
export class RowFeed {
  private buffered: RowBlock[] = [];
  private next = 0;
  constructor(
    private readonly it: AsyncIterator<RowBlock>,
    private readonly bands: number,
    private readonly width: number,
  ) {}

  /** Planes for rows [y, y+h) of the region, in DN floats (NaN = nodata). */
  async take(y: number, h: number): Promise<Float32Array[]> {
    while (this.next < y + h) {
      const r = await this.it.next();
      if (r.done) throw new Error(`super-resolution ended at row ${this.next}, before row ${y + h}`);
      this.buffered.push(r.value);
      this.next = r.value.y + r.value.height;
    }
    const out = Array.from({ length: this.bands }, () => new Float32Array(h * this.width));
    for (const blk of this.buffered) {
      const a = Math.max(y, blk.y);
      const z = Math.min(y + h, blk.y + blk.height);
      for (let b = 0; b < this.bands; b++) {
        if (z > a) out[b].set(blk.bands[b].subarray((a - blk.y) * this.width, (z - blk.y) * this.width), (a - y) * this.width);
      }
    }
    this.buffered = this.buffered.filter((blk) => blk.y + blk.height > y + h);
    return out;
  }
}

/** Converts DN floats to the output type: rounded and clamped for integers, NaN to nodata. */
export function toOutput(src: Float32Array, dataType: CogDataType, nodata: number): PixelArray {
  const out = allocPixels(dataType, src.length);
  if (dataType === 'float32' || dataType === 'float64') {
    for (let i = 0; i < src.length; i++) out[i] = Number.isNaN(src[i]) ? nodata : src[i];
    return out;
  }
  const max = dataType === 'uint16' ? 65535 : dataType === 'uint8' ? 255 : dataType === 'int16' ? 32767 : 2 ** 31 - 1;
  // Valid pixels never take the nodata value: DSen2/satsr clip to [1, max] for the same reason.
  const min = nodata === 0 ? 1 : 0;
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    out[i] = Number.isNaN(v) ? nodata : Math.min(max, Math.max(min, Math.round(v)));
  }
  return out;
}

/** The output strips of a job, in row order, assembled on demand. */
export async function* stripsOf(job: SuperResolvedJob): AsyncGenerator<Strip> {
  const { roi, fineBands, models, dataType, nodata, tileSize } = job.plan;
  const feeds = models.map((m, i) => new RowFeed(job.rows[i], m.manifest.outputs.length, roi.width));
  try {
    for (let y = 0; y < roi.height; y += tileSize) {
      if (job.signal?.aborted) throw new Error('prediction cancelled');
      const h = Math.min(tileSize, roi.height - y);
      const planes: PixelArray[] = [];
      const fineWindow = { x: roi.x, y: roi.y + y, width: roi.width, height: h };
      for (const b of fineBands) {
        const raw = await b.source.read(fineWindow, nodata);
        planes.push(dataType === 'uint16' ? raw : Float32Array.from(raw));
      }
      for (const f of feeds) for (const p of await f.take(y, h)) planes.push(toOutput(p, dataType, nodata));
      yield { y, height: h, planes };
    }
  } finally {
    await Promise.allSettled(job.rows.map((r) => r.return(undefined)));
  }
}

/** The stitch stage: sets up the lazy strip stream. */
export function stitchStage(job: SuperResolvedJob): StitchedJob {
  return { ...job, strips: tagErrors('stitch', job.event.id, stripsOf(job)) };
}

/** Operator: gives each job its lazy strip stream (stage `stitch`). */
export function stitch(options: StageOptions<SuperResolvedJob, StitchedJob> = {}): OperatorFunction<SuperResolvedJob, StitchedJob> {
  return stageOperator('stitch', async (job) => stitchStage(job), options);
}
