/**
 * The worker-thread side of data-parallel training (`gradient-pool.ts`): holds a copy of the network on
 * its own tfjs backend and answers each request with the L1 loss and gradients of the weights it is
 * sent, on its share of the batch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type * as TF from '@tensorflow/tfjs';
import type { Graph } from '../model/graph.js';
import { l1Gradients, loadTrainingBackend, trainingForward, type TrainingBackend } from './network.js';

/** What the pool starts a worker with. */
export interface GradientWorkerData {
  readonly runtime: string;
  readonly graph: Graph;
  /** Weight names and shapes, in the order weights and gradients travel. */
  readonly shapes: readonly (readonly [string, readonly number[]])[];
}

/** A request: the current weights and a shard of the batch (NHWC, channel-last). */
export interface GradientRequest {
  readonly id: number;
  readonly weights: readonly Float32Array[];
  readonly input: Float32Array;
  readonly label: Float32Array;
  readonly n: number;
  readonly size: number;
  readonly channels: number;
  readonly outputs: number;
}

/** An answer: the shard's mean L1 loss and the gradients, in the order of the shapes. */
export type GradientReply =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly id: number; readonly loss: number; readonly grads: Float32Array[] }
  | { readonly type: 'error'; readonly id?: number; readonly message: string };

const port = parentPort;
if (!port) throw new Error('gradient-worker.ts runs in a worker thread (train/gradient-pool.ts starts it)');
const data = workerData as GradientWorkerData;

let backend: TrainingBackend | null = null;
const vars = new Map<string, TF.Variable>();

function gradients(tf: typeof TF, b: TrainingBackend, req: GradientRequest): { loss: number; grads: Float32Array[] } {
  data.shapes.forEach(([name, shape], i) => {
    const t = tf.tensor(req.weights[i], [...shape], 'float32');
    vars.get(name)!.assign(t);
    t.dispose();
  });
  const x = tf.tensor4d(req.input, [req.n, req.size, req.size, req.channels]);
  const y = tf.tensor4d(req.label, [req.n, req.size, req.size, req.outputs]);
  try {
    const list = data.shapes.map(([name]) => vars.get(name)!);
    const { value, grads } = l1Gradients(tf, (input) => trainingForward(tf, data.graph, vars, input, b.conv), x, y, list);
    const loss = value.dataSync()[0];
    value.dispose();
    const out = list.map((v) => {
      const g = grads[v.name];
      const arr = Float32Array.from(g.dataSync() as Float32Array);
      g.dispose();
      return arr;
    });
    return { loss, grads: out };
  } finally {
    x.dispose();
    y.dispose();
  }
}

port.on('message', (req: GradientRequest) => {
  try {
    if (!backend) throw new Error('the gradient worker is not initialised');
    const { loss, grads } = gradients(backend.tf, backend, req);
    const reply: GradientReply = { type: 'result', id: req.id, loss, grads };
    port.postMessage(reply, grads.map((g) => g.buffer as ArrayBuffer));
  } catch (e) {
    const reply: GradientReply = { type: 'error', id: req.id, message: e instanceof Error ? e.message : String(e) };
    port.postMessage(reply);
  }
});

loadTrainingBackend(data.runtime).then(
  (b) => {
    backend = b;
    for (const [name, shape] of data.shapes) vars.set(name, b.tf.variable(b.tf.zeros([...shape]), true, `worker/${name}`));
    const reply: GradientReply = { type: 'ready' };
    port.postMessage(reply);
  },
  (e: unknown) => {
    const reply: GradientReply = { type: 'error', message: e instanceof Error ? e.message : String(e) };
    port.postMessage(reply);
  },
);
