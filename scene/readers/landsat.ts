/**
 * Landsat 8/9 products: a folder holding a `*_MTL.txt` and per-band GeoTIFFs (Collection 2 Level-1 or
 * Level-2, Collection 1, pre-collection), as USGS delivers them or as extracted from their .tar/.tar.gz
 * (openScene extracts archives first). Georeferencing comes from the GeoTIFFs; bands without geotags
 * (crops written by tools that drop them) are placed on the grid the MTL describes, with the 15 m pan
 * grid nested in the 30 m grid the way Landsat's grids nest (see `nestedPanGrid` in scene/mtl.ts).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { windowExtent, type Crs, type GeoTransform, type Grid } from '../../raster/grid.js';
import { groupInputs, matchBandId, type BandSpec, type SatelliteSpec } from '../../satellites/spec.js';
import { assembleScene } from '../assemble.js';
import { assignBandFiles, bandIdOfFile, checkBands } from '../bands.js';
import { detectSatellite } from '../detect.js';
import { MtlError, mtlReflectiveGrid, nestedPanGrid, parseLandsatMtl, type LandsatMtl } from '../mtl.js';
import type { ReaderContext, SceneReader } from '../reader.js';
import { openGeoTiffBand } from '../sources/geotiff.js';
import { SceneError, type BandSource, type Scene, type SceneBand, type SceneMetadata } from '../types.js';

const TIFF = /\.tiff?$/i;
const MTL = /(^|_)MTL\.txt$/i;
/** MTLs are about 10 KiB; anything far larger is not one. */
const MAX_MTL_BYTES = 4 * 1024 * 1024;

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The MTL files of a folder (names only), sorted. */
async function mtlFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => MTL.test(f)).sort();
}

/** Reads and parses a folder's MTL, turning parse failures into SceneErrors naming the file. */
async function readMtl(path: string): Promise<LandsatMtl> {
  let text: string;
  try {
    const st = await stat(path);
    if (st.size > MAX_MTL_BYTES) throw new SceneError(path, `is ${st.size} bytes, far too large for a Landsat MTL file`);
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof SceneError) throw e;
    throw new SceneError(path, `cannot read MTL file: ${(e as Error).message}`, { cause: e });
  }
  try {
    return parseLandsatMtl(text, path);
  } catch (e) {
    if (e instanceof MtlError) throw new SceneError(path, `malformed Landsat MTL: ${e.detail}`, { cause: e });
    throw e;
  }
}

/** Path/row and acquisition date of a Landsat product id ("LC08_L1TP_017051_20151205_..."), or null. */
function sceneKey(name: string): string | null {
  const m = /^L[COTEM]0\d_L\w{3}_(\d{6})_(\d{8})_/i.exec(name);
  return m ? `${m[1]}_${m[2]}` : null;
}

/**
 * Band id -> file name for a product folder: files matched by the definition's band-file pattern, with
 * the MTL's own FILE_NAME_BAND_n entries preferred where those files are present.
 */
export function landsatBandFiles(spec: SatelliteSpec, mtl: LandsatMtl, files: readonly string[]): Map<string, string> {
  const tifs = files.filter((f) => TIFF.test(f));
  const assigned = assignBandFiles(spec, tifs);
  const byLower = new Map(tifs.map((f) => [f.toLowerCase(), f]));
  for (const [key, name] of mtl.bandFiles) {
    const present = byLower.get(name.toLowerCase());
    if (!present) continue;
    const id = bandIdOfFile(spec, present) ?? (/^\d+$/.test(key) ? matchBandId(spec, `B${key}`) : null);
    if (id) assigned.set(id, present);
  }
  return assigned;
}

/** The pan band of a definition (common name "pan"), if it has one. */
function panBand(spec: SatelliteSpec): BandSpec | undefined {
  return spec.bands.find((b) => b.commonName === 'pan');
}

/** Checks the bands found, with Landsat-specific explanations of what is missing. */
function checkLandsatBands(dir: string, spec: SatelliteSpec, mtl: LandsatMtl, found: Map<string, string>, files: readonly string[]): void {
  const pan = panBand(spec);
  const needsPan = pan && spec.groups.every((g) => groupInputs(spec, g).includes(pan.id));
  if (pan && needsPan && !found.has(pan.id) && /^L2/i.test(mtl.processingLevel)) {
    throw new SceneError(
      dir,
      `Landsat Level-2 product ${mtl.productId} carries no panchromatic band ${pan.id}, which guides the sharpening: place the matching Level-1 product's _${pan.id}.TIF beside the Level-2 files`,
    );
  }
  try {
    checkBands(dir, spec, new Set(found.keys()));
  } catch (e) {
    if (!(e instanceof SceneError)) throw e;
    // Name the files the MTL expects for the missing bands, so the user knows what to fetch.
    // (for the group closest to complete: bands no group could use without others are not worth naming).
    const perGroup = spec.groups.map((g) => groupInputs(spec, g).filter((id) => !found.has(id))).sort((a, b) => a.length - b.length);
    const missing = new Set(perGroup[0] ?? []);
    const have = new Set(files.map((f) => f.toLowerCase()));
    const expected = [...mtl.bandFiles.values()]
      .filter((n) => TIFF.test(n) && !have.has(n.toLowerCase()))
      .map((n) => ({ n, id: bandIdOfFile(spec, n) }))
      .filter((x): x is { n: string; id: string } => x.id !== null && missing.has(x.id));
    const hint = expected.length ? `; the MTL names ${expected.map((x) => `${x.n} for ${x.id}`).join(', ')}, not found in the folder` : '';
    throw new SceneError(dir, `${e.message.slice(dir.length + 2)}${hint}`, { cause: e });
  }
}

/** A band source seen through a different grid (for files whose georeferencing comes from the MTL). */
function withGrid(src: BandSource, grid: Grid): BandSource {
  return {
    uri: src.uri,
    grid,
    dataType: src.dataType,
    nodata: src.nodata,
    read: (w, fill) => src.read(w, fill),
    close: () => src.close(),
  };
}

/** The product footprint from the MTL corners (pixel centres), widened to pixel edges. */
function mtlFootprint(mtl: LandsatMtl): { minX: number; maxX: number; minY: number; maxY: number } {
  const p = mtl.projection;
  const h = p.reflectiveCellSize / 2;
  return { minX: p.ul.x - h, maxX: p.lr.x + h, minY: p.lr.y - h, maxY: p.ul.y + h };
}

/**
 * Opens one band file. A file with geotags keeps them (checked against the MTL's CRS and footprint); a
 * file without is placed on the MTL's 30 m grid, or for the pan band nested in it by its own size.
 */
async function openLandsatBand(path: string, spec: BandSpec, mtl: LandsatMtl, msGrid: () => Grid): Promise<BandSource> {
  // A unique placeholder: when the file has no georeferencing, openGeoTiffBand hands back these very objects.
  const placeholder: { transform: GeoTransform; crs: Crs } = { transform: { x0: 0, y0: 0, dx: 1, dy: -1 }, crs: { epsg: null } };
  const src = await openGeoTiffBand(path, { fallbackGrid: placeholder });
  try {
    const g = src.grid;
    const noTransform = g.transform === placeholder.transform;
    const noCrs = g.crs === placeholder.crs;
    const mtlCrs: Crs = { epsg: mtl.projection.epsg };
    if (!noCrs && g.crs.epsg !== null && mtlCrs.epsg !== null && g.crs.epsg !== mtlCrs.epsg) {
      throw new SceneError(path, `band ${spec.id} is in EPSG:${g.crs.epsg} but the MTL of ${mtl.productId} describes EPSG:${mtlCrs.epsg}: is the file from another product?`);
    }
    if (noCrs && mtlCrs.epsg === null) {
      throw new SceneError(path, `band ${spec.id} has no CRS and the MTL's projection (${mtl.projection.mapProjection}, zone ${mtl.projection.utmZone}) has no EPSG code sharpstream knows`);
    }
    if (!noTransform) {
      // Geotagged: must lie within the product footprint (crops do; decimated copies overhang by under a pixel).
      const e = windowExtent(g.transform, { x: 0, y: 0, width: g.width, height: g.height });
      const f = mtlFootprint(mtl);
      const slack = Math.abs(g.transform.dx) + 1e-6;
      if (e.minX < f.minX - slack || e.maxX > f.maxX + slack || e.minY < f.minY - slack || e.maxY > f.maxY + slack) {
        throw new SceneError(
          path,
          `band ${spec.id} covers x ${e.minX}..${e.maxX}, y ${e.minY}..${e.maxY}, outside the footprint x ${f.minX}..${f.maxX}, y ${f.minY}..${f.maxY} that the MTL of ${mtl.productId} describes: is the file from another product?`,
        );
      }
      return noCrs ? withGrid(src, { ...g, crs: mtlCrs }) : src;
    }
    // No geotags: the MTL's grid, checked against the file's own size.
    let ms: Grid;
    try {
      ms = msGrid();
    } catch (e) {
      if (e instanceof MtlError) throw new SceneError(path, `band ${spec.id} has no geotags and the MTL cannot place it: ${e.detail}`, { cause: e });
      throw e;
    }
    const isPan = mtl.projection.panCellSize !== null ? spec.resolution < mtl.projection.reflectiveCellSize : spec.commonName === 'pan';
    if (isPan) {
      try {
        return withGrid(src, { ...nestedPanGrid(ms, g.width, g.height, path), crs: mtlCrs });
      } catch (e) {
        if (e instanceof MtlError) {
          throw new SceneError(path, `band ${spec.id} has no geotags and its size disagrees with the MTL: ${e.detail}`, { cause: e });
        }
        throw e;
      }
    }
    if (g.width !== ms.width || g.height !== ms.height) {
      throw new SceneError(
        path,
        `band ${spec.id} is ${g.width}x${g.height} pixels but the MTL of ${mtl.productId} describes a ${ms.width}x${ms.height} grid of ${ms.transform.dx} m pixels; the file has no geotags, so its size must match`,
      );
    }
    return withGrid(src, { ...ms, width: g.width, height: g.height, crs: mtlCrs });
  } catch (e) {
    await src.close().catch(() => undefined);
    throw e;
  }
}

/** Scene metadata from an MTL. */
function landsatMetadata(mtl: LandsatMtl, bandIds: readonly string[]): SceneMetadata {
  const extra: Record<string, string | number> = { 'landsat:processing_level': mtl.processingLevel, 'landsat:mtl_format': mtl.format };
  if (mtl.sceneId) extra['landsat:scene_id'] = mtl.sceneId;
  if (mtl.collectionNumber !== null) extra['landsat:collection_number'] = mtl.collectionNumber;
  if (mtl.collectionCategory) extra['landsat:collection_category'] = mtl.collectionCategory;
  if (mtl.wrsPath !== null) extra['landsat:wrs_path'] = mtl.wrsPath;
  if (mtl.wrsRow !== null) extra['landsat:wrs_row'] = mtl.wrsRow;
  if (mtl.sensor) extra['landsat:sensor'] = mtl.sensor;
  if (mtl.sunAzimuth !== null) extra['view:sun_azimuth'] = mtl.sunAzimuth;
  if (mtl.sunElevation !== null) extra['view:sun_elevation'] = mtl.sunElevation;
  if (mtl.cloudCoverLand !== null) extra['landsat:cloud_cover_land'] = mtl.cloudCoverLand;
  for (const id of bandIds) {
    const n = /(\d+)$/.exec(id)?.[1];
    const r = n ? mtl.rescaling.get(n) : undefined;
    if (r?.reflectanceMult !== undefined) extra[`reflectance_mult_${id}`] = r.reflectanceMult;
    if (r?.reflectanceAdd !== undefined) extra[`reflectance_add_${id}`] = r.reflectanceAdd;
  }
  return {
    datetime: mtl.datetime,
    platform: mtl.platform,
    ...(mtl.cloudCover !== null ? { cloudCover: mtl.cloudCover } : {}),
    productId: mtl.productId,
    extra,
  };
}

/** Opens a Landsat product folder (or the folder of a given MTL file) as a scene. */
export async function openLandsatProduct(input: string, ctx: ReaderContext): Promise<Scene> {
  const dir = (await isDir(input)) ? input : dirname(input);
  let files: string[];
  try {
    files = (await readdir(dir)).sort();
  } catch (e) {
    throw new SceneError(dir, `cannot list folder: ${(e as Error).message}`);
  }
  let mtlName: string;
  if (!(await isDir(input))) {
    mtlName = basename(input);
  } else {
    const mtls = files.filter((f) => MTL.test(f));
    if (mtls.length === 0) throw new SceneError(dir, 'no *_MTL.txt file: not a Landsat product folder');
    if (mtls.length > 1) throw new SceneError(dir, `holds ${mtls.length} MTL files (${mtls.join(', ')}): a Landsat product folder holds one product`);
    mtlName = mtls[0];
  }
  const mtl = await readMtl(join(dir, mtlName));

  const firstTif = files.find((f) => TIFF.test(f));
  const names = [mtl.productId, ...(mtl.sceneId ? [mtl.sceneId] : []), ...(firstTif ? [firstTif.replace(TIFF, '')] : []), basename(dir)];
  const satellite = detectSatellite(dir, ctx.registry, { names, productTypes: [mtl.processingLevel], constellation: 'landsat' }, ctx.satellite);

  const assigned = landsatBandFiles(satellite, mtl, files);
  checkLandsatBands(dir, satellite, mtl, assigned, files);

  const key = sceneKey(mtl.productId);
  if (key) {
    for (const [id, f] of assigned) {
      const k = sceneKey(f);
      if (k && k !== key) throw new SceneError(join(dir, f), `band ${id} belongs to path/row and date ${k}, but the MTL describes ${mtl.productId}`);
    }
  }

  let ms: Grid | null = null;
  const msGrid = (): Grid => (ms ??= mtlReflectiveGrid(mtl, join(dir, mtlName)));
  const bands: SceneBand[] = [];
  try {
    for (const [id, file] of assigned) {
      const spec = satellite.bands.find((b) => b.id === id)!;
      bands.push({ spec, source: await openLandsatBand(join(dir, file), spec, mtl, msGrid), dnOffset: 0 });
    }
    return assembleScene({ id: mtl.productId, uri: dir, satellite, bands, metadata: landsatMetadata(mtl, [...assigned.keys()]) });
  } catch (e) {
    await Promise.allSettled(bands.map((b) => b.source.close()));
    throw e;
  }
}

/** The reader for Landsat product folders (a folder with an MTL file, or the MTL file itself). */
export const landsatReader: SceneReader = {
  name: 'landsat',
  async accepts(input: string): Promise<boolean> {
    try {
      if (await isDir(input)) return (await mtlFiles(input)).length > 0;
      return MTL.test(basename(input)) && (await stat(input)).isFile();
    } catch {
      return false;
    }
  },
  open(input: string, ctx: ReaderContext): Promise<Scene> {
    return openLandsatProduct(input, ctx);
  },
};
