/**
 * Serves prediction outputs (`/outputs/<prediction id>/<file>`): the COG with HTTP range requests (so
 * a GIS or the map page reads it as a cloud-optimized GeoTIFF), its STAC item and quicklooks.
 */
import { createReadStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './predict.js';

const TYPES: Readonly<Record<string, string>> = {
  '.tif': 'image/tiff; application=geotiff; profile=cloud-optimized',
  '.json': 'application/geo+json',
  '.tiff': 'image/tiff; application=geotiff',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
};

/** A single byte range of a `Range: bytes=...` header, null for none, 'bad' when unsatisfiable or malformed. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'bad' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'bad';
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'bad';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return 'bad';
  return { start, end };
}

/** Sends one output file (whole or a byte range); 404 for anything that is not a plain output file. */
export async function sendOutput(outputsDir: string, id: string, file: string, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(id) || !/^[A-Za-z0-9_][\w.-]{0,250}$/.test(file) || file.includes('..')) {
    throw new HttpError(404, 'NotFound', `no output ${id}/${file}`);
  }
  const path = join(outputsDir, id, file);
  const st = await stat(path).catch(() => null);
  if (!st || !st.isFile()) throw new HttpError(404, 'NotFound', `no output ${id}/${file}`);
  return sendFile(path, st.size, request, reply);
}

/** Sends a file of known size, whole or the byte range the request asks for (206), with its media type. */
export function sendFile(path: string, size: number, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const type = TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
  reply.header('Accept-Ranges', 'bytes').header('Cache-Control', 'public, max-age=3600').type(type);
  const range = parseRange(request.headers.range, size);
  if (range === 'bad') {
    reply.header('Content-Range', `bytes */${size}`);
    throw new HttpError(416, 'RangeNotSatisfiable', `range ${request.headers.range} is outside ${basename(path)} (${size} bytes)`);
  }
  if (range) {
    reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${size}`).header('Content-Length', String(range.end - range.start + 1));
    return reply.send(createReadStream(path, { start: range.start, end: range.end }));
  }
  reply.header('Content-Length', String(size));
  return reply.send(createReadStream(path));
}

/**
 * Deletes prediction output folders (`<outputsDir>/<id>/`) last written more than `maxAgeMs` ago;
 * returns the ids removed. Anything that is not such a folder is left alone.
 */
export async function sweepOutputs(outputsDir: string, maxAgeMs: number, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  const entries = await readdir(outputsDir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory() || !/^[A-Za-z0-9-]{1,64}$/.test(e.name)) continue;
    const dir = join(outputsDir, e.name);
    const st = await stat(dir).catch(() => null);
    if (!st || now - st.mtimeMs <= maxAgeMs) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(e.name);
  }
  return removed;
}
