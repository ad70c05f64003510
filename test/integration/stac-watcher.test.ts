/**
 * The STAC watcher against a small in-test STAC API (each search dialect: CQL2 filter over POST,
 * the query extension over GET after POST is refused, and no server-side cloud filter) and against the
 * real stac-fastapi-pgstac with seeded items: each matching item emitted once in datetime order,
 * paging followed, the checkpoint file written after acks, nothing acknowledged re-emitted after a
 * restart, retries then a recorded failure on nack.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWatcherState, stacWatcher, type StacWatcherEvent, type StacWatcherOptions } from '../../connectors/stac-watcher.js';
import type { Delivery, SceneEvent } from '../../pipeline/types.js';
import { createCollection, deleteCollection, pgstacUrl, stacOk, startPgstac, testCollection, uniqueCollectionId } from '../helpers/pgstac.js';
import { startStacApi, testItem, type StacApi } from '../helpers/stac-watcher-api.js';
import { until } from '../helpers/wait.js';



/** Runs a watcher, acking every delivery unless `handle` says otherwise; returns what it saw. */
function run(options: StacWatcherOptions, handle?: (d: Delivery<SceneEvent>) => void) {
  const events: StacWatcherEvent[] = [];
  const got: Delivery<SceneEvent>[] = [];
  const w = stacWatcher({ intervalMs: 100, ...options, onEvent: (e) => events.push(e) });
  const sub = w.deliveries().subscribe((d) => {
    got.push(d);
    if (handle) handle(d);
    else void d.ack();
  });
  const polls = (): number => events.filter((e) => e.type === 'poll').length;
  return {
    got,
    events,
    ids: () => got.map((d) => d.value.id),
    polls,
    /** Waits for `n` more completed polls. */
    morePolls: (n: number) => {
      const target = polls() + n;
      return until(`${n} more polls`, () => polls() >= target);
    },
    stop: async () => {
      sub.unsubscribe();
      await w.close();
    },
  };
}

describe('stacWatcher with an in-test STAC API', () => {
  let dir = '';
  const apis: StacApi[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sharpstream-stac-watcher-'));
  });
  afterAll(async () => {
    await Promise.all(apis.map((a) => a.close()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const seed = (api: StacApi): void => {
    // inserted out of datetime order; the API does not sort
    api.add(
      testItem('c', '2024-03-03T10:00:00Z', 10),
      testItem('a', '2024-03-01T10:00:00Z', 5),
      testItem('cloudy', '2024-03-02T10:00:00Z', 50),
      testItem('no-cloud-value', '2024-03-02T11:00:00Z', undefined),
      testItem('b', '2024-03-02T10:00:00Z', 15),
      testItem('other-collection', '2024-03-02T10:00:00Z', 1, 'landsat'),
      testItem('elsewhere', '2024-03-02T10:00:00Z', 1, 's2', [100, 10, 101, 11]),
      testItem('too-early', '2023-12-31T10:00:00Z', 1),
    );
  };
  const search = { collections: ['s2'], bbox: [9, 49, 12, 52] as [number, number, number, number], datetime: '2024-01-01T00:00:00Z/..', maxCloudCover: 20, limit: 10 };

  it('CQL2 filter over POST: matching items once, in datetime order, across pages; checkpoint survives a restart', async () => {
    const api = await startStacApi({ dialect: 'filter' });
    apis.push(api);
    seed(api);
    const statePath = join(dir, 'filter', 'state.json');
    const w = run({ url: api.url, statePath, ...search });
    await until('three items', () => w.got.length === 3);
    await w.morePolls(2);
    expect(w.ids()).toEqual(['a', 'b', 'c']);
    expect(w.got[0]!.value.href).toBe(`${api.url}/collections/s2/items/a`);
    expect(w.got[0]!.value.item?.id).toBe('a');
    // the API did the cloud filtering (CQL2 JSON) and the paging (2 per page)
    const first = api.requests.find((r) => r.method === 'POST' && r.path === '/search')!;
    expect(first.body).toMatchObject({ collections: ['s2'], bbox: [9, 49, 12, 52], 'filter-lang': 'cql2-json', filter: { op: '<=', args: [{ property: 'eo:cloud_cover' }, 20] } });
    expect(api.requests.some((r) => r.method === 'POST' && r.body?.token === 2)).toBe(true);
    // later polls search from the checkpoint on
    const last = [...api.requests].reverse().find((r) => r.method === 'POST' && r.body && r.body.token === undefined)!;
    expect(last.body!.datetime).toBe('2024-03-03T10:00:00.000Z/..');

    api.add(testItem('d', '2024-03-04T10:00:00Z', 0));
    await until('the new item', () => w.got.length === 4);
    await w.morePolls(2);
    expect(w.ids()).toEqual(['a', 'b', 'c', 'd']);
    await w.stop();
    const state = JSON.parse(await readFile(statePath, 'utf8')) as { datetime: string; ids: string[] };
    expect(state).toMatchObject({ datetime: '2024-03-04T10:00:00.000Z', ids: ['d'], ahead: [] });

    // a new watcher on the same state emits nothing already acknowledged, then new items only
    const again = run({ url: api.url, statePath, ...search });
    await again.morePolls(3);
    expect(again.ids()).toEqual([]);
    api.add(testItem('e', '2024-03-04T10:00:00Z', 3)); // same datetime as the checkpoint, new id
    await until('the item at the checkpoint time', () => again.got.length === 1);
    expect(again.ids()).toEqual(['e']);
    await again.stop();
    expect([...(await readWatcherState(statePath)).ids].sort()).toEqual(['d', 'e']);
  });

  it('query extension over GET when POST is refused; GET next links', async () => {
    const api = await startStacApi({ dialect: 'query', noPost: true });
    apis.push(api);
    seed(api);
    const w = run({ url: api.url, ...search });
    await until('three items', () => w.got.length === 3);
    await w.morePolls(1);
    expect(w.ids()).toEqual(['a', 'b', 'c']);
    expect(api.requests.some((r) => r.method === 'POST' && r.path === '/search')).toBe(true);
    const get = api.requests.find((r) => r.method === 'GET' && r.path === '/search')!;
    expect(JSON.parse(get.query.query!)).toEqual({ 'eo:cloud_cover': { lte: 20 } });
    expect(get.query.collections).toBe('s2');
    expect(api.requests.some((r) => r.method === 'GET' && r.query.token === '2')).toBe(true);
    await w.stop();
  });

  it('no server-side cloud filter: filtered here; out-of-order acks and a failure are not re-emitted after a restart', async () => {
    const api = await startStacApi({ dialect: 'none' });
    apis.push(api);
    seed(api);
    const statePath = join(dir, 'none', 'state.json');
    const w = run({ url: api.url, statePath, ...search, maxAttempts: 2, retryDelayMs: 10 }, () => undefined);
    await until('three items', () => w.got.length === 3);
    expect(w.ids()).toEqual(['a', 'b', 'c']);
    expect(api.requests.find((r) => r.method === 'POST')!.body!.filter).toBeUndefined();
    // c done, b failing twice, a still running
    await w.got[2]!.ack();
    await w.got[1]!.nack(new Error('B05 truncated'));
    await until('the retry of b', () => w.got.length === 4);
    expect(w.got[3]!.value.id).toBe('b');
    expect(w.got[3]!.attempt).toBe(2);
    await w.got[3]!.nack(new Error('B05 truncated'));
    expect(w.events.some((e) => e.type === 'failed' && e.id === 'b')).toBe(true);
    await w.stop();
    let state = await readWatcherState(statePath);
    expect(state.datetime).toBeNull(); // a was never acknowledged
    expect(state.ahead.map((x) => x.id).sort()).toEqual(['b', 'c']);
    expect(state.failed.map((x) => [x.id, x.error])).toEqual([['b', 'B05 truncated']]);

    // after a restart only a comes again; acking it moves the checkpoint over b and c
    const again = run({ url: api.url, statePath, ...search });
    await until('a again', () => again.got.length === 1);
    await again.morePolls(2);
    expect(again.ids()).toEqual(['a']);
    await again.stop();
    state = await readWatcherState(statePath);
    expect(state).toMatchObject({ datetime: '2024-03-03T10:00:00.000Z', ids: ['c'], ahead: [] });
  });

  it('reports a failing API and a corrupt state file clearly', async () => {
    const { createServer } = await import('node:net');
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r())); // nothing listens there now
    const w = run({ url: `http://127.0.0.1:${port}/` });
    await until('two failed polls (the watcher keeps trying)', () => w.events.filter((e) => e.type === 'poll-failed').length >= 2);
    await w.stop();
    const failure = w.events.find((e) => e.type === 'poll-failed') as { error: string };
    expect(failure.error).toContain(`GET http://127.0.0.1:${port}/conformance: fetch failed (ECONNREFUSED)`);
    const bad = join(dir, 'bad.json');
    await (await import('node:fs/promises')).writeFile(bad, '{"datetime": 3');
    await expect(readWatcherState(bad)).rejects.toThrow(/bad\.json is not valid/);
    expect(() => stacWatcher({ url: 'ftp://x' })).toThrow(/not an http\(s\) URL/);
  });
});

describe('stacWatcher against stac-fastapi-pgstac', () => {
  const collection = uniqueCollectionId('watcher');
  let dir = '';

  beforeAll(async () => {
    await startPgstac();
    dir = await mkdtemp(join(tmpdir(), 'sharpstream-stac-watcher-pg-'));
    await createCollection(testCollection(collection));
    const items = [
      testItem('p-1', '2024-05-01T10:00:00Z', 5, collection),
      testItem('p-2', '2024-05-02T10:00:00Z', 80, collection),
      testItem('p-3', '2024-05-03T10:00:00Z', 12, collection),
      testItem('p-4', '2024-05-04T10:00:00Z', 0, collection),
      testItem('p-5', '2024-05-05T10:00:00Z', 19, collection, [120, 10, 121, 11]),
    ];
    for (const it of items) await stacOk('POST', `/collections/${collection}/items`, it);
  }, 600_000);

  afterAll(async () => {
    await deleteCollection(collection).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('emits the seeded matches once, in order, through pages; after a restart only new items', async () => {
    const statePath = join(dir, 'state.json');
    const requests: { method: string; url: string; body: string | undefined }[] = [];
    const recording: typeof fetch = (input, init) => {
      requests.push({ method: init?.method ?? 'GET', url: String(input), body: typeof init?.body === 'string' ? init.body : undefined });
      return fetch(input, init);
    };
    const options = { url: pgstacUrl(), collections: [collection], bbox: [9, 49, 12, 52] as [number, number, number, number], datetime: '2024-01-01T00:00:00Z/..', maxCloudCover: 20, limit: 2, statePath, fetch: recording };
    const w = run(options);
    await until('three items', () => w.got.length === 3, 30_000);
    await w.morePolls(2);
    expect(w.ids()).toEqual(['p-1', 'p-3', 'p-4']);
    expect(w.got[0]!.value.href).toMatch(new RegExp(`/collections/${collection}/items/p-1$`));
    // pgstac announces CQL2: the cloud filter went to the server, and paging followed its next links
    const firstBody = JSON.parse(requests.find((r) => r.method === 'POST' && r.url.endsWith('/search'))!.body!) as Record<string, unknown>;
    expect(firstBody.filter).toEqual({ op: '<=', args: [{ property: 'eo:cloud_cover' }, 20] });
    const searches = requests.filter((r) => r.url.includes('/search'));
    expect(searches.length).toBeGreaterThan(w.polls());
    await w.stop();

    const again = run(options);
    await again.morePolls(2);
    expect(again.ids()).toEqual([]);
    await stacOk('POST', `/collections/${collection}/items`, testItem('p-6', '2024-05-06T10:00:00Z', 1, collection));
    await until('the new item', () => again.got.length === 1, 30_000);
    expect(again.ids()).toEqual(['p-6']);
    await again.stop();
    expect(await readWatcherState(statePath)).toMatchObject({ datetime: '2024-05-06T10:00:00.000Z', ids: ['p-6'] });
  }, 120_000);
});
