/**
 * DSen2 (Lanaras et al. 2018) as a layer graph: concatenated inputs -> Conv3x3(f)+ReLU -> d ResBlocks
 * [Conv3x3(f), ReLU, Conv3x3(f), x0.1, + block input] -> Conv3x3(outputs) -> + the upsampled target bands.
 * DSen2 is d=6, f=128; VDSen2 d=32, f=256; smaller sizes train on a laptop.
 */
import type { Graph, GraphNode, Tensor } from './graph.js';
import { GRAPH_INPUT } from './graph.js';
import { Rng } from './random.js';

/** Size of a DSen2-family network. */
export interface Dsen2Size {
  readonly blocks: number;
  readonly filters: number;
  /** Residual scaling inside each block (DSen2: 0.1). */
  readonly residualScale?: number;
}

/** Named sizes: DSen2 and VDSen2 from the paper, and smaller ones for CPUs. */
export const DSEN2_SIZES: Readonly<Record<string, Dsen2Size>> = {
  dsen2: { blocks: 6, filters: 128 },
  vdsen2: { blocks: 32, filters: 256 },
  'dsen2-small': { blocks: 4, filters: 32 },
  'dsen2-medium': { blocks: 6, filters: 64 },
  'dsen2-tiny': { blocks: 2, filters: 16 },
};

/** The i-th convolution's layer name, as Keras auto-names them (conv2d, conv2d_1, ...). */
function convName(i: number): string {
  return i === 0 ? 'conv2d' : `conv2d_${i}`;
}

/** Layer names as in lanha/DSen2 `utils/DSen2Net.py` (Keras auto-names), so imported weights map by name. */
export function dsen2TensorNames(blocks: number): string[] {
  const names: string[] = [];
  const convs = 2 + 2 * blocks;
  for (let i = 0; i < convs; i++) {
    const layer = convName(i);
    names.push(`${layer}/kernel`, `${layer}/bias`);
  }
  return names;
}

/**
 * The DSen2 graph for `inputChannels` inputs whose last `targets` channels are the upsampled target bands
 * (the global skip adds them back).
 */
export function dsen2Graph(inputChannels: number, targets: number, size: Dsen2Size): Graph {
  if (targets <= 0 || targets > inputChannels) throw new Error(`DSen2: ${targets} targets out of ${inputChannels} inputs`);
  const scale = size.residualScale ?? 0.1;
  const nodes: GraphNode[] = [];
  let conv = 0;
  const addConv = (input: string, activation: 'relu' | 'linear'): string => {
    const name = convName(conv++);
    nodes.push({ op: 'conv2d', name, input, kernel: `${name}/kernel`, bias: `${name}/bias`, activation });
    return name;
  };
  let x = addConv(GRAPH_INPUT, 'relu');
  for (let b = 0; b < size.blocks; b++) {
    const a = addConv(x, 'relu');
    const c = addConv(a, 'linear');
    const s = `block${b}/scale`;
    nodes.push({ op: 'scale', name: s, input: c, factor: scale });
    const sum = `block${b}/add`;
    nodes.push({ op: 'add', name: sum, inputs: [x, s] });
    x = sum;
  }
  const out = addConv(x, 'linear');
  nodes.push({ op: 'slice', name: 'skip', input: GRAPH_INPUT, start: inputChannels - targets, end: inputChannels });
  nodes.push({ op: 'add', name: 'output', inputs: [out, 'skip'] });
  return { inputChannels, nodes, output: 'output' };
}

/**
 * He-uniform kernels and zero biases (Keras' defaults in DSen2), reproducible from a seed.
 * `outputGain` scales the last convolution's kernel: training starts from a small gain so that the
 * untrained network is already the bilinear upsampling (the global skip) plus a small residual.
 */
export function dsen2InitialWeights(inputChannels: number, targets: number, size: Dsen2Size, seed = 42, outputGain = 1): Map<string, Tensor> {
  const rng = new Rng(seed);
  const weights = new Map<string, Tensor>();
  const convs = 2 + 2 * size.blocks;
  for (let i = 0; i < convs; i++) {
    const name = convName(i);
    const cin = i === 0 ? inputChannels : size.filters;
    const cout = i === convs - 1 ? targets : size.filters;
    const n = 9 * cin * cout;
    const limit = Math.sqrt(6 / (9 * cin)) * (i === convs - 1 ? outputGain : 1);
    const k = new Float32Array(n);
    for (let j = 0; j < n; j++) k[j] = rng.uniform(-limit, limit);
    weights.set(`${name}/kernel`, { shape: [3, 3, cin, cout], data: k });
    weights.set(`${name}/bias`, { shape: [cout], data: new Float32Array(cout) });
  }
  return weights;
}

/**
 * Grows trained DSen2 weights into a larger network (more blocks, more filters) that computes the same
 * function (Net2Net-style): new filters get fresh He-uniform kernels on their inputs and zero weights
 * into the old filters and the output, and new blocks end in a zero convolution, so they add nothing
 * until training moves them.
 */
export function growDsen2Weights(
  weights: ReadonlyMap<string, Tensor>,
  inputChannels: number,
  targets: number,
  from: Dsen2Size,
  to: Dsen2Size,
  seed = 42,
): Map<string, Tensor> {
  if (to.blocks < from.blocks || to.filters < from.filters) {
    throw new Error(`a DSen2 network can only grow: ${from.blocks} x ${from.filters} cannot become ${to.blocks} x ${to.filters}`);
  }
  if ((to.residualScale ?? 0.1) !== (from.residualScale ?? 0.1)) throw new Error('growing a DSen2 network cannot change its residual scale');
  const fresh = dsen2InitialWeights(inputChannels, targets, to, seed);
  const grown = new Map<string, Tensor>();
  const convsTo = 2 + 2 * to.blocks;
  // Old conv index for each new conv: the first conv, the old blocks' convs, then the output conv last.
  const oldIndex = (i: number): number | null => {
    if (i === 0) return 0;
    if (i === convsTo - 1) return 1 + 2 * from.blocks;
    return i <= 2 * from.blocks ? i : null;
  };
  for (let i = 0; i < convsTo; i++) {
    const name = convName(i);
    const k = fresh.get(`${name}/kernel`)!;
    const b = fresh.get(`${name}/bias`)!;
    const [, , cin, cout] = k.shape as [number, number, number, number];
    const kernel = new Float32Array(k.data);
    const bias = new Float32Array(b.data);
    const o = oldIndex(i);
    const isBlockSecond = i > 0 && i < convsTo - 1 && i % 2 === 0;
    if (o === null) {
      // A new block: its second convolution starts at zero, so the block is the identity.
      if (isBlockSecond) kernel.fill(0);
    } else {
      const ok = weights.get(`${convName(o)}/kernel`);
      const ob = weights.get(`${convName(o)}/bias`);
      if (!ok || !ob) throw new Error(`grow DSen2: the weights lack ${convName(o)}`);
      const [, , oin, oout] = ok.shape as [number, number, number, number];
      const wantIn = i === 0 ? inputChannels : from.filters;
      const wantOut = i === convsTo - 1 ? targets : from.filters;
      if (oin !== wantIn || oout !== wantOut) throw new Error(`grow DSen2: ${convName(o)} is ${oin} -> ${oout} channels, expected ${wantIn} -> ${wantOut}`);
      // Kernels are [3, 3, cin, cout]: old filters keep their weights and read nothing from the new ones.
      for (let t = 0; t < 9; t++) {
        for (let ci = 0; ci < cin; ci++) {
          for (let co = 0; co < cout; co++) {
            const at = (t * cin + ci) * cout + co;
            if (ci < oin && co < oout) kernel[at] = ok.data[(t * oin + ci) * oout + co];
            else if (co < oout) kernel[at] = 0;
          }
        }
      }
      bias.set(ob.data.subarray(0, oout));
    }
    grown.set(`${name}/kernel`, { shape: [3, 3, cin, cout], data: kernel });
    grown.set(`${name}/bias`, { shape: [cout], data: bias });
  }
  return grown;
}
