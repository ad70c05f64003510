/**
 * The embedded STAC API over real HTTP: a server on a free port with a temp SQLite file, real output
 * items (outputItem) and synthetic ones across the globe published through the transaction routes;
 * search by GET and POST, paging, fields, sort, query and CQL2 filters; bad input answered with 400 and
 * a STAC error body, nothing written; API-key protection; pystac-client reading back what was published;
 * every returned item and collection valid against the official STAC JSON Schemas.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/data.js';
import { stacErrors } from '../helpers/stac-schemas.js';
import { realOutputItem, startTestApi, syntheticItem, testCollection, type TestApi } from '../helpers/stac-api-fixtures.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const KEY = 'test-key-123';
const DAY = 86_400_000;
const T0 = Date.UTC(2022, 0, 1, 10, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const PYTHON = join(REPO_ROOT, '.venv/bin/python');

let api: TestApi;
const realItems: Json[] = [];

async function http(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; type: string; json: Json; text: string; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const r = await fetch(`${api.url}${path}`, init);
  const text = await r.text();
  let json: Json = {};
  try {
    json = text ? (JSON.parse(text) as Json) : {};
  } catch {
    /* not JSON */
  }
  return { status: r.status, type: r.headers.get('content-type') ?? '', json, text, headers: r.headers };
}
const auth = { 'x-api-key': KEY };
const get = (p: string) => http('GET', p);
const post = (p: string, b: unknown, h: Record<string, string> = auth) => http('POST', p, b, h);
const count = () => (api.catalogue.db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;

/** Asserts a STAC error answer: status, JSON body {code, description}, no stack trace. */
function expectError(r: { status: number; json: Json; text: string; type: string }, status: number, description?: RegExp): void {
  expect(r.status, r.text).toBe(status);
  expect(r.type).toMatch(/application\/json/);
  expect(typeof r.json.code).toBe('string');
  expect(typeof r.json.description).toBe('string');
  if (description) expect(r.json.description).toMatch(description);
  expect(r.text).not.toMatch(/\n\s+at |\.ts:\d+/);
}

function expectValidStac(doc: Json): void {
  expect(stacErrors(doc), `${doc.type} ${doc.id}`).toEqual([]);
}

beforeAll(async () => {
  api = await startTestApi({ apiKey: KEY, bodyLimit: 256 * 1024 });
  expect((await post('/collections', testCollection('sr'))).status).toBe(201);
  expect((await post('/collections', testCollection('other'))).status).toBe(201);
  // Real output items, as predictScene makes them, published by PUT (upsert) and POST (create).
  for (let i = 0; i < 4; i++) {
    const item = await realOutputItem(api.dir, `S2A_REAL_${i}`, 'sr', 10 + i * 20, 40 - i * 10, iso(T0 + i * DAY));
    realItems.push(item);
    const r = i % 2 ? await post('/collections/sr/items', item) : await http('PUT', `/collections/sr/items/${item.id}`, item, auth);
    expect(r.status, r.text).toBe(201);
  }
  // Synthetic items over the globe and two years, as a FeatureCollection in one request.
  const features = [];
  for (let i = 0; i < 96; i++) {
    const lon = -180 + ((i * 47) % 359);
    const lat = -80 + ((i * 31) % 160);
    features.push(syntheticItem(`syn-${String(i).padStart(3, '0')}`, i % 4 === 0 ? 'other' : 'sr', lon, lat, iso(T0 + i * 7.6 * DAY), { 'eo:cloud_cover': i % 50, platform: i % 2 ? 'sentinel-2a' : 'sentinel-2b', name: `scene ${i}` }));
  }
  expect((await post('/collections/sr/items', { type: 'FeatureCollection', features: features.filter((f) => f.collection === 'sr') })).status).toBe(201);
  expect((await post('/collections/other/items', { type: 'FeatureCollection', features: features.filter((f) => f.collection === 'other') })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  await api?.close();
});

describe('landing page, conformance, OpenAPI', () => {
  it('links what the API offers with the right relations and types', async () => {
    const r = await get('/');
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/application\/json/);
    const rels = (r.json.links as Json[]).map((l) => `${l.rel} ${l.method ?? ''}`.trim());
    for (const rel of ['self', 'root', 'conformance', 'service-desc', 'data', 'search GET', 'search POST', 'http://www.opengis.net/def/rel/ogc/1.0/queryables']) expect(rels).toContain(rel);
    expect(rels.filter((x) => x === 'child')).toHaveLength(2);
    const desc = (r.json.links as Json[]).find((l) => l.rel === 'service-desc')!;
    expect(desc.href).toBe(`${api.url}/openapi.json`);
    expect(desc.type).toMatch(/application\/vnd\.oai\.openapi\+json/);
    expectValidStac(r.json);
    const c = await get('/conformance');
    expect(c.json.conformsTo).toEqual(r.json.conformsTo);
    expect(c.json.conformsTo).toContain('https://api.stacspec.org/v1.0.0/item-search');
    expect(c.json.conformsTo).toContain('http://www.opengis.net/spec/cql2/1.0/conf/cql2-text');
  });

  it('serves an OpenAPI 3 document generated from the route schemas', async () => {
    const r = await get('/openapi.json');
    expect(r.status).toBe(200);
    expect(r.json.openapi).toMatch(/^3\./);
    for (const p of ['/', '/conformance', '/collections', '/collections/{collectionId}', '/collections/{collectionId}/items', '/collections/{collectionId}/items/{itemId}', '/search', '/queryables']) {
      expect(Object.keys(r.json.paths), p).toContain(p);
    }
    const params = (r.json.paths['/search'].get.parameters as Json[]).map((p) => p.name);
    expect(params).toEqual(expect.arrayContaining(['bbox', 'datetime', 'limit', 'filter', 'sortby', 'fields', 'token']));
    expect(r.json.paths['/collections/{collectionId}/items'].post.security).toBeDefined();
  });
});

describe('collections and items', () => {
  it('returns collections and items with API links, valid against the STAC schemas', async () => {
    const cs = await get('/collections');
    expect(cs.json.collections.map((c: Json) => c.id)).toEqual(['other', 'sr']);
    for (const c of cs.json.collections) expectValidStac(c);
    const c = await get('/collections/sr');
    expect(c.status).toBe(200);
    const rels = Object.fromEntries((c.json.links as Json[]).map((l) => [l.rel, l]));
    expect(rels.items.href).toBe(`${api.url}/collections/sr/items`);
    expect(rels.items.type).toBe('application/geo+json');
    expect(rels.self.href).toBe(`${api.url}/collections/sr`);
    const it = await get(`/collections/sr/items/${realItems[0].id}`);
    expect(it.status).toBe(200);
    expect(it.type).toMatch(/^application\/geo\+json/);
    expectValidStac(it.json);
    const ir = Object.fromEntries((it.json.links as Json[]).map((l) => [l.rel, l.href]));
    expect(ir.self).toBe(`${api.url}/collections/sr/items/${realItems[0].id}`);
    expect(ir.parent).toBe(`${api.url}/collections/sr`);
    expect(ir.collection).toBe(`${api.url}/collections/sr`);
    expect(ir.root).toBe(`${api.url}/`);
    // What was published comes back: assets, properties, geometry.
    expect(it.json.assets).toEqual(realItems[0].assets);
    expect(it.json.properties).toEqual(realItems[0].properties);
    expect(it.json.geometry).toEqual(realItems[0].geometry);
  });

  it('pages a collection\'s items with bbox and datetime', async () => {
    const r = await get(`/collections/sr/items?limit=2&datetime=${iso(T0)}/${iso(T0 + 3 * DAY)}`);
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/application\/geo\+json/);
    const ids = r.json.features.map((f: Json) => f.id);
    expect(ids).toEqual(['S2A_REAL_3', 'S2A_REAL_2']);
    const next = (r.json.links as Json[]).find((l) => l.rel === 'next')!;
    const p2 = await fetch(next.href).then((x) => x.json() as Promise<Json>);
    expect(p2.features.map((f: Json) => f.id)).toEqual(['S2A_REAL_1', 'S2A_REAL_0']);
    const bb = await get('/collections/sr/items?bbox=9,35,11,41&limit=50');
    expect(bb.json.features.map((f: Json) => f.id)).toContain('S2A_REAL_0');
    expect(bb.json.features.every((f: Json) => f.bbox[2] >= 9 && f.bbox[0] <= 11 && f.bbox[3] >= 35 && f.bbox[1] <= 41)).toBe(true);
    expectError(await get('/collections/nope/items'), 404);
    expectError(await get('/collections/sr/items/nope'), 404);
  });
});

describe('item search', () => {
  it('searches by bbox, datetime, ids and collections, GET and POST alike', async () => {
    const q = `bbox=-180,-90,0,0&datetime=${iso(T0)}/${iso(T0 + 365 * DAY)}&collections=sr,other&limit=100`;
    const g = await get(`/search?${q}`);
    const p = await post('/search', { bbox: [-180, -90, 0, 0], datetime: `${iso(T0)}/${iso(T0 + 365 * DAY)}`, collections: ['sr', 'other'], limit: 100 }, {});
    expect(g.status).toBe(200);
    expect(g.json.features.map((f: Json) => f.id)).toEqual(p.json.features.map((f: Json) => f.id));
    expect(g.json.features.length).toBeGreaterThan(0);
    for (const f of g.json.features) {
      expect(f.bbox[0]).toBeLessThanOrEqual(0);
      expect(f.bbox[1]).toBeLessThanOrEqual(0);
      expect(Date.parse(f.properties.datetime)).toBeLessThanOrEqual(T0 + 365 * DAY);
      expectValidStac(f);
    }
    expect(g.json.numberReturned).toBe(g.json.features.length);
    const ids = await get('/search?ids=syn-001,S2A_REAL_2');
    expect(ids.json.features.map((f: Json) => f.id).sort()).toEqual(['S2A_REAL_2', 'syn-001']);
    const open = await get(`/search?datetime=../${iso(T0 + DAY)}&limit=100`);
    expect(open.json.features.map((f: Json) => f.id).sort()).toEqual(['S2A_REAL_0', 'S2A_REAL_1', 'syn-000']);
    const r0 = realItems[0];
    const ring = r0.geometry.coordinates[0] as number[][];
    const inter = await post('/search', { intersects: { type: 'Point', coordinates: [(ring[0][0] + ring[2 * 8][0]) / 2, (ring[0][1] + ring[2 * 8][1]) / 2] } }, {});
    expect(inter.json.features.map((f: Json) => f.id)).toContain('S2A_REAL_0');
  });

  it('pages with next and prev links (GET and POST) that stay stable while items arrive', async () => {
    const seen: string[] = [];
    let r = await post('/search', { collections: ['sr'], limit: 7, sortby: [{ field: 'datetime', direction: 'asc' }] }, {});
    const firstPage = r.json.features.map((f: Json) => f.id);
    let pages = 0;
    let prevLink: Json | undefined;
    for (;;) {
      seen.push(...r.json.features.map((f: Json) => f.id));
      pages++;
      // An item that sorts before the cursor arrives between pages: it must not shift the pages.
      const early = syntheticItem(`early-${pages}`, 'sr', 0, 0, iso(T0 - pages * DAY));
      expect((await post('/collections/sr/items', early)).status).toBe(201);
      const next = (r.json.links as Json[]).find((l) => l.rel === 'next');
      if (!next) break;
      expect(next.method).toBe('POST');
      if (pages === 2) prevLink = (r.json.links as Json[]).find((l) => l.rel === 'prev');
      r = await post(new URL(next.href).pathname, next.body, {});
      expect(r.status).toBe(200);
    }
    const expected = [...realItems.map((i) => i.id as string), ...Array.from({ length: 96 }, (_, i) => `syn-${String(i).padStart(3, '0')}`).filter((_, i) => i % 4 !== 0)];
    expect(seen.sort()).toEqual(expected.sort());
    expect(new Set(seen).size).toBe(seen.length);
    // prev of page 2 is page 1 (new early items were not counted in).
    expect(prevLink).toBeDefined();
    expect(prevLink!.body.token).toBeDefined();
    const back = await post('/search', prevLink!.body, {});
    expect(back.json.features.map((f: Json) => f.id)).toEqual(firstPage);
    // GET paging follows next hrefs.
    let g = await get('/search?collections=other&limit=10');
    const gseen: string[] = [];
    for (;;) {
      gseen.push(...g.json.features.map((f: Json) => f.id));
      const next = (g.json.links as Json[]).find((l) => l.rel === 'next');
      if (!next) break;
      expect(next.href).toContain('token=');
      g = await fetch(next.href).then(async (x) => ({ status: x.status, type: '', json: (await x.json()) as Json, text: '', headers: x.headers }));
    }
    expect(gseen.sort()).toEqual(Array.from({ length: 24 }, (_, i) => `syn-${String(i * 4).padStart(3, '0')}`));
    for (let p = 1; p <= pages; p++) api.catalogue.deleteItem('sr', `early-${p}`);
  });

  it('applies fields, sortby and query', async () => {
    const f = await get('/search?ids=syn-001&fields=id,properties.eo:cloud_cover');
    expect(Object.keys(f.json.features[0]).sort()).toEqual(['id', 'links', 'properties', 'stac_version', 'type']);
    expect(f.json.features[0].properties).toEqual({ 'eo:cloud_cover': 1 });
    const ex = await post('/search', { ids: ['syn-001'], fields: { exclude: ['assets', 'properties.platform'] } }, {});
    expect(ex.json.features[0].assets).toBeUndefined();
    expect(ex.json.features[0].properties.platform).toBeUndefined();
    expect(ex.json.features[0].properties['eo:cloud_cover']).toBe(1);
    const s = await get('/search?collections=other&sortby=-eo:cloud_cover,id&limit=100');
    const cc = s.json.features.map((x: Json) => x.properties['eo:cloud_cover']);
    expect(cc).toEqual([...cc].sort((a, b) => b - a));
    const q = await post('/search', { query: { 'eo:cloud_cover': { gte: 10, lt: 13 }, platform: { eq: 'sentinel-2a' } }, limit: 100 }, {});
    expect(q.json.features.length).toBeGreaterThan(0);
    for (const x of q.json.features) {
      expect(x.properties['eo:cloud_cover']).toBeGreaterThanOrEqual(10);
      expect(x.properties['eo:cloud_cover']).toBeLessThan(13);
      expect(x.properties.platform).toBe('sentinel-2a');
    }
  });

  it('filters with CQL2 text and JSON, and lists queryables', async () => {
    const text = "eo:cloud_cover BETWEEN 5 AND 7 AND platform LIKE '%2b' AND collection IN ('sr', 'other')";
    const g = await get(`/search?limit=100&filter=${encodeURIComponent(text)}`);
    expect(g.status, g.text).toBe(200);
    expect(g.json.features.map((f: Json) => f.properties['eo:cloud_cover']).sort()).toEqual([6, 6]);
    const j = await post('/search', { limit: 100, filter: { op: 'and', args: [{ op: 'between', args: [{ property: 'eo:cloud_cover' }, 5, 7] }, { op: 'like', args: [{ property: 'platform' }, '%2b'] }] } }, {});
    expect(j.json.features.map((f: Json) => f.id).sort()).toEqual(g.json.features.map((f: Json) => f.id).sort());
    const t = await get(`/search?filter=${encodeURIComponent(`T_INTERSECTS(datetime, INTERVAL('${iso(T0)}', '${iso(T0 + 2 * DAY)}')) AND NOT id LIKE 'syn%'`)}`);
    expect(t.json.features.map((f: Json) => f.id).sort()).toEqual(['S2A_REAL_0', 'S2A_REAL_1', 'S2A_REAL_2']);
    const sp = await get(`/search?filter=${encodeURIComponent('S_INTERSECTS(geometry, POINT(10.05 40.05))')}`);
    expect(sp.json.features.map((f: Json) => f.id)).toEqual(['S2A_REAL_0']);
    const q = await get('/queryables');
    expect(q.json.$id).toBe(`${api.url}/queryables`);
    expect(q.json.properties['eo:cloud_cover'].type).toBe('integer');
    const qc = await get('/collections/sr/queryables');
    expect(qc.json.$id).toBe(`${api.url}/collections/sr/queryables`);
    expect(qc.json.properties['processing:level']).toBeDefined();
  });

  it('pystac-client searches the API and gets back what was published', async () => {
    if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run scripts/setup-test-env.sh`);
    const code = `
import json, sys
from pystac_client import Client
c = Client.open(sys.argv[1])
s = c.search(collections=["sr"], bbox=[0, 0, 90, 45], datetime="2022-01-01T00:00:00Z/2022-01-10T00:00:00Z", max_items=50, limit=2)
print(json.dumps(sorted(i.id for i in s.items())))
items = list(c.search(ids=["S2A_REAL_0"]).items())
print(json.dumps(items[0].to_dict()["assets"]["data"]["href"]))
`;
    const { stdout } = await promisify(execFile)(PYTHON, ['-c', code, `${api.url}/`], { timeout: 60_000 });
    const [ids, href] = stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown);
    const expected = realItems.filter((i) => {
      const b = i.bbox as number[];
      return b[2] >= 0 && b[0] <= 90 && b[3] >= 0 && b[1] <= 45 && Date.parse(i.properties.datetime) <= Date.UTC(2022, 0, 10);
    });
    expect(ids).toEqual(expected.map((i) => i.id).sort());
    expect((ids as string[]).length).toBeGreaterThan(1);
    expect(href).toBe(realItems[0].assets.data.href);
  });
});

describe('bad input: 400 with a STAC error body, nothing written', () => {
  it('rejects invalid JSON, invalid items, bad bbox and impossible datetimes', async () => {
    const before = count();
    expectError(await post('/collections/sr/items', '{"type": "Feature", "id": '), 400, /JSON/);
    expectError(await post('/collections/sr/items', { ...syntheticItem('bad1', 'sr', 0, 0, iso(T0)), geometry: undefined }), 400, /geometry/);
    expectError(await post('/collections/sr/items', { ...syntheticItem('bad2', 'sr', 0, 0, iso(T0)), bbox: [0, 0, 200, 1] }), 400, /longitude 200/);
    expectError(await post('/collections/sr/items', syntheticItem('bad3', 'sr', 0, 0, '2020-13-45T00:00:00Z')), 400, /month 13/);
    expectError(await post('/collections/sr/items', { ...syntheticItem('bad4', 'other', 0, 0, iso(T0)) }), 400, /collection/);
    // One bad item in a FeatureCollection: none of them is written.
    expectError(await post('/collections/sr/items', { type: 'FeatureCollection', features: [syntheticItem('ok-1', 'sr', 0, 0, iso(T0)), syntheticItem('bad5', 'sr', 0, 0, '2021-02-29T00:00:00Z')] }), 400, /day 29/);
    expect(api.catalogue.getItem('sr', 'ok-1')).toBeNull();
    expectError(await post('/collections', { ...testCollection('badc'), extent: { spatial: { bbox: [[0, 0, 181, 1]] }, temporal: { interval: [[null, null]] } } }), 400, /longitude 181/);
    expect(api.catalogue.getCollection('badc')).toBeNull();
    expect(count()).toBe(before);
  });

  it('rejects bad search parameters', async () => {
    expectError(await get('/search?bbox=0,0,181,10'), 400, /longitude 181/);
    expectError(await get('/search?bbox=0,0,10'), 400, /bbox/);
    expectError(await get('/search?datetime=2020-13-45'), 400);
    expectError(await get('/search?datetime=2020-13-45T00:00:00Z'), 400, /month 13/);
    expectError(await get('/search?limit=0'), 400);
    expectError(await get('/search?limit=ten'), 400);
    expectError(await get(`/search?filter=${encodeURIComponent("nosuchproperty = 'x'")}`), 400, /unknown property "nosuchproperty"/);
    expectError(await post('/search', { filter: { op: '=', args: [{ property: 'nosuchproperty' }, 1] } }, {}), 400, /nosuchproperty/);
    expectError(await get(`/search?filter=${encodeURIComponent('eo:cloud_cover >')}`), 400, /filter/);
    expectError(await get('/search?sortby=nosuchproperty'), 400);
    expectError(await get('/search?token=garbage'), 400, /token/);
    expectError(await post('/search', '[1,2', {}), 400, /JSON/);
    expectError(await post('/search', { bbox: [0, 0, 1, 1], intersects: { type: 'Point', coordinates: [0, 0] } }, {}), 400);
    const big = await get('/search?limit=20000');
    expect(big.status).toBe(200);
  });

  it('treats SQL inside CQL2 strings as a literal', async () => {
    const before = count();
    const r = await get(`/search?filter=${encodeURIComponent("name = 'x''; DROP TABLE items; --'")}`);
    expect(r.status, r.text).toBe(200);
    expect(r.json.features).toEqual([]);
    const j = await post('/search', { filter: { op: '=', args: [{ property: 'name' }, "x'); DELETE FROM items; --"] } }, {});
    expect(j.status).toBe(200);
    expect(j.json.features).toEqual([]);
    expect((api.catalogue.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'items'").get() as { n: number }).n).toBe(1);
    expect(count()).toBe(before);
    // The literal is matched as a literal.
    const it = syntheticItem('quoted', 'sr', 0, 0, iso(T0), { name: "x'; DROP TABLE items; --" });
    expect((await post('/collections/sr/items', it)).status).toBe(201);
    const hit = await get(`/search?filter=${encodeURIComponent("name = 'x''; DROP TABLE items; --'")}`);
    expect(hit.json.features.map((f: Json) => f.id)).toEqual(['quoted']);
    api.catalogue.deleteItem('sr', 'quoted');
  });

  it('answers 413 for a body over the limit and 404 for unknown routes', async () => {
    const huge = { ...syntheticItem('huge', 'sr', 0, 0, iso(T0)), properties: { datetime: iso(T0), blob: 'x'.repeat(300 * 1024) } };
    expectError(await post('/collections/sr/items', huge), 413);
    expect(api.catalogue.getItem('sr', 'huge')).toBeNull();
    expectError(await get('/no/such/route'), 404);
  });
});

describe('transactions', () => {
  it('need the API key: 401 without, 403 with a wrong one', async () => {
    const item = syntheticItem('tx-1', 'sr', 5, 5, iso(T0));
    expectError(await post('/collections/sr/items', item, {}), 401);
    expectError(await post('/collections/sr/items', item, { 'x-api-key': 'wrong' }), 403);
    expectError(await http('DELETE', `/collections/sr/items/${realItems[0].id}`), 401);
    expect(api.catalogue.getItem('sr', 'tx-1')).toBeNull();
    expect(api.catalogue.getItem('sr', realItems[0].id)).not.toBeNull();
    const ok = await post('/collections/sr/items', item, { authorization: `Bearer ${KEY}` });
    expect(ok.status).toBe(201);
    expect(ok.headers.get('location')).toBe(`${api.url}/collections/sr/items/tx-1`);
    expectError(await post('/collections/sr/items', item), 409);
  });

  it('replace (PUT), patch (PATCH) and delete items and collections', async () => {
    const item = syntheticItem('tx-1', 'sr', 5, 5, iso(T0), { 'eo:cloud_cover': 42 });
    expect((await http('PUT', '/collections/sr/items/tx-1', item, auth)).status).toBe(204);
    expect(api.catalogue.getItem('sr', 'tx-1')?.properties['eo:cloud_cover']).toBe(42);
    expectError(await http('PUT', '/collections/sr/items/tx-1', { ...item, id: 'other-id' }, auth), 400, /does not match/);
    expect((await http('PATCH', '/collections/sr/items/tx-1', { properties: { 'eo:cloud_cover': 7, platform: null } }, auth)).status).toBe(204);
    const patched = api.catalogue.getItem('sr', 'tx-1')!;
    expect(patched.properties['eo:cloud_cover']).toBe(7);
    expect(patched.properties.platform).toBeUndefined();
    expectError(await http('PATCH', '/collections/sr/items/tx-1', { properties: { datetime: '2020-13-45T00:00:00Z' } }, auth), 400);
    expect(api.catalogue.getItem('sr', 'tx-1')?.properties.datetime).toBe(iso(T0));
    expect((await http('DELETE', '/collections/sr/items/tx-1', undefined, auth)).status).toBe(204);
    expectError(await get('/collections/sr/items/tx-1'), 404);
    expect((await http('PUT', '/collections/tmp', testCollection('tmp'), auth)).status).toBe(201);
    expect((await post('/collections/tmp/items', syntheticItem('t1', 'tmp', 1, 1, iso(T0)))).status).toBe(201);
    expect((await http('DELETE', '/collections/tmp', undefined, auth)).status).toBe(204);
    expect(api.catalogue.getItem('tmp', 't1')).toBeNull();
    expectError(await get('/collections/tmp'), 404);
  });

  it('are refused (403) by a server without an API key, unless anonymous writes were allowed', async () => {
    const locked = await startTestApi({});
    const open = await startTestApi({ allowAnonymousWrites: true });
    try {
      const r = await fetch(`${locked.url}/collections`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'anything' }, body: JSON.stringify(testCollection('x')) });
      expect(r.status).toBe(403);
      expect(((await r.json()) as Json).code).toBe('Forbidden');
      expect(locked.catalogue.getCollection('x')).toBeNull();
      const o = await fetch(`${open.url}/collections`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(testCollection('x')) });
      expect(o.status).toBe(201);
      expect(open.catalogue.getCollection('x')).not.toBeNull();
    } finally {
      await locked.close();
      await open.close();
    }
  });
});
