/**
 * The real external STAC catalogue for tests: stac-fastapi-pgstac (transaction extension on) over
 * PostgreSQL + PostGIS + pgstac, started by the project's own scripts (scripts/pgstac/start.sh and
 * stop.sh, which install it on first use and serve it on http://127.0.0.1:8082). Helpers to reach it,
 * wait for it, and create and delete the collections a test works in.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './data.js';

const run = promisify(execFile);
const START_SCRIPT = join(REPO_ROOT, 'scripts/pgstac/start.sh');
const STOP_SCRIPT = join(REPO_ROOT, 'scripts/pgstac/stop.sh');
const DEFAULT_URL = 'http://127.0.0.1:8082';

/** The Python of the virtualenv start.sh installs (pypgstac, stac-fastapi-pgstac, pystac-client). */
export const PGSTAC_VENV_PYTHON = join(process.env.PGSTAC_VENV ?? join(REPO_ROOT, '.venv-pgstac'), 'bin/python');

/** The conformance class the API lists when its transaction extension (item create/update/delete) is on. */
export const TRANSACTION_CONFORMANCE = 'https://api.stacspec.org/v1.0.0/ogcapi-features/extensions/transaction';

/** A JSON object as the STAC API sends and receives it. */
export type JsonObject = Record<string, unknown>;

/** A STAC collection to create: any JSON object with an `id` (see testCollection for a valid one). */
export type CollectionInput = JsonObject & { id: string };

/** The STAC API tests talk to: `$PGSTAC_API_URL` (http or https), default http://127.0.0.1:8082, without a trailing slash. */
export function pgstacUrl(): string {
  const raw = process.env.PGSTAC_API_URL ?? DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`PGSTAC_API_URL: "${raw}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`PGSTAC_API_URL: "${raw}" is not an http(s) URL`);
  return url.href.replace(/\/+$/, '');
}

/** A response of the STAC API: its status and its body, parsed as JSON when it is JSON (else the text). */
export interface StacResponse {
  readonly status: number;
  readonly body: unknown;
}

/** Sends one request to the STAC API (`path` relative to `base`), with a JSON body when given; never throws on an HTTP status. */
export async function stacRequest(method: string, path: string, body?: unknown, base: string = pgstacUrl()): Promise<StacResponse> {
  const res = await fetch(`${base}${path.startsWith('/') ? '' : '/'}${path}`, {
    method,
    headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  if (text.length > 0 && /json/.test(res.headers.get('content-type') ?? '')) {
    try {
      parsed = JSON.parse(text) as unknown;
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, body: parsed };
}

/** Like stacRequest, but throws (naming the request, the status and the body) unless the status is 2xx; returns the body. */
export async function stacOk(method: string, path: string, body?: unknown, base: string = pgstacUrl()): Promise<unknown> {
  const res = await stacRequest(method, path, body, base);
  if (res.status < 200 || res.status >= 300) {
    const shown = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
    throw new Error(`${method} ${base}${path}: HTTP ${res.status}: ${shown.slice(0, 500)}`);
  }
  return res.body;
}

/** Why the API at `base` is not ready (GET / must answer 200 and /conformance list the transaction class), or null when it is. */
async function notReady(base: string): Promise<string | null> {
  try {
    const landing = await fetch(`${base}/`, { signal: AbortSignal.timeout(3000) });
    await landing.arrayBuffer();
    if (landing.status !== 200) return `GET / answered ${landing.status}`;
    const conf = await fetch(`${base}/conformance`, { signal: AbortSignal.timeout(3000) });
    if (conf.status !== 200) return `GET /conformance answered ${conf.status}`;
    const { conformsTo } = (await conf.json()) as { conformsTo?: unknown };
    if (!Array.isArray(conformsTo) || !conformsTo.includes(TRANSACTION_CONFORMANCE)) {
      return `/conformance does not list ${TRANSACTION_CONFORMANCE} (transaction extension off?)`;
    }
    return null;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return err instanceof Error ? `${err.message}${cause ? ` (${cause})` : ''}` : String(err);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until the STAC API answers GET / with 200 and lists the transaction class; throws naming the URL and the last problem after `timeoutMs`. */
export async function waitForPgstac(timeoutMs = 30_000, base: string = pgstacUrl()): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = await notReady(base);
    if (why === null) return;
    if (Date.now() >= deadline) throw new Error(`STAC API at ${base} not ready within ${timeoutMs} ms: ${why} (start it with npm run pgstac:start)`);
    await sleep(250);
  }
}

/** Whether the STAC API answers, ready, right now (one quick probe). */
export async function pgstacAnswers(base: string = pgstacUrl()): Promise<boolean> {
  return (await notReady(base)) === null;
}

/** The environment for the scripts: the API port from pgstacUrl(), which must then be on this machine. */
function scriptEnv(): NodeJS.ProcessEnv {
  const url = new URL(pgstacUrl());
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new Error(`PGSTAC_API_URL ${url.href} is not on this machine: scripts/pgstac can only start or stop a local catalogue`);
  }
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return { ...process.env, PGSTAC_API_PORT: port };
}

async function runScript(script: string): Promise<string> {
  try {
    const { stdout, stderr } = await run('bash', [script], { env: scriptEnv(), timeout: 600_000, maxBuffer: 1 << 22 });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message?: string };
    throw new Error(`${script} failed: ${e.message ?? String(err)}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/**
 * Starts the catalogue with scripts/pgstac/start.sh unless the API already answers, and reports
 * whether this call started it (so that a test stops only what it started). Returns once it is ready.
 * The first start on a machine installs PostgreSQL/PostGIS and a virtualenv (about a minute).
 */
export async function startPgstac(): Promise<{ startedHere: boolean; output: string }> {
  const base = pgstacUrl();
  if (await pgstacAnswers(base)) return { startedHere: false, output: `a STAC API already answers on ${base}` };
  const output = await runScript(START_SCRIPT);
  await waitForPgstac(10_000, base);
  return { startedHere: !/already running/.test(output), output };
}

/** Stops the API and PostgreSQL that scripts/pgstac/start.sh started (their data is kept). */
export async function stopPgstac(): Promise<string> {
  return runScript(STOP_SCRIPT);
}

/** A collection id that no other test run uses: `<prefix>-<time>-<random>`, only characters pgstac accepts in ids. */
export function uniqueCollectionId(prefix = 'test'): string {
  const safe = prefix.toLowerCase().replace(/[^a-z0-9._-]/g, '-');
  return `${safe}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A minimal valid STAC 1.1 collection with this id, covering `bbox` from `start` on (open-ended). */
export function testCollection(id: string, bbox: [number, number, number, number] = [-180, -90, 180, 90], start = '2015-06-23T00:00:00Z'): CollectionInput {
  return {
    type: 'Collection',
    stac_version: '1.1.0',
    id,
    description: `sharpstream test collection ${id}`,
    license: 'CC-BY-4.0',
    links: [],
    extent: { spatial: { bbox: [bbox] }, temporal: { interval: [[start, null]] } },
  };
}

/** Creates a collection (POST /collections); throws with the API's answer when it refuses (409 when the id exists). Returns the stored collection. */
export async function createCollection(c: CollectionInput): Promise<JsonObject> {
  if (typeof c.id !== 'string' || c.id.length === 0) throw new Error('createCollection: the collection needs a non-empty string id');
  return (await stacOk('POST', '/collections', c)) as JsonObject;
}

/** Deletes a collection and its items (DELETE /collections/{id}); a collection that does not exist is not an error. */
export async function deleteCollection(id: string): Promise<void> {
  const res = await stacRequest('DELETE', `/collections/${encodeURIComponent(id)}`);
  if (res.status === 404) return;
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`deleteCollection ${id}: HTTP ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`);
  }
}
