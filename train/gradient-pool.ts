/**
 * Data-parallel training on the CPU: TF.js's WebAssembly backend computes on one thread in Node, so a
 * training step on an n-core machine would leave n - 1 cores idle. The pool splits each batch into
 * shards, one per worker thread (`gradient-worker.ts`), each holding a copy of the network; the main
 * thread combines their losses and gradients, weighted by shard size and summed in shard order, which
 * gives the gradient of the whole batch's mean L1 loss — the same for a given number of threads on
 * every run, so training stays deterministic under a seed.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Graph } from '../model/graph.js';
import type { Batch } from './dataset.js';
import type { GradientReply, GradientRequest, GradientWorkerData } from './gradient-worker.js';

/** The loss of a batch and the gradient of each weight, in the order of the pool's shapes. */
export interface BatchGradients {
  readonly loss: number;
  readonly grads: Float32Array[];
}

/** Row ranges [start, end) splitting n patches into at most `parts` shards as evenly as possible. */
export function shardRanges(n: number, parts: number): [number, number][] {
  const k = Math.max(1, Math.min(parts, n));
  const out: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < k; i++) {
    const size = Math.floor(n / k) + (i < n % k ? 1 : 0);
    out.push([start, start + size]);
    start += size;
  }
  return out;
}

/**
 * How to start a worker: the compiled gradient-worker.js beside this module, or, running from the
 * TypeScript sources (tsx, vitest), a bootstrap that registers tsx in the thread and imports the .ts
 * (Node 20 does not apply an --import loader to a worker's entry module).
 */
function workerEntry(): { entry: URL | string; eval: boolean } {
  if (!import.meta.url.endsWith('.ts')) return { entry: new URL('./gradient-worker.js', import.meta.url), eval: false };
  const tsxDir = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const api = pathToFileURL(join(tsxDir, 'dist', 'esm', 'api', 'index.mjs')).href;
  const entry = new URL('./gradient-worker.ts', import.meta.url).href;
  return { entry: `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`, eval: true };
}

class GradientWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(r: { loss: number; grads: Float32Array[] }): void; reject(e: Error): void }>();
  private failure: Error | null = null;
  readonly ready: Promise<void>;

  constructor(init: GradientWorkerData) {
    const { entry, eval: isCode } = workerEntry();
    this.worker = new Worker(entry, { workerData: init, eval: isCode });
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: GradientReply) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'error' && m.id === undefined) reject(new Error(`a training worker thread could not start: ${m.message}`));
        else return;
        this.worker.off('message', onMessage);
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', (e) => reject(new Error(`a training worker thread could not start: ${e.message}`)));
      this.worker.once('exit', (code) => reject(new Error(`a training worker thread exited while starting (code ${code})`)));
    });
    this.ready.catch(() => undefined);
    this.worker.on('message', (m: GradientReply) => {
      if (m.type === 'ready' || m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve({ loss: m.loss, grads: m.grads });
      else p.reject(new Error(`a training worker thread failed: ${m.message}`));
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    this.worker.on('error', (e) => fail(new Error(`a training worker thread failed: ${e.message}`)));
    this.worker.on('exit', (code) => fail(new Error(`a training worker thread exited (code ${code})`)));
  }

  compute(req: GradientRequest): Promise<{ loss: number; grads: Float32Array[] }> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      this.worker.postMessage(req, [req.input.buffer as ArrayBuffer, req.label.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('the training worker pool is closed');
    await this.worker.terminate();
  }
}

/** Worker threads computing a batch's loss and gradients in shards; `close()` stops them. */
export class GradientPool {
  private nextId = 1;

  private constructor(
    private readonly workers: GradientWorker[],
    private readonly sizes: readonly number[],
  ) {}

  /** Starts `threads` workers, each with the network of `graph` on `runtime`; rejects with the first that fails. */
  static async start(threads: number, runtime: string, graph: Graph, shapes: readonly (readonly [string, readonly number[]])[]): Promise<GradientPool> {
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`training threads must be a positive integer, got ${threads}`);
    const init: GradientWorkerData = { runtime, graph, shapes };
    const workers = Array.from({ length: threads }, () => new GradientWorker(init));
    try {
      await Promise.all(workers.map((w) => w.ready));
    } catch (e) {
      await Promise.all(workers.map((w) => w.close()));
      throw e;
    }
    return new GradientPool(
      workers,
      shapes.map(([, s]) => s.reduce((a, b) => a * b, 1)),
    );
  }

  /** The number of worker threads. */
  get threads(): number {
    return this.workers.length;
  }

  /** Mean L1 loss of the batch and its gradients at `weights` (one array per weight, in the shapes' order). */
  async gradients(weights: readonly Float32Array[], batch: Batch): Promise<BatchGradients> {
    if (weights.length !== this.sizes.length) throw new Error(`expected ${this.sizes.length} weight arrays, got ${weights.length}`);
    const inPer = batch.size * batch.size * batch.channels;
    const outPer = batch.size * batch.size * batch.outputs;
    const ranges = shardRanges(batch.n, this.workers.length);
    const parts = await Promise.all(
      ranges.map(([a, b], i) =>
        this.workers[i].compute({
          id: this.nextId++,
          weights,
          input: batch.input.slice(a * inPer, b * inPer),
          label: batch.label.slice(a * outPer, b * outPer),
          n: b - a,
          size: batch.size,
          channels: batch.channels,
          outputs: batch.outputs,
        }),
      ),
    );
    // Each shard's mean, weighted by its share of the batch, summed in shard order.
    const grads = this.sizes.map((len) => new Float32Array(len));
    let loss = 0;
    parts.forEach((p, i) => {
      const w = (ranges[i][1] - ranges[i][0]) / batch.n;
      loss += w * p.loss;
      p.grads.forEach((g, j) => {
        const acc = grads[j];
        if (g.length !== acc.length) throw new Error(`a training worker returned ${g.length} values for weight ${j}, expected ${acc.length}`);
        for (let k = 0; k < acc.length; k++) acc[k] += w * g[k];
      });
    });
    return { loss, grads };
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
