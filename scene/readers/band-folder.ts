/**
 * A folder of raster files, GeoTIFF or JPEG 2000, one per band with the band id in the name
 * (`..._B05.tif`, `B8A.tif`, `T33UUU_20170216T102101_B02.jp2`) or multi-band with band descriptions
 * (DSen2's `<scene>_im20.tif`), as BigEarthNet patches, the rio-tiler fixtures, a SAFE granule's IMG_DATA,
 * the DSen2 demo data and hand-made crops are laid out. A STAC item JSON in the folder, when present,
 * supplies the product metadata. A folder holding several scenes is opened one scene at a time by naming
 * one of its files. Crops without georeferencing get nominal grids (shared upper-left corner) and are
 * flagged `georeferenced: no`: fine for training and evaluation, not for georeferenced outputs.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Grid } from '../../raster/grid.js';
import { matchBandId } from '../../satellites/spec.js';
import { assembleScene } from '../assemble.js';
import { assignBandFiles, checkBands } from '../bands.js';
import { detectSatellite } from '../detect.js';
import { metadataDnOffset } from '../radiometry.js';
import type { ReaderContext, SceneReader } from '../reader.js';
import { openGeoTiffBand, openGeoTiffBands } from '../sources/geotiff.js';
import { openJp2Band } from '../sources/jp2.js';
import { SceneError, type BandSource, type Scene, type SceneBand, type SceneMetadata } from '../types.js';

const BAND_FILE = /\.(tiff?|jp2)$/i;

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Reads a STAC item lying in the folder, if any, for metadata. */
async function folderStacItem(dir: string, files: string[]): Promise<Record<string, unknown> | null> {
  for (const f of files.filter((n) => n.toLowerCase().endsWith('.json'))) {
    try {
      const j = JSON.parse(await readFile(join(dir, f), 'utf8')) as Record<string, unknown>;
      if (j.type === 'Feature' && typeof j.properties === 'object' && j.properties) return j;
    } catch {
      /* not a STAC item: ignore */
    }
  }
  return null;
}

/** The common prefix of band file names with the band suffix removed ("S2A_MSIL2A_..._36_85"). */
function productPrefix(files: string[]): string | null {
  const tifs = files.filter((f) => BAND_FILE.test(f));
  if (tifs.length === 0) return null;
  let p = tifs[0];
  for (const f of tifs) while (!f.startsWith(p)) p = p.slice(0, -1);
  // Drop a partial band token left at the end ("..._B" when files run B01..B12).
  p = p.replace(/[_-]B?\d*$/i, '').replace(/[_-]+$/, '');
  return p || null;
}

/** Sentinel-2 and STAC-derived metadata of an item. */
function itemMetadata(item: Record<string, unknown>): SceneMetadata {
  const p = item.properties as Record<string, unknown>;
  const baseline = (p['s2:processing_baseline'] ?? p['sentinel:processing_baseline'] ?? p['processing:version']) as string | undefined;
  return {
    ...(typeof p.datetime === 'string' ? { datetime: p.datetime } : {}),
    ...(typeof p.platform === 'string' ? { platform: p.platform } : {}),
    ...(typeof baseline === 'string' ? { processingBaseline: baseline } : {}),
    ...(typeof p['eo:cloud_cover'] === 'number' ? { cloudCover: p['eo:cloud_cover'] as number } : {}),
    ...(typeof item.id === 'string' ? { productId: item.id } : {}),
    stacItem: item,
  };
}

/**
 * The scene a band file belongs to: its name without the extension, a resolution suffix ("_20m") and
 * the last "_token" (the band id, or DSen2's "im20"). Files of one scene share it.
 */
export function sceneKeyOf(file: string): string {
  const stem = basename(file).replace(/\.[^.]+$/, '').replace(/_\d+m$/i, '');
  const i = stem.lastIndexOf('_');
  return i < 0 ? '' : stem.slice(0, i);
}

/** Opens one scene from a folder of per-band (or multi-band, described) GeoTIFF or JPEG 2000 files. */
export async function openBandFolder(input: string, ctx: ReaderContext, required?: readonly string[]): Promise<Scene> {
  const fileGiven = !(await isDir(input));
  const dir = fileGiven ? dirname(input) : input;
  let files: string[];
  try {
    files = (await readdir(dir)).sort();
  } catch (e) {
    throw new SceneError(dir, `cannot list folder: ${(e as Error).message}`);
  }
  // One folder may hold several scenes (the DSen2 demo keeps two); a file names the one wanted.
  let bandFiles = files.filter((f) => BAND_FILE.test(f));
  const keys = [...new Set(bandFiles.map(sceneKeyOf))];
  if (fileGiven) {
    const key = sceneKeyOf(input);
    bandFiles = bandFiles.filter((f) => sceneKeyOf(f) === key);
  } else if (keys.length > 1 && keys.every((k) => k !== '')) {
    throw new SceneError(dir, `holds several scenes (${keys.join(', ')}): open one by naming one of its files`);
  }
  const uri = fileGiven ? input : dir;
  const item = await folderStacItem(dir, files);
  const props = (item?.properties ?? {}) as Record<string, unknown>;
  const sceneKeys = [...new Set(bandFiles.map(sceneKeyOf))];
  const prefix = sceneKeys.length === 1 && sceneKeys[0] ? sceneKeys[0] : productPrefix(bandFiles);
  const names = [
    ...(item && typeof item.id === 'string' ? [item.id] : []),
    ...(typeof props['s2:product_uri'] === 'string' ? [props['s2:product_uri'] as string] : []),
    ...(typeof props['sentinel:product_id'] === 'string' ? [props['sentinel:product_id'] as string] : []),
    ...(prefix ? [prefix] : []),
    ...bandFiles.slice(0, 1),
    basename(dir),
  ];
  const productTypes = [props['s2:product_type'], props['processing:level'] === 'L2A' ? 'S2MSI2A' : undefined].filter(
    (x): x is string => typeof x === 'string',
  );
  const collection = typeof item?.collection === 'string' ? item.collection : undefined;
  const satellite = detectSatellite(uri, ctx.registry, { names, productTypes, ...(collection ? { stacCollection: collection } : {}) }, ctx.satellite);
  const byName = assignBandFiles(satellite, bandFiles);
  const metadata: SceneMetadata = item ? itemMetadata(item) : {};
  const offset = metadataDnOffset(satellite, metadata.processingBaseline);
  const sources = new Map<string, BandSource>();
  const opened: BandSource[] = [];
  try {
    for (const [id, file] of byName) {
      const path = join(dir, file);
      const source = /\.jp2$/i.test(file) ? await openJp2Band(path) : await openGeoTiffBand(path, { allowUngeoreferenced: true });
      opened.push(source);
      sources.set(id, source);
    }
    // Multi-band GeoTIFFs whose band descriptions name the bands (DSen2's im10/im20/im60 files).
    const named = new Set(byName.values());
    for (const file of bandFiles.filter((f) => !named.has(f) && /\.tiff?$/i.test(f))) {
      const all = await openGeoTiffBands(join(dir, file), { allowUngeoreferenced: true });
      opened.push(...all);
      for (const src of all) {
        const id = src.description ? matchBandId(satellite, src.description) : null;
        if (id && !sources.has(id)) sources.set(id, src);
      }
    }
    checkBands(uri, satellite, new Set(sources.keys()), required);
    const plain = [...sources.values()];
    const nominal = plain.filter((b) => b.georeferenced === false);
    if (nominal.length > 0 && nominal.length < plain.length) {
      throw new SceneError(uri, `some band files are georeferenced and some are not (${nominal.map((b) => basename(b.uri)).join(', ')} are not)`);
    }
    const bands: SceneBand[] = [...sources].map(([id, source]) => {
      const spec = satellite.bands.find((b) => b.id === id)!;
      // Without georeferencing, bands share the upper-left corner at their nominal resolution.
      const src = nominal.length ? withGrid(source, { ...source.grid, transform: { x0: 0, y0: 0, dx: spec.resolution, dy: -spec.resolution } }) : source;
      return { spec, source: src, dnOffset: offset };
    });
    const used = new Set(sources.values());
    await Promise.allSettled(opened.filter((b) => !used.has(b)).map((b) => b.close()));
    const id = (metadata.productId ?? prefix ?? basename(dir)).replace(/\.(SAFE|zip|tar|tgz|tar\.gz)$/i, '');
    const meta: SceneMetadata = nominal.length ? { ...metadata, extra: { ...(metadata.extra ?? {}), georeferenced: 'no' } } : metadata;
    return assembleScene({ id, uri, satellite, bands, metadata: meta });
  } catch (e) {
    await Promise.allSettled(opened.map((b) => b.close()));
    throw e;
  }
}

/** A band source seen through another grid (same pixels). */
function withGrid(source: BandSource, grid: Grid): BandSource {
  return {
    uri: source.uri,
    grid,
    dataType: source.dataType,
    nodata: source.nodata,
    description: source.description ?? null,
    georeferenced: false,
    read: (w, fill) => source.read(w, fill),
    close: () => source.close(),
  };
}

/** The reader for folders of per-band raster files; tried after the product-specific readers. */
export const bandFolderReader: SceneReader = {
  name: 'band-folder',
  async accepts(input: string): Promise<boolean> {
    // A single band file stands for the scene it belongs to.
    if (!(await isDir(input))) return BAND_FILE.test(input) && (await exists(input));
    try {
      return (await readdir(input)).some((f) => BAND_FILE.test(f));
    } catch {
      return false;
    }
  },
  open(input: string, ctx: ReaderContext): Promise<Scene> {
    return openBandFolder(input, ctx);
  },
};
