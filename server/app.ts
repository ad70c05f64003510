/**
 * The sharpstream HTTP server (fastify 5): the embedded STAC API, the DEEPaaS v2 API and the results
 * page on one port. @fastify/swagger is registered first so that `/openapi.json` is generated from
 * every route's JSON schema; errors everywhere are STAC-style bodies `{ code, description }`.
 */
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import type { Catalogue } from '../stac/catalogue/catalogue.js';
import { registerFiles } from './files.js';
import { errorResponse, sendError } from './http.js';
import { stacPlugin } from './stac/plugin.js';
import { deepaasPlugin, type DeepaasOptions } from './deepaas/plugin.js';
import { webPage, type WebPageOptions } from './web/plugin.js';

/** Options of buildServer. */
export interface ServerOptions {
  /** The embedded catalogue served by the STAC API (the caller opens and closes it). */
  readonly catalogue: Catalogue;
  /** Public base URL used in links (default: the scheme and Host of each request). */
  readonly baseUrl?: string;
  /** API key required for writes (STAC transactions, DEEPaaS training and prediction jobs). */
  readonly apiKey?: string;
  /** Accept writes without an API key when none is configured: local embedded runs only. */
  readonly allowAnonymousWrites?: boolean;
  /** Origins allowed by CORS (default ['*']); an empty list disables CORS headers. */
  readonly corsOrigins?: readonly string[];
  /** Largest accepted JSON body in bytes (default 8 MiB). */
  readonly bodyLimit?: number;
  /** Folder for server-side data (DEEPaaS outputs, uploads). */
  readonly dataDir?: string;
  /** Title shown on the landing page and in the OpenAPI document. */
  readonly title?: string;
  /** DEEPaaS settings (predict timeout, upload limit, pools, models folder...): server/deepaas/plugin.ts. */
  readonly deepaas?: Partial<Omit<DeepaasOptions, 'db' | 'auth'>>;
  /** Log requests (pino, to stdout). Default false. */
  readonly logger?: boolean;
  /** Options of the results page at `/map` (base-layer tiles, polling period); it works offline without any. */
  readonly page?: WebPageOptions;
  /** A local output folder to serve under /files/ (COGs, quicklooks, items); item assets in it get /files/ URLs. */
  readonly filesRoot?: string;
}

/** Default largest JSON body. */
export const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;

/** Package version for the OpenAPI document. */
export const API_VERSION = '0.1.0';

/** Builds (does not start) the server: swagger, CORS, error handling, then the STAC API, the DEEPaaS API and the page. */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit,
    ajv: { customOptions: { allErrors: false, coerceTypes: 'array', removeAdditional: false, useDefaults: true } },
  });

  // STAC items are POSTed as application/json or application/geo+json: same parser.
  app.addContentTypeParser('application/geo+json', { parseAs: 'string', bodyLimit }, app.getDefaultJsonParser('error', 'ignore'));

  app.setErrorHandler((err, request, reply) => {
    const { status, body } = errorResponse(err);
    if (status >= 500) request.log.error({ err }, 'request failed');
    return reply.code(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 404, `no such resource: ${request.method} ${request.url.split('?')[0]}`));

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: options.title ?? 'sharpstream',
        description: 'Super-resolved satellite imagery: the embedded STAC API (item search, filter, sort, fields, query, transactions) and the DEEPaaS v2 API.',
        version: API_VERSION,
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
    },
  });
  const origins = options.corsOrigins ?? ['*'];
  if (origins.length > 0) {
    await app.register(cors, {
      origin: origins.includes('*') ? '*' : [...origins],
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: ['Content-Type', 'Authorization', 'X-API-Key', 'Accept'],
      exposedHeaders: ['Location'],
    });
  }

  app.get('/openapi.json', { schema: { hide: true } }, async (_request, reply) => {
    return reply.type('application/vnd.oai.openapi+json;version=3.0').send(JSON.stringify(app.swagger()));
  });

  const auth = { apiKey: options.apiKey, allowAnonymous: options.allowAnonymousWrites ?? false };
  await app.register(stacPlugin, { catalogue: options.catalogue, baseUrl: options.baseUrl, auth, title: options.title, ...(options.filesRoot ? { filesRoot: resolve(options.filesRoot) } : {}) });
  if (options.filesRoot) await registerFiles(app, options.filesRoot);

  // ---- Other plugins register here (their owners add one line each): ----
  // H5, the DEEPaaS v2 API under /v2/ (jobs table in the catalogue's database; outputs under /outputs/; docs at /docs):
  await app.register(deepaasPlugin, {
    dataDir: options.dataDir ?? join(tmpdir(), 'sharpstream-server'),
    db: options.catalogue.db,
    auth,
    ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
    ...(options.deepaas ?? {}),
  });
  // H6, the results page (/map, and `/` for browsers):
  await app.register(webPage, options.page ?? {});
  // ------------------------------------------------------------------------

  return app;
}
