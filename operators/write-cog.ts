/**
 * writeCog: pulls a job's strips (which pulls the super-resolution, which pulls the patches) and
 * streams them into a Cloud-Optimized GeoTIFF. This is where a scene's pixels actually flow; the COG
 * is removed again when anything fails.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { OperatorFunction } from 'rxjs';
import { CogWriter } from '../cog/writer.js';
import { windowTransform } from '../raster/grid.js';
import { stageOperator, type StageOptions } from './job.js';
import type { StitchedJob } from './stitch.js';

/** A job whose COG is written (locally, not yet stored). */
export interface CogJob extends StitchedJob {
  readonly cogPath: string;
}

/** Options of writeCog. */
export interface WriteCogOptions {
  /** Folder of the COG (default: the job's work folder). */
  readonly outDir?: string;
  /** File name (default `<scene id>_sr.tif`). */
  readonly fileName?: (job: StitchedJob) => string;
}

/** The writeCog stage: streams every strip into `<outDir>/<scene id>_sr.tif`. */
export async function writeCogStage(job: StitchedJob, options: WriteCogOptions = {}): Promise<CogJob> {
  const { scene, roi, outputBands, dataType, nodata, tileSize, models } = job.plan;
  const dir = options.outDir ?? job.workDir;
  await mkdir(dir, { recursive: true });
  const cogPath = join(dir, options.fileName ? options.fileName(job) : `${scene.id}_sr.tif`);
  let writer: CogWriter | null = null;
  try {
    writer = await CogWriter.create(cogPath, {
      width: roi.width,
      height: roi.height,
      bands: outputBands.length,
      dataType,
      transform: windowTransform(scene.grid.transform, roi),
      crs: scene.grid.crs,
      nodata,
      tileSize,
      bandDescriptions: outputBands.map((b) => b.spec.id),
      scales: outputBands.map(() => scene.satellite.radiometry.scale),
      offsets: outputBands.map(() => scene.satellite.radiometry.offset),
      metadata: { SHARPSTREAM_SOURCE: scene.id, SHARPSTREAM_MODELS: models.map((m) => m.manifest.id).join(',') },
    });
    job.onProgress?.({ id: job.event.id, stage: 'writeCog', done: 0, total: roi.height, unit: 'rows' });
    for await (const strip of job.strips) {
      await writer.writeStrip(strip.planes);
      job.onProgress?.({ id: job.event.id, stage: 'writeCog', done: strip.y + strip.height, total: roi.height, unit: 'rows' });
    }
    await writer.finish();
    writer = null;
  } catch (e) {
    if (writer) await writer.abort().catch(() => undefined);
    await rm(cogPath, { force: true });
    throw e;
  }
  return { ...job, cogPath };
}

/** Operator: writes each job's COG (stage `writeCog`). */
export function writeCog(options: WriteCogOptions & StageOptions<StitchedJob, CogJob> = {}): OperatorFunction<StitchedJob, CogJob> {
  return stageOperator('writeCog', (job) => writeCogStage(job, options), options);
}
