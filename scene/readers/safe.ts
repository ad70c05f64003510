/**
 * Sentinel-2 .SAFE products (Level-1C and Level-2A), as folders or, through openScene's archive path,
 * as zips of one. Bands are the granule's JPEG 2000 files, each at its native resolution (Level-2A
 * ships several resolutions per band under R10m/R20m/R60m). The product metadata (MTD_MSIL1C.xml or
 * MTD_MSIL2A.xml) gives the acquisition time, platform, processing baseline, cloud cover and, since
 * baseline 04.00, the per-band additive offsets; the granule metadata (MTD_TL.xml) gives the grid
 * used when a JPEG 2000 file carries no georeferencing.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Crs, GeoTransform } from '../../raster/grid.js';
import type { SatelliteSpec } from '../../satellites/spec.js';
import { assembleScene } from '../assemble.js';
import { assignBandFiles, checkBands } from '../bands.js';
import { detectSatellite } from '../detect.js';
import { metadataDnOffset } from '../radiometry.js';
import type { ReaderContext, SceneReader } from '../reader.js';
import { openJp2Band } from '../sources/jp2.js';
import { SceneError, type BandSource, type Scene, type SceneBand, type SceneMetadata } from '../types.js';

/** Band order of Sentinel-2 metadata lists indexed by band_id / bandId. */
const S2_BAND_INDEX = ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12'];

const PRODUCT_MTD = /^MTD_MSIL(1C|2A)\.xml$/i;
const OLD_PRODUCT_MTD = /^S2[A-D]_OPER_MTD_SAFL(1C|2A)_.*\.xml$/i;

// ---------------------------------------------------------------------------------------------
// A little XML: the metadata files are flat enough for tag lookups (namespace prefixes ignored).

interface XmlElement {
  readonly attrs: Readonly<Record<string, string>>;
  readonly text: string;
}

function decodeEntities(s: string): string {
  return s
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d)))
    .replace(/&amp;/g, '&');
}

/** Every element with this local name: its attributes and inner text (child markup included). */
export function xmlElements(xml: string, name: string): XmlElement[] {
  const re = new RegExp(`<(?:[\\w.-]+:)?${name}((?:\\s[^>]*?)?)(?:/>|>([\\s\\S]*?)</(?:[\\w.-]+:)?${name}\\s*>)`, 'g');
  const out: XmlElement[] = [];
  for (const m of xml.matchAll(re)) {
    const attrs: Record<string, string> = {};
    for (const a of (m[1] ?? '').matchAll(/([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      attrs[a[1].replace(/^[\w.-]+:/, '')] = decodeEntities(a[2] ?? a[3] ?? '');
    }
    out.push({ attrs, text: decodeEntities((m[2] ?? '').trim()) });
  }
  return out;
}

/** The trimmed text of the first element with this local name, or undefined. */
export function xmlText(xml: string, name: string): string | undefined {
  const e = xmlElements(xml, name)[0];
  return e && e.text !== '' && !e.text.includes('<') ? e.text : undefined;
}

// ---------------------------------------------------------------------------------------------
// Product and granule metadata.

/** What the product metadata file says. */
export interface SafeProductInfo {
  readonly productUri?: string;
  readonly productType?: string;
  readonly processingLevel?: string;
  readonly processingBaseline?: string;
  readonly startTime?: string;
  readonly spacecraft?: string;
  readonly cloudCover?: number;
  readonly quantification?: number;
  readonly orbit?: number;
  /** Explicit additive offsets per band id: RADIO_ADD_OFFSET (L1C) or BOA_ADD_OFFSET (L2A). */
  readonly radioOffsets: ReadonlyMap<string, number>;
  readonly boaOffsets: ReadonlyMap<string, number>;
}

/** Maps metadata band indices to band ids through Spectral_Information, else the standard order. */
function bandIndexMap(xml: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const e of xmlElements(xml, 'Spectral_Information')) {
    const idx = e.attrs.bandId;
    const phys = e.attrs.physicalBand;
    if (idx === undefined || !phys) continue;
    const m = /^B0?(\d+|8A)$/i.exec(phys.trim());
    if (m) map.set(idx, m[1].toUpperCase() === '8A' ? 'B8A' : `B${m[1].padStart(2, '0')}`);
  }
  if (map.size === 0) S2_BAND_INDEX.forEach((b, i) => map.set(String(i), b));
  return map;
}

function offsets(xml: string, tag: string, index: Map<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of xmlElements(xml, tag)) {
    const id = index.get(e.attrs.band_id ?? e.attrs.bandId ?? '');
    const v = Number(e.text);
    if (id && e.text !== '' && Number.isFinite(v)) out.set(id, v);
  }
  return out;
}

const num = (s: string | undefined): number | undefined => (s !== undefined && s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : undefined);

/** Reads the fields sharpstream uses from MTD_MSIL1C.xml / MTD_MSIL2A.xml text. */
export function parseProductMetadata(xml: string): SafeProductInfo {
  const index = bandIndexMap(xml);
  const text = (n: string) => xmlText(xml, n);
  const defined = <T>(k: string, v: T | undefined) => (v === undefined ? {} : { [k]: v });
  return {
    ...defined('productUri', text('PRODUCT_URI')),
    ...defined('productType', text('PRODUCT_TYPE')),
    ...defined('processingLevel', text('PROCESSING_LEVEL')),
    ...defined('processingBaseline', text('PROCESSING_BASELINE')),
    ...defined('startTime', text('PRODUCT_START_TIME') ?? text('DATATAKE_SENSING_START')),
    ...defined('spacecraft', text('SPACECRAFT_NAME')),
    ...defined('cloudCover', num(text('Cloud_Coverage_Assessment') ?? text('CLOUDY_PIXEL_PERCENTAGE'))),
    ...defined('quantification', num(text('QUANTIFICATION_VALUE') ?? text('BOA_QUANTIFICATION_VALUE'))),
    ...defined('orbit', num(text('SENSING_ORBIT_NUMBER'))),
    radioOffsets: offsets(xml, 'RADIO_ADD_OFFSET', index),
    boaOffsets: offsets(xml, 'BOA_ADD_OFFSET', index),
  };
}

/** The granule grid of MTD_TL.xml: EPSG code and per-resolution origin, pixel size and dimensions. */
export interface TileGeocoding {
  readonly crs: Crs;
  readonly byResolution: ReadonlyMap<number, { readonly transform: GeoTransform; readonly width?: number; readonly height?: number }>;
}

/** Reads Tile_Geocoding from MTD_TL.xml text, or null when it has none. */
export function parseTileGeocoding(xml: string): TileGeocoding | null {
  const code = xmlText(xml, 'HORIZONTAL_CS_CODE');
  const m = code ? /EPSG\D*(\d+)/i.exec(code) : null;
  if (!m) return null;
  const sizes = new Map<number, { width?: number; height?: number }>();
  for (const e of xmlElements(xml, 'Size')) {
    const r = num(e.attrs.resolution);
    if (r === undefined) continue;
    const rows = num(xmlText(e.text, 'NROWS'));
    const cols = num(xmlText(e.text, 'NCOLS'));
    sizes.set(r, { ...(cols !== undefined ? { width: cols } : {}), ...(rows !== undefined ? { height: rows } : {}) });
  }
  const byResolution = new Map<number, { transform: GeoTransform; width?: number; height?: number }>();
  for (const e of xmlElements(xml, 'Geoposition')) {
    const r = num(e.attrs.resolution);
    const ulx = num(xmlText(e.text, 'ULX'));
    const uly = num(xmlText(e.text, 'ULY'));
    if (r === undefined || ulx === undefined || uly === undefined) continue;
    const dx = num(xmlText(e.text, 'XDIM')) ?? r;
    const dy = num(xmlText(e.text, 'YDIM')) ?? -r;
    byResolution.set(r, { transform: { x0: ulx, y0: uly, dx, dy }, ...(sizes.get(r) ?? {}) });
  }
  return { crs: { epsg: Number(m[1]) }, byResolution };
}

/** Metadata a product name carries: S2A_MSIL1C_20170216T102101_N0204_R065_T33UUU_20170216T102204. */
function nameMetadata(name: string): { datetime?: string; baseline?: string; platform?: string } {
  const m = /^(S2[A-D])_MSIL(?:1C|2A)_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})_N(\d{2})(\d{2})_/i.exec(name);
  if (!m) return {};
  return {
    platform: `sentinel-${m[1].slice(1).toLowerCase()}`,
    datetime: `${m[2]}-${m[3]}-${m[4]}T${m[5]}:${m[6]}:${m[7]}Z`,
    baseline: `${m[8]}.${m[9]}`,
  };
}

// ---------------------------------------------------------------------------------------------
// The reader.

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function listSafe(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** The product folder an input names: the folder itself, or the folder of its manifest or MTD file. */
async function productFolder(input: string): Promise<string | null> {
  if (await isDir(input)) {
    if (/\.SAFE\/?$/i.test(input)) return input;
    const files = await listSafe(input);
    if (files.some((f) => f === 'manifest.safe' || PRODUCT_MTD.test(f) || OLD_PRODUCT_MTD.test(f))) return input;
    return null;
  }
  const name = basename(input);
  if (name === 'manifest.safe' || PRODUCT_MTD.test(name)) return dirname(input);
  return null;
}

/** Lists .jp2 files under a granule's IMG_DATA (and its R10m/R20m/R60m folders), as relative paths. */
async function imageFiles(imgData: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(imgData, { withFileTypes: true })) {
    if (e.isFile() && /\.jp2$/i.test(e.name)) out.push(e.name);
    else if (e.isDirectory() && /^R\d+m$/i.test(e.name)) {
      for (const f of await readdir(join(imgData, e.name))) if (/\.jp2$/i.test(f)) out.push(`${e.name}/${f}`);
    }
  }
  return out.sort();
}

/** The resolution a band file is delivered at: from its _NNm suffix or folder, else the band's own. */
function fileResolution(rel: string, fallback: number): number {
  const m = /_(\d+)m\.jp2$/i.exec(rel) ?? /^R(\d+)m\//i.exec(rel);
  return m ? Number(m[1]) : fallback;
}

/** Opens a Sentinel-2 .SAFE folder as a scene; `required` band ids override the default group check. */
export async function openSafe(input: string, ctx: ReaderContext, required?: readonly string[]): Promise<Scene> {
  const dir = (await productFolder(input)) ?? input;
  const files = await listSafe(dir);
  if (files.length === 0) throw new SceneError(dir, 'cannot list the .SAFE folder (missing or empty)');

  // Product metadata.
  const mtdName = files.find((f) => PRODUCT_MTD.test(f)) ?? files.find((f) => OLD_PRODUCT_MTD.test(f));
  let info: SafeProductInfo = { radioOffsets: new Map(), boaOffsets: new Map() };
  if (mtdName) {
    const mtdPath = join(dir, mtdName);
    let xml: string;
    try {
      xml = await readFile(mtdPath, 'utf8');
    } catch (e) {
      throw new SceneError(mtdPath, `cannot read product metadata: ${(e as Error).message}`, { cause: e });
    }
    if (!/<[\w.-]*:?[\w.-]+/.test(xml) || !xml.includes('Product_Info')) {
      throw new SceneError(mtdPath, 'not Sentinel-2 product metadata (no Product_Info element)');
    }
    info = parseProductMetadata(xml);
  }
  const folderName = basename(dir.replace(/[\\/]+$/, ''));
  const productName = /\.SAFE$/i.test(folderName)
    ? folderName.replace(/\.SAFE$/i, '')
    : (info.productUri?.replace(/\.SAFE$/i, '') ?? folderName);
  const fromName = nameMetadata(productName);

  // Which product: PRODUCT_TYPE, the MTD file name, then names; --satellite wins.
  const mtdLevel = mtdName ? PRODUCT_MTD.exec(mtdName)?.[1] ?? OLD_PRODUCT_MTD.exec(mtdName)?.[1] : undefined;
  const productTypes = [info.productType, mtdLevel ? `S2MSI${mtdLevel.toUpperCase()}` : undefined].filter((x): x is string => !!x);
  const names = [productName, ...(info.productUri ? [info.productUri] : []), folderName];
  const satellite: SatelliteSpec = detectSatellite(dir, ctx.registry, { names, productTypes, constellation: 'sentinel-2' }, ctx.satellite);

  // The granule.
  const granuleRoot = join(dir, 'GRANULE');
  const granules: string[] = [];
  for (const g of await listSafe(granuleRoot)) if (await isDir(join(granuleRoot, g, 'IMG_DATA'))) granules.push(g);
  if (granules.length === 0) throw new SceneError(granuleRoot, 'no granule with an IMG_DATA folder in this .SAFE product');
  if (granules.length > 1) {
    throw new SceneError(granuleRoot, `holds ${granules.length} granules (${granules.join(', ')}); sharpstream reads single-granule products`);
  }
  const granuleDir = join(granuleRoot, granules[0]);
  const imgData = join(granuleDir, 'IMG_DATA');
  let geocoding: TileGeocoding | null = null;
  const tlName = (await listSafe(granuleDir)).find((f) => /^(MTD_TL|S2[A-D]_OPER_MTD_L1C_TL_.*)\.xml$/i.test(f));
  if (tlName) {
    try {
      geocoding = parseTileGeocoding(await readFile(join(granuleDir, tlName), 'utf8'));
    } catch (e) {
      throw new SceneError(join(granuleDir, tlName), `cannot read granule metadata: ${(e as Error).message}`, { cause: e });
    }
  }

  const jp2s = await imageFiles(imgData);
  const assigned = assignBandFiles(satellite, jp2s);
  checkBands(imgData, satellite, new Set(assigned.keys()), required);

  // Metadata and per-band offsets (RADIO_ADD_OFFSET for L1C, BOA_ADD_OFFSET for L2A).
  const baseline = info.processingBaseline ?? fromName.baseline;
  const explicit = satellite.processingLevel.toUpperCase() === 'L2A' ? info.boaOffsets : info.radioOffsets;
  const platform = info.spacecraft ? info.spacecraft.trim().toLowerCase().replace(/\s+/g, '-') : fromName.platform;
  const extra: Record<string, string | number> = { granule: granules[0] };
  if (info.productType) extra.productType = info.productType;
  if (info.processingLevel) extra.processingLevel = info.processingLevel;
  if (info.quantification !== undefined) extra.quantificationValue = info.quantification;
  if (info.orbit !== undefined) extra.relativeOrbit = info.orbit;
  const tile = /_T(\d{2}[A-Z]{3})_/.exec(productName);
  if (tile) extra.mgrsTile = tile[1];
  const datetime = info.startTime ?? fromName.datetime;
  const metadata: SceneMetadata = {
    ...(datetime ? { datetime } : {}),
    ...(platform ? { platform } : {}),
    ...(baseline ? { processingBaseline: baseline } : {}),
    ...(info.cloudCover !== undefined ? { cloudCover: info.cloudCover } : {}),
    productId: productName,
    extra,
  };

  const entries = [...assigned];
  const opened = await Promise.allSettled(
    entries.map(([id, rel]) => {
      const spec = satellite.bands.find((b) => b.id === id)!;
      const g = geocoding?.byResolution.get(fileResolution(rel, spec.resolution));
      return openJp2Band(join(imgData, rel), g && geocoding ? { fallbackGrid: { transform: g.transform, crs: geocoding.crs } } : {});
    }),
  );
  const sources = opened.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof openJp2Band>>> => r.status === 'fulfilled').map((r) => r.value);
  const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.allSettled(sources.map((s) => s.close()));
    throw failed.reason;
  }
  const bands: SceneBand[] = entries.map(([id], i) => ({
    spec: satellite.bands.find((b) => b.id === id)!,
    source: (opened[i] as PromiseFulfilledResult<BandSource>).value,
    dnOffset: metadataDnOffset(satellite, baseline, explicit.get(id)),
  }));
  try {
    return assembleScene({ id: productName, uri: dir, satellite, bands, metadata });
  } catch (e) {
    await Promise.allSettled(bands.map((b) => b.source.close()));
    throw e;
  }
}

/** The reader for Sentinel-2 .SAFE folders (tried before the generic GeoTIFF folder reader). */
export const safeReader: SceneReader = {
  name: 'sentinel-2-safe',
  async accepts(input: string): Promise<boolean> {
    try {
      return (await productFolder(input)) !== null;
    } catch {
      return false;
    }
  },
  open(input: string, ctx: ReaderContext): Promise<Scene> {
    return openSafe(input, ctx);
  },
};

