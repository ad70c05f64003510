/**
 * TensorFlow.js runtimes: the WebAssembly backend (always installed); the WebGPU backend on a GPU, through
 * Dawn's Node binding (the optional `webgpu` package; Vulkan on Linux); and tfjs-node / tfjs-node-gpu
 * when a user has installed them (they download libtensorflow at install, so they are never required).
 */
import type * as TF from '@tensorflow/tfjs';
import { GRAPH_INPUT, type Graph, type Weights } from '../graph.js';
import type { ModelPackage } from '../package.js';
import { webGpuUnavailableReason } from './gpu-device.js';
import type { Runtime, Session } from './runtime.js';

type Tf = typeof TF;

/** Which tfjs backend a runtime uses, and the package that provides it. */
interface BackendInfo {
  readonly runtime: string;
  readonly backend: string;
  readonly pkg: string;
  readonly device: 'cpu' | 'gpu';
}

const BACKENDS: readonly BackendInfo[] = [
  { runtime: 'tfjs-node-gpu', backend: 'tensorflow', pkg: '@tensorflow/tfjs-node-gpu', device: 'gpu' },
  { runtime: 'tfjs-webgpu', backend: 'webgpu', pkg: '@tensorflow/tfjs-backend-webgpu', device: 'gpu' },
  { runtime: 'tfjs-node', backend: 'tensorflow', pkg: '@tensorflow/tfjs-node', device: 'cpu' },
  { runtime: 'tfjs-wasm', backend: 'wasm', pkg: '@tensorflow/tfjs-backend-wasm', device: 'cpu' },
];

const loaded = new Map<string, Promise<Tf | Error>>();

/** Imports tfjs with the given backend and makes it current; an Error when the package is not installed. */
export function loadTf(info: Pick<BackendInfo, 'backend' | 'pkg'>): Promise<Tf | Error> {
  const key = info.pkg;
  if (!loaded.has(key)) {
    loaded.set(
      key,
      (async () => {
        try {
          if (info.pkg === '@tensorflow/tfjs-backend-wasm') {
            const tf = (await import('@tensorflow/tfjs')) as Tf;
            await import('@tensorflow/tfjs-backend-wasm');
            return tf;
          }
          if (info.pkg === '@tensorflow/tfjs-backend-webgpu') {
            await installWebGpu();
            const tf = (await import('@tensorflow/tfjs')) as Tf;
            await import('@tensorflow/tfjs-backend-webgpu');
            return tf;
          }
          // tfjs-node(-gpu) export the whole tfjs API with their backend registered.
          const mod = (await import(info.pkg)) as Tf & { default?: Tf };
          return mod.default ?? mod;
        } catch (e) {
          return e instanceof Error ? e : new Error(String(e));
        }
      })(),
    );
  }
  return loaded.get(key)!.then(async (tf) => {
    if (tf instanceof Error) return tf;
    if (tf.getBackend() !== info.backend) {
      const ok = await tf.setBackend(info.backend);
      if (!ok) return new Error(`tfjs backend "${info.backend}" failed to initialise${info.backend === 'webgpu' ? ' (no WebGPU adapter: a GPU with a Vulkan driver and libvulkan.so.1 are needed)' : ''}`);
    }
    await tf.ready();
    return tf;
  });
}

/**
 * Gives this process the browser's WebGPU API (navigator.gpu and the GPU* constants) from Dawn's Node
 * binding, which tfjs' WebGPU backend expects; throws when there is no GPU to use or no binding.
 */
async function installWebGpu(): Promise<void> {
  const noGpu = webGpuUnavailableReason();
  if (noGpu) throw new Error(noGpu);
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return;
  const { create, globals } = (await import('webgpu')) as { create(flags: string[]): unknown; globals: Record<string, unknown> };
  Object.assign(globalThis, globals);
  const gpu = create([]);
  // Node 21+ has a navigator object of its own; Node 20 has none.
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

/** A convolution (stride 1, 'same') replacing tfjs' fused one, e.g. with a custom gradient for training. */
export type ConvFn = (x: TF.Tensor4D, filter: TF.Tensor4D) => TF.Tensor4D;

/**
 * Runs the layer graph with tfjs ops on an NHWC tensor. With `conv`, convolutions run unfused through it
 * (then bias, then ReLU), which training on backends without a fused-conv gradient needs.
 */
export function tfForward(tf: Tf, graph: Graph, weights: ReadonlyMap<string, TF.Tensor>, x: TF.Tensor4D, conv: ConvFn | null = null): TF.Tensor4D {
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

/** Weight tensors as tfjs variables-free tensors (HWIO kernels are tfjs' native filter layout). */
export function tfWeights(tf: Tf, weights: Weights): Map<string, TF.Tensor> {
  const out = new Map<string, TF.Tensor>();
  for (const [k, t] of weights) out.set(k, tf.tensor(t.data, [...t.shape], 'float32'));
  return out;
}

class TfSession implements Session {
  constructor(
    readonly runtime: string,
    readonly device: 'cpu' | 'gpu',
    private readonly tf: Tf,
    private readonly pkg: ModelPackage,
    private readonly weights: Map<string, TF.Tensor>,
  ) {}

  async run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array> {
    const tf = this.tf;
    const c = this.pkg.manifest.graph.inputChannels;
    if (input.length !== batch * c * height * width) throw new Error(`input has ${input.length} values, expected ${batch}x${c}x${height}x${width}`);
    const out = tf.tidy(() => {
      const x = tf.transpose(tf.tensor4d(input, [batch, c, height, width]), [0, 2, 3, 1]) as TF.Tensor4D;
      const y = tfForward(tf, this.pkg.manifest.graph, this.weights, x);
      return tf.transpose(y, [0, 3, 1, 2]);
    });
    const data = (await out.data()) as Float32Array;
    out.dispose();
    return data;
  }

  async dispose(): Promise<void> {
    for (const t of this.weights.values()) t.dispose();
  }
}

function makeRuntime(info: BackendInfo): Runtime {
  return {
    name: info.runtime,
    description: `TensorFlow.js, ${info.backend} backend (${info.pkg})`,
    async available() {
      const noGpu = info.backend === 'webgpu' ? webGpuUnavailableReason() : null;
      if (noGpu) return { ok: false, reason: noGpu };
      const tf = await loadTf(info);
      if (tf instanceof Error) return { ok: false, reason: `${info.pkg} is not installed or cannot load (${tf.message.split('\n')[0]})` };
      return { ok: true };
    },
    async load(pkg: ModelPackage): Promise<Session> {
      const tf = await loadTf(info);
      if (tf instanceof Error) throw new Error(`${info.pkg} cannot load: ${tf.message}`);
      return new TfSession(info.runtime, info.device, tf, pkg, tfWeights(tf, pkg.weights));
    },
  };
}

const backend = (runtime: string): BackendInfo => BACKENDS.find((b) => b.runtime === runtime)!;

/** tfjs-node-gpu (optional). */
export const tfjsNodeGpuRuntime = makeRuntime(backend('tfjs-node-gpu'));
/** tfjs on the GPU through WebGPU (optional `webgpu` package and a GPU). */
export const tfjsWebGpuRuntime = makeRuntime(backend('tfjs-webgpu'));
/** tfjs-node (optional). */
export const tfjsNodeRuntime = makeRuntime(backend('tfjs-node'));
/** tfjs with the WebAssembly backend (always available). */
export const tfjsWasmRuntime = makeRuntime(backend('tfjs-wasm'));
