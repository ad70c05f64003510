/**
 * Builds a Scene from band sources: checks that the bands agree (CRS, extent, resolution ratios)
 * and implements windowed reads on the finest grid for every reader.
 */
import { bandWindowFor, windowExtent, windowTransform, assertWindow, type Grid, type PixelWindow } from '../raster/grid.js';
import type { SatelliteSpec } from '../satellites/spec.js';
import { SceneError, type BandWindow, type ReadWindowOptions, type Scene, type SceneBand, type SceneMetadata, type SceneWindow } from './types.js';

/** Inputs of assembleScene. */
export interface AssembleOptions {
  readonly id: string;
  readonly uri: string;
  readonly satellite: SatelliteSpec;
  readonly bands: readonly SceneBand[];
  readonly metadata: SceneMetadata;
  /** Called once by close() after every band source is closed (e.g. to remove an extraction folder). */
  readonly onClose?: () => Promise<void>;
  /** Tolerance, in metres, for extents that disagree (default: half the finest pixel). */
  readonly extentTolerance?: number;
}

/** Checks band agreement and returns a Scene whose windows are read on the finest band's grid. */
export function assembleScene(opts: AssembleOptions): Scene {
  const { satellite, uri } = opts;
  if (opts.bands.length === 0) throw new SceneError(uri, `no bands of ${satellite.id} found`);
  const order = new Map(satellite.bands.map((b, i) => [b.id, i]));
  const bands = [...opts.bands].sort((a, b) => order.get(a.spec.id)! - order.get(b.spec.id)!);

  // The fine grid is the grid of the finest band present.
  const finest = bands.reduce((a, b) => (Math.abs(b.source.grid.transform.dx) < Math.abs(a.source.grid.transform.dx) ? b : a));
  const grid: Grid = finest.source.grid;
  const fineRes = Math.abs(grid.transform.dx);
  const tol = opts.extentTolerance ?? fineRes / 2;

  for (const b of bands) {
    const g = b.source.grid;
    if (g.crs.epsg !== grid.crs.epsg) {
      throw new SceneError(b.source.uri, `band ${b.spec.id} is in EPSG:${g.crs.epsg} but band ${finest.spec.id} is in EPSG:${grid.crs.epsg}`);
    }
    const res = Math.abs(g.transform.dx);
    const expected = b.spec.resolution / finest.spec.resolution;
    if (Math.abs(res / fineRes - expected) > 1e-6 * expected) {
      throw new SceneError(
        b.source.uri,
        `band ${b.spec.id} has ${res} m pixels, but ${satellite.id} defines it at ${b.spec.resolution} m against ${finest.spec.resolution} m for ${finest.spec.id} (found ${fineRes} m): resolutions disagree`,
      );
    }
    const a = windowExtent(g.transform, { x: 0, y: 0, width: g.width, height: g.height });
    const f = windowExtent(grid.transform, { x: 0, y: 0, width: grid.width, height: grid.height });
    // Extents agree within one coarse pixel (Landsat pan and multispectral extents differ by half a pixel).
    const slack = Math.max(tol, res);
    if (Math.abs(a.minX - f.minX) > slack || Math.abs(a.maxX - f.maxX) > slack || Math.abs(a.minY - f.minY) > slack || Math.abs(a.maxY - f.maxY) > slack) {
      throw new SceneError(
        b.source.uri,
        `band ${b.spec.id} covers x ${a.minX}..${a.maxX}, y ${a.minY}..${a.maxY} but band ${finest.spec.id} covers x ${f.minX}..${f.maxX}, y ${f.minY}..${f.maxY}: band extents disagree`,
      );
    }
  }

  let closed = false;
  const scene: Scene = {
    id: opts.id,
    satellite,
    uri,
    metadata: opts.metadata,
    bands,
    grid,
    async readWindow(window: PixelWindow, options: ReadWindowOptions = {}): Promise<SceneWindow> {
      if (closed) throw new SceneError(uri, 'scene is closed');
      assertWindow(window, `${uri}: window`);
      const wanted = options.bands ? new Set(options.bands) : null;
      if (wanted) {
        for (const id of wanted) {
          if (!bands.some((b) => b.spec.id === id)) {
            throw new SceneError(uri, `band ${id} is not in this scene (bands: ${bands.map((b) => b.spec.id).join(', ')})`);
          }
        }
      }
      const margin = options.margin ?? 0;
      const picked = bands.filter((b) => !wanted || wanted.has(b.spec.id));
      const out: BandWindow[] = await Promise.all(
        picked.map(async (b) => {
          const src = b.source;
          const m = bandWindowFor(grid.transform, src.grid.transform, window, margin);
          const fill = src.nodata ?? satellite.radiometry.nodata ?? 0;
          let data;
          try {
            data = await src.read(m.window, fill);
          } catch (e) {
            if (e instanceof SceneError) throw e;
            throw new SceneError(src.uri, `cannot read band ${b.spec.id}: ${(e as Error).message}`, { cause: e });
          }
          return {
            band: b.spec.id,
            resolution: b.spec.resolution,
            data,
            window: m.window,
            transform: windowTransform(src.grid.transform, m.window),
            originX: m.originX - m.window.x,
            originY: m.originY - m.window.y,
            scaleX: m.scaleX,
            scaleY: m.scaleY,
            nodata: src.nodata ?? satellite.radiometry.nodata,
            dnOffset: b.dnOffset,
          };
        }),
      );
      return { window, transform: windowTransform(grid.transform, window), bands: out };
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.allSettled(bands.map((b) => b.source.close()));
      if (opts.onClose) await opts.onClose();
    },
  };
  return scene;
}
