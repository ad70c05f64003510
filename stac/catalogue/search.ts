/**
 * Item search over the SQLite catalogue: filters (collections, ids, bbox and intersects through the
 * R*Tree then an exact test, datetime intervals, query, CQL2), sorting, and keyset paging on
 * (sort keys, collection, id) with opaque tokens, so pages stay stable while items arrive. Every value
 * from the client is a bound parameter.
 */
import { createHash } from 'node:crypto';
import type { StacItem } from '../item.js';
import type { Database } from './database.js';
import { badRequest } from './errors.js';
import { cql2ToSql, type Cql2, type PropertyColumn, type PropertyResolver } from './cql2.js';
import { bboxGeometry, type Bbox2d, type Geometry, geometryBbox } from './geometry.js';
import { DEFAULT_LIMIT, type FieldsSpec, type QueryParam, type SearchParams, type SortBy } from './params.js';

/** A page of search results (full items; links and fields are the server's business). */
export interface SearchPage {
  readonly items: StacItem[];
  /** Token of the next page, or null on the last one. */
  readonly next: string | null;
  /** Token of the previous page, or null on the first one. */
  readonly prev: string | null;
}

/** Properties every item has, mapped to indexed columns. */
const CORE_COLUMNS: Record<string, PropertyColumn> = {
  id: { sql: 'items.id', params: [], kind: 'value' },
  collection: { sql: 'items.collection', params: [], kind: 'value' },
  datetime: { sql: 'items.dt', params: [], kind: 'time' },
  start_datetime: { sql: 'items.start_dt', params: [], kind: 'time' },
  end_datetime: { sql: 'items.end_dt', params: [], kind: 'time' },
  geometry: { sql: 'items.geom', params: [], kind: 'geometry' },
};

const NAME_RE = /^[A-Za-z0-9_:.\-]{1,128}$/;

/** The JSON path of an item property (the name is whitelisted, and bound as a parameter anyway). */
export function propertyPath(name: string): string {
  return `$.properties."${name}"`;
}

/** The JSON type of a known (queryable) property, or null for an unknown one. */
export type PropertyType = (name: string) => string | null;

/** A resolver of property names against the known (queryable) ones; unknown names are a 400. */
export function propertyResolver(typeOf: PropertyType): PropertyResolver {
  return (raw: string) => {
    const name = raw.startsWith('properties.') ? raw.slice('properties.'.length) : raw;
    const core = CORE_COLUMNS[name];
    if (core) return core;
    const type = NAME_RE.test(name) ? typeOf(name) : null;
    if (type === null) throw badRequest(`unknown property ${JSON.stringify(raw)} (see /queryables)`);
    return { sql: 'json_extract(items.content, ?)', params: [propertyPath(name)], kind: 'value', numeric: type === 'number' || type === 'integer' };
  };
}

/** The cql2-json form of a Query extension object (eq, neq, lt, lte, gt, gte, in, startsWith, endsWith, contains). */
export function queryToCql2(query: QueryParam): Cql2 {
  const ops: Cql2[] = [];
  const esc = (s: unknown) => {
    if (typeof s !== 'string') throw badRequest('query: startsWith/endsWith/contains need a string');
    return s.replace(/[\\%_]/g, (c) => `\\${c}`);
  };
  for (const [prop, conds] of Object.entries(query)) {
    const p = { property: prop };
    for (const [op, v] of Object.entries(conds)) {
      const cmp: Record<string, string> = { eq: '=', neq: '<>', lt: '<', lte: '<=', gt: '>', gte: '>=' };
      if (cmp[op]) ops.push({ op: cmp[op], args: [p, v] });
      else if (op === 'in') {
        if (!Array.isArray(v) || v.length === 0) throw badRequest(`query: "in" on ${prop} needs a non-empty array`);
        ops.push({ op: 'in', args: [p, v] });
      } else if (op === 'startsWith') ops.push({ op: 'like', args: [p, `${esc(v)}%`] });
      else if (op === 'endsWith') ops.push({ op: 'like', args: [p, `%${esc(v)}`] });
      else if (op === 'contains') ops.push({ op: 'like', args: [p, `%${esc(v)}%`] });
      else throw badRequest(`query: unknown operator "${op}" on ${prop} (eq, neq, lt, lte, gt, gte, in, startsWith, endsWith, contains)`);
    }
  }
  return { op: 'and', args: ops.length ? ops : [true] };
}

// ---------------------------------------------------------------- paging tokens

/** Decoded paging token: direction, signature of the sort it belongs to, key values of the boundary row. */
export interface PageToken {
  readonly dir: 'next' | 'prev';
  readonly sort: string;
  readonly keys: readonly (string | number | null)[];
}

/** Encodes a paging token (base64url JSON). */
export function encodeToken(t: PageToken): string {
  return Buffer.from(JSON.stringify({ d: t.dir === 'next' ? 'n' : 'p', s: t.sort, k: t.keys })).toString('base64url');
}

/** Decodes a paging token; a 400 CatalogueError when it is not one of ours. */
export function decodeToken(text: string): PageToken {
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) throw new Error('bad alphabet');
    const v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as { d?: unknown; s?: unknown; k?: unknown };
    if ((v.d !== 'n' && v.d !== 'p') || typeof v.s !== 'string' || !Array.isArray(v.k)) throw new Error('bad shape');
    if (!v.k.every((x) => x === null || typeof x === 'string' || typeof x === 'number')) throw new Error('bad keys');
    return { dir: v.d === 'n' ? 'next' : 'prev', sort: v.s, keys: v.k as (string | number | null)[] };
  } catch {
    throw badRequest(`token ${JSON.stringify(text.slice(0, 40))} is not a paging token of this API`);
  }
}

/** Short signature of a sort order, stored in tokens so a token is only used with its own sort. */
export function sortSignature(sort: readonly SortBy[]): string {
  return createHash('sha1').update(JSON.stringify(sort)).digest('base64url').slice(0, 10);
}

/** The effective sort: the requested keys (default datetime descending), then collection and id as tie-breakers. */
export function effectiveSort(sortby: readonly SortBy[] | undefined): SortBy[] {
  const base: readonly SortBy[] = sortby && sortby.length ? sortby : [{ field: 'datetime', direction: 'desc' }];
  const s: SortBy[] = base.map((x) => ({
    field: x.field.replace(/^properties\./, ''),
    direction: x.direction,
  }));
  const has = (f: string) => s.some((x) => x.field === f);
  if (!has('id') || !has('collection')) {
    if (!has('collection')) s.push({ field: 'collection', direction: 'asc' });
    if (!has('id')) s.push({ field: 'id', direction: 'asc' });
  }
  return s;
}

/** SQL predicate "row comes strictly after the boundary keys" in the given order (NULLs first ascending, last descending, as SQLite sorts). */
export function keysetPredicate(cols: readonly PropertyColumn[], dirs: readonly ('asc' | 'desc')[], keys: readonly unknown[]): { sql: string; params: unknown[] } {
  const ors: string[] = [];
  const params: unknown[] = [];
  for (let i = 0; i < cols.length; i++) {
    const parts: string[] = [];
    const ps: unknown[] = [];
    for (let j = 0; j < i; j++) {
      parts.push(`${cols[j].sql} IS ?`);
      ps.push(...cols[j].params, keys[j]);
    }
    const k = keys[i];
    const c = cols[i];
    if (dirs[i] === 'asc') {
      if (k === null) parts.push(`${c.sql} IS NOT NULL`), ps.push(...c.params);
      else parts.push(`${c.sql} > ?`), ps.push(...c.params, k);
    } else if (k === null) {
      continue; // nothing comes after NULL when descending
    } else {
      parts.push(`(${c.sql} < ? OR ${c.sql} IS NULL)`);
      ps.push(...c.params, k, ...c.params);
    }
    ors.push(`(${parts.join(' AND ')})`);
    params.push(...ps);
  }
  return { sql: ors.length ? `(${ors.join(' OR ')})` : '0', params };
}

// ---------------------------------------------------------------- search

/** What search needs from the catalogue besides the database. */
export interface SearchContext {
  readonly db: Database;
  /** Prepares (or reuses) a statement. */
  readonly prepare?: (sql: string) => { all(...params: unknown[]): unknown[] };
  /** The JSON type of a property known (queryable) in the searched collections, or null. */
  readonly typeOf: PropertyType;
  /** Upper bound of max(dt - start_dt, end_dt - dt) over the items, in ms (0 when all are instants). */
  readonly maxSpread: number;
  /** Smallest and largest dt of the catalogue (null when empty), to weigh a time window against a box. */
  readonly timeSpan: readonly [number, number] | null;
}

/** Runs an item search and returns one page. */
export function searchItems(ctx: SearchContext, params: SearchParams): SearchPage {
  const resolve = propertyResolver(ctx.typeOf);
  const where: string[] = [];
  const wp: unknown[] = [];
  const add = (sql: string, ps: readonly unknown[] = []) => {
    where.push(sql);
    wp.push(...ps);
  };
  if (params.collections) {
    if (params.collections.length === 0) return { items: [], next: null, prev: null };
    add(`items.collection IN (${params.collections.map(() => '?').join(', ')})`, params.collections);
  }
  if (params.ids) {
    if (params.ids.length === 0) return { items: [], next: null, prev: null };
    add(`items.id IN (${params.ids.map(() => '?').join(', ')})`, params.ids);
  }
  if (params.datetime) {
    const { start, end } = params.datetime;
    if (end !== null) add('items.start_dt <= ?', [end]);
    if (start !== null) add('items.end_dt >= ?', [start]);
    // The same condition as a range of the indexed sort instant: an item overlapping [start, end] has
    // its dt within maxSpread of it (maxSpread: the largest distance from an item's dt to the ends of
    // its interval; 0 while every item is an instant), so the (collection, dt) index serves it.
    if (end !== null) add('items.dt <= ?', [end + ctx.maxSpread]);
    if (start !== null) add('items.dt >= ?', [start - ctx.maxSpread]);
  }
  let fromRtree = false;
  const spatial: Geometry | null = params.intersects ?? (params.bbox ? bboxGeometry(params.bbox) : null);
  if (spatial) {
    const boxes: Bbox2d[] = [];
    if (params.bbox && params.bbox[0] > params.bbox[2]) boxes.push([params.bbox[0], params.bbox[1], 180, params.bbox[3]], [-180, params.bbox[1], params.bbox[2], params.bbox[3]]);
    else boxes.push(params.bbox ?? geometryBbox(spatial));
    const coords = boxes.flatMap((b) => [b[0], b[2], b[1], b[3]]);
    // Which index drives: the R*Tree when the box is the more selective filter (its share of the
    // globe below the time window's share of the catalogue's time span), else the (collection, dt) index.
    const boxShare = boxes.reduce((a, b) => a + ((b[2] - b[0]) / 360) * ((b[3] - b[1]) / 180), 0);
    let timeShare = 1;
    if (params.datetime && ctx.timeSpan) {
      const lo = Math.max(ctx.timeSpan[0], (params.datetime.start ?? -Infinity) - ctx.maxSpread);
      const hi = Math.min(ctx.timeSpan[1], (params.datetime.end ?? Infinity) + ctx.maxSpread);
      timeShare = Math.max(0, hi - lo + 1) / Math.max(1, ctx.timeSpan[1] - ctx.timeSpan[0] + 1);
    }
    if (boxes.length === 1 && boxShare <= timeShare) {
      // CROSS JOIN keeps the R*Tree the outer loop: only items whose boxes meet the query box are read.
      fromRtree = true;
      add('(b.maxx >= ? AND b.minx <= ? AND b.maxy >= ? AND b.miny <= ?)', coords);
    } else {
      add(boxes.map(() => '(items.maxx >= ? AND items.minx <= ? AND items.maxy >= ? AND items.miny <= ?)').join(' OR '), coords);
    }
    // The exact test; an item whose box lies inside a query box meets it without one.
    const inside = params.bbox ? boxes.map(() => '(items.minx >= ? AND items.maxx <= ? AND items.miny >= ? AND items.maxy <= ?)') : [];
    add(`(${[...inside, 'stac_intersects(items.geom, ?) = 1'].join(' OR ')})`, [...(params.bbox ? coords : []), JSON.stringify(spatial)]);
  }
  if (params.query) {
    const f = cql2ToSql(queryToCql2(params.query), resolve);
    add(f.sql, f.params);
  }
  if (params.filter !== undefined) {
    const f = cql2ToSql(params.filter, resolve);
    add(f.sql, f.params);
  }

  const sort = effectiveSort(params.sortby);
  const cols = sort.map((s) => {
    const c = resolve(s.field);
    if (c.kind === 'geometry') throw badRequest(`sortby: cannot sort by ${s.field}`);
    return c;
  });
  const sig = sortSignature(sort);
  const limit = params.limit ?? DEFAULT_LIMIT;
  let dir: 'next' | 'prev' = 'next';
  const token = params.token ? decodeToken(params.token) : null;
  if (token) {
    if (token.sort !== sig || token.keys.length !== sort.length) throw badRequest('token belongs to a search with a different sortby');
    dir = token.dir;
  }
  // A prev page walks the order backwards from the token's row, then is reversed.
  const dirs = sort.map((s) => (dir === 'next' ? s.direction : s.direction === 'asc' ? 'desc' : 'asc'));
  if (token) {
    const k = keysetPredicate(cols, dirs, token.keys);
    add(k.sql, k.params);
  }
  const selectKeys = cols.map((c, i) => `${c.sql} AS k${i}`).join(', ');
  const orderBy = cols.map((c, i) => `${c.sql} ${dirs[i].toUpperCase()}`).join(', ');
  const from = fromRtree ? 'items_bbox AS b CROSS JOIN items ON items.rid = b.rid' : 'items';
  // The page's rows are chosen and sorted without their JSON (small rows), which is read afterwards.
  const sql = `SELECT items.rid AS rid, ${selectKeys} FROM ${from}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${orderBy} LIMIT ?`;
  const sp = [...cols.flatMap((c) => c.params), ...wp, ...cols.flatMap((c) => c.params), limit + 1];
  let rows: Record<string, unknown>[];
  try {
    rows = (ctx.prepare ?? ((q: string) => ctx.db.prepare(q)))(sql).all(...sp) as Record<string, unknown>[];
  } catch (e) {
    throw badRequest(`search failed: ${(e as Error).message}`);
  }
  const more = rows.length > limit;
  if (more) rows = rows.slice(0, limit);
  if (dir === 'prev') rows.reverse();
  const keysOf = (r: Record<string, unknown>) => cols.map((_, i) => r[`k${i}`] as string | number | null);
  const first = rows[0];
  const last = rows[rows.length - 1];
  const next = last && (dir === 'next' ? more : true) ? encodeToken({ dir: 'next', sort: sig, keys: keysOf(last) }) : null;
  const prev = first && (dir === 'next' ? token !== null : more) ? encodeToken({ dir: 'prev', sort: sig, keys: keysOf(first) }) : null;
  const contents = new Map<number, string>();
  if (rows.length) {
    const got = (ctx.prepare ?? ((q: string) => ctx.db.prepare(q)))(`SELECT rid, content FROM items WHERE rid IN (${rows.map(() => '?').join(', ')})`).all(...rows.map((r) => r.rid)) as { rid: number; content: string }[];
    for (const g of got) contents.set(g.rid, g.content);
  }
  return { items: rows.map((r) => JSON.parse(contents.get(r.rid as number) as string) as StacItem), next, prev };
}

// ---------------------------------------------------------------- fields

/** Fields returned with any include list (unless excluded): what identifies an item and links it. */
const ALWAYS_FIELDS = ['type', 'stac_version', 'id', 'links'];

/** The STAC API default field set (fields given, but nothing to include). */
const DEFAULT_FIELDS = ['type', 'stac_version', 'id', 'bbox', 'geometry', 'links', 'assets', 'collection', 'properties.datetime', 'properties.start_datetime', 'properties.end_datetime'];

function getPath(o: Record<string, unknown>, path: string[]): unknown {
  let cur: unknown = o;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function setPath(o: Record<string, unknown>, path: string[], v: unknown): void {
  let cur = o;
  for (const p of path.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = v;
}

function deletePath(o: Record<string, unknown>, path: string[]): void {
  const parent = getPath(o, path.slice(0, -1));
  if (typeof parent === 'object' && parent !== null) delete (parent as Record<string, unknown>)[path[path.length - 1]];
}

/**
 * Applies the Fields extension to an item (see FieldsSpec). An include list returns those fields plus
 * type, stac_version, id and links (unless excluded); a field both included and excluded is included.
 */
export function applyFields(item: Record<string, unknown>, fields: FieldsSpec | undefined): Record<string, unknown> {
  if (!fields) return item;
  const include = fields.include ?? [];
  const exclude = fields.exclude ?? [];
  const pick = (paths: readonly string[]) => {
    const out: Record<string, unknown> = {};
    for (const f of paths) {
      const path = f.split('.');
      const v = getPath(item, path);
      if (v !== undefined) setPath(out, path, structuredClone(v));
    }
    return out;
  };
  const out = include.length ? pick([...ALWAYS_FIELDS, ...include]) : fields.include === undefined && exclude.length ? structuredClone(item) : pick(DEFAULT_FIELDS);
  for (const e of exclude) {
    // An included field, or one inside an excluded object, stays.
    if (include.some((i) => i === e || i.startsWith(`${e}.`))) continue;
    deletePath(out, e.split('.'));
  }
  return out;
}

/** True when a name is a syntactically acceptable property name. */
export function isPropertyName(name: string): boolean {
  return NAME_RE.test(name);
}

