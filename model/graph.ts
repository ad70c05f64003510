/**
 * The network description every runtime executes: a small layer graph (convolutions, ReLU, scaling,
 * additions, channel slices and concatenations) over one NCHW input holding every input band in the
 * model's band order, already upsampled to the fine grid and normalised. DSen2, VDSen2, UP42's AESR
 * and the interpolation baselines are all such graphs; the ONNX exporter and the TF.js runtime read it.
 */

/** A 2-D convolution, stride 1, 'same' padding, odd square or rectangular kernel. */
export interface ConvNode {
  readonly op: 'conv2d';
  readonly name: string;
  readonly input: string;
  /** Weight tensor name: shape [kh, kw, in, out] (HWIO, the Keras/TF layout). */
  readonly kernel: string;
  /** Bias tensor name: shape [out], or absent. */
  readonly bias?: string;
  readonly activation: 'linear' | 'relu';
}

/** Element-wise ReLU. */
export interface ReluNode {
  readonly op: 'relu';
  readonly name: string;
  readonly input: string;
}

/** Multiplication by a constant (DSen2's residual scaling). */
export interface ScaleNode {
  readonly op: 'scale';
  readonly name: string;
  readonly input: string;
  readonly factor: number;
}

/** Element-wise sum of two tensors of one shape. */
export interface AddNode {
  readonly op: 'add';
  readonly name: string;
  readonly inputs: readonly [string, string];
}

/** Channels [start, end) of a tensor. */
export interface SliceNode {
  readonly op: 'slice';
  readonly name: string;
  readonly input: string;
  readonly start: number;
  readonly end: number;
}

/** Concatenation along channels. */
export interface ConcatNode {
  readonly op: 'concat';
  readonly name: string;
  readonly inputs: readonly string[];
}

/** Any graph node. */
export type GraphNode = ConvNode | ReluNode | ScaleNode | AddNode | SliceNode | ConcatNode;

/** The whole network: the input is called "input"; nodes are in execution order. */
export interface Graph {
  readonly inputChannels: number;
  readonly nodes: readonly GraphNode[];
  readonly output: string;
}

/** A weight tensor. */
export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Named weight tensors. */
export type Weights = ReadonlyMap<string, Tensor>;

/** The name of the graph's input tensor. */
export const GRAPH_INPUT = 'input';

/** Checks a graph against its weights and returns the channel count of every tensor; throws naming the node at fault. */
export function inferChannels(graph: Graph, weights: Weights): Map<string, number> {
  const ch = new Map<string, number>([[GRAPH_INPUT, graph.inputChannels]]);
  const need = (name: string, node: string): number => {
    const c = ch.get(name);
    if (c === undefined) throw new Error(`graph node ${node}: input "${name}" is not defined before it`);
    return c;
  };
  for (const n of graph.nodes) {
    if (ch.has(n.name)) throw new Error(`graph node ${n.name} is defined twice`);
    switch (n.op) {
      case 'conv2d': {
        const cin = need(n.input, n.name);
        const k = weights.get(n.kernel);
        if (!k) throw new Error(`graph node ${n.name}: weight tensor "${n.kernel}" is missing`);
        if (k.shape.length !== 4) throw new Error(`graph node ${n.name}: kernel must be [kh, kw, in, out], got [${k.shape.join(', ')}]`);
        const [kh, kw, ki, ko] = k.shape;
        if (kh % 2 === 0 || kw % 2 === 0) throw new Error(`graph node ${n.name}: kernel ${kh}x${kw} must be odd for 'same' padding`);
        if (ki !== cin) throw new Error(`graph node ${n.name}: kernel expects ${ki} input channels but gets ${cin}`);
        if (k.data.length !== kh * kw * ki * ko) throw new Error(`graph node ${n.name}: kernel data has ${k.data.length} values for shape [${k.shape.join(', ')}]`);
        if (n.bias) {
          const b = weights.get(n.bias);
          if (!b) throw new Error(`graph node ${n.name}: bias tensor "${n.bias}" is missing`);
          if (b.data.length !== ko) throw new Error(`graph node ${n.name}: bias has ${b.data.length} values, expected ${ko}`);
        }
        ch.set(n.name, ko);
        break;
      }
      case 'relu':
      case 'scale':
        ch.set(n.name, need(n.input, n.name));
        break;
      case 'add': {
        const a = need(n.inputs[0], n.name);
        const b = need(n.inputs[1], n.name);
        if (a !== b) throw new Error(`graph node ${n.name}: adds ${a} channels to ${b}`);
        ch.set(n.name, a);
        break;
      }
      case 'slice': {
        const c = need(n.input, n.name);
        if (!(n.start >= 0 && n.end <= c && n.start < n.end)) throw new Error(`graph node ${n.name}: slice ${n.start}..${n.end} outside 0..${c}`);
        ch.set(n.name, n.end - n.start);
        break;
      }
      case 'concat':
        ch.set(
          n.name,
          n.inputs.reduce((s, i) => s + need(i, n.name), 0),
        );
        break;
    }
  }
  if (!ch.has(graph.output)) throw new Error(`graph output "${graph.output}" is not a node`);
  return ch;
}

/** Multiply-accumulate operations per output pixel (for FLOP figures: 2 FLOP per MAC). */
export function macsPerPixel(graph: Graph, weights: Weights): number {
  let macs = 0;
  for (const n of graph.nodes) {
    if (n.op === 'conv2d') {
      const k = weights.get(n.kernel)!;
      macs += k.shape[0] * k.shape[1] * k.shape[2] * k.shape[3];
    }
  }
  return macs;
}

/** The widest kernel's half-size: how far one output pixel looks, summed over the graph's convolutions (its receptive radius). */
export function receptiveRadius(graph: Graph, weights: Weights): number {
  let r = 0;
  for (const n of graph.nodes) if (n.op === 'conv2d') r += (weights.get(n.kernel)!.shape[0] - 1) / 2;
  return r;
}
