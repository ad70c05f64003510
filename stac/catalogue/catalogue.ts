/**
 * The embedded STAC catalogue: collections and items in one SQLite file (better-sqlite3, synchronous).
 * Writes are validated and transactional (no half-written rows); search is `search.ts`.
 */
import type { StacItem } from '../item.js';
import { openDatabase, type Database } from './database.js';

type BetterStatement = ReturnType<Database['prepare']>;
import { CatalogueError, badRequest } from './errors.js';
import { geometriesIntersect, type Geometry } from './geometry.js';
import { searchItems, isPropertyName, type SearchPage } from './search.js';
import type { SearchParams } from './params.js';
import { validateCollection, validateItem, type StacDocument } from './validate.js';

export { CatalogueError } from './errors.js';
export type { SearchParams } from './params.js';
export type { SearchPage } from './search.js';

/** A STAC collection document as stored. */
export type CatalogueCollection = Record<string, unknown> & { id: string; type: 'Collection' };

/** JSON-schema type names of queryable properties. */
export type QueryableType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array';

function jsonType(v: unknown): QueryableType | null {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object' && v !== null) return 'object';
  return null;
}

/** Properties indexed in columns; not recorded in the queryables table. */
const CORE = new Set(['datetime', 'start_datetime', 'end_datetime']);

/** SQLite function: does a GeoJSON geometry (text) intersect another (text)? Parsed query geometries are cached. */
function registerFunctions(db: Database): void {
  const cache = new Map<string, Geometry>();
  const parse = (s: string): Geometry => {
    let g = cache.get(s);
    if (!g) {
      g = JSON.parse(s) as Geometry;
      if (cache.size > 64) cache.clear();
      cache.set(s, g);
    }
    return g;
  };
  db.function('stac_intersects', { deterministic: true }, (a: unknown, b: unknown) => {
    if (typeof a !== 'string' || typeof b !== 'string') return 0;
    try {
      return geometriesIntersect(JSON.parse(a) as Geometry, parse(b)) ? 1 : 0;
    } catch {
      return 0;
    }
  });
}

/** The embedded STAC catalogue on SQLite. */
export class Catalogue {
  readonly db: Database;
  private readonly queryableCache = new Set<string>();
  private readonly statementCache = new Map<string, BetterStatement>();
  /** Prepares SQL once per distinct text (search SQL repeats with other bound values). */
  private readonly prepareCached = (sql: string): BetterStatement => {
    let st = this.statementCache.get(sql);
    if (!st) {
      if (this.statementCache.size >= 256) this.statementCache.clear();
      st = this.db.prepare(sql);
      this.statementCache.set(sql, st);
    }
    return st;
  };
  /** Upper bound of the distance from an item's sort instant to the ends of its interval (ms); only grows. */
  private maxSpread: number;
  private readonly stmts;

  private constructor(db: Database) {
    this.db = db;
    db.exec(`CREATE TABLE IF NOT EXISTS queryables (
      collection TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
      name TEXT NOT NULL,
      type TEXT NOT NULL,
      PRIMARY KEY (collection, name)
    )`);
    db.exec('CREATE TABLE IF NOT EXISTS catalogue_meta (key TEXT PRIMARY KEY NOT NULL, value)');
    registerFunctions(db);
    this.stmts = {
      getCollection: db.prepare('SELECT content FROM collections WHERE id = ?'),
      listCollections: db.prepare('SELECT content FROM collections ORDER BY id'),
      upsertCollection: db.prepare(
        'INSERT INTO collections (id, content, updated) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET content = excluded.content, updated = excluded.updated',
      ),
      deleteCollection: db.prepare('DELETE FROM collections WHERE id = ?'),
      getItem: db.prepare('SELECT content FROM items WHERE collection = ? AND id = ?'),
      findItem: db.prepare('SELECT rid FROM items WHERE collection = ? AND id = ?'),
      insertItem: db.prepare('INSERT INTO items (collection, id, dt, start_dt, end_dt, minx, maxx, miny, maxy, geom, content, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      updateItem: db.prepare('UPDATE items SET dt = ?, start_dt = ?, end_dt = ?, minx = ?, maxx = ?, miny = ?, maxy = ?, geom = ?, content = ?, updated = ? WHERE rid = ?'),
      deleteItem: db.prepare('DELETE FROM items WHERE collection = ? AND id = ?'),
      deleteBbox: db.prepare('DELETE FROM items_bbox WHERE rid = ?'),
      insertBbox: db.prepare('INSERT INTO items_bbox (rid, minx, maxx, miny, maxy) VALUES (?, ?, ?, ?, ?)'),
      insertQueryable: db.prepare('INSERT OR IGNORE INTO queryables (collection, name, type) VALUES (?, ?, ?)'),
      queryables: db.prepare('SELECT name, type FROM queryables WHERE collection = ? ORDER BY name'),
      allQueryables: db.prepare('SELECT name, min(type) AS type FROM queryables GROUP BY name ORDER BY name'),
      queryableKnown: db.prepare('SELECT type FROM queryables WHERE name = ? LIMIT 1'),
      queryableIn: db.prepare('SELECT type FROM queryables WHERE collection = ? AND name = ?'),
      countItems: db.prepare('SELECT count(*) AS n FROM items WHERE collection = ?'),
      // Two statements: SQLite answers a lone min() or max() from the dt index, both together by a scan.
      minDt: db.prepare('SELECT min(dt) AS v FROM items'),
      maxDt: db.prepare('SELECT max(dt) AS v FROM items'),
      getMeta: db.prepare('SELECT value FROM catalogue_meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO catalogue_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    };
    this.maxSpread = Number((this.stmts.getMeta.get('max_spread_ms') as { value: number } | undefined)?.value ?? 0);
  }

  /** Opens (creating if needed) a catalogue file, or an in-memory one with ':memory:'. */
  static open(path: string): Catalogue {
    return new Catalogue(openDatabase(path));
  }

  /** Creates or replaces a collection (validated; a 400 CatalogueError when invalid). */
  upsertCollection(collection: StacDocument): CatalogueCollection {
    validateCollection(collection);
    const c = collection as CatalogueCollection;
    this.stmts.upsertCollection.run(c.id, JSON.stringify(c), new Date().toISOString());
    return c;
  }

  /** Creates a collection; a 409 CatalogueError when it exists. */
  createCollection(collection: StacDocument): CatalogueCollection {
    return this.db.transaction(() => {
      if (typeof collection?.id === 'string' && this.getCollection(collection.id)) {
        throw new CatalogueError(409, `collection ${JSON.stringify(collection.id)} already exists`);
      }
      return this.upsertCollection(collection);
    })();
  }

  /** A collection by id, or null. */
  getCollection(id: string): CatalogueCollection | null {
    const row = this.stmts.getCollection.get(id) as { content: string } | undefined;
    return row ? (JSON.parse(row.content) as CatalogueCollection) : null;
  }

  /** Every collection, by id. */
  listCollections(): CatalogueCollection[] {
    return (this.stmts.listCollections.all() as { content: string }[]).map((r) => JSON.parse(r.content) as CatalogueCollection);
  }

  /** Deletes a collection and its items; false when there was none. */
  deleteCollection(id: string): boolean {
    return this.db.transaction(() => {
      // Items go first so that the R*Tree rows go with them (the delete trigger).
      this.db.prepare('DELETE FROM items WHERE collection = ?').run(id);
      return this.stmts.deleteCollection.run(id).changes > 0;
    })();
  }

  /**
   * Creates or replaces an item (validated; its collection must exist). `collectionId` (from a URL)
   * must match item.collection when both are given. Throws a CatalogueError: 400 invalid, 404 no collection.
   * Returns the stored item and whether it was created.
   */
  upsertItem(item: StacDocument | StacItem, collectionId?: string, mode: 'upsert' | 'create' | 'update' = 'upsert'): { item: StacItem; created: boolean } {
    const ix = validateItem(item, collectionId);
    // Links are optional on write (the API adds its own); stored items always have an array.
    const stored = { ...(item as StacItem), links: (item as StacItem).links ?? [], collection: ix.collection } as StacItem;
    const json = JSON.stringify(stored);
    const now = new Date().toISOString();
    return this.db.transaction(() => {
      if (!this.stmts.getCollection.get(ix.collection)) throw new CatalogueError(404, `collection ${JSON.stringify(ix.collection)} does not exist`);
      const found = this.stmts.findItem.get(ix.collection, ix.id) as { rid: number } | undefined;
      if (found && mode === 'create') throw new CatalogueError(409, `item ${JSON.stringify(ix.id)} already exists in collection ${JSON.stringify(ix.collection)}`);
      if (!found && mode === 'update') throw new CatalogueError(404, `item ${JSON.stringify(ix.id)} does not exist in collection ${JSON.stringify(ix.collection)}`);
      // A box across the antimeridian (west > east) is indexed as all longitudes; the exact test decides.
      const box = ix.bbox ? [ix.bbox[0] <= ix.bbox[2] ? ix.bbox[0] : -180, ix.bbox[0] <= ix.bbox[2] ? ix.bbox[2] : 180, ix.bbox[1], ix.bbox[3]] : [null, null, null, null];
      const geom = stored.geometry === null || stored.geometry === undefined ? null : JSON.stringify(stored.geometry);
      let rid: number;
      if (found) {
        rid = found.rid;
        this.stmts.updateItem.run(ix.dt, ix.start, ix.end, ...box, geom, json, now, rid);
        this.stmts.deleteBbox.run(rid);
      } else {
        rid = Number(this.stmts.insertItem.run(ix.collection, ix.id, ix.dt, ix.start, ix.end, ...box, geom, json, now).lastInsertRowid);
      }
      if (ix.bbox) this.stmts.insertBbox.run(rid, ...box);
      this.recordQueryables(ix.collection, stored.properties);
      const spread = Math.max(ix.dt - ix.start, ix.end - ix.dt);
      if (spread > this.maxSpread) {
        this.stmts.setMeta.run('max_spread_ms', spread);
        this.maxSpread = spread;
      }
      return { item: stored, created: !found };
    })();
  }

  private recordQueryables(collection: string, properties: Record<string, unknown>): void {
    for (const [name, v] of Object.entries(properties)) {
      if (CORE.has(name) || !isPropertyName(name)) continue;
      const key = `${collection}\u0000${name}`;
      if (this.queryableCache.has(key)) continue;
      const t = jsonType(v);
      if (!t) continue;
      this.stmts.insertQueryable.run(collection, name, t);
      this.queryableCache.add(key);
    }
  }

  /** An item by collection and id, or null. */
  getItem(collectionId: string, itemId: string): StacItem | null {
    const row = this.stmts.getItem.get(collectionId, itemId) as { content: string } | undefined;
    return row ? (JSON.parse(row.content) as StacItem) : null;
  }

  /** Deletes an item; false when there was none. */
  deleteItem(collectionId: string, itemId: string): boolean {
    return this.db.transaction(() => this.stmts.deleteItem.run(collectionId, itemId).changes > 0)();
  }

  /** Number of items in a collection. */
  countItems(collectionId: string): number {
    return (this.stmts.countItems.get(collectionId) as { n: number }).n;
  }

  /** Queryable item properties (name -> JSON type) of one collection, or of all collections. */
  queryables(collectionId?: string): Record<string, QueryableType> {
    const rows = (collectionId ? this.stmts.queryables.all(collectionId) : this.stmts.allQueryables.all()) as { name: string; type: QueryableType }[];
    return Object.fromEntries(rows.map((r) => [r.name, r.type]));
  }

  /** Searches items; a 400 CatalogueError for invalid parameters (unknown properties included). */
  search(params: SearchParams): SearchPage {
    const cols = params.collections && params.collections.length ? params.collections : null;
    const typeOf = (name: string): string | null => {
      const rows = (cols ? cols.map((c) => this.stmts.queryableIn.get(c, name)) : [this.stmts.queryableKnown.get(name)]) as ({ type: string } | undefined)[];
      return rows.find((r) => r !== undefined)?.type ?? null;
    };
    // Another connection (process) may have written wider intervals: read the bound fresh.
    const stored = Number((this.stmts.getMeta.get('max_spread_ms') as { value: number } | undefined)?.value ?? 0);
    this.maxSpread = Math.max(this.maxSpread, stored);
    const lo = (this.stmts.minDt.get() as { v: number | null }).v;
    const hi = (this.stmts.maxDt.get() as { v: number | null }).v;
    return searchItems({ db: this.db, prepare: this.prepareCached, typeOf, maxSpread: this.maxSpread, timeSpan: lo === null || hi === null ? null : [lo, hi] }, params);
  }

  /** Inserts many items in one transaction (fixtures, bulk loads); all or nothing. */
  bulkUpsertItems(items: readonly (StacDocument | StacItem)[], collectionId?: string): number {
    if (!Array.isArray(items)) throw badRequest('items must be an array');
    return this.db.transaction(() => {
      for (const it of items) this.upsertItem(it, collectionId);
      return items.length;
    })();
  }

  /** Closes the database. */
  close(): void {
    if (this.db.open) this.db.close();
  }
}
