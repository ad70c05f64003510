/**
 * A plain TypeScript executor of the layer graph: slow, obviously correct, used by tests to check
 * every runtime and the ONNX export against the graph's meaning.
 */
import { GRAPH_INPUT, type Graph, type Weights } from './graph.js';

/** Runs a graph on one NCHW batch with straightforward loops. */
export function runReference(graph: Graph, weights: Weights, input: Float32Array, batch: number, height: number, width: number): Float32Array {
  const hw = height * width;
  const values = new Map<string, { c: number; data: Float32Array }>();
  values.set(GRAPH_INPUT, { c: graph.inputChannels, data: input });
  const get = (n: string) => values.get(n)!;
  for (const n of graph.nodes) {
    switch (n.op) {
      case 'conv2d': {
        const x = get(n.input);
        const k = weights.get(n.kernel)!;
        const [kh, kw, ci, co] = k.shape;
        const bias = n.bias ? weights.get(n.bias)!.data : null;
        const out = new Float32Array(batch * co * hw);
        const ph = (kh - 1) / 2;
        const pw = (kw - 1) / 2;
        for (let b = 0; b < batch; b++)
          for (let o = 0; o < co; o++) {
            const dst = out.subarray((b * co + o) * hw, (b * co + o + 1) * hw);
            if (bias) dst.fill(bias[o]);
            for (let i = 0; i < ci; i++) {
              const src = x.data.subarray((b * ci + i) * hw, (b * ci + i + 1) * hw);
              for (let dy = 0; dy < kh; dy++)
                for (let dx = 0; dx < kw; dx++) {
                  const wv = k.data[((dy * kw + dx) * ci + i) * co + o];
                  const oy = dy - ph;
                  const ox = dx - pw;
                  for (let y = Math.max(0, -oy); y < Math.min(height, height - oy); y++) {
                    const srow = (y + oy) * width + ox;
                    const drow = y * width;
                    for (let xx = Math.max(0, -ox); xx < Math.min(width, width - ox); xx++) dst[drow + xx] += wv * src[srow + xx];
                  }
                }
            }
            if (n.activation === 'relu') for (let j = 0; j < hw; j++) if (dst[j] < 0) dst[j] = 0;
          }
        values.set(n.name, { c: co, data: out });
        break;
      }
      case 'relu': {
        const x = get(n.input);
        values.set(n.name, { c: x.c, data: x.data.map((v) => (v > 0 ? v : 0)) });
        break;
      }
      case 'scale': {
        const x = get(n.input);
        values.set(n.name, { c: x.c, data: x.data.map((v) => v * n.factor) });
        break;
      }
      case 'add': {
        const a = get(n.inputs[0]);
        const b = get(n.inputs[1]);
        values.set(n.name, { c: a.c, data: a.data.map((v, i) => v + b.data[i]) });
        break;
      }
      case 'slice': {
        const x = get(n.input);
        const c = n.end - n.start;
        const out = new Float32Array(batch * c * hw);
        for (let b = 0; b < batch; b++) out.set(x.data.subarray((b * x.c + n.start) * hw, (b * x.c + n.end) * hw), b * c * hw);
        values.set(n.name, { c, data: out });
        break;
      }
      case 'concat': {
        const parts = n.inputs.map(get);
        const c = parts.reduce((s, p) => s + p.c, 0);
        const out = new Float32Array(batch * c * hw);
        for (let b = 0; b < batch; b++) {
          let off = b * c * hw;
          for (const p of parts) {
            out.set(p.data.subarray(b * p.c * hw, (b + 1) * p.c * hw), off);
            off += p.c * hw;
          }
        }
        values.set(n.name, { c, data: out });
        break;
      }
    }
  }
  return get(graph.output).data;
}
