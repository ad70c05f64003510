/**
 * Bounded worker pools: at most `concurrency` tasks run at once, at most `maxQueue` wait; a full
 * queue refuses new work at once (PoolFullError) instead of letting latency grow without bound.
 * Separate pools (predictions, trainings) never queue behind each other.
 */

/** Thrown when a pool's queue is full or the pool is closed. */
export class PoolFullError extends Error {
  constructor(
    readonly pool: string,
    message: string,
  ) {
    super(message);
    this.name = 'PoolFullError';
  }
}

/** Options of a WorkPool. */
export interface PoolOptions {
  readonly name: string;
  /** Tasks running at once (>= 1). */
  readonly concurrency: number;
  /** Tasks waiting at most (default: unbounded). */
  readonly maxQueue?: number;
}

interface Waiting {
  readonly start: () => void;
  readonly reject: (e: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** A bounded pool of async tasks; each task gets an AbortSignal that fires when the pool closes. */
export class WorkPool {
  private running = 0;
  private readonly queue: Waiting[] = [];
  private readonly controller = new AbortController();
  private readonly active = new Set<Promise<unknown>>();
  private closed = false;

  constructor(readonly options: PoolOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) throw new Error(`pool ${options.name}: concurrency must be a positive integer, got ${options.concurrency}`);
  }

  /** Tasks running now. */
  get size(): number {
    return this.running;
  }

  /** Tasks waiting now. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Runs a task when a slot is free. The task's signal aborts when `signal` aborts or the pool
   * closes; a task still waiting when `signal` aborts is rejected with the signal's reason.
   */
  async run<T>(task: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.closed) throw new PoolFullError(this.options.name, `${this.options.name} pool is closed`);
    if (signal?.aborted) throw toError(signal.reason);
    if (this.running >= this.options.concurrency) {
      if (this.options.maxQueue !== undefined && this.queue.length >= this.options.maxQueue) {
        throw new PoolFullError(this.options.name, `${this.options.name} pool is busy: ${this.running} running and ${this.queue.length} waiting (limit ${this.options.maxQueue}); try again later`);
      }
      await new Promise<void>((resolve, reject) => {
        const w: Waiting = {
          start: () => {
            signal?.removeEventListener('abort', w.onAbort);
            resolve();
          },
          reject,
          signal,
          onAbort: () => {
            const i = this.queue.indexOf(w);
            if (i >= 0) this.queue.splice(i, 1);
            reject(toError(signal!.reason));
          },
        };
        signal?.addEventListener('abort', w.onAbort, { once: true });
        this.queue.push(w);
      });
    } else this.running++;
    const combined = signal ? AbortSignal.any([signal, this.controller.signal]) : this.controller.signal;
    const p = (async () => {
      try {
        return await task(combined);
      } finally {
        this.release();
      }
    })();
    this.active.add(p);
    p.then(
      () => this.active.delete(p),
      () => this.active.delete(p),
    );
    return p;
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next.start();
    else this.running--;
  }

  /** Refuses new work, rejects waiting tasks, aborts running ones and waits for them to settle. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.queue.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(new PoolFullError(this.options.name, `${this.options.name} pool closed`));
    }
    this.controller.abort(new Error(`${this.options.name} pool closed`));
    await Promise.allSettled([...this.active]);
  }
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason ?? 'aborted'));
}
