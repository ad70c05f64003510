/**
 * Publishes into any STAC API with the transaction extension (stac-fastapi-pgstac, the embedded
 * server, ...). Collections: created with POST /collections when missing, otherwise replaced with
 * PUT /collections/{id} carrying the union of the stored and the new extent, so a publisher never
 * narrows what earlier runs published. Items: POST /collections/{c}/items, and PUT
 * /collections/{c}/items/{id} when the item exists (409), which is idempotent on every server tried
 * (stac-fastapi-pgstac 7.2's PUT does not create, so PUT alone would not do). After each item the
 * collection's extent is widened when the item falls outside it. Requests that fail with 5xx, 429 or
 * a connection error are retried with exponential backoff, a bounded number of times; other errors
 * are raised at once with the server's own message.
 */
import type { StacItem } from '../../stac/item.js';
import { mergeCollectionExtent, widenExtent, type CollectionExtent } from '../../stac/collection.js';
import type { Publisher, StacCollection } from './publisher.js';

/** Settings of a STAC API publisher. */
export interface StacApiPublisherOptions {
  /** Root URL of the API (its landing page), e.g. http://127.0.0.1:8082. */
  readonly url: string;
  /** Sent as `X-API-Key` (the embedded server's header). */
  readonly apiKey?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly bearerToken?: string;
  /** Other headers sent with every request. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Retries after the first attempt for 5xx, 429 and connection errors (default 4). */
  readonly retries?: number;
  /** First backoff in ms, doubled per retry with jitter (default 250). */
  readonly backoffMs?: number;
  /** Timeout of one request in ms (default 30 s). */
  readonly timeoutMs?: number;
}

/** A request the STAC API refused or that could not be made; `status` is 0 without an HTTP answer. */
export class StacApiError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly serverMessage: string,
  ) {
    super(`${method} ${url}: ${status > 0 ? `HTTP ${status}` : 'no answer'}${serverMessage ? `: ${serverMessage}` : ''}`);
    this.name = 'StacApiError';
  }
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The server's message from an error body (`description`, `detail`, `message`, `code`) or its text. */
function serverMessage(body: unknown): string {
  if (typeof body === 'string') return body.slice(0, 500);
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const parts = [b.code, b.description, b.detail, b.message].filter((v) => v !== undefined && v !== null && v !== '');
    const text = parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(': ');
    return (text || JSON.stringify(body)).slice(0, 500);
  }
  return '';
}

function retryable(status: number): boolean {
  return status === 0 || status === 429 || status >= 500;
}

/** Publishes to a STAC API through its transaction endpoints. */
export class StacApiPublisher implements Publisher {
  readonly name: string;
  readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;
  /** The last extent known to be stored, per collection. */
  private readonly known = new Map<string, StacCollection>();

  /** A publisher for the API at `options.url`. */
  constructor(options: StacApiPublisherOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new Error(`STAC API publisher: "${options.url}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`STAC API publisher: "${options.url}" is not an http(s) URL`);
    this.url = url.href.replace(/\/+$/, '');
    this.name = `stac-api:${this.url}`;
    this.headers = {
      accept: 'application/json',
      ...(options.apiKey ? { 'x-api-key': options.apiKey } : {}),
      ...(options.bearerToken ? { authorization: `Bearer ${options.bearerToken}` } : {}),
      ...(options.headers ?? {}),
    };
    this.retries = Math.max(0, Math.floor(options.retries ?? 4));
    this.backoffMs = Math.max(0, options.backoffMs ?? 250);
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Sends one request, retrying transient failures; returns the answer (any status) or throws a StacApiError after the last retry. */
  private async request(method: string, path: string, body?: unknown): Promise<Answer> {
    const url = `${this.url}${path}`;
    let last: Answer | null = null;
    let lastError = '';
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await sleep(this.backoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5));
      try {
        const res = await fetch(url, {
          method,
          headers: body === undefined ? this.headers : { ...this.headers, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const text = await res.text();
        let parsed: unknown = text;
        if (text && /json/.test(res.headers.get('content-type') ?? '')) {
          try {
            parsed = JSON.parse(text) as unknown;
          } catch {
            parsed = text;
          }
        }
        last = { status: res.status, body: parsed };
        if (!retryable(res.status)) return last;
      } catch (e) {
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        lastError = `${(e as Error).message}${cause?.code ? ` (${cause.code})` : cause?.message ? ` (${cause.message})` : ''}`;
        last = null;
      }
    }
    const tries = `after ${this.retries + 1} attempt${this.retries === 0 ? '' : 's'}`;
    if (last) throw new StacApiError(method, url, last.status, `${serverMessage(last.body)} (${tries})`);
    throw new StacApiError(method, url, 0, `${lastError} (${tries})`);
  }

  /** Like request, but a status outside 2xx (and outside `accept`) is an error naming the server's message. */
  private async expect(method: string, path: string, body: unknown, accept: readonly number[] = []): Promise<Answer> {
    const a = await this.request(method, path, body);
    if ((a.status >= 200 && a.status < 300) || accept.includes(a.status)) return a;
    throw new StacApiError(method, `${this.url}${path}`, a.status, serverMessage(a.body));
  }

  private collectionPath(id: string): string {
    return `/collections/${encodeURIComponent(id)}`;
  }

  /** The collection as the API stores it, or null. */
  async getCollection(id: string): Promise<Record<string, unknown> | null> {
    const a = await this.expect('GET', this.collectionPath(id), undefined, [404]);
    return a.status === 404 ? null : (a.body as Record<string, unknown>);
  }

  /** Stores the collection body as given: created when missing, replaced otherwise. */
  private async putCollection(c: StacCollection, exists: boolean): Promise<void> {
    if (!exists) {
      const a = await this.expect('POST', '/collections', c, [409]);
      if (a.status !== 409) return;
      // created meanwhile by another writer: merge with what it stored
      c = mergeCollectionExtent(c, await this.getCollection(c.id));
    }
    await this.expect('PUT', this.collectionPath(c.id), c);
  }

  /** Creates the collection or replaces it, keeping the union of the stored and the new extent. */
  async upsertCollection(collection: StacCollection): Promise<void> {
    const stored = await this.getCollection(collection.id);
    const merged = mergeCollectionExtent(collection, stored);
    await this.putCollection(merged, stored !== null);
    this.known.set(merged.id, merged);
  }

  /** Creates or replaces the item, then widens its collection's extent when the item lies outside it. */
  async upsertItem(item: StacItem): Promise<void> {
    const cid = item.collection;
    if (typeof cid !== 'string' || cid.length === 0) throw new Error(`${this.name}: item ${item.id} has no collection`);
    const itemsPath = `${this.collectionPath(cid)}/items`;
    const posted = await this.request('POST', itemsPath, item);
    if (posted.status === 409) {
      await this.expect('PUT', `${itemsPath}/${encodeURIComponent(item.id)}`, item);
    } else if (posted.status < 200 || posted.status >= 300) {
      const hint = posted.status === 404 ? ' (does the collection exist? upsertCollection first)' : '';
      throw new StacApiError('POST', `${this.url}${itemsPath}`, posted.status, `${serverMessage(posted.body)}${hint}`);
    }
    await this.widenCollection(cid, item);
  }

  private async widenCollection(id: string, item: StacItem): Promise<void> {
    let current = this.known.get(id) ?? null;
    if (current && covers(current, widenExtent(current, item))) return;
    const stored = await this.getCollection(id);
    if (!stored) throw new StacApiError('GET', `${this.url}${this.collectionPath(id)}`, 404, `collection ${id} disappeared while publishing item ${item.id}`);
    current = stored as StacCollection;
    const widened = widenExtent(current, item);
    if (!covers(current, widened)) await this.expect('PUT', this.collectionPath(id), stripServerLinks(widened));
    this.known.set(id, widened);
  }

  /** Nothing to release (fetch keeps no session). */
  async close(): Promise<void> {
    this.known.clear();
  }
}

/** Whether a collection's extent already equals the widened one (nothing to write). */
function covers(current: StacCollection, widened: StacCollection): boolean {
  return JSON.stringify((current.extent as CollectionExtent | undefined) ?? null) === JSON.stringify(widened.extent);
}

/** A collection fetched from an API, without the links the API generates (self, root, items, parent). */
function stripServerLinks(c: StacCollection): StacCollection {
  const generated = new Set(['self', 'root', 'parent', 'items', 'queryables', 'aggregate', 'aggregations']);
  const links = Array.isArray(c.links) ? (c.links as { rel?: string }[]).filter((l) => !generated.has(String(l.rel))) : [];
  return { ...c, links };
}
