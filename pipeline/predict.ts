/**
 * PREDICT: one scene in, one super-resolved COG + STAC item out. Each super-resolution group runs as
 * a stream of finished rows (patches -> model -> cores); rows are gathered into 512-line strips with
 * the fine bands copied unchanged, converted to the output data type and streamed to the COG writer.
 * Memory stays bounded by one strip plus one row of patches per group, whatever the scene size.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CogWriter, type CogDataType } from '../cog/writer.js';
import type { ModelPackage } from '../model/package.js';
import { pickRuntime, type Session } from '../model/runtimes/index.js';
import { windowTransform, intersectWindows, type PixelWindow } from '../raster/grid.js';
import { allocPixels, type PixelArray } from '../raster/types.js';
import { sharpenGroup, type RowBlock } from '../patches/sharpen.js';
import type { Scene, SceneBand } from '../scene/types.js';
import { outputItem, type OutputBand, type StacItem } from '../stac/item.js';
import { packageVersion } from './version.js';

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
export function snapWindow(w: PixelWindow, m: number, gridW: number, gridH: number): PixelWindow {
  const x0 = Math.floor(w.x / m) * m;
  const y0 = Math.floor(w.y / m) * m;
  const x1 = Math.min(gridW, Math.ceil((w.x + w.width) / m) * m);
  const y1 = Math.min(gridH, Math.ceil((w.y + w.height) / m) * m);
  const clipped = intersectWindows({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, { x: 0, y: 0, width: gridW, height: gridH });
  if (!clipped) throw new Error(`window ${w.x},${w.y},${w.width},${w.height} lies outside the scene (${gridW}x${gridH})`);
  return clipped;
}

/** Pulls RowBlocks from a group's generator and hands out exact row ranges. */
class RowFeed {
  private buffered: RowBlock[] = [];
  private next = 0;
  constructor(private readonly it: AsyncGenerator<RowBlock>, private readonly bands: number, private readonly width: number) {}

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
function toOutput(src: Float32Array, dataType: CogDataType, nodata: number): PixelArray {
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

/** Super-resolves a scene with one model per group and writes `<id>_sr.tif` and `<id>_sr.json`. */
export async function predictScene(opts: PredictOptions): Promise<PredictResult> {
  const t0 = Date.now();
  const { scene } = opts;
  if (opts.models.length === 0) throw new Error(`no model to run on ${scene.id} (${scene.satellite.id})`);
  if (scene.grid.crs.epsg === null) {
    throw new Error(`scene ${scene.id} has no georeferencing (no CRS): predict writes georeferenced COGs, so it needs a georeferenced scene (ungeoreferenced crops serve training and evaluation)`);
  }
  for (const m of opts.models) {
    if (m.manifest.satellite !== scene.satellite.id) {
      throw new Error(`model ${m.manifest.id} was made for ${m.manifest.satellite}, but scene ${scene.id} is ${scene.satellite.id}`);
    }
  }
  const groups = new Set<string>();
  for (const m of opts.models) {
    if (groups.has(m.manifest.group)) throw new Error(`two models given for group ${m.manifest.group}`);
    groups.add(m.manifest.group);
  }
  const factor = Math.max(...opts.models.map((m) => m.manifest.factor));
  const roi = snapWindow(opts.window ?? { x: 0, y: 0, width: scene.grid.width, height: scene.grid.height }, factor, scene.grid.width, scene.grid.height);

  const fineRes = Math.abs(scene.grid.transform.dx);
  const fineBands: SceneBand[] = scene.bands.filter((b) => Math.abs(Math.abs(b.source.grid.transform.dx) - fineRes) < 1e-9);
  const outputBands: OutputBand[] = [
    ...fineBands.map((b) => ({ spec: b.spec, sharpened: false })),
    ...opts.models.flatMap((m) => m.manifest.outputs.map((id) => ({ spec: scene.satellite.bands.find((x) => x.id === id)!, sharpened: true, model: m.manifest.id }))),
  ];
  const allUint16 = scene.bands.every((b) => b.source.dataType === 'uint16');
  const dataType: CogDataType = allUint16 ? 'uint16' : 'float32';
  const nodata = scene.satellite.radiometry.nodata ?? 0;

  const runtime = await pickRuntime(opts.runtime ?? 'auto');
  const sessions: Session[] = [];
  await mkdir(opts.outDir, { recursive: true });
  const cogPath = join(opts.outDir, `${scene.id}_sr.tif`);
  const itemPath = join(opts.outDir, `${scene.id}_sr.json`);
  const tileSize = opts.tileSize ?? 512;
  let writer: CogWriter | null = null;
  try {
    for (const m of opts.models) sessions.push(await runtime.load(m, opts.threads ? { threads: opts.threads } : {}));
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
      metadata: { SHARPSTREAM_SOURCE: scene.id, SHARPSTREAM_MODELS: opts.models.map((m) => m.manifest.id).join(',') },
    });
    const feeds = opts.models.map(
      (m, i) =>
        new RowFeed(
          sharpenGroup({ scene, roi, model: m.manifest, session: sessions[i], ...(opts.batch ? { batch: opts.batch } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }),
          m.manifest.outputs.length,
          roi.width,
        ),
    );
    for (let y = 0; y < roi.height; y += tileSize) {
      if (opts.signal?.aborted) throw new Error('prediction cancelled');
      const h = Math.min(tileSize, roi.height - y);
      const planes: PixelArray[] = [];
      const fineWindow = { x: roi.x, y: roi.y + y, width: roi.width, height: h };
      for (const b of fineBands) {
        const raw = await b.source.read(fineWindow, nodata);
        planes.push(dataType === 'uint16' ? raw : Float32Array.from(raw));
      }
      for (const f of feeds) for (const p of await f.take(y, h)) planes.push(toOutput(p, dataType, nodata));
      await writer.writeStrip(planes);
      opts.onProgress?.({ rowsDone: y + h, rowsTotal: roi.height, elapsedMs: Date.now() - t0 });
    }
    await writer.finish();
    writer = null;
  } catch (e) {
    if (writer) await writer.abort().catch(() => undefined);
    await rm(cogPath, { force: true });
    throw e;
  } finally {
    await Promise.allSettled(sessions.map((s) => s.dispose()));
  }
  const item = await outputItem({
    id: `${scene.id}_sr`,
    ...(opts.collection ? { collection: opts.collection } : {}),
    satellite: scene.satellite,
    metadata: scene.metadata,
    sourceUri: scene.uri,
    grid: { ...scene.grid, width: roi.width, height: roi.height, transform: windowTransform(scene.grid.transform, roi) },
    dataType,
    nodata,
    bands: outputBands,
    cogPath,
    models: opts.models.map((m) => ({ id: m.manifest.id, version: m.manifest.version, runtime: runtime.name, ...(m.manifest.metrics ? { metrics: m.manifest.metrics } : {}) })),
    softwareVersion: packageVersion(),
  });
  await writeFile(itemPath, `${JSON.stringify(item, null, 2)}\n`);
  return { cogPath, itemPath, item, window: roi, bands: outputBands.map((b) => b.spec.id), runtime: runtime.name, seconds: (Date.now() - t0) / 1000 };
}
