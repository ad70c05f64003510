/**
 * PREDICT over HTTP: gathers one scene from a request (an uploaded archive in the multipart field
 * `data`, a scene or STAC item URL in `urls`, or a STAC item as the JSON body or the `item` field), a
 * region (`window=x,y,w,h` in fine-grid pixels or a WGS84 `bbox=w,s,e,n`), opens it with openScene
 * (archives extracted with scene/archive.ts's checks) and runs predictScene into the outputs folder.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import proj4 from 'proj4';
import { proj4Definition } from '../../raster/crs.js';
import { intersectWindows, parseWindow, type PixelWindow } from '../../raster/grid.js';
import { archiveKind } from '../../scene/archive.js';
import type { InputLimits } from '../../scene/reader.js';
import type { Scene } from '../../scene/types.js';
import { fetchChecked, UrlRefusedError, type UrlCheck } from '../../scene/url-policy.js';

/** An error with the HTTP status and the STAC-style body the client gets. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The scene a request names, before it is opened. */
export interface PredictInput {
  /** What openScene opens: a local file or folder under the request's temporary folder, or a URL. */
  readonly input: string;
  /** How the client named it (for messages). */
  readonly shownAs: string;
  readonly window?: PixelWindow;
  /** WGS84 [west, south, east, north]. */
  readonly bbox?: readonly [number, number, number, number];
  /** What the client asked for: `tiff` or `json` (from the form field `accept`, if any). */
  readonly accept?: string;
}

/** Limits of one prediction request. */
export interface PredictLimits {
  /** Largest upload in bytes. */
  readonly uploadBytes: number;
  readonly archive?: Partial<InputLimits>;
}

/** Query parameters of a predict request. */
export interface PredictQuery {
  readonly urls?: string | readonly string[];
  readonly bbox?: string;
  readonly window?: string;
  readonly accept?: string;
}

const MAX_FIELD_BYTES = 4 * 1024 * 1024;

/** Parses `w,s,e,n` (WGS84 degrees) into a bbox, or a 400. */
export function parseBbox(text: string): [number, number, number, number] {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) throw new HttpError(400, 'InvalidParameterValue', `bbox must be "west,south,east,north" in WGS84 degrees, got "${text}"`);
  const [w, s, e, n] = parts;
  if (w < -180 || e > 180 || s < -90 || n > 90 || w >= e || s >= n) throw new HttpError(400, 'InvalidParameterValue', `bbox ${text} is not a WGS84 box (west < east within -180..180, south < north within -90..90)`);
  return [w, s, e, n];
}

/** Parses `x,y,w,h` into a pixel window, or a 400. */
export function parseWindowParam(text: string): PixelWindow {
  try {
    const w = parseWindow(text);
    if (![w.x, w.y, w.width, w.height].every(Number.isInteger) || w.x < 0 || w.y < 0) throw new Error(`window must be non-negative integers "x,y,width,height", got "${text}"`);
    return w;
  } catch (e) {
    throw new HttpError(400, 'InvalidParameterValue', (e as Error).message);
  }
}

/** The fine-grid pixel window covering a WGS84 bbox on a scene (clipped to it); a 400 when they do not overlap. */
export function bboxToWindow(scene: Scene, bbox: readonly [number, number, number, number]): PixelWindow {
  const { grid } = scene;
  if (grid.crs.epsg === null) throw new HttpError(422, 'UnprocessableScene', `scene ${scene.id} has no EPSG code, so a WGS84 bbox cannot be placed on it: give a pixel window instead`);
  const conv = grid.crs.epsg === 4326 ? null : proj4(proj4Definition(4326), proj4Definition(grid.crs.epsg));
  const [w, s, e, n] = bbox;
  const xs: number[] = [];
  const ys: number[] = [];
  const steps = 8;
  for (let i = 0; i <= steps; i++) {
    for (const [lon, lat] of [
      [w + ((e - w) * i) / steps, s],
      [w + ((e - w) * i) / steps, n],
      [w, s + ((n - s) * i) / steps],
      [e, s + ((n - s) * i) / steps],
    ] as [number, number][]) {
      const [x, y] = conv ? (conv.forward([lon, lat]) as [number, number]) : [lon, lat];
      if (Number.isFinite(x) && Number.isFinite(y)) {
        xs.push(x);
        ys.push(y);
      }
    }
  }
  const t = grid.transform;
  const px = xs.map((x) => (x - t.x0) / t.dx);
  const py = ys.map((y) => (y - t.y0) / t.dy);
  const x0 = Math.floor(Math.min(...px));
  const x1 = Math.ceil(Math.max(...px));
  const y0 = Math.floor(Math.min(...py));
  const y1 = Math.ceil(Math.max(...py));
  const win = xs.length ? intersectWindows({ x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, { x: 0, y: 0, width: grid.width, height: grid.height }) : null;
  if (!win || win.width <= 0 || win.height <= 0) throw new HttpError(400, 'InvalidParameterValue', `bbox ${bbox.join(',')} does not overlap scene ${scene.id}`);
  return win;
}

/** The archive kind of a file from its first bytes: zip, gzip (a .tar.gz) or tar; null for anything else. */
async function sniffArchive(path: string): Promise<'zip' | 'tar.gz' | 'tar' | null> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    if (bytesRead >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && (buf[2] === 3 || buf[2] === 5) && (buf[3] === 4 || buf[3] === 6)) return 'zip';
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'tar.gz';
    if (bytesRead >= 262 && buf.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
    return null;
  } finally {
    await fh.close();
  }
}

/** A safe local name for an uploaded archive: the client's base name when it has the right extension. */
function uploadName(original: string | undefined, kind: 'zip' | 'tar.gz' | 'tar'): string {
  const ext = kind === 'zip' ? '.zip' : kind === 'tar' ? '.tar' : '.tar.gz';
  const base = basename(original ?? '').replace(/[^\w.-]/g, '_').replace(/^\.+/, '');
  const lower = base.toLowerCase();
  if (base && (lower.endsWith(ext) || (kind === 'tar.gz' && lower.endsWith('.tgz')))) return base.slice(0, 200);
  const stem = base.replace(/\.(zip|tar|tgz|tar\.gz|gz)$/i, '');
  return `${stem || 'scene'}${ext}`;
}

function firstUrl(v: string | readonly string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const list = (typeof v === 'string' ? [v] : [...v]).flatMap((s) => s.split(/[\s,]+/)).filter(Boolean);
  if (list.length > 1) throw new HttpError(400, 'InvalidParameterValue', `one scene per request: got ${list.length} urls`);
  return list[0];
}

function checkUrl(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new HttpError(400, 'InvalidParameterValue', `urls: "${u}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HttpError(400, 'InvalidParameterValue', `urls: only http and https URLs are read, got ${url.protocol}`);
  return url.href;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Writes a STAC item given in the request to a file openScene reads. */
async function itemInput(item: unknown, tmp: string): Promise<string> {
  let value = item;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch (e) {
      throw new HttpError(400, 'InvalidParameterValue', `item is not JSON: ${(e as Error).message}`);
    }
  }
  if (!isObject(value) || value.type !== 'Feature' || !isObject(value.assets)) throw new HttpError(400, 'InvalidParameterValue', 'item must be a STAC item (a GeoJSON Feature with assets)');
  // The server reads what the item points at: only remote assets, never the server's own files.
  for (const [key, asset] of Object.entries(value.assets)) {
    const href = isObject(asset) ? asset.href : undefined;
    if (typeof href !== 'string') continue;
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(href) || /^file:/i.test(href)) {
      throw new HttpError(400, 'InvalidParameterValue', `item asset "${key}": href must be an absolute URL (http, https), not a path on the server: "${href.slice(0, 200)}"`);
    }
  }
  const path = join(tmp, 'item.json');
  await writeFile(path, JSON.stringify(value));
  return path;
}

/** Gathers the scene and region a predict request names; uploads are written under `tmp`. */
export async function gatherInput(request: FastifyRequest, tmp: string, limits: PredictLimits): Promise<PredictInput> {
  const q = (request.query ?? {}) as PredictQuery;
  const fields: Record<string, string> = {};
  let upload: { path: string; name: string | undefined } | null = null;
  let jsonItem: unknown;
  if (request.isMultipart()) {
    try {
      for await (const part of request.parts({ limits: { fileSize: limits.uploadBytes, files: 1, fields: 16, fieldSize: MAX_FIELD_BYTES } })) {
        if (part.type === 'file') {
          if (part.fieldname !== 'data') {
            part.file.resume();
            throw new HttpError(400, 'InvalidParameterValue', `unexpected file field "${part.fieldname}": send the scene archive in the field "data"`);
          }
          const path = join(tmp, 'upload.bin');
          await pipeline(part.file, createWriteStream(path));
          if (part.file.truncated) throw new HttpError(413, 'PayloadTooLarge', `the upload is larger than the limit of ${limits.uploadBytes} bytes`);
          upload = { path, name: part.filename };
        } else fields[part.fieldname] = String(part.value);
      }
    } catch (e) {
      if (e instanceof HttpError) throw e;
      const err = e as { code?: string; statusCode?: number; message: string };
      if (err.code === 'FST_REQ_FILE_TOO_LARGE') throw new HttpError(413, 'PayloadTooLarge', `the upload is larger than the limit of ${limits.uploadBytes} bytes`);
      if (err.code === 'FST_FILES_LIMIT') throw new HttpError(413, 'PayloadTooLarge', 'one file per request: send the scene archive in the field "data"');
      if (err.code === 'FST_FIELDS_LIMIT' || err.code === 'FST_PARTS_LIMIT') throw new HttpError(413, 'PayloadTooLarge', 'too many form fields');
      throw new HttpError(err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400, 'InvalidRequest', `cannot read the multipart body: ${err.message}`);
    }
  } else if (isObject(request.body)) {
    const b = request.body;
    if (b.type === 'Feature') jsonItem = b;
    else {
      if (b.item !== undefined) jsonItem = b.item;
      for (const k of ['urls', 'bbox', 'window', 'accept'] as const) {
        const v = b[k];
        if (typeof v === 'string') fields[k] = v;
        else if (Array.isArray(v) && k === 'urls') fields[k] = v.map(String).join(' ');
        else if (Array.isArray(v) && k === 'bbox') fields[k] = v.map(String).join(',');
      }
    }
  } else if (request.body !== undefined && request.body !== null && request.body !== '') {
    throw new HttpError(415, 'UnsupportedMediaType', 'send a multipart form (field "data" with a scene archive, or "urls", or "item") or a JSON body (a STAC item, or {"urls": ..., "item": ...})');
  }
  if (fields.item !== undefined) jsonItem = fields.item;
  const url = firstUrl(fields.urls ?? q.urls);
  const given = [upload !== null, url !== undefined, jsonItem !== undefined].filter(Boolean).length;
  if (given === 0) throw new HttpError(400, 'MissingParameterValue', 'no scene: upload an archive in the form field "data", or give "urls" (a scene or STAC item URL), or a STAC item');
  if (given > 1) throw new HttpError(400, 'InvalidParameterValue', 'give one scene: an uploaded archive ("data"), "urls" or a STAC item, not several');

  const windowText = fields.window ?? q.window;
  const bboxText = fields.bbox ?? q.bbox;
  if (windowText !== undefined && bboxText !== undefined) throw new HttpError(400, 'InvalidParameterValue', 'give a window or a bbox, not both');
  const region = {
    ...(windowText !== undefined && windowText !== '' ? { window: parseWindowParam(windowText) } : {}),
    ...(bboxText !== undefined && bboxText !== '' ? { bbox: parseBbox(bboxText) } : {}),
    ...(fields.accept ? { accept: fields.accept } : {}),
  };

  if (upload) {
    const kind = await sniffArchive(upload.path);
    if (!kind) throw new HttpError(400, 'InvalidArchive', `${upload.name ?? 'the upload'}: not an archive sharpstream extracts (a .zip such as a .SAFE zip, a .tar or a .tar.gz)`);
    const name = uploadName(upload.name, kind);
    const dir = join(tmp, 'upload');
    await mkdir(dir, { recursive: true });
    const path = join(dir, name);
    await rename(upload.path, path);
    return { input: path, shownAs: upload.name ?? name, ...region };
  }
  if (url !== undefined) {
    const href = checkUrl(url);
    return { input: href, shownAs: href, ...region };
  }
  return { input: await itemInput(jsonItem, tmp), shownAs: 'the STAC item in the request', ...region };
}

/** Removes a request's temporary folder, whatever happened. */
export async function cleanTmp(tmp: string): Promise<void> {
  await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
}

/**
 * When a `urls` scene is an archive (.zip, .tar, .tar.gz by its path), downloads it into `tmp` (at
 * most `limitBytes`) and returns the local path; other URLs (STAC items, folders) are read in place.
 */
export async function fetchArchiveUrl(input: PredictInput, tmp: string, limitBytes: number, signal: AbortSignal, checkUrl?: UrlCheck): Promise<PredictInput> {
  if (!/^https?:\/\//i.test(input.input)) return input;
  const url = new URL(input.input);
  const kind = archiveKind(url.pathname);
  if (!kind) return input;
  let res: Response;
  try {
    // Redirects are followed by hand so that every hop passes the URL check, not only the first.
    res = await fetchChecked(url.href, { signal }, checkUrl);
  } catch (e) {
    if (e instanceof UrlRefusedError) throw new HttpError(400, 'InvalidParameterValue', e.message);
    throw new HttpError(422, 'UnreadableScene', `${url.href}: cannot download: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) throw new HttpError(422, 'UnreadableScene', `${url.href}: download answered HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? 'NaN');
  if (declared > limitBytes) {
    await res.body.cancel().catch(() => undefined);
    throw new HttpError(413, 'PayloadTooLarge', `${url.href} is ${declared} bytes, larger than the limit of ${limitBytes} bytes`);
  }
  const dir = join(tmp, 'download');
  await mkdir(dir, { recursive: true });
  const name = basename(url.pathname).replace(/[^\w.-]/g, '_').replace(/^\.+/, '') || `scene.${kind}`;
  const path = join(dir, name);
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > limitBytes) cb(new HttpError(413, 'PayloadTooLarge', `${url.href} is larger than the limit of ${limitBytes} bytes`));
      else cb(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>), counter, createWriteStream(path));
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(422, 'UnreadableScene', `${url.href}: download failed: ${(e as Error).message}`);
  }
  return { ...input, input: path };
}
