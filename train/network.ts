/**
 * The network side of training: which tfjs backend runs it (WebAssembly by default, tfjs-node or
 * tfjs-node-gpu when installed) and a differentiable forward pass over the layer-graph IR. On backends
 * without `Conv2DBackpropFilter` (wasm) convolutions are unfused and use the custom gradient of
 * `conv-grad.ts`; elsewhere the fused convolution and its stock gradient run.
 */
import type * as TF from '@tensorflow/tfjs';
import { GRAPH_INPUT, type Graph } from '../model/graph.js';
import { loadTf } from '../model/runtimes/tfjs.js';
import { trainableConv, type TrainableConv } from './conv-grad.js';

type Tf = typeof TF;

/** The runtimes training can use, with the tfjs backend and package of each. */
export const TRAIN_RUNTIMES: Readonly<Record<string, { readonly backend: string; readonly pkg: string }>> = {
  'tfjs-wasm': { backend: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm' },
  'tfjs-node': { backend: 'tensorflow', pkg: '@tensorflow/tfjs-node' },
  'tfjs-node-gpu': { backend: 'tensorflow', pkg: '@tensorflow/tfjs-node-gpu' },
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
  const tf = await loadTf(info);
  if (tf instanceof Error) throw new Error(`training runtime ${runtime} is not available: ${info.pkg} cannot load (${tf.message.split('\n')[0]})`);
  // The wasm backend lacks Conv2DBackpropFilter: use the custom gradient there.
  const conv = info.backend === 'wasm' ? trainableConv(tf) : null;
  return { tf, runtime, backend: info.backend, conv };
}

/** Runs the layer graph on an NHWC batch with differentiable ops (weights by tensor name). */
export function trainingForward(tf: Tf, graph: Graph, weights: ReadonlyMap<string, TF.Tensor>, x: TF.Tensor4D, conv: TrainableConv | null): TF.Tensor4D {
  const values = new Map<string, TF.Tensor4D>([[GRAPH_INPUT, x]]);
  const get = (n: string): TF.Tensor4D => {
    const v = values.get(n);
    if (!v) throw new Error(`graph tensor "${n}" is used before it is defined`);
    return v;
  };
  const weight = (n: string): TF.Tensor => {
    const w = weights.get(n);
    if (!w) throw new Error(`weight tensor "${n}" is missing`);
    return w;
  };
  for (const n of graph.nodes) {
    let y: TF.Tensor4D;
    switch (n.op) {
      case 'conv2d':
        if (conv) {
          y = conv(get(n.input), weight(n.kernel) as TF.Tensor4D);
          if (n.bias) y = tf.add(y, weight(n.bias));
          if (n.activation === 'relu') y = tf.relu(y);
        } else {
          y = tf.fused.conv2d({
            x: get(n.input),
            filter: weight(n.kernel) as TF.Tensor4D,
            strides: 1,
            pad: 'same',
            ...(n.bias ? { bias: weight(n.bias) as TF.Tensor1D } : {}),
            ...(n.activation === 'relu' ? { activation: 'relu' as const } : {}),
          });
        }
        break;
      case 'relu':
        y = tf.relu(get(n.input));
        break;
      case 'scale':
        y = tf.mul(get(n.input), n.factor);
        break;
      case 'add':
        y = tf.add(get(n.inputs[0]), get(n.inputs[1]));
        break;
      case 'slice':
        y = tf.slice(get(n.input), [0, 0, 0, n.start], [-1, -1, -1, n.end - n.start]);
        break;
      case 'concat':
        y = tf.concat(n.inputs.map(get), 3);
        break;
    }
    values.set(n.name, y);
  }
  return get(graph.output);
}
