/**
 * EVAL: Wald's protocol on a scene. The scene is degraded by the group's factor, super-resolved back to
 * the target grid with the model through the normal inference path (`sharpenGroup`: DSen2's tiling,
 * per-patch upsampling, the model's runtime), and compared with the original target bands; the
 * interpolation baselines go through the same path. Streams row by row: memory stays bounded.
 */
import { baselineModel, type BaselineMethod } from '../model/baselines.js';
import type { ModelPackage } from '../model/package.js';
import { pickRuntime, type Session } from '../model/runtimes/index.js';
import { ensembleIfAsked, ensembleLabel } from '../model/runtimes/self-ensemble.js';
import { sharpenGroup } from '../patches/sharpen.js';
import { intersectWindows, type PixelWindow } from '../raster/grid.js';
import type { GroupSpec } from '../satellites/spec.js';
import type { Scene, SceneBand } from '../scene/types.js';
import { MetricsAccumulator, type MetricsResult } from './metrics.js';
import { coveredWindow, degradeScene, type DegradeOptions } from './wald.js';

/** Options of evaluateScene. */
export interface EvaluateOptions {
  readonly scene: Scene;
  /** The model to evaluate. */
  readonly model: ModelPackage;
  /** Interpolation baselines evaluated alongside (default: bicubic). */
  readonly baselines?: readonly BaselineMethod[];
  /** Runtime name or 'auto' (default). */
  readonly runtime?: string;
  /** Region of the target grid (the original coarse bands' grid) to evaluate (default: all of it). */
  readonly window?: PixelWindow;
  readonly degrade?: DegradeOptions;
  /** Patches per inference call (default 8). */
  readonly batch?: number;
  readonly threads?: number;
  /** Run the model (not the baselines) as a geometric self-ensemble: the mean over its input's 8 rotations and mirrorings. */
  readonly ensemble?: boolean;
  /** Called as rows are finished: (rows done, rows in all, over every model evaluated). */
  readonly onProgress?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

/** One evaluated model's result. */
export interface EvaluatedModel {
  readonly id: string;
  readonly kind: 'model' | 'baseline';
  readonly runtime: string;
  readonly seconds: number;
  readonly metrics: MetricsResult;
}

/** What evaluateScene reports. */
export interface EvaluationReport {
  readonly protocol: string;
  readonly scene: { readonly id: string; readonly uri: string };
  readonly satellite: string;
  readonly group: string;
  readonly factor: number;
  readonly bands: readonly string[];
  /** The evaluated region of the target grid, and its pixel size in metres. */
  readonly window: PixelWindow;
  readonly resolution: number;
  readonly degrade: { readonly sigmaScale: number; readonly truncate: number };
  readonly results: readonly EvaluatedModel[];
}

async function readReference(bands: readonly SceneBand[], scene: Scene, w: PixelWindow): Promise<Float32Array[]> {
  return Promise.all(
    bands.map(async (b) => {
      const nd = b.source.nodata ?? scene.satellite.radiometry.nodata;
      const raw = await b.source.read(w, nd ?? 0);
      const out = new Float32Array(raw.length);
      for (let i = 0; i < raw.length; i++) out[i] = nd !== null && raw[i] === nd ? Number.NaN : raw[i];
      return out;
    }),
  );
}

/** Runs Wald's protocol for a model (and the baselines) on a scene and reports every metric. */
export async function evaluateScene(opts: EvaluateOptions): Promise<EvaluationReport> {
  const { scene, model } = opts;
  const m = model.manifest;
  if (m.satellite !== scene.satellite.id) throw new Error(`model ${m.id} was made for ${m.satellite}, but scene ${scene.id} is ${scene.satellite.id}`);
  const group: GroupSpec | undefined = scene.satellite.groups.find((g) => g.id === m.group);
  if (!group) throw new Error(`satellite ${scene.satellite.id} has no group "${m.group}" (model ${m.id})`);
  const missing = [...m.inputs, ...m.outputs].filter((id) => !scene.bands.some((b) => b.spec.id === id));
  if (missing.length) throw new Error(`model ${m.id} needs band${missing.length > 1 ? 's' : ''} ${[...new Set(missing)].join(', ')}, which scene ${scene.id} lacks`);
  const ds = degradeScene(scene, group, opts.degrade ?? {});
  const full: PixelWindow = { x: 0, y: 0, width: ds.grid.width, height: ds.grid.height };
  const asked = opts.window ? intersectWindows(opts.window, full) : full;
  if (!asked) throw new Error(`window ${opts.window!.x},${opts.window!.y},${opts.window!.width}x${opts.window!.height} lies outside the ${full.width}x${full.height} target grid`);
  const candidates: { pkg: ModelPackage; kind: 'model' | 'baseline' }[] = [{ pkg: model, kind: 'model' }];
  for (const b of opts.baselines ?? ['bicubic']) {
    if (m.architecture.type === 'interpolation' && m.upsample === b) continue;
    candidates.push({ pkg: baselineModel(b, scene.satellite, group), kind: 'baseline' });
  }
  const roi = coveredWindow(
    ds,
    [...new Set(candidates.flatMap((c) => c.pkg.manifest.inputs))],
    asked,
  );
  const targets = m.outputs.map((id) => scene.bands.find((b) => b.spec.id === id)!);

  // SSIM needs each reference band's data range before the pass: read the references once, strip by strip.
  const lo = new Array<number>(targets.length).fill(Number.POSITIVE_INFINITY);
  const hi = new Array<number>(targets.length).fill(Number.NEGATIVE_INFINITY);
  for (let y = 0; y < roi.height; y += 256) {
    const h = Math.min(256, roi.height - y);
    const ref = await readReference(targets, scene, { x: roi.x, y: roi.y + y, width: roi.width, height: h });
    ref.forEach((plane, b) => {
      for (const v of plane) {
        if (Number.isNaN(v)) continue;
        if (v < lo[b]) lo[b] = v;
        if (v > hi[b]) hi[b] = v;
      }
    });
  }
  if (!hi.every(Number.isFinite)) throw new Error(`the reference bands of ${scene.id} hold no valid pixel in the evaluated region`);
  const dataRange = hi.map((h, b) => h - lo[b]);

  const runtime = await pickRuntime(opts.runtime ?? 'auto');
  const results: EvaluatedModel[] = [];
  const total = roi.height * candidates.length;
  for (let k = 0; k < candidates.length; k++) {
    const { pkg, kind } = candidates[k];
    const t0 = performance.now();
    const acc = new MetricsAccumulator({ bands: pkg.manifest.outputs, factor: group.factor, width: roi.width, dataRange });
    const order = pkg.manifest.outputs.map((id) => m.outputs.indexOf(id));
    let session: Session | null = null;
    let ensembled = false;
    try {
      const loaded = await runtime.load(pkg, opts.threads ? { threads: opts.threads } : {});
      session = ensembleIfAsked(loaded, pkg.manifest, opts.ensemble === true && kind === 'model');
      ensembled = session !== loaded;
      for await (const blk of sharpenGroup({
        scene: ds,
        roi,
        model: pkg.manifest,
        session,
        ...(opts.batch ? { batch: opts.batch } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (done) => opts.onProgress?.(k * roi.height + done, total),
      })) {
        const ref = await readReference(targets, scene, { x: roi.x, y: roi.y + blk.y, width: roi.width, height: blk.height });
        acc.add(blk.bands, order.map((i) => ref[i]), blk.height);
      }
    } finally {
      await session?.dispose();
    }
    results.push({ id: pkg.manifest.id, kind, runtime: ensembled ? ensembleLabel(runtime.name) : runtime.name, seconds: (performance.now() - t0) / 1000, metrics: acc.result() });
  }
  const sigmaScale = opts.degrade?.sigmaScale ?? 1;
  const truncate = opts.degrade?.truncate ?? 4;
  return {
    protocol: `Wald: every band degraded x${group.factor} (Gaussian blur sigma ${sigmaScale}/${group.factor} px, then ${group.factor}x${group.factor} block mean), super-resolved back and compared with the original ${m.outputs.join(', ')}`,
    scene: { id: scene.id, uri: scene.uri },
    satellite: scene.satellite.id,
    group: group.id,
    factor: group.factor,
    bands: [...m.outputs],
    window: roi,
    resolution: Math.abs(ds.grid.transform.dx),
    degrade: { sigmaScale, truncate },
    results,
  };
}
