/**
 * The embedded STAC API as a fastify plugin: landing page, conformance, collections, items, item search
 * (GET and POST, with filter, sort, fields and query), queryables, and transactions behind the API key.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Catalogue } from '../../stac/catalogue/catalogue.js';
import { CatalogueError } from '../../stac/catalogue/errors.js';
import { searchParamsFromBody, searchParamsFromQuery, type SearchParams } from '../../stac/catalogue/params.js';
import { applyFields } from '../../stac/catalogue/search.js';
import { requireApiKey, type ApiKeyOptions } from '../auth.js';
import { withServedAssets } from '../files.js';
import { baseUrlOf } from '../http.js';
import { collectionUrl, GEOJSON, itemUrl, JSON_TYPE, OPENAPI, QUERYABLES_REL, withCollectionLinks, withItemLinks, type Link } from './links.js';
import * as S from './schemas.js';

/** Options of the STAC plugin. */
export interface StacPluginOptions {
  readonly catalogue: Catalogue;
  readonly baseUrl?: string;
  readonly auth: ApiKeyOptions;
  readonly title?: string;
  /** Local output folder served under /files/: item assets inside it are answered with /files/ URLs. */
  readonly filesRoot?: string;
}

const V = 'v1.0.0';
/** Conformance classes: only what this API implements. */
export const CONFORMANCE = [
  `https://api.stacspec.org/${V}/core`,
  `https://api.stacspec.org/${V}/collections`,
  `https://api.stacspec.org/${V}/ogcapi-features`,
  `https://api.stacspec.org/${V}/item-search`,
  `https://api.stacspec.org/${V}/item-search#fields`,
  `https://api.stacspec.org/${V}/item-search#sort`,
  `https://api.stacspec.org/${V}/item-search#query`,
  `https://api.stacspec.org/${V}/ogcapi-features#fields`,
  `https://api.stacspec.org/${V}/ogcapi-features#sort`,
  `https://api.stacspec.org/${V}/ogcapi-features#query`,
  'https://api.stacspec.org/v1.0.0-rc.2/item-search#filter',
  'https://api.stacspec.org/v1.0.0-rc.2/ogcapi-features#filter',
  `https://api.stacspec.org/${V}/ogcapi-features/extensions/transaction`,
  `https://api.stacspec.org/${V}/collections/extensions/transaction`,
  'http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections',
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core',
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30',
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson',
  'http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter',
  'http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter',
  'http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables',
  'http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/simpletx',
  'http://www.opengis.net/spec/cql2/1.0/conf/cql2-text',
  'http://www.opengis.net/spec/cql2/1.0/conf/cql2-json',
  'http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2',
  'http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators',
  'http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions',
  'http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus',
  'http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-operators',
  'http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions',
  'http://www.opengis.net/spec/cql2/1.0/conf/temporal-operators',
];

type Req = FastifyRequest<{ Params: { collectionId?: string; itemId?: string }; Querystring: Record<string, unknown>; Body: unknown }>;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7396 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return patch;
  const out: Record<string, unknown> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** Registers the STAC API routes. */
export async function stacPlugin(app: FastifyInstance, opts: StacPluginOptions): Promise<void> {
  const cat = opts.catalogue;
  const base = (r: FastifyRequest) => baseUrlOf(r, opts.baseUrl);
  const guard = requireApiKey(opts.auth);
  // Responses are plain JSON.stringify: the route response schemas document the API (OpenAPI) without
  // dropping the properties they do not list.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  /** Item assets in the served output folder as /files/ URLs. */
  const served = (item: Record<string, unknown>, b: string): Record<string, unknown> => (opts.filesRoot ? withServedAssets(item, opts.filesRoot, b) : item);
  const mustCollection = (id: string) => {
    const c = cat.getCollection(id);
    if (!c) throw new CatalogueError(404, `collection ${JSON.stringify(id)} does not exist`);
    return c;
  };

  /** Runs a search and answers with an item collection whose next/prev links repeat the request. */
  const answerSearch = (request: Req, reply: FastifyReply, params: SearchParams, selfHref: string, post: Record<string, unknown> | null) => {
    const b = base(request);
    const page = cat.search(params);
    const features = page.items.map((it) => applyFields(served(withItemLinks(it, b), b), params.fields));
    const links: Link[] = [
      { rel: 'self', href: selfHref, type: GEOJSON },
      { rel: 'root', href: `${b}/`, type: JSON_TYPE },
    ];
    const pageLink = (rel: 'next' | 'prev', token: string): Link => {
      if (post) return { rel, href: selfHref.split('?')[0], type: GEOJSON, method: 'POST', body: { ...post, token }, merge: false };
      const u = new URL(selfHref);
      u.searchParams.set('token', token);
      return { rel, href: u.toString(), type: GEOJSON, method: 'GET' };
    };
    if (page.next) links.push(pageLink('next', page.next));
    if (page.prev) links.push(pageLink('prev', page.prev));
    return reply.type(GEOJSON).send({ type: 'FeatureCollection', features, links, numberReturned: features.length });
  };

  const selfOf = (request: Req) => `${base(request)}${request.url}`;

  app.get('/', { schema: { summary: 'Landing page', tags: ['STAC'], response: S.responses.landing } }, async (request, reply) => {
    const b = base(request);
    const links: Link[] = [
      { rel: 'self', href: `${b}/`, type: JSON_TYPE, title: 'this document' },
      { rel: 'root', href: `${b}/`, type: JSON_TYPE },
      { rel: 'conformance', href: `${b}/conformance`, type: JSON_TYPE, title: 'conformance classes' },
      { rel: 'service-desc', href: `${b}/openapi.json`, type: OPENAPI, title: 'OpenAPI document' },
      ...(app.hasRoute({ method: 'GET', url: '/docs' }) ? [{ rel: 'service-doc', href: `${b}/docs`, type: 'text/html', title: 'API documentation' }] : []),
      { rel: 'data', href: `${b}/collections`, type: JSON_TYPE, title: 'collections' },
      { rel: 'search', href: `${b}/search`, type: GEOJSON, method: 'GET', title: 'item search' },
      { rel: 'search', href: `${b}/search`, type: GEOJSON, method: 'POST', title: 'item search' },
      { rel: QUERYABLES_REL, href: `${b}/queryables`, type: 'application/schema+json', title: 'queryables' },
      ...cat.listCollections().map((c) => ({ rel: 'child', href: collectionUrl(b, c.id), type: JSON_TYPE, title: typeof c.title === 'string' ? c.title : c.id })),
    ];
    return reply.type(JSON_TYPE).send({
      type: 'Catalog',
      stac_version: '1.1.0',
      id: 'sharpstream',
      title: opts.title ?? 'sharpstream',
      description: 'Super-resolved satellite imagery (Cloud-Optimized GeoTIFFs) catalogued by sharpstream',
      conformsTo: CONFORMANCE,
      links,
    });
  });

  app.get('/conformance', { schema: { summary: 'Conformance classes', tags: ['STAC'], response: S.responses.conformance } }, async (_r, reply) =>
    reply.type(JSON_TYPE).send({ conformsTo: CONFORMANCE }),
  );

  const queryablesDoc = (request: Req, collectionId?: string) => {
    const b = base(request);
    const props: Record<string, unknown> = {
      id: { description: 'Item id', type: 'string' },
      collection: { description: 'Collection id', type: 'string' },
      geometry: { description: 'Footprint', $ref: 'https://geojson.org/schema/Geometry.json' },
      datetime: { description: 'Acquisition time', type: 'string', format: 'date-time' },
      start_datetime: { type: 'string', format: 'date-time' },
      end_datetime: { type: 'string', format: 'date-time' },
    };
    for (const [name, type] of Object.entries(cat.queryables(collectionId))) props[name] = { type };
    return {
      $schema: 'https://json-schema.org/draft/2019-09/schema',
      $id: collectionId ? `${collectionUrl(b, collectionId)}/queryables` : `${b}/queryables`,
      type: 'object',
      title: collectionId ? `Queryables of ${collectionId}` : 'Queryables',
      properties: props,
      additionalProperties: false,
    };
  };

  app.get('/queryables', { schema: { summary: 'Queryable properties of every collection', tags: ['STAC'], response: S.responses.queryables } }, async (request, reply) =>
    reply.type('application/schema+json').send(queryablesDoc(request as Req)),
  );

  app.get('/collections', { schema: { summary: 'Collections', tags: ['STAC'], response: S.responses.collections } }, async (request, reply) => {
    const b = base(request);
    return reply.type(JSON_TYPE).send({
      collections: cat.listCollections().map((c) => withCollectionLinks(c, b)),
      links: [
        { rel: 'self', href: `${b}/collections`, type: JSON_TYPE },
        { rel: 'root', href: `${b}/`, type: JSON_TYPE },
        { rel: 'parent', href: `${b}/`, type: JSON_TYPE },
      ],
    });
  });

  app.get('/collections/:collectionId', { schema: { summary: 'A collection', tags: ['STAC'], params: S.collectionParams, response: S.responses.collection } }, async (request, reply) => {
    const r = request as Req;
    return reply.type(JSON_TYPE).send(withCollectionLinks(mustCollection(r.params.collectionId as string), base(r)));
  });

  app.get('/collections/:collectionId/queryables', { schema: { summary: 'Queryable properties of a collection', tags: ['STAC'], params: S.collectionParams, response: S.responses.queryables } }, async (request, reply) => {
    const r = request as Req;
    mustCollection(r.params.collectionId as string);
    return reply.type('application/schema+json').send(queryablesDoc(r, r.params.collectionId));
  });

  app.get('/collections/:collectionId/items', { schema: { summary: 'Items of a collection', tags: ['STAC'], params: S.collectionParams, querystring: S.itemsQuerySchema, response: S.responses.items } }, async (request, reply) => {
    const r = request as Req;
    const id = r.params.collectionId as string;
    mustCollection(id);
    const params = { ...searchParamsFromQuery(r.query), collections: [id] };
    return answerSearch(r, reply, params, selfOf(r), null);
  });

  app.get('/collections/:collectionId/items/:itemId', { schema: { summary: 'An item', tags: ['STAC'], params: S.itemParams, response: S.responses.item } }, async (request, reply) => {
    const r = request as Req;
    const cid = r.params.collectionId as string;
    const iid = r.params.itemId as string;
    mustCollection(cid);
    const item = cat.getItem(cid, iid);
    if (!item) throw new CatalogueError(404, `item ${JSON.stringify(iid)} does not exist in collection ${JSON.stringify(cid)}`);
    return reply.type(GEOJSON).send(served(withItemLinks(item, base(r)), base(r)));
  });

  app.get('/search', { schema: { summary: 'Item search (GET)', tags: ['STAC'], querystring: S.searchQuerySchema, response: S.responses.items } }, async (request, reply) => {
    const r = request as Req;
    return answerSearch(r, reply, searchParamsFromQuery(r.query), selfOf(r), null);
  });

  app.post('/search', { schema: { summary: 'Item search (POST)', tags: ['STAC'], body: S.searchBodySchema, response: S.responses.items } }, async (request, reply) => {
    const r = request as Req;
    const body = (r.body ?? {}) as Record<string, unknown>;
    const { token: _token, ...rest } = body;
    return answerSearch(r, reply, searchParamsFromBody(body), `${base(r)}/search`, rest);
  });

  // ---- transactions ----
  const write = { preHandler: guard };
  const wsec = { security: S.security, tags: ['STAC transactions'] };

  app.post('/collections', { ...write, schema: { ...wsec, summary: 'Create a collection', body: { type: 'object', additionalProperties: true }, response: S.responses.created(S.collectionSchema) } }, async (request, reply) => {
    const c = cat.createCollection(request.body as Record<string, unknown>);
    const b = base(request);
    return reply.code(201).header('Location', collectionUrl(b, c.id)).type(JSON_TYPE).send(withCollectionLinks(c, b));
  });

  app.put('/collections/:collectionId', { ...write, schema: { ...wsec, summary: 'Create or replace a collection', params: S.collectionParams, body: { type: 'object', additionalProperties: true }, response: S.responses.created(S.collectionSchema) } }, async (request, reply) => {
    const r = request as Req;
    const body = r.body as Record<string, unknown>;
    const id = r.params.collectionId as string;
    if (isObj(body) && body.id !== undefined && body.id !== id) throw new CatalogueError(400, `collection id ${JSON.stringify(body.id)} does not match the URL (${JSON.stringify(id)})`);
    const existed = cat.getCollection(id) !== null;
    const c = cat.upsertCollection({ ...(isObj(body) ? body : {}), id });
    const b = base(r);
    return reply.code(existed ? 200 : 201).header('Location', collectionUrl(b, c.id)).type(JSON_TYPE).send(withCollectionLinks(c, b));
  });

  app.delete('/collections/:collectionId', { ...write, schema: { ...wsec, summary: 'Delete a collection and its items', params: S.collectionParams, response: S.responses.deleted } }, async (request, reply) => {
    const r = request as Req;
    cat.deleteCollection(r.params.collectionId as string);
    return reply.code(204).send();
  });

  app.post('/collections/:collectionId/items', { ...write, schema: { ...wsec, summary: 'Create an item (or a FeatureCollection of items)', params: S.collectionParams, body: { type: 'object', additionalProperties: true }, response: S.responses.created(S.itemSchema) } }, async (request, reply) => {
    const r = request as Req;
    const cid = r.params.collectionId as string;
    const body = r.body as Record<string, unknown>;
    const b = base(r);
    if (body.type === 'FeatureCollection') {
      if (!Array.isArray(body.features)) throw new CatalogueError(400, 'a FeatureCollection needs "features"');
      const n = cat.bulkUpsertItems(body.features as Record<string, unknown>[], cid);
      return reply.code(201).type(JSON_TYPE).send({ type: 'FeatureCollection', features: [], links: [{ rel: 'collection', href: collectionUrl(b, cid), type: JSON_TYPE }], numberReturned: 0, numberWritten: n });
    }
    const { item } = cat.upsertItem(body, cid, 'create');
    return reply.code(201).header('Location', itemUrl(b, cid, item.id)).type(GEOJSON).send(withItemLinks(item, b));
  });

  app.put('/collections/:collectionId/items/:itemId', { ...write, schema: { ...wsec, summary: 'Create or replace an item', params: S.itemParams, body: { type: 'object', additionalProperties: true }, response: S.responses.created(S.itemSchema) } }, async (request, reply) => {
    const r = request as Req;
    const cid = r.params.collectionId as string;
    const iid = r.params.itemId as string;
    const body = r.body as Record<string, unknown>;
    if (body.id !== undefined && body.id !== iid) throw new CatalogueError(400, `item id ${JSON.stringify(body.id)} does not match the URL (${JSON.stringify(iid)})`);
    const { item, created } = cat.upsertItem({ ...body, id: iid }, cid, 'upsert');
    const b = base(r);
    if (!created) return reply.code(204).send();
    return reply.code(201).header('Location', itemUrl(b, cid, iid)).type(GEOJSON).send(withItemLinks(item, b));
  });

  app.patch('/collections/:collectionId/items/:itemId', { ...write, schema: { ...wsec, summary: 'Update an item with a JSON merge patch', params: S.itemParams, body: { type: 'object', additionalProperties: true }, response: S.responses.deleted } }, async (request, reply) => {
    const r = request as Req;
    const cid = r.params.collectionId as string;
    const iid = r.params.itemId as string;
    const patched = cat.db.transaction(() => {
      const current = cat.getItem(cid, iid);
      if (!current) throw new CatalogueError(404, `item ${JSON.stringify(iid)} does not exist in collection ${JSON.stringify(cid)}`);
      const next = mergePatch(current, r.body) as Record<string, unknown>;
      if (next.id !== iid || next.collection !== cid) throw new CatalogueError(400, 'a patch cannot change the id or collection of an item');
      return cat.upsertItem(next, cid, 'update');
    })();
    void patched;
    return reply.code(204).send();
  });

  app.delete('/collections/:collectionId/items/:itemId', { ...write, schema: { ...wsec, summary: 'Delete an item (204 also when it did not exist)', params: S.itemParams, response: S.responses.deleted } }, async (request, reply) => {
    const r = request as Req;
    cat.deleteItem(r.params.collectionId as string, r.params.itemId as string);
    return reply.code(204).send();
  });
}
