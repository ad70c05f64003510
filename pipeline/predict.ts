/**
 * PREDICT: one scene in, one super-resolved COG + STAC item out, as the composition of the stream's
 * stages (operators/): plan the output, lay the patch grid, super-resolve each group as a lazy stream
 * of finished rows, stitch rows into 512-line strips with the fine bands copied unchanged, stream the
 * strips into the COG writer, write the item. Memory stays bounded by one strip plus one row of
 * patches per group, whatever the scene size.
 */
import { mkdir } from 'node:fs/promises';
import { JobResources, StageError } from '../operators/job.js';
import { planOutput, type ReadJob } from '../operators/read-scene.js';
import { stitchStage } from '../operators/stitch.js';
import { perSceneSessions, superResolveStage } from '../operators/super-resolve.js';
import { toPatchesStage } from '../operators/to-patches.js';
import { toStacItemStage } from '../operators/to-stac-item.js';
import { writeCogStage } from '../operators/write-cog.js';
import type { ModelPackage } from '../model/package.js';
import { pickRuntime } from '../model/runtimes/index.js';
import type { PixelWindow } from '../raster/grid.js';
import type { Scene } from '../scene/types.js';
import type { StacItem } from '../stac/item.js';

/** Progress of a prediction: rows finished out of the region's rows, per stage. */
export interface PredictProgress {
  readonly rowsDone: number;
  readonly rowsTotal: number;
  readonly elapsedMs: number;
}

/** Options of predictScene. */
export interface PredictOptions {
  readonly scene: Scene;
  /** One model per group to sharpen (groups without a model are left out). */
  readonly models: readonly ModelPackage[];
  readonly outDir: string;
  /** Region in fine-grid pixels (default: the whole scene); snapped outward to the coarsest factor. */
  readonly window?: PixelWindow;
  /** Runtime name or 'auto'. */
  readonly runtime?: string;
  readonly batch?: number;
  readonly threads?: number;
  /** Run each model as a geometric self-ensemble (the mean over 8 rotations and mirrorings; 8x the time). */
  readonly ensemble?: boolean;
  /** COG tile size (default 512). */
  readonly tileSize?: number;
  readonly onProgress?: (p: PredictProgress) => void;
  readonly signal?: AbortSignal;
  /** Collection id written in the item. */
  readonly collection?: string;
}

/** What predictScene produced. */
export interface PredictResult {
  readonly cogPath: string;
  readonly itemPath: string;
  readonly item: StacItem;
  readonly window: PixelWindow;
  readonly bands: readonly string[];
  readonly runtime: string;
  readonly seconds: number;
}

/** Snaps a window outward to multiples of `m` and clips it to the grid. */
export { snapWindow } from '../operators/read-scene.js';

/** Super-resolves a scene with one model per group and writes `<id>_sr.tif` and `<id>_sr.json`. */
export async function predictScene(opts: PredictOptions): Promise<PredictResult> {
  const t0 = Date.now();
  const { scene } = opts;
  // The same stages the stream's operators run, composed directly: plan -> patches -> super-resolution
  // -> strips -> COG -> item.
  const plan = planOutput(scene, opts.models, { ...(opts.window ? { window: opts.window } : {}), ...(opts.tileSize ? { tileSize: opts.tileSize } : {}) });
  const runtime = await pickRuntime(opts.runtime ?? 'auto');
  await mkdir(opts.outDir, { recursive: true });
  const resources = new JobResources();
  const job: ReadJob = {
    event: { id: scene.id, href: scene.uri },
    workDir: opts.outDir,
    startedMs: t0,
    resources,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onProgress: (p) => {
      if (p.stage === 'writeCog' && p.done !== undefined && p.done > 0) opts.onProgress?.({ rowsDone: p.done, rowsTotal: p.total ?? plan.roi.height, elapsedMs: Date.now() - t0 });
    },
    plan,
    notes: [],
  };
  try {
    const resolved = await superResolveStage(toPatchesStage(job), {
      sessions: perSceneSessions(runtime.name, opts.threads, opts.ensemble ?? false),
      ...(opts.batch ? { batch: opts.batch } : {}),
    });
    const cog = await writeCogStage(stitchStage(resolved), { outDir: opts.outDir });
    const { item, files } = await toStacItemStage(cog, { naming: () => ({ itemId: `${scene.id}_sr`, ...(opts.collection ? { collection: opts.collection } : {}) }) });
    return { cogPath: files.cog, itemPath: files.item, item, window: plan.roi, bands: plan.outputBands.map((b) => b.spec.id), runtime: resolved.runtime, seconds: (Date.now() - t0) / 1000 };
  } catch (e) {
    throw e instanceof StageError ? e.cause : e;
  } finally {
    await resources.release();
  }
}
