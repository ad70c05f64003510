/**
 * Exports a model package's layer graph to ONNX (opset 17, NCHW, symbolic batch/height/width), so one
 * trained model runs in onnxruntime on CPU or GPU. Kernels go from HWIO to ONNX's OIHW.
 */
import { GRAPH_INPUT, type Graph, type Weights } from './graph.js';
import { ProtoWriter } from './protobuf.js';

const FLOAT = 1;
const INT64 = 7;
const ATTR_INT = 2;
const ATTR_INTS = 7;

/** Kernel [kh, kw, in, out] (HWIO) as ONNX's [out, in, kh, kw] (OIHW). */
export function hwioToOihw(data: Float32Array, shape: readonly number[]): Float32Array {
  const [kh, kw, ci, co] = shape;
  const out = new Float32Array(data.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + h) * kw + w] = data[((h * kw + w) * ci + i) * co + o];
  return out;
}

function tensorProto(w: ProtoWriter, name: string, dims: readonly number[], data: Float32Array | BigInt64Array): void {
  for (const d of dims) w.int(1, d);
  w.int(2, data instanceof Float32Array ? FLOAT : INT64);
  w.string(8, name);
  w.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

function valueInfo(w: ProtoWriter, name: string, channels: number): void {
  w.string(1, name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, FLOAT);
      tensor.message(2, (shape) => {
        shape.message(1, (d) => d.string(2, 'batch'));
        shape.message(1, (d) => d.int(1, channels));
        shape.message(1, (d) => d.string(2, 'height'));
        shape.message(1, (d) => d.string(2, 'width'));
      });
    }),
  );
}

/** The ONNX model bytes for a graph with its weights; the input is "input", the output "output". */
export function exportOnnx(graph: Graph, weights: Weights, outputChannels: number, docString = ''): Buffer {
  const model = new ProtoWriter();
  model.int(1, 8); // ir_version 8
  model.string(2, 'sharpstream');
  model.message(8, (op) => op.string(1, '').int(2, 17));
  if (docString) model.string(6, docString);
  model.message(7, (g) => {
    const initializers: Array<(w: ProtoWriter) => void> = [];
    const scalar = (name: string, v: number) => initializers.push((w) => tensorProto(w, name, [], new Float32Array([v])));
    const ints = (name: string, v: number[]) => initializers.push((w) => tensorProto(w, name, [v.length], BigInt64Array.from(v.map(BigInt))));
    const rename = (n: string) => (n === graph.output ? 'output' : n === GRAPH_INPUT ? 'input' : n);
    // A linear conv read only by a constant scale (DSen2's residual x0.1) becomes one conv with scaled
    // weights: the same function, one pass over the activations fewer.
    const uses = new Map<string, number>();
    for (const n of graph.nodes) for (const i of 'inputs' in n ? n.inputs : [n.input]) uses.set(i, (uses.get(i) ?? 0) + 1);
    const folded = new Map<string, { factor: number; name: string }>();
    const skip = new Set<string>();
    for (const n of graph.nodes) {
      if (n.op !== 'scale') continue;
      const src = graph.nodes.find((c) => c.name === n.input);
      if (src?.op === 'conv2d' && src.activation === 'linear' && uses.get(src.name) === 1 && src.name !== graph.output) {
        folded.set(src.name, { factor: n.factor, name: n.name });
        skip.add(n.name);
      }
    }
    for (const n of graph.nodes) {
      if (skip.has(n.name)) continue;
      const fold = folded.get(n.name);
      const out = rename(fold ? fold.name : n.name);
      switch (n.op) {
        case 'conv2d': {
          const k0 = weights.get(n.kernel)!;
          const k = fold ? { shape: k0.shape, data: k0.data.map((v) => v * fold.factor) } : k0;
          const [kh, kw] = k.shape;
          const wName = `${n.name}/W`;
          initializers.push((w) => tensorProto(w, wName, [k.shape[3], k.shape[2], kh, kw], hwioToOihw(k.data, k.shape)));
          const inputs = [rename(n.input), wName];
          if (n.bias) {
            const b0 = weights.get(n.bias)!;
            const b = fold ? { data: b0.data.map((v) => v * fold.factor) } : b0;
            const bName = `${n.name}/B`;
            initializers.push((w) => tensorProto(w, bName, [b.data.length], b.data));
            inputs.push(bName);
          }
          const convOut = n.activation === 'relu' ? `${n.name}/conv` : out;
          g.message(1, (node) => {
            for (const i of inputs) node.string(1, i);
            node.string(2, convOut).string(3, `${n.name}/Conv`).string(4, 'Conv');
            node.message(5, (a) => a.string(1, 'kernel_shape').int(20, ATTR_INTS).int(8, kh).int(8, kw));
            node.message(5, (a) => {
              a.string(1, 'pads').int(20, ATTR_INTS);
              for (const p of [(kh - 1) / 2, (kw - 1) / 2, (kh - 1) / 2, (kw - 1) / 2]) a.int(8, p);
            });
            node.message(5, (a) => a.string(1, 'strides').int(20, ATTR_INTS).int(8, 1).int(8, 1));
          });
          if (n.activation === 'relu') g.message(1, (node) => node.string(1, convOut).string(2, out).string(3, `${n.name}/Relu`).string(4, 'Relu'));
          break;
        }
        case 'relu':
          g.message(1, (node) => node.string(1, rename(n.input)).string(2, out).string(3, n.name).string(4, 'Relu'));
          break;
        case 'scale': {
          const c = `${n.name}/factor`;
          scalar(c, n.factor);
          g.message(1, (node) => node.string(1, rename(n.input)).string(1, c).string(2, out).string(3, n.name).string(4, 'Mul'));
          break;
        }
        case 'add':
          g.message(1, (node) => node.string(1, rename(n.inputs[0])).string(1, rename(n.inputs[1])).string(2, out).string(3, n.name).string(4, 'Add'));
          break;
        case 'slice': {
          ints(`${n.name}/starts`, [n.start]);
          ints(`${n.name}/ends`, [n.end]);
          ints(`${n.name}/axes`, [1]);
          g.message(1, (node) =>
            node
              .string(1, rename(n.input))
              .string(1, `${n.name}/starts`)
              .string(1, `${n.name}/ends`)
              .string(1, `${n.name}/axes`)
              .string(2, out)
              .string(3, n.name)
              .string(4, 'Slice'),
          );
          break;
        }
        case 'concat':
          g.message(1, (node) => {
            for (const i of n.inputs) node.string(1, rename(i));
            node.string(2, out).string(3, n.name).string(4, 'Concat');
            node.message(5, (a) => a.string(1, 'axis').int(20, ATTR_INT).int(3, 1));
          });
          break;
      }
    }
    g.string(2, 'sharpstream');
    for (const init of initializers) g.message(5, init);
    g.message(11, (v) => valueInfo(v, 'input', graph.inputChannels));
    g.message(12, (v) => valueInfo(v, 'output', outputChannels));
  });
  return model.finish();
}
