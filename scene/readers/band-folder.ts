/**
 * A folder of per-band raster files, GeoTIFF or JPEG 2000, whose file names carry the band id
 * (`..._B05.tif`, `B8A.tif`, `T33UUU_20170216T102101_B02.jp2`), as BigEarthNet patches, the rio-tiler
 * fixtures, a SAFE granule's IMG_DATA and hand-made crops are laid out. A STAC item JSON in the folder,
 * when present, supplies the product metadata.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { assembleScene } from '../assemble.js';
import { assignBandFiles, checkBands } from '../bands.js';
import { detectSatellite } from '../detect.js';
import { metadataDnOffset } from '../radiometry.js';
import type { ReaderContext, SceneReader } from '../reader.js';
import { openGeoTiffBand } from '../sources/geotiff.js';
import { openJp2Band } from '../sources/jp2.js';
import { SceneError, type Scene, type SceneBand, type SceneMetadata } from '../types.js';

const BAND_FILE = /\.(tiff?|jp2)$/i;

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

/** Opens a folder of per-band GeoTIFF or JPEG 2000 files as a scene. */
export async function openBandFolder(dir: string, ctx: ReaderContext, required?: readonly string[]): Promise<Scene> {
  let files: string[];
  try {
    files = (await readdir(dir)).sort();
  } catch (e) {
    throw new SceneError(dir, `cannot list folder: ${(e as Error).message}`);
  }
  const item = await folderStacItem(dir, files);
  const props = (item?.properties ?? {}) as Record<string, unknown>;
  const prefix = productPrefix(files);
  const names = [
    ...(item && typeof item.id === 'string' ? [item.id] : []),
    ...(typeof props['s2:product_uri'] === 'string' ? [props['s2:product_uri'] as string] : []),
    ...(typeof props['sentinel:product_id'] === 'string' ? [props['sentinel:product_id'] as string] : []),
    ...(prefix ? [prefix] : []),
    ...files.filter((f) => BAND_FILE.test(f)).slice(0, 1),
    basename(dir),
  ];
  const productTypes = [props['s2:product_type'], props['processing:level'] === 'L2A' ? 'S2MSI2A' : undefined].filter(
    (x): x is string => typeof x === 'string',
  );
  const collection = typeof item?.collection === 'string' ? item.collection : undefined;
  const satellite = detectSatellite(dir, ctx.registry, { names, productTypes, ...(collection ? { stacCollection: collection } : {}) }, ctx.satellite);
  const assigned = assignBandFiles(
    satellite,
    files.filter((f) => BAND_FILE.test(f)),
  );
  checkBands(dir, satellite, new Set(assigned.keys()), required);
  const metadata: SceneMetadata = item ? itemMetadata(item) : {};
  const offset = metadataDnOffset(satellite, metadata.processingBaseline);
  const bands: SceneBand[] = [];
  try {
    for (const [id, file] of assigned) {
      const spec = satellite.bands.find((b) => b.id === id)!;
      const path = join(dir, file);
      const source = /\.jp2$/i.test(file) ? await openJp2Band(path) : await openGeoTiffBand(path);
      bands.push({ spec, source, dnOffset: offset });
    }
    const id = (metadata.productId ?? prefix ?? basename(dir)).replace(/\.(SAFE|zip|tar|tgz|tar\.gz)$/i, '');
    return assembleScene({ id, uri: dir, satellite, bands, metadata });
  } catch (e) {
    await Promise.allSettled(bands.map((b) => b.source.close()));
    throw e;
  }
}

/** The reader for folders of per-band raster files; tried after the product-specific readers. */
export const bandFolderReader: SceneReader = {
  name: 'band-folder',
  async accepts(input: string): Promise<boolean> {
    if (!(await isDir(input))) return false;
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
