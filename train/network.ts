/**
 * The network side of training: which tfjs backend runs it (WebAssembly by default; WebGPU on a GPU;
 * tfjs-node or tfjs-node-gpu when installed) and a differentiable forward pass over the layer-graph IR. On backends
 * without `Conv2DBackpropFilter` (wasm) convolutions are unfused and use the custom gradient of
 * `conv-grad.ts`; elsewhere the fused convolution and its stock gradient run.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Graph } from '../model/graph.js';
import { webGpuUnavailableReason } from '../model/runtimes/gpu-device.js';
import { loadTf, tfForward } from '../model/runtimes/tfjs.js';
import { trainableConv, type TrainableConv } from './conv-grad.js';

type Tf = typeof TF;

/** The runtimes training can use, with the tfjs backend and package of each. */
export const TRAIN_RUNTIMES: Readonly<Record<string, { readonly backend: string; readonly pkg: string }>> = {
  'tfjs-wasm': { backend: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm' },
  'tfjs-node': { backend: 'tensorflow', pkg: '@tensorflow/tfjs-node' },
  'tfjs-node-gpu': { backend: 'tensorflow', pkg: '@tensorflow/tfjs-node-gpu' },
  'tfjs-webgpu': { backend: 'webgpu', pkg: '@tensorflow/tfjs-backend-webgpu' },
  'tfjs-cpu': { backend: 'cpu', pkg: '@tensorflow/tfjs' },
};

/** A loaded training backend. */
export interface TrainingBackend {
  readonly tf: Tf;
  readonly runtime: string;
  readonly backend: string;
  /** The convolution used in training forward passes: custom-gradient (wasm) or null for the stock fused one. */
  readonly conv: TrainableConv | null;
}

/** Loads tfjs with the backend of a training runtime; a clear error when it is unknown or not installed. */
export async function loadTrainingBackend(runtime = 'tfjs-wasm'): Promise<TrainingBackend> {
  const info = TRAIN_RUNTIMES[runtime];
  if (!info) throw new Error(`unknown training runtime "${runtime}" (runtimes: ${Object.keys(TRAIN_RUNTIMES).join(', ')})`);
  const noGpu = info.backend === 'webgpu' ? webGpuUnavailableReason() : null;
  if (noGpu) throw new Error(`training runtime ${runtime} is not available: ${noGpu}`);
  const tf = await loadTf(info);
  if (tf instanceof Error) throw new Error(`training runtime ${runtime} is not available: ${info.pkg} cannot load (${tf.message.split('\n')[0]})`);
  // The wasm backend lacks Conv2DBackpropFilter: use the custom gradient there.
  const conv = info.backend === 'wasm' ? trainableConv(tf) : null;
  return { tf, runtime, backend: info.backend, conv };
}

/** Runs the layer graph on an NHWC batch with differentiable ops (weights by tensor name). */
export function trainingForward(tf: Tf, graph: Graph, weights: ReadonlyMap<string, TF.Tensor>, x: TF.Tensor4D, conv: TrainableConv | null): TF.Tensor4D {
  return tfForward(tf, graph, weights, x, conv);
}

/** The batch's mean L1 loss (DSen2's) and its gradients with respect to `vars`, keyed by tfjs variable name. */
export function l1Gradients(tf: Tf, forward: (x: TF.Tensor4D) => TF.Tensor4D, x: TF.Tensor4D, y: TF.Tensor4D, vars: TF.Variable[]): { value: TF.Scalar; grads: TF.NamedTensorMap } {
  return tf.variableGrads(() => tf.mean(tf.abs(tf.sub(forward(x), y))) as TF.Scalar, vars);
}
