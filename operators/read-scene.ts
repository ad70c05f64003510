/**
 * readScene: opens the scene an event names (folder, archive, STAC item file, URL or the item the
 * event carries), resolves the models that will sharpen it, and plans the output: the region
 * (snapped to the coarsest factor), the output bands (fine bands unchanged, then every sharpened
 * band), data type and nodata. Nothing is read beyond headers yet.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OperatorFunction } from 'rxjs';
import type { CogDataType } from '../cog/writer.js';
import { defaultModels, resolveModels } from '../model/catalog.js';
import type { ModelPackage } from '../model/package.js';
import { intersectWindows, type PixelWindow } from '../raster/grid.js';
import { satellites, type SatelliteRegistry } from '../satellites/registry.js';
import { openScene } from '../scene/open.js';
import type { Scene, SceneBand } from '../scene/types.js';
import type { OutputBand } from '../stac/item.js';
import { stageOperator, type SceneJob, type StageOptions } from './job.js';

/** What a scene will become: region, models and output bands. */
export interface OutputPlan {
  readonly scene: Scene;
  /** One model per group, in output order. */
  readonly models: readonly ModelPackage[];
  /** The region in fine-grid pixels, snapped outward to the coarsest factor. */
  readonly roi: PixelWindow;
  /** Bands on the fine grid, copied unchanged. */
  readonly fineBands: readonly SceneBand[];
  /** Every band of the output, fine bands first. */
  readonly outputBands: readonly OutputBand[];
  readonly dataType: CogDataType;
  readonly nodata: number;
  /** COG tile size, also the height of the strips the stitcher hands to the writer. */
  readonly tileSize: number;
}

/** A job whose scene is open and whose output is planned. */
export interface ReadJob extends SceneJob {
  readonly plan: OutputPlan;
  /** Remarks worth logging (a model skipped, a fallback model used). */
  readonly notes: readonly string[];
}

/** Snaps a window outward to multiples of `m` and clips it to the grid. */
export function snapWindow(w: PixelWindow, m: number, gridW: number, gridH: number): PixelWindow {
  const x0 = Math.floor(w.x / m) * m;
  const y0 = Math.floor(w.y / m) * m;
  const x1 = Math.min(gridW, Math.ceil((w.x + w.width) / m) * m);
  const y1 = Math.min(gridH, Math.ceil((w.y + w.height) / m) * m);
  const clipped = intersectWindows({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, { x: 0, y: 0, width: gridW, height: gridH });
  if (!clipped) throw new Error(`window ${w.x},${w.y},${w.width},${w.height} lies outside the scene (${gridW}x${gridH})`);
  return clipped;
}

/** Checks that the models fit the scene and plans the output; throws naming the mismatch. */
export function planOutput(scene: Scene, models: readonly ModelPackage[], options: { window?: PixelWindow; tileSize?: number } = {}): OutputPlan {
  if (models.length === 0) throw new Error(`no model to run on ${scene.id} (${scene.satellite.id})`);
  if (scene.grid.crs.epsg === null) {
    throw new Error(`scene ${scene.id} has no georeferencing (no CRS): predict writes georeferenced COGs, so it needs a georeferenced scene (ungeoreferenced crops serve training and evaluation)`);
  }
  for (const m of models) {
    if (m.manifest.satellite !== scene.satellite.id) {
      throw new Error(`model ${m.manifest.id} was made for ${m.manifest.satellite}, but scene ${scene.id} is ${scene.satellite.id}`);
    }
  }
  const groups = new Set<string>();
  for (const m of models) {
    if (groups.has(m.manifest.group)) throw new Error(`two models given for group ${m.manifest.group}`);
    groups.add(m.manifest.group);
  }
  const factor = Math.max(...models.map((m) => m.manifest.factor));
  const roi = snapWindow(options.window ?? { x: 0, y: 0, width: scene.grid.width, height: scene.grid.height }, factor, scene.grid.width, scene.grid.height);
  const fineRes = Math.abs(scene.grid.transform.dx);
  const fineBands = scene.bands.filter((b) => Math.abs(Math.abs(b.source.grid.transform.dx) - fineRes) < 1e-9);
  const outputBands: OutputBand[] = [
    ...fineBands.map((b) => ({ spec: b.spec, sharpened: false })),
    ...models.flatMap((m) => m.manifest.outputs.map((id) => ({ spec: scene.satellite.bands.find((x) => x.id === id)!, sharpened: true, model: m.manifest.id }))),
  ];
  const allUint16 = scene.bands.every((b) => b.source.dataType === 'uint16');
  return {
    scene,
    models,
    roi,
    fineBands,
    outputBands,
    dataType: allUint16 ? 'uint16' : 'float32',
    nodata: scene.satellite.radiometry.nodata ?? 0,
    tileSize: options.tileSize ?? 512,
  };
}

/** Options of readScene. */
export interface ReadSceneOptions {
  readonly registry?: SatelliteRegistry;
  /** Model refs used when the event names none (ids, folders, bicubic/bilinear); default: the shipped models. */
  readonly models?: readonly string[];
  /** Model ref used when the satellite has no shipped or user model (default: none, an error). */
  readonly fallbackModel?: string;
  readonly tileSize?: number;
}

/** Resolves model refs for a scene, keeping the groups the scene has the bands for. */
export async function sceneModels(
  scene: Scene,
  refs: readonly string[] | undefined,
  registry: SatelliteRegistry,
  fallbackModel?: string,
): Promise<{ models: ModelPackage[]; notes: string[] }> {
  const notes: string[] = [];
  let models: ModelPackage[] = [];
  if (refs && refs.length) {
    for (const ref of refs) models.push(...(await resolveModels(ref, scene.satellite, registry)));
  } else {
    models = await defaultModels(scene.satellite, registry);
    if (models.length === 0 && !fallbackModel) throw new Error(`no shipped model for ${scene.satellite.id}; name one (e.g. bicubic for the baseline, or a model folder)`);
    // Groups without a trained model get the fallback (a baseline), so every coarse band is sharpened.
    const uncovered = scene.satellite.groups.filter((g) => !models.some((m) => m.manifest.group === g.id)).map((g) => g.id);
    if (uncovered.length && fallbackModel) {
      const extra = (await resolveModels(fallbackModel, scene.satellite, registry)).filter((m) => uncovered.includes(m.manifest.group));
      if (extra.length) {
        notes.push(`no trained model for ${scene.satellite.id} group${uncovered.length > 1 ? 's' : ''} ${uncovered.join(', ')}: using the ${fallbackModel} baseline`);
        models = [...models, ...extra];
      }
    }
  }
  const has = (id: string) => scene.bands.some((b) => b.spec.id === id);
  const runnable = models.filter((m) => m.manifest.inputs.every(has));
  for (const m of models) {
    if (runnable.includes(m)) continue;
    const lacking = m.manifest.inputs.filter((id) => !has(id));
    const msg = `model ${m.manifest.id} needs band${lacking.length > 1 ? 's' : ''} ${lacking.join(', ')}, which scene ${scene.id} lacks`;
    if (runnable.length === 0) throw new Error(msg);
    notes.push(`skipping ${msg}`);
  }
  return { models: runnable, notes };
}

/** Opens the scene of an event; an item carried without a readable href is written to the work folder first. */
export async function openEventScene(job: SceneJob, registry: SatelliteRegistry): Promise<Scene> {
  const { event } = job;
  let input = event.href;
  if (event.item && !/^(https?:\/\/|\/)/.test(event.href)) {
    input = join(job.workDir, `${event.id.replace(/[^A-Za-z0-9._-]/g, '_')}.item.json`);
    await writeFile(input, JSON.stringify(event.item));
  }
  const scene = await openScene(input, { registry, workDir: job.workDir, ...(event.satellite ? { satellite: event.satellite } : {}) });
  job.resources.defer(() => scene.close());
  return scene;
}

/** The readScene stage: opens the scene, resolves its models and plans the output. */
export async function readSceneStage(job: SceneJob, options: ReadSceneOptions = {}): Promise<ReadJob> {
  job.onProgress?.({ id: job.event.id, stage: 'read' });
  const registry = options.registry ?? satellites();
  const scene = await openEventScene(job, registry);
  const { models, notes } = await sceneModels(scene, job.event.models ?? options.models, registry, options.fallbackModel);
  const plan = planOutput(scene, models, { ...(job.event.window ? { window: job.event.window } : {}), ...(options.tileSize ? { tileSize: options.tileSize } : {}) });
  return { ...job, plan, notes };
}

/** Operator: opens each job's scene and plans its output (stage `read`). */
export function readScene(options: ReadSceneOptions & StageOptions<SceneJob, ReadJob> = {}): OperatorFunction<SceneJob, ReadJob> {
  return stageOperator('read', (job) => readSceneStage(job, options), options);
}
