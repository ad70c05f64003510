/**
 * Scene events from a STAC API: polls item search (POST /search, falling back to GET when the API
 * refuses POST) for the configured collections, area (bbox or intersects), datetime window and
 * cloud-cover ceiling, follows `next` links page by page, and emits each item once.
 *
 * Cloud cover is filtered by the API in the dialect its /conformance announces (CQL2 `filter`, else
 * the `query` extension) and again here, so an API with neither still gets the right items.
 *
 * Checkpoint: items are ordered by `properties.datetime` (then id); a JSON state file keeps the
 * latest datetime below which every emitted item is settled plus the ids settled at that very
 * datetime, and the ids settled beyond it (acks arrive out of order). It is written atomically
 * (temporary file + rename) after each ack, so a restarted watcher re-emits nothing it acknowledged
 * and searches from the checkpoint on. Items acquired before the checkpoint but catalogued later are
 * not seen (widen `datetime` and reset the state file to pick those up). A nack retries the item up
 * to `maxAttempts` times in process, then records it as failed in the state and moves on.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Observable, type Subscriber } from 'rxjs';
import { parseSceneEvent, type Delivery, type SceneEvent, type SceneSource } from '../pipeline/types.js';
import type { StacItem } from '../stac/item.js';

/** A GeoJSON geometry for `intersects`. */
export type GeoJsonGeometry = Record<string, unknown> & { type: string };

/** The search an item search runs (also used by `sharpstream replay`). */
export interface StacSearchOptions {
  /** STAC API root (landing page) URL. */
  readonly url: string;
  readonly collections?: readonly string[];
  readonly bbox?: readonly [number, number, number, number];
  readonly intersects?: GeoJsonGeometry;
  /** RFC 3339 instant or interval (`start/end`, either side may be `..` or empty). */
  readonly datetime?: string;
  /** Only items with `eo:cloud_cover` <= this (items without the property are left out). */
  readonly maxCloudCover?: number;
  /** Page size (default 100). */
  readonly limit?: number;
  /** Extra request headers (e.g. an API key). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly fetch?: typeof fetch;
  /** Per-request timeout in ms (default 30000). */
  readonly timeoutMs?: number;
}

/** A STAC search failed: names the URL, the status and the API's answer. */
export class StacSearchError extends Error {
  override readonly name = 'StacSearchError';
}

type Json = Record<string, unknown>;
interface Link {
  rel?: string;
  href?: string;
  method?: string;
  body?: Json;
  merge?: boolean;
  headers?: Record<string, string>;
}

/** What the API can do, from its conformance classes. */
export interface SearchDialect {
  readonly filter: boolean;
  readonly query: boolean;
  readonly sort: boolean;
}

function root(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new StacSearchError(`STAC API URL "${url}" is not an http(s) URL`);
  }
  return url.replace(/\/+$/, '');
}

async function request(o: StacSearchOptions, method: 'GET' | 'POST', url: string, body?: Json, extraHeaders: Record<string, string> = {}): Promise<{ status: number; json: unknown; text: string }> {
  const f = o.fetch ?? fetch;
  let res: Response;
  try {
    res = await f(url, {
      method,
      headers: { accept: 'application/geo+json, application/json', ...(body ? { 'content-type': 'application/json' } : {}), ...o.headers, ...extraHeaders },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(o.timeoutMs ?? 30_000),
    });
  } catch (err) {
    const c = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
    const cause = c?.code ?? c?.errors?.find((e) => e.code)?.code ?? c?.message;
    throw new StacSearchError(`${method} ${url}: ${(err as Error).message}${cause ? ` (${cause})` : ''}`);
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

/** Reads the API's conformance classes (GET /conformance, else the landing page's conformsTo). */
export async function searchDialect(o: StacSearchOptions): Promise<SearchDialect> {
  const base = root(o.url);
  let classes: unknown[] = [];
  for (const path of ['/conformance', '/']) {
    const r = await request(o, 'GET', `${base}${path}`);
    const c = (r.json as Json | null)?.conformsTo;
    if (r.status === 200 && Array.isArray(c)) {
      classes = c;
      break;
    }
  }
  const has = (re: RegExp): boolean => classes.some((c) => typeof c === 'string' && re.test(c));
  return {
    filter: has(/item-search#filter|ogcapi-features-3\/[^/]*\/conf\/filter|\/filter$/) && has(/cql2-json|cql2\/[^/]*\/conf\/cql2-json|#cql2-json/),
    query: has(/item-search#query/),
    sort: has(/item-search#sort/),
  };
}

/** The POST body of a search (first page). */
export function searchBody(o: StacSearchOptions, dialect: SearchDialect, datetime: string | undefined): Json {
  const body: Json = { limit: o.limit ?? 100 };
  if (o.collections?.length) body.collections = [...o.collections];
  if (o.bbox && o.intersects) throw new StacSearchError('search: give bbox or intersects, not both');
  if (o.bbox) body.bbox = [...o.bbox];
  if (o.intersects) body.intersects = o.intersects;
  if (datetime) body.datetime = datetime;
  if (o.maxCloudCover !== undefined) {
    if (dialect.filter) {
      body['filter-lang'] = 'cql2-json';
      body.filter = { op: '<=', args: [{ property: 'eo:cloud_cover' }, o.maxCloudCover] };
    } else if (dialect.query) {
      body.query = { 'eo:cloud_cover': { lte: o.maxCloudCover } };
    }
  }
  if (dialect.sort) body.sortby = [{ field: 'properties.datetime', direction: 'asc' }, { field: 'id', direction: 'asc' }];
  return body;
}

/** The same search as GET query parameters. */
function searchQuery(body: Json): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(body)) {
    if (v === undefined) continue;
    if (k === 'collections' || k === 'bbox') p.set(k, (v as unknown[]).join(','));
    else if (k === 'sortby') p.set(k, (v as { field: string; direction: string }[]).map((s) => `${s.direction === 'desc' ? '-' : '+'}${s.field}`).join(','));
    else if (typeof v === 'object') p.set(k, JSON.stringify(v));
    else p.set(k, String(v));
  }
  return p.toString();
}

/** Whether an item passes the cloud-cover ceiling (checked here whatever the API did). */
function cloudOk(item: StacItem, max: number | undefined): boolean {
  if (max === undefined) return true;
  const cc = (item.properties as Json | undefined)?.['eo:cloud_cover'];
  return typeof cc === 'number' && cc <= max;
}

/**
 * Runs an item search and yields its items page by page (following `next` links, GET or POST as the
 * link says). POST /search is tried first; a 404/405/501 answer switches to GET /search.
 */
export async function* searchItems(o: StacSearchOptions, datetime: string | undefined = o.datetime, dialect?: SearchDialect): AsyncGenerator<StacItem> {
  const base = root(o.url);
  const d = dialect ?? (await searchDialect(o));
  const body = searchBody(o, d, datetime);
  let r = await request(o, 'POST', `${base}/search`, body);
  if ([404, 405, 501].includes(r.status)) r = await request(o, 'GET', `${base}/search?${searchQuery(body)}`);
  let lastBody = body;
  const seenPages = new Set<string>();
  for (;;) {
    if (r.status !== 200) throw new StacSearchError(`STAC search at ${base} answered HTTP ${r.status}: ${r.text.slice(0, 500)}`);
    const page = r.json as Json | null;
    if (!page || !Array.isArray(page.features)) throw new StacSearchError(`STAC search at ${base} did not answer a FeatureCollection: ${r.text.slice(0, 200)}`);
    for (const f of page.features as StacItem[]) if (cloudOk(f, o.maxCloudCover)) yield f;
    const next = (Array.isArray(page.links) ? (page.links as Link[]) : []).find((l) => l.rel === 'next' && typeof l.href === 'string');
    if (!next || (page.features as unknown[]).length === 0) return;
    const key = `${next.method ?? 'GET'} ${next.href} ${JSON.stringify(next.body ?? {})}`;
    if (seenPages.has(key)) throw new StacSearchError(`STAC search at ${base}: the next link repeats (${next.href}); stopping`);
    seenPages.add(key);
    if ((next.method ?? 'GET').toUpperCase() === 'POST') {
      lastBody = next.merge ? { ...lastBody, ...(next.body ?? {}) } : (next.body ?? lastBody);
      r = await request(o, 'POST', next.href!, lastBody, next.headers);
    } else {
      r = await request(o, 'GET', next.href!, undefined, next.headers);
    }
  }
}

/** The checkpoint of a watcher, as stored in its state file. */
export interface WatcherState {
  /** Every emitted item with a datetime before this is settled; null before the first. */
  readonly datetime: string | null;
  /** Ids settled at exactly `datetime`. */
  readonly ids: readonly string[];
  /** Items settled beyond the checkpoint (an earlier one is still running). */
  readonly ahead: readonly { readonly id: string; readonly datetime: string }[];
  /** The last items given up on (newest last, at most 100). */
  readonly failed: readonly { readonly id: string; readonly datetime: string; readonly error: string; readonly at: string }[];
}

const EMPTY_STATE: WatcherState = { datetime: null, ids: [], ahead: [], failed: [] };

/** Reads a state file (a missing file is an empty state; a corrupt one is an error naming it). */
export async function readWatcherState(path: string): Promise<WatcherState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_STATE;
    throw err;
  }
  try {
    const j = JSON.parse(text) as Partial<WatcherState>;
    if ((j.datetime !== null && typeof j.datetime !== 'string') || !Array.isArray(j.ids)) throw new Error('expected {datetime, ids, ahead, failed}');
    return { datetime: j.datetime ?? null, ids: j.ids, ahead: Array.isArray(j.ahead) ? j.ahead : [], failed: Array.isArray(j.failed) ? j.failed : [] };
  } catch (err) {
    throw new Error(`STAC watcher state file ${path} is not valid: ${(err as Error).message} (delete it to start over)`);
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** Options of stacWatcher. */
export interface StacWatcherOptions extends StacSearchOptions {
  /** Time between polls in ms (default 60000). */
  readonly intervalMs?: number;
  /** Checkpoint file (JSON); without one the checkpoint lives in memory only. */
  readonly statePath?: string;
  /** The same as statePath (the name `sharpstream run`'s config uses). */
  readonly checkpoint?: string;
  /** Attempts per item before it is recorded as failed (default 3). */
  readonly maxAttempts?: number;
  /** Delay before retry n is `retryDelayMs * (n - 1)` (default 5000). */
  readonly retryDelayMs?: number;
  /** Items emitted and not yet settled before the watcher stops emitting more in a poll (default 4). */
  readonly maxInFlight?: number;
  /** Progress and problems, for logs and tests. */
  readonly onEvent?: (e: StacWatcherEvent) => void;
}

/** What the watcher reports. */
export type StacWatcherEvent =
  | { readonly type: 'poll'; readonly datetime: string | undefined; readonly found: number; readonly emitted: number }
  | { readonly type: 'poll-failed'; readonly error: string }
  | { readonly type: 'checkpoint'; readonly datetime: string | null; readonly ids: readonly string[] }
  | { readonly type: 'retry'; readonly id: string; readonly attempt: number; readonly error: string }
  | { readonly type: 'failed'; readonly id: string; readonly error: string };

function itemDatetime(item: StacItem): string | null {
  const p = (item.properties ?? {}) as Json;
  const d = typeof p.datetime === 'string' ? p.datetime : typeof p.start_datetime === 'string' ? p.start_datetime : null;
  return d && Number.isFinite(Date.parse(d)) ? new Date(Date.parse(d)).toISOString() : null;
}

/** Narrows `window` (an RFC 3339 interval or instant, or undefined) to start no earlier than `from`. */
export function narrowInterval(window: string | undefined, from: string | null): string | undefined {
  if (!from) return window;
  if (!window) return `${from}/..`;
  if (!window.includes('/')) return window; // a single instant: nothing to narrow
  const [start, end] = window.split('/') as [string, string];
  const s = start && start !== '..' ? Date.parse(start) : -Infinity;
  if (Number.isNaN(s)) throw new StacSearchError(`datetime "${window}" is not an RFC 3339 interval`);
  const f = Date.parse(from);
  return `${f > s ? from : start}/${end || '..'}`;
}

const sleep = (ms: number, signal: { stopped: boolean; wake?: () => void }): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.wake = () => {
      clearTimeout(t);
      resolve();
    };
  });

interface Emitted {
  readonly id: string;
  readonly datetime: string;
  done: boolean;
}

function byTime(a: Emitted, b: Emitted): number {
  return a.datetime < b.datetime ? -1 : a.datetime > b.datetime ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

class StacWatcher implements SceneSource {
  readonly name: string;
  private state: WatcherState = EMPTY_STATE;
  private readonly active = new Map<string, Emitted>();
  /** Emitted items not yet covered by the checkpoint, in (datetime, id) order. */
  private order: Emitted[] = [];
  private readonly control: { stopped: boolean; wake?: () => void } = { stopped: false };
  private subscriber: Subscriber<Delivery<SceneEvent>> | null = null;
  private writeChain: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private slotFreed: (() => void) | null = null;

  constructor(private options: StacWatcherOptions) {
    root(options.url);
    this.name = `stac:${options.url}`;
    if (!options.statePath && options.checkpoint) this.options = { ...options, statePath: options.checkpoint };
  }

  private emit(e: StacWatcherEvent): void {
    try {
      this.options.onEvent?.(e);
    } catch {
      /* a listener's failure is not the watcher's */
    }
  }

  deliveries(): Observable<Delivery<SceneEvent>> {
    return new Observable<Delivery<SceneEvent>>((subscriber) => {
      if (this.subscriber) {
        subscriber.error(new Error(`${this.name}: deliveries() already has a subscriber`));
        return undefined;
      }
      this.subscriber = subscriber;
      this.control.stopped = false;
      this.loop().catch((err: unknown) => subscriber.error(err instanceof Error ? err : new Error(String(err))));
      return () => {
        void this.close();
      };
    });
  }

  private settled(id: string): boolean {
    if (this.active.has(id)) return true;
    if (this.state.ahead.some((a) => a.id === id)) return true;
    return false;
  }

  private async loop(): Promise<void> {
    if (this.options.statePath) this.state = await readWatcherState(this.options.statePath);
    // items settled beyond the checkpoint last time: the checkpoint moves over them once earlier ones settle
    for (const a of this.state.ahead) {
      const entry: Emitted = { id: a.id, datetime: a.datetime, done: true };
      this.active.set(a.id, entry);
      this.order.push(entry);
    }
    this.order.sort(byTime);
    let dialect: SearchDialect | null = null;
    while (!this.control.stopped) {
      try {
        // an API that is down at start is retried like any failed poll
        dialect ??= await searchDialect(this.options);
        await this.poll(dialect);
      } catch (err) {
        this.emit({ type: 'poll-failed', error: (err as Error).message });
      }
      if (this.control.stopped) break;
      await sleep(this.options.intervalMs ?? 60_000, this.control);
    }
  }

  private async poll(dialect: SearchDialect): Promise<void> {
    const window = narrowInterval(this.options.datetime, this.state.datetime);
    const found: { item: StacItem; datetime: string }[] = [];
    for await (const item of searchItems(this.options, window, dialect)) {
      if (this.control.stopped) return;
      const dt = itemDatetime(item);
      if (!dt || typeof item.id !== 'string') continue;
      const cp = this.state.datetime;
      if (cp && (dt < cp || (dt === cp && this.state.ids.includes(item.id)))) continue;
      if (this.settled(item.id)) continue;
      found.push({ item, datetime: dt });
    }
    found.sort((a, b) => (a.datetime < b.datetime ? -1 : a.datetime > b.datetime ? 1 : a.item.id < b.item.id ? -1 : a.item.id > b.item.id ? 1 : 0));
    let emitted = 0;
    for (const { item, datetime } of found) {
      while (this.inFlight >= (this.options.maxInFlight ?? 4) && !this.control.stopped) await new Promise<void>((r) => (this.slotFreed = r));
      if (this.control.stopped) break;
      const entry: Emitted = { id: item.id, datetime, done: false };
      this.active.set(item.id, entry);
      this.order.push(entry);
      this.order.sort(byTime);
      this.inFlight++;
      this.deliver(this.eventOf(item), entry, 1);
      emitted++;
    }
    this.emit({ type: 'poll', datetime: window, found: found.length, emitted });
  }

  private eventOf(item: StacItem): SceneEvent {
    const links = Array.isArray(item.links) ? item.links : [];
    const hasSelf = links.some((l) => (l as { rel?: string }).rel === 'self');
    const collection = typeof item.collection === 'string' ? item.collection : undefined;
    const self = collection ? `${root(this.options.url)}/collections/${encodeURIComponent(collection)}/items/${encodeURIComponent(item.id)}` : undefined;
    const withSelf = hasSelf || !self ? item : { ...item, links: [...links, { rel: 'self', href: self, type: 'application/geo+json' }] };
    return parseSceneEvent(withSelf);
  }

  private deliver(event: SceneEvent, entry: Emitted, attempt: number): void {
    let settled = false;
    const once = (): void => {
      if (settled) throw new Error(`${this.name}: delivery of ${event.id} was already settled`);
      settled = true;
    };
    const maxAttempts = this.options.maxAttempts ?? 3;
    this.subscriber?.next({
      value: event,
      source: `${this.name}#${event.id}`,
      attempt,
      ack: async () => {
        once();
        await this.settle(entry);
      },
      nack: async (error: Error) => {
        once();
        if (attempt < maxAttempts) {
          this.emit({ type: 'retry', id: event.id, attempt: attempt + 1, error: error.message });
          setTimeout(() => {
            if (!this.control.stopped) this.deliver(event, entry, attempt + 1);
          }, (this.options.retryDelayMs ?? 5000) * attempt);
          return;
        }
        this.emit({ type: 'failed', id: event.id, error: error.message });
        await this.settle(entry, error);
      },
    });
  }

  /** Marks an item settled, advances the checkpoint over the settled prefix and writes the state file. */
  private settle(entry: Emitted, error?: Error): Promise<void> {
    entry.done = true;
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.slotFreed?.();
    this.slotFreed = null;
    let { datetime, ids } = this.state;
    let ahead = [...this.state.ahead, { id: entry.id, datetime: entry.datetime }];
    const failed = error ? [...this.state.failed, { id: entry.id, datetime: entry.datetime, error: error.message, at: new Date().toISOString() }].slice(-100) : this.state.failed;
    while (this.order.length > 0 && this.order[0]!.done) {
      const e = this.order.shift()!;
      this.active.delete(e.id);
      ids = e.datetime === datetime ? [...ids, e.id] : [e.id];
      datetime = e.datetime;
      ahead = ahead.filter((a) => a.id !== e.id);
    }
    this.state = { datetime, ids, ahead, failed };
    const snapshot = this.state;
    this.emit({ type: 'checkpoint', datetime: snapshot.datetime, ids: snapshot.ids });
    const path = this.options.statePath;
    if (!path) return Promise.resolve();
    this.writeChain = this.writeChain.then(() => writeAtomic(path, `${JSON.stringify(snapshot, null, 2)}\n`));
    return this.writeChain;
  }

  async close(): Promise<void> {
    this.control.stopped = true;
    this.control.wake?.();
    this.slotFreed?.();
    const subscriber = this.subscriber;
    this.subscriber = null;
    subscriber?.complete();
    await this.writeChain.catch(() => undefined);
  }
}

/** A scene source that polls a STAC API's item search and emits each new item once (see the module comment). */
export function stacWatcher(options: StacWatcherOptions): SceneSource {
  return new StacWatcher(options);
}
