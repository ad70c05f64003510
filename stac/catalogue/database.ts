/**
 * The SQLite file of the embedded catalogue (better-sqlite3): collections and items stored as JSON
 * with indexed columns (collection, id, datetime interval) and an R*Tree of item bounding boxes.
 * Other tables (the DEEPaaS jobs) live in the same file; each owner creates its own.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

/** A better-sqlite3 connection. */
export type Database = BetterSqlite3.Database;


const SCHEMA = `
CREATE TABLE IF NOT EXISTS collections (
  id TEXT PRIMARY KEY NOT NULL,
  content TEXT NOT NULL,
  updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
  rid INTEGER PRIMARY KEY,
  collection TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  -- sort instant (datetime, or start_datetime when datetime is null), and the item's interval, epoch ms
  dt INTEGER NOT NULL,
  start_dt INTEGER NOT NULL,
  end_dt INTEGER NOT NULL,
  -- footprint box (null without one; all longitudes across the antimeridian) and geometry as GeoJSON text
  minx REAL, maxx REAL, miny REAL, maxy REAL,
  geom TEXT,
  content TEXT NOT NULL,
  updated TEXT NOT NULL,
  UNIQUE (collection, id)
);
CREATE INDEX IF NOT EXISTS items_dt ON items (dt, collection, id);
CREATE INDEX IF NOT EXISTS items_collection_dt ON items (collection, dt, id);
CREATE INDEX IF NOT EXISTS items_start_end ON items (start_dt, end_dt);
CREATE INDEX IF NOT EXISTS items_id ON items (id);
CREATE VIRTUAL TABLE IF NOT EXISTS items_bbox USING rtree (rid, minx, maxx, miny, maxy);
CREATE TRIGGER IF NOT EXISTS items_bbox_delete AFTER DELETE ON items BEGIN
  DELETE FROM items_bbox WHERE rid = old.rid;
END;
`;

/** Opens (creating if needed) the catalogue database: WAL journal, foreign keys on, catalogue tables present. */
export function openDatabase(path: string): Database {
  if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
  const db = new BetterSqlite3(path);
  try {
    if (path !== ':memory:') db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
  } catch (e) {
    db.close();
    throw new Error(`cannot open catalogue database ${path}: ${(e as Error).message}`);
  }
  return db;
}
