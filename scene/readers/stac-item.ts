/**
 * STAC items as scenes: a local `.json` file or an http(s) URL. The satellite definition comes from the
 * item's collection, constellation/platform and processing level; each band is the asset named by the
 * definition's `recognition.stacAssets`, read as a Cloud-Optimized GeoTIFF (HTTP range requests for
 * remote assets, through openGeoTiffBand). Relative asset hrefs resolve against the item's location.
 */
import { open as openFile, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { groupInputs, type BandSpec, type SatelliteSpec } from '../../satellites/spec.js';
import { assembleScene } from '../assemble.js';
import { checkBands } from '../bands.js';
import { detectSatellite } from '../detect.js';
import { metadataDnOffset } from '../radiometry.js';
import type { ReaderContext, SceneReader } from '../reader.js';
import { openGeoTiffBand } from '../sources/geotiff.js';
import { SceneError, type Scene, type SceneBand, type SceneMetadata } from '../types.js';
import { fetchChecked, UrlRefusedError, type UrlCheck } from '../url-policy.js';

/** A STAC item is small; refuse to read more than this as one. */
const MAX_ITEM_BYTES = 16 * 1024 * 1024;
/** How long a single metadata request (the item, an asset probe) may take. */
const REQUEST_TIMEOUT_MS = 60_000;

type Json = Record<string, unknown>;

const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A STAC item with the location it was read from (for resolving relative hrefs). */
export interface LoadedStacItem {
  readonly item: Json;
  /** An http(s) URL or an absolute file path. */
  readonly location: string;
}

async function readBounded(res: Response, limit: number, uri: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel().catch(() => undefined);
    throw new SceneError(uri, `is ${declared} bytes, too large for a STAC item (limit ${limit})`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  if (!res.body) return Buffer.alloc(0);
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new SceneError(uri, `is over ${limit} bytes, too large for a STAC item`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

/** Reads a STAC item (file or URL) and checks that it is one: a Feature with assets. */
export async function loadStacItem(input: string, headers: Readonly<Record<string, string>> = {}, checkUrl?: UrlCheck): Promise<LoadedStacItem> {
  let text: string;
  let location: string;
  if (isUrl(input)) {
    location = input;
    let res: Response;
    try {
      res = await fetchChecked(input, { headers: { Accept: 'application/geo+json, application/json', ...headers }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }, checkUrl);
    } catch (e) {
      if (e instanceof UrlRefusedError) throw e;
      throw new SceneError(input, `cannot fetch STAC item: ${(e as Error).message}`, { cause: e });
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new SceneError(input, `cannot fetch STAC item: HTTP ${res.status} ${res.statusText}`);
    }
    text = (await readBounded(res, MAX_ITEM_BYTES, input)).toString('utf8');
  } else {
    location = resolvePath(input);
    try {
      const st = await stat(input);
      if (!st.isFile()) throw new SceneError(input, 'is not a file');
      if (st.size > MAX_ITEM_BYTES) throw new SceneError(input, `is ${st.size} bytes, too large for a STAC item (limit ${MAX_ITEM_BYTES})`);
      text = await readFile(input, 'utf8');
    } catch (e) {
      if (e instanceof SceneError) throw e;
      throw new SceneError(input, `cannot read STAC item: ${(e as Error).message}`, { cause: e });
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SceneError(input, `is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (!isRecord(json)) throw new SceneError(input, 'is not a STAC item (the JSON is not an object)');
  // A FeatureCollection (ItemCollection) holding exactly one item is accepted as that item.
  if (json.type === 'FeatureCollection' && Array.isArray(json.features)) {
    if (json.features.length !== 1) {
      throw new SceneError(input, `is a STAC ItemCollection of ${json.features.length} items; open one item at a time`);
    }
    json = json.features[0];
    if (!isRecord(json)) throw new SceneError(input, 'is not a STAC item (its one feature is not an object)');
  }
  if (json.type !== 'Feature') throw new SceneError(input, `is not a STAC item (type is ${JSON.stringify(json.type ?? null)}, expected "Feature")`);
  if (!isRecord(json.properties)) throw new SceneError(input, 'is not a STAC item (no "properties" object)');
  if (!isRecord(json.assets) || Object.keys(json.assets).length === 0) throw new SceneError(input, 'STAC item has no assets, so there are no bands to read');
  return { item: json, location };
}

/** An asset href made absolute: an http(s) URL or a local path, resolved against the item's location. */
export function resolveAssetHref(href: string, location: string): string {
  if (isUrl(href)) return href;
  if (/^file:\/\//i.test(href)) return fileURLToPath(href);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(href)) {
    throw new SceneError(href, `asset URL scheme ${href.split(':')[0]}:// is not supported (sharpstream reads http(s) URLs and local files; use the item's https href)`);
  }
  if (isUrl(location)) return new URL(href, location).toString();
  return isAbsolute(href) ? href : resolvePath(dirname(location), href);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** Product-type words of an item: s2:product_type, processing:level (also as "Level-2A"), landsat:correction. */
function productTypes(p: Json): string[] {
  const out: string[] = [];
  for (const k of ['s2:product_type', 'landsat:correction', 'processing:level', 'sentinel:product_type']) {
    const v = str(p[k]);
    if (!v) continue;
    out.push(v);
    const lvl = /^L(\d[A-Z]?)$/i.exec(v);
    if (lvl) out.push(`Level-${lvl[1].toUpperCase()}`);
  }
  return out;
}

/** Picks the satellite definition of an item: --satellite, else collection, product type, platform and names. */
export function detectItemSatellite(uri: string, item: Json, ctx: Pick<ReaderContext, 'registry' | 'satellite'>): SatelliteSpec {
  if (ctx.satellite) return detectSatellite(uri, ctx.registry, {}, ctx.satellite);
  const p = item.properties as Json;
  const platform = str(p.platform)?.toLowerCase();
  let constellation = str(p.constellation)?.toLowerCase();
  if (!constellation && platform) {
    const owners = new Set(ctx.registry.list().filter((s) => s.platforms.some((x) => x.toLowerCase() === platform)).map((s) => s.constellation));
    if (owners.size === 1) constellation = [...owners][0];
  }
  // Only narrow by constellation when some definition actually belongs to it.
  if (constellation && !ctx.registry.list().some((s) => s.constellation === constellation)) constellation = undefined;
  const collection = str(item.collection);
  const types = productTypes(p);
  const names = [str(item.id), str(p['s2:product_uri']), str(p['landsat:product_id'])].filter((x): x is string => !!x);
  const evidence = { names, productTypes: types, ...(collection ? { stacCollection: collection } : {}), ...(constellation ? { constellation } : {}) };
  try {
    return detectSatellite(uri, ctx.registry, evidence);
  } catch (e) {
    // Last resort: processing:level equal to exactly one definition's level within the constellation.
    const level = str(p['processing:level'])?.toUpperCase();
    if (level && constellation) {
      const hits = ctx.registry.list().filter((s) => s.constellation === constellation && s.processingLevel.toUpperCase() === level);
      if (hits.length === 1) return hits[0];
    }
    throw e;
  }
}

/** The asset key of a band: the definition's stacAssets keys in order, then the band id itself (any case). */
export function assetKeyFor(spec: SatelliteSpec, band: BandSpec, assets: Json): string | null {
  const keys = [...(spec.recognition.stacAssets?.[band.id] ?? []), band.id];
  for (const k of keys) if (isRecord(assets[k])) return k;
  const lower = new Map(Object.keys(assets).map((k) => [k.toLowerCase(), k]));
  for (const k of keys) {
    const hit = lower.get(k.toLowerCase());
    if (hit && isRecord(assets[hit])) return hit;
  }
  return null;
}

/**
 * The DN offset an asset declares (raster:bands offset over scale, relative to the definition's offset),
 * or undefined when it declares none or declares a scale other than the definition's.
 */
export function declaredDnOffset(spec: SatelliteSpec, asset: Json): number | undefined {
  const rb = Array.isArray(asset['raster:bands']) ? (asset['raster:bands'] as unknown[])[0] : undefined;
  if (!isRecord(rb) || typeof rb.offset !== 'number' || !Number.isFinite(rb.offset)) return undefined;
  const scale = typeof rb.scale === 'number' && rb.scale !== 0 && Number.isFinite(rb.scale) ? rb.scale : spec.radiometry.scale;
  // A scale other than the definition's means other DN units: the declared offset cannot be carried over.
  if (Math.abs(scale / spec.radiometry.scale - 1) > 1e-6) return undefined;
  // Offsets are declared in physical units (reflectance = DN * scale + offset); as DN: (offset - base) / scale.
  const dn = (rb.offset - spec.radiometry.offset) / scale;
  return Math.abs(dn - Math.round(dn)) < 1e-6 ? Math.round(dn) : dn;
}

const TIFF_MAGIC = ['49492a00', '4d4d002a', '49492b00', '4d4d002b'];

/**
 * Checks that an asset can be read as a GeoTIFF before geotiff.js opens it: it exists, its first bytes
 * are a TIFF header, and a remote server honours HTTP Range (so no whole file is ever downloaded).
 */
export async function probeAsset(uri: string, key: string, headers: Readonly<Record<string, string>> = {}, checkUrl?: UrlCheck): Promise<void> {
  let head: Buffer;
  if (isUrl(uri)) {
    let res: Response;
    try {
      res = await fetchChecked(uri, { headers: { ...headers, Range: 'bytes=0-7' }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }, checkUrl);
    } catch (e) {
      if (e instanceof UrlRefusedError) throw e;
      throw new SceneError(uri, `asset "${key}" cannot be fetched: ${(e as Error).message}`, { cause: e });
    }
    if (res.status === 200) {
      await res.body?.cancel().catch(() => undefined);
      const size = res.headers.get('content-length');
      throw new SceneError(
        uri,
        `asset "${key}": the server ignores HTTP Range requests (answered 200 with the whole ${size ? `${size}-byte ` : ''}file to a request for 8 bytes); sharpstream reads remote COGs by range and will not download whole files`,
      );
    }
    if (res.status !== 206) {
      await res.body?.cancel().catch(() => undefined);
      throw new SceneError(uri, `asset "${key}" cannot be fetched: HTTP ${res.status} ${res.statusText}`);
    }
    head = await readBounded(res, 1024, uri);
  } else {
    let fh;
    try {
      fh = await openFile(uri, 'r');
      const buf = Buffer.alloc(8);
      const { bytesRead } = await fh.read(buf, 0, 8, 0);
      head = buf.subarray(0, bytesRead);
    } catch (e) {
      throw new SceneError(uri, `asset "${key}" cannot be read: ${(e as Error).message}`, { cause: e });
    } finally {
      await fh?.close();
    }
  }
  if (!TIFF_MAGIC.includes(head.subarray(0, 4).toString('hex'))) {
    const shown = head.subarray(0, 8).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
    throw new SceneError(uri, `asset "${key}" is not a TIFF (it starts with "${shown}"); sharpstream reads bands from (Cloud-Optimized) GeoTIFF assets`);
  }
}

/** Scene metadata from an item's properties. */
function itemMetadata(item: Json): SceneMetadata {
  const p = item.properties as Json;
  const baseline = str(p['s2:processing_baseline']) ?? str(p['sentinel:processing_baseline']) ?? str(p['processing:version']);
  const extra: Record<string, string | number> = {};
  if (str(item.collection)) extra.collection = item.collection as string;
  for (const k of ['s2:product_type', 'processing:level', 'landsat:correction', 'landsat:wrs_path', 'landsat:wrs_row', 's2:mgrs_tile', 'grid:code', 'view:sun_azimuth', 'view:sun_elevation']) {
    const v = p[k];
    if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) extra[k] = v;
  }
  return {
    ...(str(p.datetime) ? { datetime: p.datetime as string } : {}),
    ...(str(p.platform) ? { platform: p.platform as string } : {}),
    ...(baseline ? { processingBaseline: baseline } : {}),
    ...(typeof p['eo:cloud_cover'] === 'number' ? { cloudCover: p['eo:cloud_cover'] as number } : {}),
    ...(str(item.id) ? { productId: item.id as string } : {}),
    stacItem: item,
    extra,
  };
}

/** Opens a STAC item (local file or URL) as a scene, reading its band assets as COGs. */
export async function openStacItem(input: string, ctx: ReaderContext): Promise<Scene> {
  const headers = ctx.headers ?? {};
  const { item, location } = await loadStacItem(input, headers, ctx.checkUrl);
  const satellite = detectItemSatellite(input, item, ctx);
  const assets = item.assets as Json;
  const props = item.properties as Json;

  const chosen = new Map<string, { key: string; asset: Json }>();
  for (const band of satellite.bands) {
    const key = assetKeyFor(satellite, band, assets);
    if (key) chosen.set(band.id, { key, asset: assets[key] as Json });
  }
  const pan = satellite.bands.find((b) => b.commonName === 'pan');
  if (pan && !chosen.has(pan.id) && satellite.groups.length > 0 && satellite.groups.every((g) => groupInputs(satellite, g).includes(pan.id))) {
    const level = str(props['processing:level']) ?? str(props['landsat:correction']) ?? satellite.processingLevel;
    throw new SceneError(
      input,
      `this ${satellite.title} item (${level}) has no panchromatic asset for band ${pan.id}, which guides the sharpening${/2/.test(level) ? ': Level-2 products carry no pan band' : ''}; add a "${(satellite.recognition.stacAssets?.[pan.id] ?? [pan.id])[0]}" asset pointing at the matching Level-1 ${pan.id} COG`,
    );
  }
  checkBands(input, satellite, new Set(chosen.keys()));

  const metadata = itemMetadata(item);
  const baseline = metadata.processingBaseline;
  const resolved = [...chosen].map(([id, { key, asset }]) => {
    const href = str(asset.href);
    if (!href) throw new SceneError(input, `asset "${key}" (band ${id}) has no href`);
    let uri: string;
    try {
      uri = resolveAssetHref(href, location);
    } catch (e) {
      if (e instanceof SceneError) throw new SceneError(input, `asset "${key}" (band ${id}): ${e.message}`, { cause: e });
      throw e;
    }
    // A remote item never points at the reader's own files.
    if (isUrl(location) && !isUrl(uri)) throw new SceneError(input, `asset "${key}" (band ${id}) of a remote item points at a local file (${href}); only http(s) assets are read`);
    return { id, key, asset, uri };
  });
  if (ctx.checkUrl) {
    const check = ctx.checkUrl;
    await Promise.all(resolved.filter((r) => isUrl(r.uri)).map((r) => check(r.uri)));
  }
  // The probe follows redirects hop by hop under the same check.
  await Promise.all(resolved.map((r) => probeAsset(r.uri, r.key, headers, ctx.checkUrl)));

  const opened = await Promise.allSettled(resolved.map((r) => openGeoTiffBand(r.uri, { headers })));
  const bands: SceneBand[] = [];
  const failures: unknown[] = [];
  const extra: Record<string, string | number> = { ...(metadata.extra ?? {}) };
  opened.forEach((o, i) => {
    const r = resolved[i];
    if (o.status === 'rejected') {
      failures.push(o.reason);
      return;
    }
    const spec = satellite.bands.find((b) => b.id === r.id)!;
    bands.push({ spec, source: o.value, dnOffset: metadataDnOffset(satellite, baseline, declaredDnOffset(satellite, r.asset)) });
    // Keep what the asset declares, for provenance.
    const rb = Array.isArray(r.asset['raster:bands']) ? (r.asset['raster:bands'] as unknown[])[0] : undefined;
    if (isRecord(rb)) {
      if (typeof rb.scale === 'number') extra[`raster:scale_${r.id}`] = rb.scale;
      if (typeof rb.offset === 'number') extra[`raster:offset_${r.id}`] = rb.offset;
    }
  });
  try {
    if (failures.length) {
      const e = failures[0];
      throw e instanceof SceneError ? e : new SceneError(input, `cannot open asset: ${(e as Error).message}`, { cause: e });
    }
    const id = str(item.id) ?? input.replace(/^.*[\\/]/, '').replace(/\.json$/i, '');
    return assembleScene({ id, uri: input, satellite, bands, metadata: { ...metadata, extra } });
  } catch (e) {
    await Promise.allSettled(bands.map((b) => b.source.close()));
    throw e;
  }
}

/** The reader for STAC items: `.json` files and http(s) URLs (tried before every other reader). */
export const stacItemReader: SceneReader = {
  name: 'stac-item',
  async accepts(input: string): Promise<boolean> {
    if (isUrl(input)) {
      try {
        return !/\.(tiff?|jp2|zip|tar|tgz|tar\.gz)$/i.test(new URL(input).pathname);
      } catch {
        return false;
      }
    }
    if (!/\.json$/i.test(input)) return false;
    try {
      return (await stat(input)).isFile();
    } catch {
      return false;
    }
  },
  open(input: string, ctx: ReaderContext): Promise<Scene> {
    return openStacItem(input, ctx);
  },
};
