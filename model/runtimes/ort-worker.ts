/**
 * An onnxruntime-node session that runs in a worker thread. onnxruntime-node's `run` is synchronous
 * on the calling thread, so a session on the main thread stalls the event loop (HTTP requests, Kafka
 * heartbeats) for the whole inference and nothing else can be prepared meanwhile. In a worker the
 * main thread keeps reading, building patches and writing COGs while the network runs.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Session creation options passed through to onnxruntime (a plain, cloneable object). */
export type OrtWorkerOptions = Record<string, unknown>;

// The worker is plain CommonJS evaluated from this string, so it runs the same under tsx, vitest and
// the compiled dist/ without a separate file to ship. It loads onnxruntime-node from the path the
// main thread resolved, creates one session and answers run requests in order.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session = null;
parentPort.on('message', async (msg) => {
  try {
    if (msg.type === 'init') {
      session = await ort.InferenceSession.create(msg.bytes, msg.options);
      parentPort.postMessage({ type: 'ready' });
    } else if (msg.type === 'run') {
      const input = new ort.Tensor('float32', msg.input, msg.dims);
      const out = await session.run({ input });
      const data = out.output.data;
      // Copy into a buffer of our own so it can be transferred rather than cloned.
      const copy = new Float32Array(data.length);
      copy.set(data);
      for (const t of Object.values(out)) if (typeof t.dispose === 'function') t.dispose();
      parentPort.postMessage({ type: 'result', id: msg.id, output: copy }, [copy.buffer]);
    } else if (msg.type === 'release') {
      if (session) await session.release();
      session = null;
      parentPort.postMessage({ type: 'released' });
    }
  } catch (e) {
    parentPort.postMessage({ type: 'error', id: msg.id, message: e && e.message ? e.message : String(e) });
  }
});
`;

interface Pending {
  resolve(v: Float32Array): void;
  reject(e: Error): void;
}

/** A worker thread holding one onnxruntime session; runs are queued and answered in order. */
export class OrtWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | null = null;
  private ready: Promise<void>;

  private constructor(bytes: Uint8Array, options: OrtWorkerOptions) {
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath }, stdout: false, stderr: false });
    // An idle session must not keep the process alive (a CLI exits when its work is done).
    this.worker.unref();
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: { type: string; message?: string }) => {
        if (m.type === 'ready') {
          this.worker.off('message', onMessage);
          resolve();
        } else if (m.type === 'error') {
          this.worker.off('message', onMessage);
          reject(new Error(m.message));
        }
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', reject);
    });
    this.worker.on('message', (m: { type: string; id?: number; output?: Float32Array; message?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.output!);
      else p.reject(new Error(m.message ?? 'onnxruntime failed'));
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the onnxruntime worker thread exited (code ${code})`)));
    this.worker.postMessage({ type: 'init', bytes, options });
  }

  /** Starts a worker and creates the session in it; rejects with onnxruntime's error. */
  static async start(bytes: Uint8Array, options: OrtWorkerOptions): Promise<OrtWorker> {
    const w = new OrtWorker(bytes, options);
    try {
      await w.ready;
    } catch (e) {
      await w.worker.terminate();
      throw e;
    }
    return w;
  }

  /** True once the worker has failed or been closed: runs are refused from then on. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Runs the network on an NCHW float32 input (copied to the worker); resolves with the output. */
  run(input: Float32Array, dims: readonly number[]): Promise<Float32Array> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Keep the process alive while work is outstanding.
      this.worker.ref();
      // An exact copy, transferred: cloning a view would copy its whole underlying buffer.
      const copy = input.slice();
      this.worker.postMessage({ type: 'run', id, input: copy, dims }, [copy.buffer]);
    }).finally(() => {
      if (this.pending.size === 0) this.worker.unref();
    });
  }

  /** Releases the session and stops the thread. */
  async close(): Promise<void> {
    if (!this.failure) {
      this.worker.ref();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 5000);
        this.worker.on('message', (m: { type: string }) => {
          if (m.type === 'released') {
            clearTimeout(t);
            resolve();
          }
        });
        this.worker.postMessage({ type: 'release' });
      });
    }
    this.failure ??= new Error('the onnxruntime session was disposed');
    await this.worker.terminate();
  }
}
