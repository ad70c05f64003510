/**
 * The results page: a fastify plugin serving a map of the catalogue's outputs (Leaflet, served from
 * node_modules, no CDN), a before/after swipe between each output's bicubic and super-resolved
 * quicklooks, and live training progress from the DEEPaaS API. The page is plain ES modules under
 * `server/web/static/` (no build step). It lives at `/map`; a browser asking for `/` (Accept prefers
 * text/html) gets the page too, while JSON clients keep the STAC landing page there.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
// The schema's `hide` (keep the static files out of the OpenAPI document) comes from @fastify/swagger's types.
import type {} from '@fastify/swagger';

/** Options of the page plugin. */
export interface WebPageOptions {
  /**
   * Base-layer tile URL template for Leaflet (`https://tiles.example/{z}/{x}/{y}.png`). None by
   * default: the map then shows only the outputs' footprints and quicklooks, so it works offline.
   */
  readonly tileUrl?: string;
  /** Attribution shown for the tile layer. */
  readonly tileAttribution?: string;
  /** How often the page polls the training jobs, in milliseconds (default 5000). */
  readonly jobsPollMs?: number;
  /** Items per page of the output list (default 20). */
  readonly pageSize?: number;
  /** Folder of the page's own files (default: `server/web/static` of this checkout). */
  readonly staticDir?: string;
}

/** The configuration the page reads from `/map/config.json`. */
export interface WebPageConfig {
  readonly tileUrl: string | null;
  readonly tileAttribution: string | null;
  readonly jobsPollMs: number;
  readonly pageSize: number;
}

/** Content types of the files the page serves, by extension. */
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
};

/** Leaflet's distribution files the page may load, relative to `leaflet/dist`. */
const LEAFLET_FILES = [
  'leaflet.js',
  'leaflet.js.map',
  'leaflet-src.esm.js',
  'leaflet-src.esm.js.map',
  'leaflet.css',
  'images/layers.png',
  'images/layers-2x.png',
  'images/marker-icon.png',
  'images/marker-icon-2x.png',
  'images/marker-shadow.png',
] as const;

/** The page's own files under the static folder. */
const PAGE_FILES = ['index.html', 'app.js', 'map.js', 'swipe.js', 'jobs.js', 'stac.js', 'page.css'] as const;

/** Finds `server/web/static` from this module, whether it runs from source or from `dist/`. */
export function defaultStaticDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'static'), resolve(here, '../../../server/web/static')];
  for (const c of candidates) if (existsSync(join(c, 'index.html'))) return c;
  throw new Error(`results page: static files not found (looked in ${candidates.join(', ')})`);
}

/** The folder of Leaflet's distribution files in node_modules. */
export function leafletDistDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('leaflet/package.json');
  } catch {
    throw new Error('results page: the leaflet package is not installed (npm ci installs it)');
  }
  return join(dirname(pkg), 'dist');
}

/**
 * Whether an Accept header prefers HTML to JSON: true for browsers (`text/html,...,*\/*;q=0.8`), false
 * for `application/json`, `application/geo+json`, `*\/*` or no header.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  for (const part of accept.split(',')) {
    const [rawType, ...params] = part.trim().toLowerCase().split(';');
    const type = rawType.trim();
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) q = Number(m[1]);
    }
    if (!Number.isFinite(q)) continue;
    if (type === 'text/html' || type === 'application/xhtml+xml') html = Math.max(html, q);
    else if (type === 'application/json' || type === 'application/geo+json' || type === 'application/*') json = Math.max(json, q);
  }
  return html > 0 && html > json;
}

/** Extension of a file name, lower case, with the dot. */
function extOf(name: string): string {
  const i = name.lastIndexOf('.');
  return i < 0 ? '' : name.slice(i).toLowerCase();
}

/** Registers the page's routes on an app: `/map`, `/map/config.json`, `/static/*`, and `/` for browsers. */
async function webPagePlugin(app: FastifyInstance, options: WebPageOptions): Promise<void> {
  const staticDir = options.staticDir ?? defaultStaticDir();
  const leafletDir = leafletDistDir();
  const files = new Map<string, string>();
  for (const f of PAGE_FILES) files.set(f, join(staticDir, f));
  for (const f of LEAFLET_FILES) files.set(`leaflet/${f}`, join(leafletDir, f));
  for (const [name, path] of files) {
    if (!existsSync(path)) throw new Error(`results page: ${path} is missing (needed for /static/${name})`);
  }
  const cache = new Map<string, Buffer>();
  const load = async (name: string): Promise<Buffer | null> => {
    const path = files.get(name);
    if (!path) return null;
    let body = cache.get(name);
    if (!body) {
      body = await readFile(path);
      cache.set(name, body);
    }
    return body;
  };

  const config: WebPageConfig = {
    tileUrl: options.tileUrl ?? null,
    tileAttribution: options.tileAttribution ?? null,
    jobsPollMs: Math.max(500, options.jobsPollMs ?? 5000),
    pageSize: Math.min(200, Math.max(1, Math.floor(options.pageSize ?? 20))),
  };
  if (config.tileUrl !== null && !/^https?:\/\/.+\{z\}.*\{x\}.*\{y\}/.test(config.tileUrl)) {
    throw new Error(`results page: tile URL ${config.tileUrl} must be http(s) with {z}, {x} and {y}`);
  }

  const sendPage = async (reply: FastifyReply): Promise<FastifyReply> => {
    const body = await load('index.html');
    return reply
      .header('Content-Type', TYPES['.html'])
      .header('Cache-Control', 'no-cache')
      .header('Vary', 'Accept')
      .send(body);
  };

  // A browser opening the root gets the page; every other client keeps the STAC landing page.
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if ((request.method === 'GET' || request.method === 'HEAD') && request.url.split('?')[0] === '/' && prefersHtml(request.headers.accept)) {
      await sendPage(reply);
      return reply;
    }
    return undefined;
  });

  app.get(
    '/map',
    {
      schema: {
        summary: 'The results page: outputs on a map, before/after swipe, training progress',
        tags: ['page'],
        response: { 200: { description: 'The HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    },
    async (_request, reply) => sendPage(reply),
  );

  app.get(
    '/map/config.json',
    {
      schema: {
        summary: 'Configuration of the results page',
        tags: ['page'],
        response: {
          200: {
            type: 'object',
            required: ['tileUrl', 'tileAttribution', 'jobsPollMs', 'pageSize'],
            additionalProperties: false,
            properties: {
              tileUrl: { type: ['string', 'null'] },
              tileAttribution: { type: ['string', 'null'] },
              jobsPollMs: { type: 'integer' },
              pageSize: { type: 'integer' },
            },
          },
        },
      },
    },
    async (_request, reply) => reply.header('Cache-Control', 'no-cache').send(config),
  );

  app.get<{ Params: { '*': string } }>('/static/*', { schema: { hide: true } }, async (request, reply) => {
    const name = request.params['*'];
    const body = await load(name);
    if (!body) {
      return reply.code(404).send({ code: 'NotFound', description: `no static file ${name}` });
    }
    return reply
      .header('Content-Type', TYPES[extOf(name)] ?? 'application/octet-stream')
      .header('Cache-Control', name.startsWith('leaflet/') ? 'public, max-age=86400' : 'no-cache')
      .header('X-Content-Type-Options', 'nosniff')
      .send(body);
  });
}

/**
 * The page plugin, to `await app.register(webPage, options)` at the root of the server. Its root
 * hook (content negotiation on `/`) must see every request, so the plugin is not encapsulated.
 */
export const webPage = Object.assign(webPagePlugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'sharpstream-web-page',
});

export default webPage;
