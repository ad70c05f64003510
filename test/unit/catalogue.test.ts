import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalogue, CatalogueError } from '../../stac/catalogue/catalogue.js';
import { searchParamsFromBody, searchParamsFromQuery } from '../../stac/catalogue/params.js';
import { syntheticItem, testCollection } from '../helpers/stac-api-fixtures.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2021, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();

function statusOf(f: () => unknown): number | null {
  try {
    f();
    return null;
  } catch (e) {
    if (e instanceof CatalogueError) return e.status;
    throw e;
  }
}

/** 60 items on a grid of the globe, one a day, cloud cover 0..59, two collections. */
function seed(cat: Catalogue): void {
  cat.upsertCollection(testCollection('a'));
  cat.upsertCollection(testCollection('b'));
  const items = [];
  for (let i = 0; i < 60; i++) {
    const lon = -180 + ((i * 37) % 359);
    const lat = -89 + ((i * 23) % 178);
    items.push(syntheticItem(`i${String(i).padStart(2, '0')}`, i % 3 === 0 ? 'b' : 'a', lon, lat, iso(T0 + i * DAY), { 'eo:cloud_cover': i, platform: i % 2 ? 'sentinel-2a' : 'sentinel-2b' }));
  }
  for (const it of items) cat.upsertItem(it);
}

describe('Catalogue', () => {
  let cat: Catalogue;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sharpstream-catalogue-'));
    cat = Catalogue.open(join(dir, 'c.sqlite'));
    seed(cat);
  });
  afterAll(() => {
    cat.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores, reads, replaces and deletes items and collections', () => {
    expect(cat.listCollections().map((c) => c.id)).toEqual(['a', 'b']);
    expect(cat.getItem('a', 'i01')?.properties['eo:cloud_cover']).toBe(1);
    expect(cat.getItem('b', 'i01')).toBeNull();
    const changed = syntheticItem('i01', 'a', 10, 10, iso(T0), { 'eo:cloud_cover': 99 });
    expect(cat.upsertItem(changed).created).toBe(false);
    expect(cat.getItem('a', 'i01')?.properties['eo:cloud_cover']).toBe(99);
    expect(cat.search({ ids: ['i01'] }).items).toHaveLength(1);
    cat.upsertItem(syntheticItem('i01', 'a', -180 + 37, -89 + 23, iso(T0 + DAY), { 'eo:cloud_cover': 1, platform: 'sentinel-2a' }));
    cat.upsertItem(syntheticItem('tmp', 'a', 0, 0, iso(T0)));
    expect(cat.deleteItem('a', 'tmp')).toBe(true);
    expect(cat.deleteItem('a', 'tmp')).toBe(false);
    // The R*Tree row went with the item.
    expect((cat.db.prepare('SELECT count(*) AS n FROM items_bbox').get() as { n: number }).n).toBe(60);
  });

  it('refuses invalid writes with 400/404/409 and leaves nothing half-written', () => {
    const before = (cat.db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;
    expect(statusOf(() => cat.upsertItem(syntheticItem('x', 'nope', 0, 0, iso(T0))))).toBe(404);
    expect(statusOf(() => cat.upsertItem({ ...syntheticItem('x', 'a', 0, 0, iso(T0)), bbox: [0, 0, 181, 1] }))).toBe(400);
    expect(statusOf(() => cat.upsertItem(syntheticItem('x', 'a', 0, 0, '2020-13-45T00:00:00Z')))).toBe(400);
    expect(statusOf(() => cat.upsertItem(syntheticItem('i01', 'a', 0, 0, iso(T0)), 'a', 'create'))).toBe(409);
    // A bulk load with one bad item writes none of them.
    const batch = [syntheticItem('bulk1', 'a', 0, 0, iso(T0)), syntheticItem('bulk2', 'a', 0, 0, 'yesterday')];
    expect(statusOf(() => cat.bulkUpsertItems(batch))).toBe(400);
    expect(cat.getItem('a', 'bulk1')).toBeNull();
    expect((cat.db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n).toBe(before);
    expect(statusOf(() => cat.createCollection(testCollection('a')))).toBe(409);
  });

  it('filters by collections, ids, bbox, intersects and datetime', () => {
    const all = cat.search({ limit: 100 }).items;
    expect(all).toHaveLength(60);
    // Default order: datetime descending.
    expect(all[0].id).toBe('i59');
    expect(cat.search({ collections: ['b'], limit: 100 }).items.every((i) => i.collection === 'b')).toBe(true);
    expect(cat.search({ collections: ['b'], limit: 100 }).items).toHaveLength(20);
    expect(cat.search({ ids: ['i03', 'i04'] }).items.map((i) => i.id).sort()).toEqual(['i03', 'i04']);
    const inBox = (i: Record<string, unknown>) => {
      const b = i.bbox as number[];
      return b[2] >= 0 && b[0] <= 90 && b[3] >= 0 && b[1] <= 45;
    };
    const bbox = cat.search(searchParamsFromQuery({ bbox: '0,0,90,45', limit: '100' })).items;
    expect(bbox.map((i) => i.id).sort()).toEqual(all.filter(inBox).map((i) => i.id).sort());
    expect(bbox.length).toBeGreaterThan(0);
    const dt = cat.search(searchParamsFromQuery({ datetime: `${iso(T0 + 10 * DAY)}/${iso(T0 + 14 * DAY)}`, limit: '100' })).items;
    expect(dt.map((i) => i.id).sort()).toEqual(['i10', 'i11', 'i12', 'i13', 'i14']);
    const open = cat.search(searchParamsFromQuery({ datetime: `../${iso(T0 + 2 * DAY)}`, limit: '100' })).items;
    expect(open.map((i) => i.id).sort()).toEqual(['i00', 'i01', 'i02']);
    const first = all.find((i) => i.id === 'i05')!;
    const [w, s] = first.bbox as number[];
    const point = { type: 'Point', coordinates: [w + 0.5, s + 0.5] };
    expect(cat.search({ intersects: point } as never).items.map((i) => i.id)).toEqual(['i05']);
    // A point inside the item's bbox row of the R*Tree but outside its footprint is not a match:
    // a triangle item covering only the lower-left half of its box.
    cat.upsertItem({ ...syntheticItem('tri', 'a', 100, 80, iso(T0)), geometry: { type: 'Polygon', coordinates: [[[100, 80], [101, 80], [100, 81], [100, 80]]] } });
    expect(cat.search({ intersects: { type: 'Point', coordinates: [100.9, 80.9] } } as never).items.map((i) => i.id)).toEqual([]);
    expect(cat.search({ intersects: { type: 'Point', coordinates: [100.1, 80.1] } } as never).items.map((i) => i.id)).toEqual(['tri']);
    cat.deleteItem('a', 'tri');
  });

  it('filters with query and CQL2, and treats SQL inside strings as a literal', () => {
    const q = cat.search(searchParamsFromBody({ query: { 'eo:cloud_cover': { lt: 5 }, platform: { eq: 'sentinel-2a' } }, limit: 100 })).items;
    expect(q.map((i) => i.id).sort()).toEqual(['i01', 'i03']);
    const f = cat.search(searchParamsFromQuery({ filter: "eo:cloud_cover BETWEEN 10 AND 12 AND platform LIKE '%2b'", limit: '100' })).items;
    expect(f.map((i) => i.id).sort()).toEqual(['i10', 'i12']);
    const j = cat.search(searchParamsFromBody({ filter: { op: 'in', args: [{ property: 'id' }, ['i07', 'i08']] }, limit: 100 })).items;
    expect(j.map((i) => i.id).sort()).toEqual(['i07', 'i08']);
    const t = cat.search(searchParamsFromBody({ filter: { op: 't_intersects', args: [{ property: 'datetime' }, { interval: [iso(T0 + 3 * DAY), iso(T0 + 4 * DAY)] }] } })).items;
    expect(t.map((i) => i.id).sort()).toEqual(['i03', 'i04']);
    expect(statusOf(() => cat.search(searchParamsFromQuery({ filter: "nosuch = 'x'" })))).toBe(400);
    const inj = cat.search(searchParamsFromQuery({ filter: "platform = 'x''; DROP TABLE items; --'" }));
    expect(inj.items).toEqual([]);
    expect(cat.search({ limit: 1 }).items).toHaveLength(1);
  });

  it('sorts by any queryable with stable tie-breakers', () => {
    const asc = cat.search(searchParamsFromQuery({ sortby: '+eo:cloud_cover', limit: '5' })).items.map((i) => i.properties['eo:cloud_cover']);
    expect(asc).toEqual([0, 1, 2, 3, 4]);
    const byPlatform = cat.search(searchParamsFromQuery({ sortby: '-platform,id', limit: '100' })).items;
    expect(byPlatform[0].properties.platform).toBe('sentinel-2b');
    expect(byPlatform[0].id).toBe('i00');
    expect(statusOf(() => cat.search(searchParamsFromQuery({ sortby: 'nosuch' })))).toBe(400);
  });

  it('pages with next/prev tokens that stay stable while items arrive', () => {
    const seen: string[] = [];
    let params = { limit: 7, sortby: [{ field: 'eo:cloud_cover', direction: 'asc' as const }] };
    let page = cat.search(params);
    expect(page.prev).toBeNull();
    let n = 0;
    const pages: string[][] = [];
    for (;;) {
      seen.push(...page.items.map((i) => i.id));
      pages.push(page.items.map((i) => i.id));
      // New items arrive between pages, some sorting before the cursor and some after it.
      cat.upsertItem(syntheticItem(`late-low-${n}`, 'a', 0, 0, iso(T0), { 'eo:cloud_cover': -1 - n }));
      n++;
      if (!page.next) break;
      page = cat.search({ ...params, token: page.next });
    }
    // Every original item exactly once, in order; items arriving before the cursor are not replayed.
    const original = Array.from({ length: 60 }, (_, i) => `i${String(i).padStart(2, '0')}`);
    expect(seen).toEqual(original);
    // prev from the second page gives the first page back.
    const p1 = cat.search({ ...params, limit: 7, sortby: params.sortby, ids: undefined, token: undefined, filter: { op: '>=', args: [{ property: 'eo:cloud_cover' }, 0] } });
    const p2 = cat.search({ ...params, filter: { op: '>=', args: [{ property: 'eo:cloud_cover' }, 0] }, token: p1.next! });
    expect(p2.prev).not.toBeNull();
    const back = cat.search({ ...params, filter: { op: '>=', args: [{ property: 'eo:cloud_cover' }, 0] }, token: p2.prev! });
    expect(back.items.map((i) => i.id)).toEqual(pages[0]);
    expect(back.prev).toBeNull();
    // A token only works with its own sort.
    expect(statusOf(() => cat.search({ limit: 7, token: p1.next! }))).toBe(400);
    for (let k = 0; k < n; k++) cat.deleteItem('a', `late-low-${k}`);
    params = { ...params };
  });

  it('lists queryables from the stored items', () => {
    const q = cat.queryables('a');
    expect(q['eo:cloud_cover']).toBe('integer');
    expect(q.platform).toBe('string');
    expect(q.datetime).toBeUndefined();
  });

  it('deletes a collection with its items and their index rows', () => {
    expect(cat.deleteCollection('b')).toBe(true);
    expect(cat.search({ collections: ['b'] }).items).toEqual([]);
    expect((cat.db.prepare('SELECT count(*) AS n FROM items_bbox').get() as { n: number }).n).toBe(40);
  });
});
