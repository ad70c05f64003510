/**
 * A small in-test STAC API for the watcher tests: item search over in-memory items with collections,
 * bbox, datetime and cloud-cover filtering in the dialect chosen (CQL2 `filter`, the `query`
 * extension, or neither), paging through `next` links (POST links with a merge body, or GET links),
 * POST /search optionally refused (405) so that clients must fall back to GET. Items come back in
 * insertion order (no sort extension), and every request is recorded.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Options of startStacApi. */
export interface StacApiOptions {
  /** How the API filters cloud cover: CQL2 filter, the query extension, or not at all. */
  readonly dialect: 'filter' | 'query' | 'none';
  /** Answer POST /search with 405 (GET only). */
  readonly noPost?: boolean;
  /** Items per page at most, whatever the client asks (default 2, to force paging). */
  readonly maxPage?: number;
}

/** One request the API answered. */
export interface StacApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly body: Record<string, unknown> | null;
}

/** A running in-test STAC API. */
export interface StacApi {
  readonly url: string;
  readonly requests: StacApiRequest[];
  /** Adds items (ids must be unique). */
  add(...items: Record<string, unknown>[]): void;
  close(): Promise<void>;
}

/** A minimal Sentinel-2-like item. */
export function testItem(id: string, datetime: string, cloud: number | undefined, collection = 's2', bbox: [number, number, number, number] = [10, 50, 11, 51]): Record<string, unknown> {
  const [a, b, c, d] = bbox;
  return {
    type: 'Feature',
    stac_version: '1.1.0',
    id,
    collection,
    bbox,
    geometry: { type: 'Polygon', coordinates: [[[a, b], [c, b], [c, d], [a, d], [a, b]]] },
    properties: { datetime, ...(cloud === undefined ? {} : { 'eo:cloud_cover': cloud }) },
    links: [],
    assets: {},
  };
}

function inInterval(dt: string, interval: string | undefined): boolean {
  if (!interval) return true;
  const t = Date.parse(dt);
  if (!interval.includes('/')) return t === Date.parse(interval);
  const [s, e] = interval.split('/');
  if (s && s !== '..' && t < Date.parse(s)) return false;
  if (e && e !== '..' && t > Date.parse(e)) return false;
  return true;
}

/** Starts the API on 127.0.0.1 at an ephemeral port. */
export async function startStacApi(options: StacApiOptions): Promise<StacApi> {
  const items: Record<string, unknown>[] = [];
  const requests: StacApiRequest[] = [];
  let base = '';
  const conformance = [
    'https://api.stacspec.org/v1.0.0/core',
    'https://api.stacspec.org/v1.0.0/item-search',
    ...(options.dialect === 'filter'
      ? ['https://api.stacspec.org/v1.0.0-rc.2/item-search#filter', 'http://www.opengis.net/spec/cql2/1.0/conf/cql2-json', 'http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2']
      : []),
    ...(options.dialect === 'query' ? ['https://api.stacspec.org/v1.0.0/item-search#query'] : []),
  ];

  const search = (p: Record<string, unknown>, method: string): Record<string, unknown> => {
    const collections = p.collections as string[] | undefined;
    const bbox = p.bbox as number[] | undefined;
    let hits = items.filter((it) => {
      const props = it.properties as Record<string, unknown>;
      if (collections && !collections.includes(it.collection as string)) return false;
      if (bbox) {
        const b = it.bbox as number[];
        if (b[0]! > bbox[2]! || b[2]! < bbox[0]! || b[1]! > bbox[3]! || b[3]! < bbox[1]!) return false;
      }
      if (!inInterval(props.datetime as string, p.datetime as string | undefined)) return false;
      const cc = props['eo:cloud_cover'] as number | undefined;
      if (options.dialect === 'filter' && p.filter) {
        const f = p.filter as { op: string; args: [{ property: string }, number] };
        if (f.op !== '<=' || f.args[0].property !== 'eo:cloud_cover') throw new Error(`unsupported filter ${JSON.stringify(f)}`);
        if (cc === undefined || cc > f.args[1]) return false;
      }
      if (options.dialect === 'query' && p.query) {
        const q = (p.query as Record<string, { lte?: number }>)['eo:cloud_cover'];
        if (q?.lte !== undefined && (cc === undefined || cc > q.lte)) return false;
      }
      return true;
    });
    const limit = Math.min(Number(p.limit ?? 10), options.maxPage ?? 2);
    const start = Number(p.token ?? 0);
    const page = hits.slice(start, start + limit);
    const links: Record<string, unknown>[] = [];
    if (start + limit < hits.length) {
      if (method === 'POST') links.push({ rel: 'next', href: `${base}/search`, method: 'POST', body: { token: start + limit }, merge: true });
      else {
        const q = new URLSearchParams();
        for (const [k, v] of Object.entries(p)) q.set(k, typeof v === 'object' ? (k === 'collections' || k === 'bbox' ? (v as unknown[]).join(',') : JSON.stringify(v)) : String(v));
        q.set('token', String(start + limit));
        links.push({ rel: 'next', href: `${base}/search?${q}`, type: 'application/geo+json' });
      }
    }
    hits = page;
    return { type: 'FeatureCollection', features: hits, links };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const u = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(u.searchParams.entries());
    let body: Record<string, unknown> | null = null;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
    }
    requests.push({ method: req.method ?? 'GET', path: u.pathname, query, body });
    const send = (status: number, j: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(j));
    };
    if (u.pathname === '/' && req.method === 'GET') return send(200, { type: 'Catalog', id: 'test', conformsTo: conformance, links: [] });
    if (u.pathname === '/conformance') return send(200, { conformsTo: conformance });
    if (u.pathname !== '/search') return send(404, { code: 'NotFound', description: u.pathname });
    if (req.method === 'POST') {
      if (options.noPost) return send(405, { code: 'MethodNotAllowed', description: 'POST /search' });
      return send(200, search(body ?? {}, 'POST'));
    }
    const p: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(query)) {
      if (k === 'collections') p[k] = v.split(',');
      else if (k === 'bbox') p[k] = v.split(',').map(Number);
      else if (k === 'filter' || k === 'query' || k === 'intersects') p[k] = JSON.parse(v);
      else p[k] = v;
    }
    return send(200, search(p, 'GET'));
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'ServerError', description: String(e) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    add: (...more) => items.push(...more),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
