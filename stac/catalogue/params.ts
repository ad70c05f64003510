/**
 * Item search parameters: the normalized form the catalogue searches with, and their parsing from a
 * GET query string or a POST JSON body (each malformed value is a 400 CatalogueError naming it).
 */
import { badRequest } from './errors.js';
import { parseDatetimeParam, type TimeInterval } from './datetime.js';
import { bbox2d, bboxError, geometryError, type Bbox2d, type Geometry } from './geometry.js';
import { parseCql2Text, type Cql2 } from './cql2.js';

/** Default and maximum page sizes. */
export const DEFAULT_LIMIT = 10;
export const MAX_LIMIT = 10_000;

/** One sort key. */
export interface SortBy {
  readonly field: string;
  readonly direction: 'asc' | 'desc';
}

/**
 * Fields extension: which fields to return. A non-empty include returns only those fields; without
 * include (undefined), exclude removes fields from the whole item; an empty include (or nothing at
 * all) starts from the default set (type, stac_version, id, geometry, bbox, links, assets, collection,
 * properties.datetime).
 */
export interface FieldsSpec {
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
}

/** Query extension: property -> operator -> value. */
export type QueryParam = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/** Normalized item search parameters. */
export interface SearchParams {
  readonly collections?: readonly string[];
  readonly ids?: readonly string[];
  readonly bbox?: Bbox2d;
  readonly intersects?: Geometry;
  readonly datetime?: TimeInterval;
  readonly limit?: number;
  readonly sortby?: readonly SortBy[];
  readonly fields?: FieldsSpec;
  readonly query?: QueryParam;
  /** A cql2-json expression (cql2-text is parsed into it). */
  readonly filter?: Cql2;
  /** Paging token from a `next` or `prev` link. */
  readonly token?: string;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown, name: string): string[] {
  const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) throw badRequest(`${name} must be a list of strings`);
  return list as string[];
}

/** Parses and checks a bbox given as "w,s,e,n" text or an array of numbers. */
export function parseBbox(v: unknown): Bbox2d {
  const nums = typeof v === 'string' ? v.split(',').map((s) => (s.trim() === '' ? NaN : Number(s))) : v;
  const e = bboxError(nums);
  if (e) throw badRequest(e);
  return bbox2d(nums as number[]);
}

/** Parses a limit: a positive integer, clamped to MAX_LIMIT as OGC API Features asks. */
export function parseLimit(v: unknown): number {
  const n = typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw badRequest(`limit must be a positive integer, got ${JSON.stringify(v)}`);
  return Math.min(n, MAX_LIMIT);
}

/** Parses sortby: "+a,-b" text or [{field, direction}]. */
export function parseSortby(v: unknown): SortBy[] {
  if (typeof v === 'string') {
    return stringList(v, 'sortby').map((s) => {
      const desc = s.startsWith('-');
      const field = s.replace(/^[+-]/, '').trim();
      if (!field) throw badRequest(`sortby: empty field in ${JSON.stringify(v)}`);
      return { field, direction: desc ? 'desc' : 'asc' };
    });
  }
  if (!Array.isArray(v)) throw badRequest('sortby must be a list of {field, direction}');
  return v.map((s: unknown) => {
    if (!isObj(s) || typeof s.field !== 'string' || s.field === '') throw badRequest('sortby entries need a "field"');
    const d = s.direction ?? 'asc';
    if (d !== 'asc' && d !== 'desc') throw badRequest(`sortby direction must be "asc" or "desc", got ${JSON.stringify(d)}`);
    return { field: s.field, direction: d };
  });
}

/**
 * Parses fields: "a,-b,+c" text or {include, exclude}. `include` stays undefined when none was given
 * (then an `exclude` applies to the whole item); an explicit null or [] include means the default set.
 */
export function parseFields(v: unknown): FieldsSpec {
  if (typeof v === 'string') {
    const include: string[] = [];
    const exclude: string[] = [];
    for (const f of stringList(v, 'fields')) {
      if (f.startsWith('-')) exclude.push(f.slice(1));
      else include.push(f.replace(/^\+/, ''));
    }
    return include.length ? { include, exclude } : { exclude };
  }
  if (!isObj(v)) throw badRequest('fields must be {include, exclude}');
  const out: { include?: string[]; exclude?: string[] } = {};
  if ('include' in v) out.include = v.include === null ? [] : stringList(v.include, 'fields.include');
  if (v.exclude !== undefined && v.exclude !== null) out.exclude = stringList(v.exclude, 'fields.exclude');
  return out;
}

function parseQuery(v: unknown): QueryParam {
  let q = v;
  if (typeof v === 'string') {
    try {
      q = JSON.parse(v);
    } catch {
      throw badRequest('query must be a JSON object');
    }
  }
  if (!isObj(q) || !Object.values(q).every(isObj)) throw badRequest('query must be an object of {property: {operator: value}}');
  return q as QueryParam;
}

function parseFilter(v: unknown, lang: unknown, textDefault: boolean): Cql2 {
  const l = lang ?? (typeof v === 'string' && textDefault ? 'cql2-text' : typeof v === 'string' ? 'cql2-text' : 'cql2-json');
  if (l !== 'cql2-text' && l !== 'cql2-json') throw badRequest(`filter-lang must be cql2-text or cql2-json, got ${JSON.stringify(l)}`);
  if (l === 'cql2-text') {
    if (typeof v !== 'string') throw badRequest('a cql2-text filter must be a string');
    return parseCql2Text(v);
  }
  if (typeof v === 'string') {
    try {
      return JSON.parse(v) as Cql2;
    } catch {
      throw badRequest('a cql2-json filter must be JSON');
    }
  }
  return v;
}

function checkCrs(v: unknown): void {
  if (v !== undefined && v !== 'http://www.opengis.net/def/crs/OGC/1.3/CRS84') throw badRequest(`filter-crs ${JSON.stringify(v)} is not supported (only CRS84)`);
}

function common(get: (k: string) => unknown, textDefault: boolean): SearchParams {
  const out: Record<string, unknown> = {};
  const v = (k: string) => get(k);
  if (v('collections') !== undefined) out.collections = stringList(v('collections'), 'collections');
  if (v('ids') !== undefined) out.ids = stringList(v('ids'), 'ids');
  if (v('bbox') !== undefined) out.bbox = parseBbox(v('bbox'));
  if (v('intersects') !== undefined) {
    let g = v('intersects');
    if (typeof g === 'string') {
      try {
        g = JSON.parse(g);
      } catch {
        throw badRequest('intersects must be a GeoJSON geometry');
      }
    }
    const e = geometryError(g, 'intersects');
    if (e) throw badRequest(e);
    out.intersects = g;
  }
  if (out.bbox && out.intersects) throw badRequest('bbox and intersects cannot be used together');
  if (v('datetime') !== undefined) {
    if (typeof v('datetime') !== 'string') throw badRequest('datetime must be a string');
    out.datetime = parseDatetimeParam(v('datetime') as string);
  }
  if (v('limit') !== undefined) out.limit = parseLimit(v('limit'));
  if (v('sortby') !== undefined) out.sortby = parseSortby(v('sortby'));
  if (v('fields') !== undefined) {
    if (v('fields') === null) throw badRequest('fields must be {include, exclude}, not null');
    out.fields = parseFields(v('fields'));
  }
  if (v('query') !== undefined) out.query = parseQuery(v('query'));
  checkCrs(v('filter-crs'));
  if (v('filter') !== undefined) out.filter = parseFilter(v('filter'), v('filter-lang'), textDefault);
  if (v('token') !== undefined) {
    if (typeof v('token') !== 'string') throw badRequest('token must be a string');
    out.token = v('token');
  }
  return out as SearchParams;
}

/** Search parameters from a GET query string (values as strings; repeated keys joined by commas). */
export function searchParamsFromQuery(query: Readonly<Record<string, unknown>>): SearchParams {
  return common((k) => {
    const v = query[k];
    if (Array.isArray(v)) return v.join(',');
    // An empty value is an absent one, except fields= (the default field set).
    if (v === '' && k !== 'filter' && k !== 'fields') return undefined;
    return v;
  }, true);
}

/** Search parameters from a POST JSON body. */
export function searchParamsFromBody(body: unknown): SearchParams {
  if (body === undefined || body === null) return {};
  if (!isObj(body)) throw badRequest('the search body must be a JSON object');
  return common((k) => (body[k] === null && k !== 'fields' ? undefined : body[k]), false);
}
