/**
 * The in-process bus, sharpstream's embedded default source: `publish(event)` hands a scene event to
 * the running stream and resolves once its outputs are durable (ack), or rejects with the error when
 * it finally fails (nack after `maxAttempts`). Events published before the stream subscribes wait in
 * order; nothing is lost between publish and subscription.
 */
import { Observable, type Subscriber } from 'rxjs';
import { parseSceneEvent, type Delivery, type SceneEvent, type SceneSource } from '../pipeline/types.js';

/** Options of createBus. */
export interface BusOptions {
  /** Deliveries of one event before its publish() rejects (default 1: no retry). */
  readonly maxAttempts?: number;
  /** Source name (default `bus`). */
  readonly name?: string;
}

/** An in-process scene source that code publishes into. */
export interface SceneBus extends SceneSource {
  /** Publishes an event (a SceneEvent, a STAC item or `{href}`); resolves on ack, rejects on the final nack. */
  publish(event: SceneEvent | unknown): Promise<void>;
  /** Events published and not yet acknowledged or failed. */
  readonly pending: number;
}

interface Entry {
  readonly event: SceneEvent;
  attempt: number;
  resolve(): void;
  reject(e: Error): void;
}

/** Creates an in-process bus. */
export function createBus(options: BusOptions = {}): SceneBus {
  const maxAttempts = options.maxAttempts ?? 1;
  const name = options.name ?? 'bus';
  const queue: Entry[] = [];
  let subscriber: Subscriber<Delivery<SceneEvent>> | null = null;
  let closed = false;
  let pending = 0;

  const deliver = (entry: Entry): void => {
    if (!subscriber) {
      queue.push(entry);
      return;
    }
    let settled = false;
    subscriber.next({
      value: entry.event,
      source: name,
      attempt: entry.attempt,
      ack: async () => {
        if (settled) return;
        settled = true;
        pending--;
        entry.resolve();
      },
      nack: async (error: Error) => {
        if (settled) return;
        settled = true;
        if (entry.attempt < maxAttempts && !closed) {
          entry.attempt++;
          // Redeliver after the current delivery has finished unwinding.
          setImmediate(() => deliver(entry));
          return;
        }
        pending--;
        entry.reject(error);
      },
    });
  };

  return {
    name,
    get pending() {
      return pending;
    },
    publish(raw: SceneEvent | unknown): Promise<void> {
      if (closed) return Promise.reject(new Error(`${name} is closed`));
      let event: SceneEvent;
      try {
        event = parseSceneEvent(raw);
      } catch (e) {
        return Promise.reject(e as Error);
      }
      pending++;
      return new Promise<void>((resolve, reject) => deliver({ event, attempt: 1, resolve, reject }));
    },
    deliveries(): Observable<Delivery<SceneEvent>> {
      return new Observable<Delivery<SceneEvent>>((sub) => {
        if (subscriber) {
          sub.error(new Error(`${name} already has a subscriber`));
          return;
        }
        if (closed) {
          sub.complete();
          return;
        }
        subscriber = sub;
        for (const e of queue.splice(0)) deliver(e);
        return () => {
          if (subscriber === sub) subscriber = null;
        };
      });
    },
    async close(): Promise<void> {
      closed = true;
      for (const e of queue.splice(0)) {
        pending--;
        e.reject(new Error(`${name} closed before the event was delivered`));
      }
      subscriber?.complete();
      subscriber = null;
    },
  };
}
