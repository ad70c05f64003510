/** `sharpstream info`: opens any scene and describes its satellite, grid, bands and metadata. */
import { windowExtent, type Crs, type Extent, type GeoTransform } from '../../raster/grid.js';
import type { Scene } from '../../scene/types.js';
import { flagOption, stringOption, type Command } from '../command.js';

/** What `info --json` prints about one band. */
export interface BandInfo {
  readonly id: string;
  readonly commonName: string | null;
  readonly resolution: number;
  readonly uri: string;
  readonly width: number;
  readonly height: number;
  readonly transform: GeoTransform;
  readonly crs: Crs;
  readonly dataType: string;
  readonly nodata: number | null;
  readonly dnOffset: number;
}

/** What `info --json` prints about a scene. */
export interface SceneInfo {
  readonly id: string;
  readonly uri: string;
  readonly satellite: { readonly id: string; readonly title: string };
  readonly grid: {
    readonly width: number;
    readonly height: number;
    readonly crs: Crs;
    readonly pixelSize: readonly [number, number];
    readonly transform: GeoTransform;
    readonly extent: Extent;
  };
  readonly bands: readonly BandInfo[];
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** A scene's description as plain data (the STAC item, when there is one, is reduced to its id). */
export function sceneInfo(scene: Scene): SceneInfo {
  const g = scene.grid;
  const { stacItem, ...metadata } = scene.metadata;
  return {
    id: scene.id,
    uri: scene.uri,
    satellite: { id: scene.satellite.id, title: scene.satellite.title },
    grid: {
      width: g.width,
      height: g.height,
      crs: g.crs,
      pixelSize: [Math.abs(g.transform.dx), Math.abs(g.transform.dy)],
      transform: g.transform,
      extent: windowExtent(g.transform, { x: 0, y: 0, width: g.width, height: g.height }),
    },
    bands: scene.bands.map((b) => ({
      id: b.spec.id,
      commonName: b.spec.commonName ?? null,
      resolution: b.spec.resolution,
      uri: b.source.uri,
      width: b.source.grid.width,
      height: b.source.grid.height,
      transform: b.source.grid.transform,
      crs: b.source.grid.crs,
      dataType: b.source.dataType,
      nodata: b.source.nodata,
      dnOffset: b.dnOffset,
    })),
    metadata: {
      ...metadata,
      ...(stacItem ? { stacItemId: typeof stacItem.id === 'string' ? stacItem.id : null } : {}),
    },
  };
}

function crsText(crs: Crs): string {
  if (crs.epsg !== null) return `EPSG:${crs.epsg}`;
  if (crs.wkt) return crs.wkt.length > 60 ? `${crs.wkt.slice(0, 57)}...` : crs.wkt;
  return 'unknown';
}

function pixelText(t: GeoTransform): string {
  const x = Math.abs(t.dx);
  const y = Math.abs(t.dy);
  return x === y ? `${x} m` : `${x} x ${y} m`;
}

/** The text `info` prints for a scene. */
export function formatSceneInfo(info: SceneInfo): string {
  const g = info.grid;
  const e = g.extent;
  const lines = [
    `scene      ${info.id}`,
    `source     ${info.uri}`,
    `satellite  ${info.satellite.id} (${info.satellite.title})`,
    `grid       ${g.width} x ${g.height} px, ${pixelText(g.transform)} pixels, ${crsText(g.crs)}`,
    `extent     x ${e.minX} .. ${e.maxX}, y ${e.minY} .. ${e.maxY}`,
    'bands',
  ];
  const idW = Math.max(...info.bands.map((b) => b.id.length)) + 2;
  const sizeW = Math.max(...info.bands.map((b) => `${b.width} x ${b.height}`.length)) + 2;
  for (const b of info.bands) {
    const t = b.transform;
    const parts = [
      b.id.padEnd(idW),
      `${b.resolution} m`.padEnd(7),
      `${b.width} x ${b.height}`.padEnd(sizeW),
      `${pixelText(t)} pixels`.padEnd(14),
      `origin ${t.x0}, ${t.y0}`.padEnd(28),
      b.dataType.padEnd(8),
      `nodata ${b.nodata ?? '-'}`.padEnd(11),
      b.dnOffset ? `DN offset ${b.dnOffset}  ` : '',
      b.uri,
    ];
    lines.push(`  ${parts.join('')}`);
  }
  const meta = Object.entries(info.metadata).filter(([, v]) => v !== undefined);
  lines.push(meta.length ? 'metadata' : 'metadata   none');
  for (const [k, v] of meta) {
    if (k === 'extra' && v && typeof v === 'object') {
      for (const [ek, ev] of Object.entries(v as Record<string, unknown>)) lines.push(`  ${ek}: ${String(ev)}`);
    } else {
      lines.push(`  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The `info` command. */
export const command: Command = {
  name: 'info',
  order: 20,
  summary: 'open a scene and describe it: satellite, grid, CRS, bands with their grids, metadata',
  examples: [
    'sharpstream info S2A_MSIL2A_20170617T113321_36_85/',
    'sharpstream info scene-folder --satellite sentinel-2-l1c --json',
  ],
  positionals: [{ name: 'scene', description: 'a scene folder, archive (.zip, .tar, .tar.gz) or STAC item file or URL' }],
  options: {
    satellite: { type: 'string', valueName: 'id|file', description: 'satellite definition id or JSON file (default: recognised from the scene)' },
    json: { type: 'boolean', description: 'print the description as JSON' },
  },
  async run(args, io) {
    const satellite = stringOption(args, 'satellite');
    // Loaded on use so that `--help` and other commands start fast.
    const { openScene } = await import('../../scene/open.js');
    const scene = await openScene(args.positionals[0], satellite ? { satellite } : {});
    try {
      const info = sceneInfo(scene);
      io.stdout.write(flagOption(args, 'json') ? `${JSON.stringify(info, null, 2)}\n` : formatSceneInfo(info));
    } finally {
      await scene.close();
    }
  },
};
