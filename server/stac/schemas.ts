/**
 * JSON schemas of the STAC API routes: they validate requests (fastify/ajv) and generate the OpenAPI
 * document (`/openapi.json`). Bodies are checked loosely here and exactly by the catalogue's validator,
 * whose messages name the problem.
 */
import { errorSchema } from '../http.js';

const link = {
  type: 'object',
  required: ['rel', 'href'],
  properties: { rel: { type: 'string' }, href: { type: 'string' }, type: { type: 'string' }, title: { type: 'string' }, method: { type: 'string' } },
  additionalProperties: true,
} as const;

/** Loose schema of a STAC item. */
export const itemSchema = {
  type: 'object',
  description: 'STAC Item (GeoJSON Feature)',
  required: ['type', 'id', 'geometry', 'properties', 'links', 'assets'],
  properties: {
    type: { type: 'string', enum: ['Feature'] },
    stac_version: { type: 'string' },
    stac_extensions: { type: 'array', items: { type: 'string' } },
    id: { type: 'string' },
    collection: { type: 'string' },
    geometry: { type: 'object', nullable: true, additionalProperties: true },
    bbox: { type: 'array', items: { type: 'number' } },
    properties: { type: 'object', additionalProperties: true },
    links: { type: 'array', items: link },
    assets: { type: 'object', additionalProperties: true },
  },
  additionalProperties: true,
} as const;

/** Loose schema of a STAC collection. */
export const collectionSchema = {
  type: 'object',
  description: 'STAC Collection',
  required: ['type', 'id', 'description', 'license', 'extent', 'links'],
  properties: {
    type: { type: 'string', enum: ['Collection'] },
    stac_version: { type: 'string' },
    id: { type: 'string' },
    title: { type: 'string' },
    description: { type: 'string' },
    license: { type: 'string' },
    extent: { type: 'object', additionalProperties: true },
    links: { type: 'array', items: link },
  },
  additionalProperties: true,
} as const;

/** Schema of an item collection (search results, collection items). */
export const itemCollectionSchema = {
  type: 'object',
  description: 'GeoJSON FeatureCollection of STAC items',
  required: ['type', 'features', 'links'],
  properties: {
    type: { type: 'string', enum: ['FeatureCollection'] },
    features: { type: 'array', items: { type: 'object', additionalProperties: true } },
    links: { type: 'array', items: link },
    numberReturned: { type: 'integer' },
  },
  additionalProperties: true,
} as const;

const linksDoc = {
  type: 'object',
  required: ['links'],
  properties: { links: { type: 'array', items: link } },
  additionalProperties: true,
} as const;

const text = { type: 'string' } as const;

/** Query parameters shared by GET /search and GET /collections/{id}/items. */
const searchQueryProps = {
  bbox: { type: 'string', description: 'west,south,east,north (WGS84), e.g. 5,45,10,50' },
  datetime: { type: 'string', description: 'RFC 3339 instant or interval (a/b, ../b, a/..)' },
  limit: { type: 'integer', minimum: 1, description: 'page size (default 10, at most 10000)' },
  sortby: { type: 'string', description: 'comma-separated fields, - for descending: -datetime,id' },
  fields: { type: 'string', description: 'comma-separated fields to include, - to exclude' },
  query: { type: 'string', description: 'Query extension object as JSON' },
  filter: { type: 'string', description: 'CQL2 filter (cql2-text by default)' },
  'filter-lang': { type: 'string', enum: ['cql2-text', 'cql2-json'] },
  'filter-crs': { type: 'string', enum: ['http://www.opengis.net/def/crs/OGC/1.3/CRS84'] },
  token: { type: 'string', description: 'paging token from a next/prev link' },
} as const;

/** Query string of GET /search. */
export const searchQuerySchema = {
  type: 'object',
  properties: {
    collections: { type: 'string', description: 'comma-separated collection ids' },
    ids: { type: 'string', description: 'comma-separated item ids' },
    intersects: { type: 'string', description: 'GeoJSON geometry as JSON' },
    ...searchQueryProps,
  },
} as const;

/** Query string of GET /collections/{id}/items. */
export const itemsQuerySchema = { type: 'object', properties: searchQueryProps } as const;

/** Body of POST /search. */
export const searchBodySchema = {
  type: 'object',
  properties: {
    collections: { type: 'array', items: text },
    ids: { type: 'array', items: text },
    bbox: { type: 'array', items: { type: 'number' }, minItems: 4, maxItems: 6 },
    intersects: { type: 'object', additionalProperties: true },
    datetime: text,
    limit: { type: 'integer', minimum: 1 },
    sortby: { type: 'array', items: { type: 'object', required: ['field'], properties: { field: text, direction: { type: 'string', enum: ['asc', 'desc'] } } } },
    fields: { type: 'object', properties: { include: { type: 'array', items: text, nullable: true }, exclude: { type: 'array', items: text, nullable: true } } },
    query: { type: 'object', additionalProperties: { type: 'object', additionalProperties: true } },
    filter: { description: 'CQL2 filter: cql2-json object, or cql2-text string with filter-lang cql2-text' },
    'filter-lang': { type: 'string', enum: ['cql2-text', 'cql2-json'] },
    'filter-crs': { type: 'string', enum: ['http://www.opengis.net/def/crs/OGC/1.3/CRS84'] },
    token: text,
  },
  additionalProperties: true,
} as const;

/** Path parameters. */
export const collectionParams = {
  type: 'object',
  required: ['collectionId'],
  properties: { collectionId: { type: 'string', minLength: 1 } },
} as const;
export const itemParams = {
  type: 'object',
  required: ['collectionId', 'itemId'],
  properties: { collectionId: { type: 'string', minLength: 1 }, itemId: { type: 'string', minLength: 1 } },
} as const;

/** Error responses every route may give. */
export const errors = { 400: errorSchema, 404: errorSchema, 500: errorSchema } as const;
export const writeErrors = { ...errors, 401: errorSchema, 403: errorSchema, 409: errorSchema, 413: errorSchema } as const;

/** Response schemas. */
export const responses = {
  landing: { 200: { ...linksDoc, description: 'Landing page' }, ...errors },
  conformance: { 200: { type: 'object', required: ['conformsTo'], properties: { conformsTo: { type: 'array', items: text } } }, ...errors },
  collections: {
    200: { type: 'object', required: ['collections', 'links'], properties: { collections: { type: 'array', items: collectionSchema }, links: { type: 'array', items: link } } },
    ...errors,
  },
  collection: { 200: collectionSchema, ...errors },
  items: { 200: itemCollectionSchema, ...errors },
  item: { 200: itemSchema, ...errors },
  queryables: { 200: { type: 'object', description: 'JSON Schema of the queryable properties', additionalProperties: true }, ...errors },
  created: (schema: object) => ({ 200: schema, 201: schema, 204: { type: 'null', description: 'replaced' }, ...writeErrors }),
  deleted: { 204: { type: 'null', description: 'deleted (or already absent)' }, ...writeErrors },
} as const;

/** The write-route security requirement for the OpenAPI document. */
export const security: { [label: string]: string[] }[] = [{ apiKey: [] }, { bearer: [] }];
