/**
 * Write-time validation of STAC items and collections: the required fields, geometry and bbox sanity
 * (longitudes within ±180, latitudes within ±90), RFC 3339 datetimes with calendar checks, and the
 * indexed values (collection, id, time interval, footprint box) derived from a valid item.
 */
import { badRequest } from './errors.js';
import { parseRfc3339 } from './datetime.js';
import { bbox2d, bboxError, geometryBbox, geometryError, type Bbox2d, type Geometry } from './geometry.js';

/** A STAC document as plain JSON. */
export type StacDocument = Record<string, unknown>;

/** Values indexed for a stored item. */
export interface ItemIndex {
  readonly collection: string;
  readonly id: string;
  /** Sort instant (datetime, else start_datetime), epoch ms. */
  readonly dt: number;
  readonly start: number;
  readonly end: number;
  /** Footprint box, or null without geometry and bbox. */
  readonly bbox: Bbox2d | null;
}

const ID_RE = /^[^\s/?#]{1,256}$/;

/** What is wrong with an item or collection id (non-empty, at most 256 characters, no whitespace, `/`, `?` or `#`), or null. */
export function idError(id: unknown, what: string): string | null {
  if (typeof id !== 'string' || id === '') return `${what} must be a non-empty string`;
  if (!ID_RE.test(id)) return `${what} ${JSON.stringify(id.slice(0, 80))} must be at most 256 characters without whitespace, "/", "?" or "#"`;
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function linksError(links: unknown, where: string): string | null {
  if (links === undefined) return null;
  if (!Array.isArray(links)) return `${where}.links must be an array`;
  for (let i = 0; i < links.length; i++) {
    const l = links[i] as unknown;
    if (!isObject(l) || typeof l.href !== 'string' || typeof l.rel !== 'string') return `${where}.links[${i}] needs string "href" and "rel"`;
  }
  return null;
}

function instant(v: unknown, what: string): number {
  if (typeof v !== 'string') throw badRequest(`${what} must be an RFC 3339 string`);
  const r = parseRfc3339(v);
  if (typeof r === 'string') throw badRequest(`${what}: ${r}`);
  return r;
}

/** Validates an item (throws a 400 CatalogueError naming the problem) and returns its indexed values. */
export function validateItem(item: unknown, collectionId?: string): ItemIndex {
  if (!isObject(item)) throw badRequest('item must be a JSON object');
  const where = typeof item.id === 'string' ? `item ${JSON.stringify(item.id.slice(0, 80))}` : 'item';
  if (item.type !== 'Feature') throw badRequest(`${where}: "type" must be "Feature"`);
  if (typeof item.stac_version !== 'string' || !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(item.stac_version)) throw badRequest(`${where}: "stac_version" must be a version string such as "1.1.0"`);
  const idErr = idError(item.id, `${where}: "id"`);
  if (idErr) throw badRequest(idErr);
  if (item.stac_extensions !== undefined && (!Array.isArray(item.stac_extensions) || !item.stac_extensions.every((e) => typeof e === 'string'))) {
    throw badRequest(`${where}: "stac_extensions" must be an array of strings`);
  }
  const collection = collectionId ?? item.collection;
  if (item.collection !== undefined && typeof item.collection !== 'string') throw badRequest(`${where}: "collection" must be a string`);
  if (collectionId !== undefined && item.collection !== undefined && item.collection !== collectionId) {
    throw badRequest(`${where}: "collection" is ${JSON.stringify(item.collection)}, but it is written to collection ${JSON.stringify(collectionId)}`);
  }
  if (typeof collection !== 'string' || collection === '') throw badRequest(`${where}: "collection" is required`);
  if (!('geometry' in item)) throw badRequest(`${where}: "geometry" is required (null when unknown)`);
  let bbox: Bbox2d | null = null;
  if (item.geometry !== null) {
    const e = geometryError(item.geometry, `${where}: geometry`);
    if (e) throw badRequest(e);
    if (item.bbox === undefined) throw badRequest(`${where}: "bbox" is required when "geometry" is not null`);
  }
  if (item.bbox !== undefined) {
    const e = bboxError(item.bbox, `${where}: bbox`);
    if (e) throw badRequest(e);
    bbox = bbox2d(item.bbox as number[]);
  }
  if (bbox && item.geometry !== null && bbox[0] <= bbox[2]) {
    // The footprint must lie within its bbox (a small tolerance for rounding).
    const g = geometryBbox(item.geometry as Geometry);
    const tol = 1e-6;
    if (g[0] < bbox[0] - tol || g[1] < bbox[1] - tol || g[2] > bbox[2] + tol || g[3] > bbox[3] + tol) {
      throw badRequest(`${where}: geometry extends beyond bbox [${bbox.join(', ')}]`);
    }
  }
  if (!isObject(item.properties)) throw badRequest(`${where}: "properties" must be an object`);
  const p = item.properties;
  if (!('datetime' in p)) throw badRequest(`${where}: properties.datetime is required (null with start_datetime and end_datetime)`);
  const start = p.start_datetime !== undefined ? instant(p.start_datetime, `${where}: properties.start_datetime`) : null;
  const end = p.end_datetime !== undefined ? instant(p.end_datetime, `${where}: properties.end_datetime`) : null;
  if (start !== null && end !== null && start > end) throw badRequest(`${where}: properties.start_datetime is after end_datetime`);
  let dt: number;
  if (p.datetime === null) {
    if (start === null || end === null) throw badRequest(`${where}: properties.start_datetime and end_datetime are required when datetime is null`);
    dt = start;
  } else {
    dt = instant(p.datetime, `${where}: properties.datetime`);
  }
  for (const k of ['created', 'updated']) if (p[k] !== undefined) instant(p[k], `${where}: properties.${k}`);
  const le = linksError(item.links, where);
  if (le) throw badRequest(le);
  if (!isObject(item.assets)) throw badRequest(`${where}: "assets" must be an object`);
  for (const [k, a] of Object.entries(item.assets)) {
    if (!isObject(a) || typeof a.href !== 'string') throw badRequest(`${where}: asset ${JSON.stringify(k)} needs a string "href"`);
  }
  return { collection, id: item.id as string, dt, start: start ?? dt, end: end ?? dt, bbox };
}

/** Validates a collection (throws a 400 CatalogueError naming the problem). */
export function validateCollection(c: unknown): void {
  if (!isObject(c)) throw badRequest('collection must be a JSON object');
  const idErr = idError(c.id, 'collection "id"');
  if (idErr) throw badRequest(idErr);
  const where = `collection ${JSON.stringify(c.id)}`;
  if (c.type !== 'Collection') throw badRequest(`${where}: "type" must be "Collection"`);
  if (typeof c.stac_version !== 'string') throw badRequest(`${where}: "stac_version" is required`);
  if (typeof c.description !== 'string') throw badRequest(`${where}: "description" must be a string`);
  if (typeof c.license !== 'string') throw badRequest(`${where}: "license" must be a string`);
  const le = linksError(c.links, where);
  if (le) throw badRequest(le);
  if (c.links === undefined) throw badRequest(`${where}: "links" is required`);
  const ext = c.extent;
  if (!isObject(ext) || !isObject(ext.spatial) || !isObject(ext.temporal)) throw badRequest(`${where}: "extent" needs "spatial" and "temporal"`);
  const sb = ext.spatial.bbox;
  if (!Array.isArray(sb) || sb.length === 0) throw badRequest(`${where}: extent.spatial.bbox must be a non-empty array of bboxes`);
  sb.forEach((b, i) => {
    const e = bboxError(b, `${where}: extent.spatial.bbox[${i}]`);
    if (e) throw badRequest(e);
  });
  const ti = ext.temporal.interval;
  if (!Array.isArray(ti) || ti.length === 0) throw badRequest(`${where}: extent.temporal.interval must be a non-empty array of intervals`);
  ti.forEach((iv, i) => {
    if (!Array.isArray(iv) || iv.length !== 2) throw badRequest(`${where}: extent.temporal.interval[${i}] must be [start, end]`);
    const [a, b] = iv.map((v, j) => (v === null ? null : instant(v, `${where}: extent.temporal.interval[${i}][${j}]`)));
    if (a !== null && b !== null && a > b) throw badRequest(`${where}: extent.temporal.interval[${i}] ends before it starts`);
  });
}
