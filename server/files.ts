/**
 * Output files of a local output store over HTTP: `/files/<path under the store folder>`, with range
 * requests so that GIS tools read the COGs as cloud-optimized GeoTIFFs and the page shows quicklooks.
 * STAC items whose assets are absolute paths inside that folder are answered with `/files/` URLs.
 * Only output kinds are served (COG, PNG/JPEG quicklooks, STAC JSON): never the catalogue database.
 */
import { realpath, stat } from 'node:fs/promises';
import { extname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendFile } from './deepaas/outputs.js';
import { sendError } from './http.js';

/** URL prefix of served output files. */
export const FILES_PREFIX = '/files/';

const SERVED = new Set(['.tif', '.tiff', '.png', '.jpg', '.jpeg', '.json']);

/** The `/files/` URL of an absolute path inside `root`, or null when it lies elsewhere or is not a served kind. */
export function fileUrl(path: string, root: string, base: string): string | null {
  if (!isAbsolute(path) || !SERVED.has(extname(path).toLowerCase())) return null;
  const rel = relative(root, path);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return null;
  return `${base}${FILES_PREFIX}${rel.split(sep).map(encodeURIComponent).join('/')}`;
}

/** An item whose local asset hrefs inside `root` are replaced by their `/files/` URLs (other hrefs unchanged). */
export function withServedAssets(item: Record<string, unknown>, root: string, base: string): Record<string, unknown> {
  const assets = item.assets;
  if (typeof assets !== 'object' || assets === null) return item;
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [k, a] of Object.entries(assets as Record<string, unknown>)) {
    const href = typeof a === 'object' && a !== null ? (a as { href?: unknown }).href : undefined;
    const url = typeof href === 'string' ? fileUrl(href.startsWith('file://') ? decodeURIComponent(href.slice(7)) : href, root, base) : null;
    if (url) changed = true;
    out[k] = url ? { ...(a as Record<string, unknown>), href: url } : a;
  }
  return changed ? { ...item, assets: out } : item;
}

/** Registers `GET /files/*` serving output files from `root`. */
export async function registerFiles(app: FastifyInstance, root: string): Promise<void> {
  const top = await realpath(resolve(root)).catch(() => resolve(root));
  app.get(`${FILES_PREFIX}*`, { schema: { hide: true } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const rel = decodeURIComponent((request.params as { '*': string })['*'] ?? '');
    const notFound = () => sendError(reply, 404, `no output file ${rel}`);
    if (!rel || rel.includes('\0') || !SERVED.has(extname(rel).toLowerCase())) return notFound();
    const wanted = resolve(top, rel);
    // Links may not lead out of the folder: compare real paths.
    const real = await realpath(wanted).catch(() => null);
    if (!real || (real !== top && !real.startsWith(top + sep))) return notFound();
    const st = await stat(real).catch(() => null);
    if (!st?.isFile()) return notFound();
    return sendFile(real, st.size, request, reply);
  });
}
