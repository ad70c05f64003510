/**
 * The STAC API publisher against real servers: stac-fastapi-pgstac (scripts/pgstac/start.sh) and the
 * embedded server (buildServer, with an API key); a small misbehaving HTTP server in addition, for
 * retries and error messages.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StacApiError, StacApiPublisher, openPublisher } from '../../connectors/publishers/index.js';
import { buildServer } from '../../server/app.js';
import { Catalogue } from '../../stac/catalogue/catalogue.js';
import { PGSTAC_VENV_PYTHON, deleteCollection, pgstacUrl, stacOk, startPgstac, stopPgstac, uniqueCollectionId } from '../helpers/pgstac.js';
import { fixtureCollection, fixtureItem } from '../unit/publish-fixtures.js';

const run = promisify(execFile);

type Extent = { spatial: { bbox: number[][] }; temporal: { interval: (string | null)[][] } };
const instants = (e: Extent): (number | null)[] => e.temporal.interval[0].map((t) => (t === null ? null : Date.parse(t)));

describe('STAC API publisher on stac-fastapi-pgstac', () => {
  let startedHere = false;
  const cid = uniqueCollectionId('publish-it');
  beforeAll(async () => {
    startedHere = (await startPgstac()).startedHere;
  });
  afterAll(async () => {
    await deleteCollection(cid).catch(() => undefined);
    if (startedHere) await stopPgstac();
  });

  it('creates the collection, upserts items idempotently, widens the extent; pystac-client finds the item', async () => {
    const pub = openPublisher(pgstacUrl());
    await pub.upsertCollection(fixtureCollection(cid));
    await pub.upsertItem(fixtureItem('S2A_ONE', cid, [10, 45, 11, 46], '2024-05-01T10:00:00Z'));
    await pub.upsertItem(fixtureItem('S2A_ONE', cid, [10, 45, 11, 46], '2024-05-01T10:00:00Z', 42));
    await pub.upsertItem(fixtureItem('S2B_TWO', cid, [12, 44, 13, 45.5], '2024-06-02T10:00:00Z'));
    await pub.close();

    const page = (await stacOk('GET', `/collections/${cid}/items?limit=100`)) as { features: { id: string; properties: Record<string, unknown> }[] };
    expect(page.features.map((f) => f.id).sort()).toEqual(['S2A_ONE', 'S2B_TWO']);
    expect(page.features.find((f) => f.id === 'S2A_ONE')?.properties['eo:cloud_cover']).toBe(42);
    const col = (await stacOk('GET', `/collections/${cid}`)) as { extent: Extent; summaries: Record<string, unknown> };
    expect(col.extent.spatial.bbox[0]).toEqual([10, 44, 13, 46]);
    expect(instants(col.extent)).toEqual([Date.parse('2024-05-01T10:00:00Z'), Date.parse('2024-06-02T10:00:00Z')]);
    expect(col.summaries.instruments).toEqual(['msi']);

    // a later run with a fresh collection document does not narrow the published extent
    const again = new StacApiPublisher({ url: pgstacUrl() });
    await again.upsertCollection(fixtureCollection(cid));
    await again.upsertItem(fixtureItem('S2A_ONE', cid, [10, 45, 11, 46], '2024-05-01T10:00:00Z', 42));
    const col2 = (await stacOk('GET', `/collections/${cid}`)) as { extent: Extent };
    expect(col2.extent.spatial.bbox[0]).toEqual([10, 44, 13, 46]);
    expect(instants(col2.extent)).toEqual(instants(col.extent));

    const code = `
import json, sys
from pystac_client import Client
c = Client.open(sys.argv[1])
items = list(c.search(collections=[sys.argv[2]], bbox=[10.2, 45.2, 10.4, 45.4], datetime="2024-05-01/2024-05-02").items())
print(json.dumps([[i.id, i.collection_id, i.assets["data"].href] for i in items]))
`;
    const { stdout } = await run(PGSTAC_VENV_PYTHON, ['-c', code, pgstacUrl(), cid], { timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual([['S2A_ONE', cid, `https://data.example.org/out/${cid}/S2A_ONE/S2A_ONE.tif`]]);
  });

  it('reports an item of a missing collection as a failed request naming it (pgstac answers a bare 500)', async () => {
    const pub = new StacApiPublisher({ url: pgstacUrl(), retries: 0 });
    const err = await pub.upsertItem(fixtureItem('X', `${cid}-missing`, [0, 0, 1, 1], '2024-01-01T00:00:00Z')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StacApiError);
    expect((err as StacApiError).status).toBeGreaterThanOrEqual(400);
    expect(String((err as Error).message)).toContain(`POST ${pgstacUrl()}/collections/${cid}-missing/items: HTTP`);
  });
});

describe('STAC API publisher on the embedded server', () => {
  const catalogue = Catalogue.open(':memory:');
  let url = '';
  let close: () => Promise<void> = async () => undefined;
  beforeAll(async () => {
    const app = await buildServer({ catalogue, apiKey: 'sesame' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    close = () => app.close();
  });
  afterAll(async () => {
    await close();
    catalogue.close();
  });

  it('needs the API key, then publishes idempotently with the extent kept current', async () => {
    const anon = new StacApiPublisher({ url, retries: 0 });
    await expect(anon.upsertCollection(fixtureCollection('emb'))).rejects.toThrow(/POST .*\/collections: HTTP 401/);
    const pub = openPublisher(url, { apiKey: 'sesame' });
    await pub.upsertCollection(fixtureCollection('emb'));
    await pub.upsertItem(fixtureItem('A', 'emb', [1, 2, 3, 4], '2024-01-01T00:00:00Z'));
    await pub.upsertItem(fixtureItem('A', 'emb', [1, 2, 3, 4], '2024-01-01T00:00:00Z'));
    await pub.upsertItem(fixtureItem('B', 'emb', [0, 1, 2, 3], '2024-02-01T00:00:00Z'));
    expect(catalogue.countItems('emb')).toBe(2);
    expect(catalogue.getCollection('emb')?.extent).toEqual({ spatial: { bbox: [[0, 1, 3, 4]] }, temporal: { interval: [['2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z']] } });
    const bearer = new StacApiPublisher({ url, bearerToken: 'sesame' });
    await bearer.upsertItem(fixtureItem('C', 'emb', [0, 1, 2, 3], '2024-02-01T00:00:00Z'));
    expect(catalogue.countItems('emb')).toBe(3);
    await expect(pub.upsertItem(fixtureItem('D', 'nope', [0, 1, 2, 3], '2024-02-01T00:00:00Z'))).rejects.toThrow(/HTTP 404: .*nope.*upsertCollection first/);
  });
});

describe('STAC API publisher retries', () => {
  let server: Server;
  let url = '';
  const seen: string[] = [];
  let failuresLeft = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url}`);
        const json = (status: number, doc: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(doc));
        };
        if (req.url?.startsWith('/broken')) return json(500, { code: 'InternalError', description: 'database is on fire' });
        if (failuresLeft > 0) {
          failuresLeft--;
          return json(503, { code: 'Unavailable', description: 'try later' });
        }
        if (req.method === 'GET') return json(200, { ...fixtureCollection('flaky'), links: [{ rel: 'self', href: 'http://x/collections/flaky' }] });
        if (req.method === 'PUT') return json(200, JSON.parse(body));
        return json(201, JSON.parse(body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('retries 5xx answers with backoff and then succeeds; the widened collection is written without server links', async () => {
    seen.length = 0;
    failuresLeft = 2;
    const pub = new StacApiPublisher({ url, retries: 3, backoffMs: 5 });
    await pub.upsertItem(fixtureItem('A', 'flaky', [1, 2, 3, 4], '2024-01-01T00:00:00Z'));
    expect(seen).toEqual(['POST /collections/flaky/items', 'POST /collections/flaky/items', 'POST /collections/flaky/items', 'GET /collections/flaky', 'PUT /collections/flaky']);
  });

  it('gives up after the bounded retries with the server message, and names unreachable servers', async () => {
    seen.length = 0;
    const pub = new StacApiPublisher({ url: `${url}/broken`, retries: 2, backoffMs: 1 });
    await expect(pub.upsertCollection(fixtureCollection('x'))).rejects.toThrow(/GET .*\/broken\/collections\/x: HTTP 500: InternalError: database is on fire \(after 3 attempts\)/);
    expect(seen.length).toBe(3);
    const closedPort = await new Promise<number>((r) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => r(p));
      });
    });
    const gone = new StacApiPublisher({ url: `http://127.0.0.1:${closedPort}`, retries: 1, backoffMs: 1 });
    await expect(gone.upsertCollection(fixtureCollection('x'))).rejects.toThrow(/no answer: .*ECONNREFUSED.*after 2 attempts/);
  });
});
