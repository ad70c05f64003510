/**
 * The stream's contracts: what a scene event is, how a source hands one over (a Delivery that is
 * acknowledged only once its outputs are durable), and what the pipeline reports for each scene.
 * Sources (connectors/), operators (operators/) and sinks all speak these types.
 */
import type { Observable } from 'rxjs';
import type { PixelWindow } from '../raster/grid.js';
import type { StacItem } from '../stac/item.js';

/** A request to super-resolve one scene, as carried by a bus, a Kafka topic or the inbox. */
export interface SceneEvent {
  /** Stable id of the input scene (STAC item id, or derived from the path). */
  readonly id: string;
  /** Where the scene is: folder, archive, STAC item file or URL (absolute). */
  readonly href: string;
  /** The input STAC item itself, when the event carries it (then href is its self link). */
  readonly item?: StacItem;
  /** Version of the input (e.g. the item's `updated`); part of the idempotency key. */
  readonly version?: string;
  /** Model ids or paths per group; default: the shipped models for the scene's satellite. */
  readonly models?: readonly string[];
  /** Region in fine-grid pixels (default: the whole scene). */
  readonly window?: PixelWindow;
  /** Satellite definition id when it cannot be recognised from the scene. */
  readonly satellite?: string;
}

/** One event handed over by a source; the source learns the outcome through ack or nack. */
export interface Delivery<T = SceneEvent> {
  readonly value: T;
  /** Name of the source (e.g. `kafka:scenes/3@1042`, `inbox`, `bus`), for logs and dead letters. */
  readonly source: string;
  /** 1 for the first delivery; more when redelivered. */
  readonly attempt: number;
  /** The outputs are durable: the source may forget the event (commit the offset, etc.). */
  ack(): Promise<void>;
  /** Processing failed; the source retries or dead-letters it by its own policy. */
  nack(error: Error): Promise<void>;
}

/** What the stream produced for one scene. */
export type SceneOutcome =
  | {
      readonly kind: 'done';
      readonly event: SceneEvent;
      /** Output STAC item (hrefs point into the output store). */
      readonly item: StacItem;
      readonly cogHref: string;
      readonly itemHref: string;
      /** True when the output already existed and the scene was not processed again. */
      readonly skipped: boolean;
      readonly seconds: number;
    }
  | {
      readonly kind: 'failed';
      readonly event: SceneEvent;
      /** Stage that failed: read, superResolve, writeCog, publish, ... */
      readonly stage: string;
      readonly error: Error;
    };

/** A scene event that is not valid JSON or lacks required fields. */
export class SceneEventError extends Error {
  override readonly name = 'SceneEventError';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a scene event from JSON text or a value: a SceneEvent, a STAC item, or `{ "href": ... }`. */
export function parseSceneEvent(input: string | Uint8Array | unknown): SceneEvent {
  let v: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new SceneEventError(`scene event is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!isRecord(v)) throw new SceneEventError('scene event must be a JSON object (a STAC item, or {"href": ...})');
  if (v.type === 'Feature') {
    const item = v as StacItem;
    if (typeof item.id !== 'string' || !item.id) throw new SceneEventError('STAC item in scene event has no id');
    const links = Array.isArray(v.links) ? (v.links as unknown[]) : [];
    const self = links.find((l): l is { rel: string; href: string } => isRecord(l) && l.rel === 'self' && typeof l.href === 'string');
    const props = isRecord(item.properties) ? item.properties : {};
    const version = typeof props.updated === 'string' ? props.updated : typeof props.datetime === 'string' ? props.datetime : undefined;
    return { id: item.id, href: self?.href ?? `stac-item:${item.id}`, item, ...(version ? { version } : {}) };
  }
  const href = v.href;
  if (typeof href !== 'string' || href.length === 0) throw new SceneEventError('scene event has no "href" (a path or URL of the scene or its STAC item)');
  const id = typeof v.id === 'string' && v.id ? v.id : sceneIdFromHref(href);
  const out: { -readonly [K in keyof SceneEvent]: SceneEvent[K] } = { id, href };
  if (v.version !== undefined) {
    if (typeof v.version !== 'string') throw new SceneEventError('scene event "version" must be a string');
    out.version = v.version;
  }
  if (v.models !== undefined) {
    if (!Array.isArray(v.models) || !v.models.every((m) => typeof m === 'string')) throw new SceneEventError('scene event "models" must be an array of strings');
    out.models = v.models as string[];
  }
  if (v.satellite !== undefined) {
    if (typeof v.satellite !== 'string') throw new SceneEventError('scene event "satellite" must be a string');
    out.satellite = v.satellite;
  }
  if (v.window !== undefined) {
    const w = v.window;
    const ok = isRecord(w) && ['x', 'y', 'width', 'height'].every((k) => Number.isInteger(w[k]) && (w[k] as number) >= 0) && (w.width as number) > 0 && (w.height as number) > 0;
    if (!ok) throw new SceneEventError('scene event "window" must be {x, y, width, height} in non-negative whole pixels');
    out.window = w as unknown as PixelWindow;
  }
  return out;
}

/** A scene id from a path or URL: the last path segment without archive and item extensions. */
export function sceneIdFromHref(href: string): string {
  const clean = href.replace(/[?#].*$/, '').replace(/\/+$/, '');
  const last = clean.slice(clean.lastIndexOf('/') + 1) || clean;
  return last.replace(/\.(zip|tar|tar\.gz|tgz|json)$/i, '').replace(/\.SAFE$/i, '') || 'scene';
}

/** A source of scene events (in-process bus, inbox folder, Kafka topic, STAC API watcher). */
export interface SceneSource {
  /** Short name for logs. */
  readonly name: string;
  /** The deliveries; subscribing starts the source, unsubscribing stops consuming. */
  deliveries(): Observable<Delivery<SceneEvent>>;
  /** Stops the source and releases its connections (pending deliveries are not acknowledged). */
  close(): Promise<void>;
}

/** Where the stream reports each scene's outcome (an output topic, a log, a job table). */
export interface OutcomeSink {
  /** Short name for logs. */
  readonly name: string;
  /** Records one outcome durably; a rejection fails the scene's delivery (it is retried). */
  emit(outcome: SceneOutcome): Promise<void>;
  /** Flushes and releases connections. */
  close(): Promise<void>;
}
