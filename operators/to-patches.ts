/**
 * toPatches: lays DSen2's patch grid over the region for every super-resolution group (patch size,
 * border, the rows and columns of patch cores, how many patches there are). The patches themselves are
 * cut lazily, one patch row at a time, when superResolve's rows are pulled.
 */
import type { OperatorFunction } from 'rxjs';
import type { ModelPackage } from '../model/package.js';
import { coreStarts } from '../patches/plan.js';
import { modelBands } from '../patches/sharpen.js';
import { stageOperator, type StageOptions } from './job.js';
import type { ReadJob } from './read-scene.js';

/** One group's patch grid over the region. */
export interface PatchGrid {
  readonly model: ModelPackage;
  readonly size: number;
  readonly border: number;
  /** Region rows and columns where patch cores start. */
  readonly rowStarts: readonly number[];
  readonly colStarts: readonly number[];
  /** Patches the group runs through its model. */
  readonly patches: number;
}

/** A job with its patch grids. */
export interface PatchJob extends ReadJob {
  readonly grids: readonly PatchGrid[];
}

/** The patch grid of every group of a planned job (checking that the scene has each model's bands). */
export function patchGrids(job: ReadJob): PatchGrid[] {
  const { scene, roi, models } = job.plan;
  return models.map((model) => {
    modelBands(scene, model.manifest);
    const { size, border } = model.manifest.patch ?? { size: 128, border: 8 };
    const rowStarts = coreStarts(roi.height, size, border);
    const colStarts = coreStarts(roi.width, size, border);
    return { model, size, border, rowStarts, colStarts, patches: rowStarts.length * colStarts.length };
  });
}

/** The toPatches stage. */
export function toPatchesStage(job: ReadJob): PatchJob {
  const grids = patchGrids(job);
  job.onProgress?.({ id: job.event.id, stage: 'toPatches', done: 0, total: grids.reduce((s, g) => s + g.patches, 0), unit: 'patches' });
  return { ...job, grids };
}

/** Operator: adds each job's patch grids (stage `toPatches`). */
export function toPatches(options: StageOptions<ReadJob, PatchJob> = {}): OperatorFunction<ReadJob, PatchJob> {
  return stageOperator('toPatches', async (job) => toPatchesStage(job), options);
}
