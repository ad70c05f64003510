/**
 * Imports Keras HDF5 models (Keras 2.x `model.save`, Keras 3 legacy `.h5`) and Keras 2.x weights-only
 * files (`save_weights`) as model packages. A model's config is mapped layer by layer onto the layer
 * graph: InputLayer, Concatenate, Conv2D, Conv2DTranspose (stride 1, 'same': an equivalent conv2d with
 * the kernel flipped and its channel axes swapped), Add, Activation/ReLU, Rescaling, DSen2's residual
 * scaling Lambda, and inference no-ops (Dropout). The Keras inputs (such as the 10 m, 20 m[, 60 m]
 * bands) become consecutive channels of the graph's one input, in the model's input order. A model of
 * exactly DSen2's architecture (lanha/DSen2 `s2model`) becomes the project's DSen2 graph; a weights-only
 * file is read as DSen2 by layer position, as lanha/DSen2 loads it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import h5wasm from 'h5wasm/node';
import { dsen2Graph } from './dsen2.js';
import { GRAPH_INPUT, inferChannels, type ConvNode, type Graph, type GraphNode, type Tensor } from './graph.js';
import { MODEL_FORMAT, ModelError, makePackage, packWeights, type Architecture, type ModelManifest, type ModelPackage } from './package.js';
import { satellites } from '../satellites/registry.js';
import { bandById, groupInputs, groupPatch, type GroupSpec, type SatelliteSpec } from '../satellites/spec.js';

/** What `importKeras` needs to know besides the file. */
export interface KerasImportOptions {
  /** Satellite definition (or its id / a path to its JSON) the model was trained for. */
  readonly satellite: SatelliteSpec | string;
  /** Super-resolution group id within that satellite, such as "20m". */
  readonly group: string;
  /** Model id for the package. */
  readonly id: string;
  readonly version?: string;
  readonly title?: string;
  readonly description?: string;
  /** Input band order, when it differs from the group's (default: `groupInputs`). */
  readonly inputs?: readonly string[];
  /**
   * The factor of every Lambda layer, taken to multiply by a constant (DSen2's residual scaling). By
   * default a Lambda in DSen2's residual position scales by the number its config closes over, or by
   * DSen2's 0.1; any other Lambda is refused. Also the residual scaling of a weights-only DSen2 file.
   */
  readonly residualScale?: number;
  /** Normalisation divisor (default 2000, DSen2's). */
  readonly divisor?: number;
  /** Creation time written to the manifest (default: now). */
  readonly created?: string;
}

/** The Keras layer types the importer understands. */
export const SUPPORTED_KERAS_LAYERS = [
  'InputLayer',
  'Concatenate',
  'Conv2D',
  'Conv2DTranspose',
  'Add',
  'Activation',
  'ReLU',
  'Lambda',
  'Rescaling',
  'Dropout',
  'SpatialDropout2D',
  'Identity',
] as const;

/** DSen2's residual scaling (lanha/DSen2 `utils/DSen2Net.py`, `resBlock(scale=0.1)`). */
export const DSEN2_RESIDUAL_SCALE = 0.1;

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

type Json = unknown;
type JsonObject = Record<string, Json>;

function isObject(v: Json): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether a file starts with the HDF5 signature (at byte 0 or after a user block of 512, 1024, ... bytes). */
export async function isHdf5(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const buf = Buffer.alloc(8);
    for (let off = 0; off + 8 <= size; off = off === 0 ? 512 : off * 2) {
      const { bytesRead } = await fh.read(buf, 0, 8, off);
      if (bytesRead === 8 && buf.equals(HDF5_SIGNATURE)) return true;
    }
    return false;
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// HDF5 access (h5wasm): only the attributes and weight datasets the import needs are read.

type H5Group = InstanceType<typeof h5wasm.Group>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;
type H5File = InstanceType<typeof h5wasm.File>;

function attr(obj: H5Group | H5Dataset, name: string): unknown {
  const attrs = obj.attrs;
  if (!(name in attrs)) return undefined;
  return attrs[name].value;
}

function attrString(obj: H5Group, name: string): string | undefined {
  const v = attr(obj, name);
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return undefined;
}

function attrStrings(obj: H5Group, name: string): string[] | undefined {
  const v = attr(obj, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.map((s) => String(s));
  if (ArrayBuffer.isView(v) && v.byteLength === 0) return [];
  return undefined;
}

function getGroup(f: H5File | H5Group, path: string): H5Group | null {
  const e = f.get(path);
  return e instanceof h5wasm.Group ? e : null;
}

/** A file's weights, by Keras layer, in the file's layer order. */
interface LayerWeights {
  readonly layer: string;
  /** Weight name as stored (such as "conv2d/kernel:0") and its tensor. */
  readonly weights: readonly { readonly name: string; readonly tensor: Tensor }[];
}

function readDataset(ds: H5Dataset, where: string): Tensor {
  const shape = ds.shape ?? [];
  const v = ds.value;
  let data: Float32Array;
  if (v instanceof Float32Array) data = v;
  else if (v instanceof Float64Array) data = Float32Array.from(v);
  else throw new Error(`${where}: weights of type ${JSON.stringify(ds.dtype)} are not supported (float32 or float64 only)`);
  if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`${where}: holds ${data.length} values for shape [${shape.join(', ')}]`);
  return { shape: [...shape], data };
}

function listDatasets(g: H5Group, prefix = ''): string[] {
  const out: string[] = [];
  for (const k of g.keys()) {
    const e = g.get(k);
    if (e instanceof h5wasm.Dataset) out.push(prefix + k);
    else if (e instanceof h5wasm.Group) out.push(...listDatasets(e, `${prefix}${k}/`));
  }
  return out;
}

/** The weights of one layer group: by its `weight_names` attribute, or, without one, every dataset below it. */
function readLayer(root: H5Group, layer: string): LayerWeights {
  const g = getGroup(root, layer);
  if (!g) throw new Error(`weights group "${layer}" is missing`);
  const names = attrStrings(g, 'weight_names') ?? listDatasets(g);
  const weights = names.map((name) => {
    // Keras 2 and 3 store a layer's weight "conv2d/kernel:0" at <layer>/conv2d/kernel:0; some writers
    // store it flat at <layer>/kernel:0.
    let e = g.get(name);
    if (!(e instanceof h5wasm.Dataset)) e = g.get(name.split('/').pop()!);
    if (!(e instanceof h5wasm.Dataset)) throw new Error(`weights group "${layer}": dataset "${name}" is missing`);
    return { name, tensor: readDataset(e, `weights ${layer}/${name}`) };
  });
  return { layer, weights };
}

/** The group that holds the layer weights: `model_weights` in whole-model files, the root in weights-only files. */
function weightsRoot(f: H5File): H5Group | null {
  const mw = getGroup(f, 'model_weights');
  if (mw) return mw;
  return attrStrings(f, 'layer_names') ? f : null;
}

// ---------------------------------------------------------------------------------------------
// Keras config parsing

/** One layer of a functional model's config, reduced to what the importer uses. */
interface KerasLayer {
  readonly className: string;
  readonly name: string;
  readonly config: JsonObject;
  /** Names of the layers whose outputs this layer takes, in order. */
  readonly inbound: readonly string[];
}

interface KerasModel {
  readonly name: string;
  readonly layers: ReadonlyMap<string, KerasLayer>;
  readonly order: readonly string[];
  readonly inputs: readonly string[];
  readonly output: string;
}

type Ref = { layer: string; node: number; tensor: number };

function refOf(v: Json): Ref | null {
  if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number') {
    return { layer: v[0], node: v[1], tensor: v[2] };
  }
  return null;
}

/** `input_layers` / `output_layers`: a list of [name, node, tensor] or, for one tensor in Keras 3, one triple. */
function refList(v: Json, what: string): Ref[] {
  const single = refOf(v);
  if (single) return [single];
  if (!Array.isArray(v)) throw new Error(`model config: "${what}" is missing`);
  return v.map((x) => {
    const r = refOf(x);
    if (!r) throw new Error(`model config: "${what}" has an unreadable entry ${JSON.stringify(x)}`);
    return r;
  });
}

/** The producers of a layer's one call, from Keras 2 ([[name, node, tensor, kwargs], ...]) or Keras 3 ({args, kwargs}) nodes. */
function inboundOf(layer: JsonObject, name: string): string[] {
  const nodes = layer.inbound_nodes;
  if (nodes === undefined || (Array.isArray(nodes) && nodes.length === 0)) return [];
  if (!Array.isArray(nodes)) throw new Error(`layer "${name}": inbound_nodes is unreadable`);
  if (nodes.length > 1) throw new Error(`layer "${name}" is called ${nodes.length} times; shared layers are not supported`);
  const node = nodes[0];
  const refs: Ref[] = [];
  if (Array.isArray(node)) {
    for (const r of node) {
      const ref = refOf(r);
      if (!ref) throw new Error(`layer "${name}": inbound node entry ${JSON.stringify(r)} is unreadable`);
      refs.push(ref);
    }
  } else if (isObject(node)) {
    const walk = (v: Json): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (isObject(v)) {
        if (v.class_name === '__keras_tensor__' && isObject(v.config)) {
          const ref = refOf(v.config.keras_history);
          if (!ref) throw new Error(`layer "${name}": keras_history is unreadable`);
          refs.push(ref);
        } else Object.values(v).forEach(walk);
      }
    };
    walk(node.args);
  } else throw new Error(`layer "${name}": inbound node is unreadable`);
  for (const r of refs) {
    if (r.node !== 0 || r.tensor !== 0) throw new Error(`layer "${name}" takes output ${r.tensor} of call ${r.node} of "${r.layer}"; shared or multi-output layers are not supported`);
  }
  return refs.map((r) => r.layer);
}

function parseModelConfig(text: string): KerasModel {
  let cfg: Json;
  try {
    cfg = JSON.parse(text);
  } catch (e) {
    throw new Error(`model_config is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(cfg)) throw new Error('model_config is not a JSON object');
  const cls = String(cfg.class_name);
  if (cls === 'Sequential') throw new Error('Sequential models are not supported (DSen2-style models take several inputs; save a functional Model)');
  if (cls !== 'Functional' && cls !== 'Model') throw new Error(`model class "${cls}" is not supported (Functional or Model only)`);
  const c = cfg.config;
  if (!isObject(c) || !Array.isArray(c.layers)) throw new Error('model_config has no layer list');
  const layers = new Map<string, KerasLayer>();
  const order: string[] = [];
  for (const l of c.layers) {
    if (!isObject(l) || !isObject(l.config)) throw new Error(`model_config has an unreadable layer ${JSON.stringify(l).slice(0, 80)}`);
    const name = typeof l.name === 'string' ? l.name : String(l.config.name);
    if (layers.has(name)) throw new Error(`model_config names layer "${name}" twice`);
    layers.set(name, { className: String(l.class_name), name, config: l.config, inbound: inboundOf(l, name) });
    order.push(name);
  }
  const inputs = refList(c.input_layers, 'input_layers').map((r) => r.layer);
  const outputs = refList(c.output_layers, 'output_layers');
  if (outputs.length !== 1) throw new Error(`the model has ${outputs.length} outputs; one is supported`);
  for (const n of [...inputs, outputs[0].layer]) if (!layers.has(n)) throw new Error(`model_config refers to unknown layer "${n}"`);
  for (const l of layers.values()) for (const i of l.inbound) if (!layers.has(i)) throw new Error(`layer "${l.name}" takes unknown layer "${i}"`);
  return { name: typeof c.name === 'string' ? c.name : 'model', layers, order, inputs, output: outputs[0].layer };
}

// ---------------------------------------------------------------------------------------------
// Keras graph -> layer graph

/** A value during conversion: a graph tensor, or channels [start, end) of the graph input not yet materialised. */
type Value = { readonly kind: 'tensor'; readonly name: string; readonly channels: number } | { readonly kind: 'input'; readonly start: number; readonly end: number };

function channelsOf(v: Value): number {
  return v.kind === 'tensor' ? v.channels : v.end - v.start;
}

function numList(v: Json, n: number): number[] | null {
  if (typeof v === 'number') return Array(n).fill(v) as number[];
  if (Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number')) return v as number[];
  return null;
}

/** Numbers a Lambda's function closes over (Keras 2: function = [code, defaults, closure]; Keras 3: {config: {closure}}). */
function lambdaClosure(config: JsonObject): number[] {
  const f = config.function;
  let closure: Json = null;
  if (Array.isArray(f)) closure = f[2];
  else if (isObject(f) && isObject(f.config)) closure = f.config.closure;
  return Array.isArray(closure) ? closure.filter((x): x is number => typeof x === 'number') : [];
}

interface Converted {
  readonly graph: Graph;
  readonly weights: Map<string, Tensor>;
  readonly inputChannels: readonly { readonly layer: string; readonly channels: number }[];
}

function convertModel(model: KerasModel, layerWeights: ReadonlyMap<string, LayerWeights>, options: Pick<KerasImportOptions, 'residualScale'>): Converted {
  const supported = new Set<string>(SUPPORTED_KERAS_LAYERS);
  // The data format: every convolution must agree (default channels_last, Keras' default).
  const formats = new Set<string>();
  for (const l of model.layers.values()) if (typeof l.config.data_format === 'string') formats.add(l.config.data_format);
  if (formats.size > 1) throw new Error(`layers mix data formats (${[...formats].join(', ')})`);
  const channelsFirst = formats.has('channels_first');
  const consumers = new Map<string, string[]>();
  for (const l of model.layers.values()) for (const i of l.inbound) consumers.set(i, [...(consumers.get(i) ?? []), l.name]);

  // Inputs: consecutive channels of the graph input, in the model's input order.
  const values = new Map<string, Value>();
  const inputChannels: { layer: string; channels: number }[] = [];
  let offset = 0;
  for (const name of model.inputs) {
    const l = model.layers.get(name)!;
    if (l.className !== 'InputLayer') throw new Error(`model input "${name}" is a ${l.className}, not an InputLayer`);
    const shape = (l.config.batch_input_shape ?? l.config.batch_shape) as Json;
    if (!Array.isArray(shape) || shape.length !== 4) throw new Error(`input "${name}" has shape ${JSON.stringify(shape)}; images [batch, rows, cols, channels] are expected`);
    const c = shape[channelsFirst ? 1 : 3];
    if (typeof c !== 'number' || !(c > 0)) throw new Error(`input "${name}" has no fixed channel count (shape ${JSON.stringify(shape)})`);
    values.set(name, { kind: 'input', start: offset, end: offset + c });
    inputChannels.push({ layer: name, channels: c });
    offset += c;
  }
  const totalInput = offset;

  const nodes: GraphNode[] = [];
  const weights = new Map<string, Tensor>();
  const used = new Set<string>([GRAPH_INPUT]);
  const unique = (base: string): string => {
    let n = base;
    for (let i = 1; used.has(n); i++) n = `${base}_${i}`;
    used.add(n);
    return n;
  };
  const materialise = (v: Value): string => {
    if (v.kind === 'tensor') return v.name;
    if (v.start === 0 && v.end === totalInput) return GRAPH_INPUT;
    const name = unique(`input[${v.start}:${v.end}]`);
    nodes.push({ op: 'slice', name, input: GRAPH_INPUT, start: v.start, end: v.end });
    return name;
  };
  const tensor = (name: string, channels: number): Value => ({ kind: 'tensor', name, channels });

  const convWeights = (l: KerasLayer): { kernel: Tensor; bias: Tensor | null } => {
    const lw = layerWeights.get(l.name);
    if (!lw || lw.weights.length === 0) throw new Error(`layer "${l.name}" (${l.className}) has no weights in the file`);
    const pick = (re: RegExp) => lw.weights.find((w) => re.test(w.name));
    const kernel = pick(/(^|\/)kernel(:\d+)?$/) ?? lw.weights[0];
    const useBias = l.config.use_bias !== false;
    const bias = useBias ? (pick(/(^|\/)bias(:\d+)?$/) ?? lw.weights[1]) : undefined;
    if (useBias && !bias) throw new Error(`layer "${l.name}" (${l.className}) uses a bias but the file has none`);
    return { kernel: kernel.tensor, bias: bias ? bias.tensor : null };
  };

  const convert = (l: KerasLayer, inputs: Value[]): Value => {
    const where = `layer "${l.name}" (${l.className})`;
    const one = (): Value => {
      if (inputs.length !== 1) throw new Error(`${where} takes ${inputs.length} inputs, expected 1`);
      return inputs[0];
    };
    switch (l.className) {
      case 'InputLayer':
        throw new Error(`${where} is not one of the model's inputs`);
      case 'Dropout':
      case 'SpatialDropout2D':
      case 'Identity':
        return one();
      case 'Concatenate': {
        const axis = l.config.axis;
        const ok = channelsFirst ? axis === 1 || axis === -3 : axis === -1 || axis === 3;
        if (!ok) throw new Error(`${where} joins along axis ${String(axis)}, not the channel axis of ${channelsFirst ? 'channels_first' : 'channels_last'} data`);
        // Adjacent input ranges in order stay a range of the graph input.
        if (inputs.every((v) => v.kind === 'input')) {
          const r = inputs as { kind: 'input'; start: number; end: number }[];
          if (r.every((v, i) => i === 0 || v.start === r[i - 1].end)) return { kind: 'input', start: r[0].start, end: r[r.length - 1].end };
        }
        const name = unique(l.name);
        nodes.push({ op: 'concat', name, inputs: inputs.map(materialise) });
        return tensor(name, inputs.reduce((s, v) => s + channelsOf(v), 0));
      }
      case 'Conv2D':
      case 'Conv2DTranspose': {
        const x = one();
        const c = l.config;
        const k = numList(c.kernel_size, 2);
        if (!k) throw new Error(`${where}: kernel_size ${JSON.stringify(c.kernel_size)} is unreadable`);
        if (!(numList(c.strides ?? 1, 2) ?? [0]).every((s) => s === 1)) throw new Error(`${where}: strides ${JSON.stringify(c.strides)} are not supported (stride 1 only)`);
        if (!(numList(c.dilation_rate ?? 1, 2) ?? [0]).every((s) => s === 1)) throw new Error(`${where}: dilation_rate ${JSON.stringify(c.dilation_rate)} is not supported`);
        if ((c.groups ?? 1) !== 1) throw new Error(`${where}: grouped convolution (groups ${String(c.groups)}) is not supported`);
        if (c.output_padding !== undefined && c.output_padding !== null) throw new Error(`${where}: output_padding is not supported`);
        if (k[0] % 2 === 0 || k[1] % 2 === 0) throw new Error(`${where}: kernel ${k[0]}x${k[1]} is not odd, so 'same' padding is not symmetric`);
        const pointwise = k[0] === 1 && k[1] === 1;
        if (c.padding !== 'same' && !(c.padding === 'valid' && pointwise)) throw new Error(`${where}: padding "${String(c.padding)}" is not supported ('same' only)`);
        const act = c.activation ?? 'linear';
        if (act !== 'linear' && act !== 'relu') throw new Error(`${where}: activation ${JSON.stringify(act)} is not supported (relu or linear)`);
        const { kernel, bias } = convWeights(l);
        const cin = channelsOf(x);
        const filters = Number(c.filters);
        if (kernel.shape.length !== 4) throw new Error(`${where}: kernel has shape [${kernel.shape.join(', ')}], expected 4 dimensions`);
        const [kh, kw, a, b] = kernel.shape;
        const transpose = l.className === 'Conv2DTranspose';
        // Conv2D kernels are [kh, kw, in, out]; Conv2DTranspose kernels are [kh, kw, out, in].
        const [ki, ko] = transpose ? [b, a] : [a, b];
        if (kh !== k[0] || kw !== k[1] || ki !== cin || ko !== filters) {
          throw new Error(`${where}: kernel has shape [${kernel.shape.join(', ')}] but the layer is ${k[0]}x${k[1]}, ${cin} -> ${filters} channels`);
        }
        if (bias && (bias.shape.length !== 1 || bias.shape[0] !== filters)) throw new Error(`${where}: bias has shape [${bias.shape.join(', ')}], expected [${filters}]`);
        const name = unique(l.name);
        weights.set(`${name}/kernel`, transpose ? transposeKernelToConv(kernel) : kernel);
        if (bias) weights.set(`${name}/bias`, bias);
        const node: ConvNode = {
          op: 'conv2d',
          name,
          input: materialise(x),
          kernel: `${name}/kernel`,
          ...(bias ? { bias: `${name}/bias` } : {}),
          activation: act,
        };
        nodes.push(node);
        return tensor(name, filters);
      }
      case 'Activation':
      case 'ReLU': {
        const x = one();
        if (l.className === 'Activation') {
          const act = l.config.activation;
          if (act === 'linear') return x;
          if (act !== 'relu') throw new Error(`${where}: activation ${JSON.stringify(act)} is not supported (relu or linear)`);
        } else {
          const { max_value: max, negative_slope: slope, threshold } = l.config;
          if ((max !== null && max !== undefined) || (slope ?? 0) !== 0 || (threshold ?? 0) !== 0) {
            throw new Error(`${where}: only a plain ReLU is supported (max_value ${String(max)}, negative_slope ${String(slope)}, threshold ${String(threshold)})`);
          }
        }
        const name = unique(l.name);
        nodes.push({ op: 'relu', name, input: materialise(x) });
        return tensor(name, channelsOf(x));
      }
      case 'Rescaling':
      case 'Lambda': {
        const x = one();
        let factor: number;
        if (l.className === 'Rescaling') {
          if (typeof l.config.scale !== 'number' || (l.config.offset ?? 0) !== 0) {
            throw new Error(`${where}: only a scale by one number without offset is supported (scale ${JSON.stringify(l.config.scale)}, offset ${JSON.stringify(l.config.offset)})`);
          }
          factor = l.config.scale;
        } else {
          factor = lambdaFactor(model, l, consumers, options.residualScale);
        }
        const name = unique(l.name);
        nodes.push({ op: 'scale', name, input: materialise(x), factor });
        return tensor(name, channelsOf(x));
      }
      case 'Add': {
        if (inputs.length < 2) throw new Error(`${where} takes ${inputs.length} inputs, expected 2 or more`);
        const c0 = channelsOf(inputs[0]);
        for (const v of inputs) if (channelsOf(v) !== c0) throw new Error(`${where} adds tensors of ${inputs.map(channelsOf).join(' and ')} channels`);
        let acc = materialise(inputs[0]);
        for (let i = 1; i < inputs.length; i++) {
          const name = unique(i === inputs.length - 1 ? l.name : `${l.name}/${i}`);
          nodes.push({ op: 'add', name, inputs: [acc, materialise(inputs[i])] });
          acc = name;
        }
        return tensor(acc, c0);
      }
      default:
        throw new Error(
          supported.has(l.className)
            ? `${where} cannot be converted`
            : `Keras layer "${l.name}" of type ${l.className} is not supported (supported: ${SUPPORTED_KERAS_LAYERS.join(', ')})`,
        );
    }
  };

  // Convert in dependency order, from the output back (layers the output does not need are skipped).
  const visiting = new Set<string>();
  const visit = (name: string): Value => {
    const done = values.get(name);
    if (done) return done;
    if (visiting.has(name)) throw new Error(`layer "${name}" depends on itself`);
    visiting.add(name);
    const l = model.layers.get(name)!;
    if (l.className === 'InputLayer') throw new Error(`InputLayer "${name}" is not listed among the model's inputs`);
    const v = convert(
      l,
      l.inbound.map((i) => visit(i)),
    );
    values.set(name, v);
    return v;
  };
  const out = visit(model.output);
  const output = materialise(out);
  const graph = fuseRelu({ inputChannels: totalInput, nodes, output });
  return { graph, weights, inputChannels };
}

function lambdaFactor(model: KerasModel, l: KerasLayer, consumers: ReadonlyMap<string, string[]>, residualScale: number | undefined): number {
  if (residualScale !== undefined) return residualScale;
  // DSen2's residual position: Conv2D -> Lambda -> Add (the block's skip).
  const src = l.inbound.length === 1 ? model.layers.get(l.inbound[0]) : undefined;
  const next = consumers.get(l.name) ?? [];
  const add = next.length === 1 ? model.layers.get(next[0]) : undefined;
  const dsen2 = src?.className === 'Conv2D' && add?.className === 'Add' && add.inbound.length === 2;
  if (!dsen2) {
    throw new Error(
      `Lambda layer "${l.name}" holds Python code that cannot be read here; only DSen2's residual scaling (Conv2D -> Lambda -> Add) is recognised. ` +
        'If it multiplies by a constant, pass that constant as residualScale',
    );
  }
  const closure = lambdaClosure(l.config);
  if (closure.length === 1) return closure[0];
  if (closure.length > 1) throw new Error(`Lambda layer "${l.name}" closes over several numbers (${closure.join(', ')}); pass its factor as residualScale`);
  return DSEN2_RESIDUAL_SCALE;
}

/** A Conv2DTranspose kernel [kh, kw, out, in] as the equivalent stride-1 'same' conv2d kernel [kh, kw, in, out]: flipped in space, channel axes swapped. */
export function transposeKernelToConv(t: Tensor): Tensor {
  const [kh, kw, co, ci] = t.shape;
  const data = new Float32Array(t.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let o = 0; o < co; o++)
        for (let i = 0; i < ci; i++) data[((y * kw + x) * ci + i) * co + o] = t.data[(((kh - 1 - y) * kw + (kw - 1 - x)) * co + o) * ci + i];
  return { shape: [kh, kw, ci, co], data };
}

/** Folds a ReLU into the linear convolution before it when nothing else reads the convolution's output. */
function fuseRelu(graph: Graph): Graph {
  const readers = new Map<string, number>();
  const refs = (n: GraphNode): readonly string[] => ('inputs' in n ? n.inputs : [n.input]);
  for (const n of graph.nodes) for (const r of refs(n)) readers.set(r, (readers.get(r) ?? 0) + 1);
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const renamed = new Map<string, string>();
  const fused = new Set<string>();
  for (const n of graph.nodes) {
    if (n.op !== 'relu') continue;
    const src = byName.get(n.input);
    if (src?.op === 'conv2d' && src.activation === 'linear' && readers.get(src.name) === 1 && graph.output !== src.name) {
      fused.add(src.name);
      renamed.set(n.name, src.name);
    }
  }
  const r = (s: string) => renamed.get(s) ?? s;
  const nodes: GraphNode[] = [];
  for (const n of graph.nodes) {
    if (renamed.has(n.name)) continue;
    if (n.op === 'conv2d') nodes.push({ ...n, input: r(n.input), ...(fused.has(n.name) ? { activation: 'relu' as const } : {}) });
    else if (n.op === 'add') nodes.push({ ...n, inputs: [r(n.inputs[0]), r(n.inputs[1])] });
    else if (n.op === 'concat') nodes.push({ ...n, inputs: n.inputs.map(r) });
    else nodes.push({ ...n, input: r(n.input) });
  }
  return { ...graph, nodes, output: r(graph.output) };
}

/**
 * Recognises DSen2 (lanha/DSen2 `s2model`) in a converted graph and returns it as the project's DSen2
 * graph (tensor names conv2d, conv2d_1, ...) with the weights renamed, or null when it is not DSen2.
 */
function asDsen2(graph: Graph, weights: ReadonlyMap<string, Tensor>): { graph: Graph; weights: Map<string, Tensor>; blocks: number; filters: number; residualScale: number } | null {
  const convs = graph.nodes.filter((n): n is ConvNode => n.op === 'conv2d');
  const scales = graph.nodes.filter((n) => n.op === 'scale');
  if (convs.length < 2 || convs.length % 2 !== 0) return null;
  const blocks = (convs.length - 2) / 2;
  if (scales.length !== blocks) return null;
  const filters = weights.get(convs[0].kernel)!.shape[3];
  const targets = weights.get(convs[convs.length - 1].kernel)!.shape[3];
  const residualScale = blocks > 0 ? (scales[0] as { factor: number }).factor : DSEN2_RESIDUAL_SCALE;
  if (targets > graph.inputChannels) return null;
  const canon = dsen2Graph(graph.inputChannels, targets, { blocks, filters, residualScale });
  if (canon.nodes.length !== graph.nodes.length) return null;
  // Walk both node lists together; every reference must map consistently.
  const map = new Map<string, string>([[GRAPH_INPUT, GRAPH_INPUT]]);
  const same = (a: string, b: string) => map.get(a) === b;
  for (let i = 0; i < canon.nodes.length; i++) {
    const c = canon.nodes[i];
    const g = graph.nodes[i];
    if (c.op !== g.op) return null;
    switch (c.op) {
      case 'conv2d': {
        const gc = g as ConvNode;
        if (!same(gc.input, c.input) || gc.activation !== c.activation || !gc.bias) return null;
        const k = weights.get(gc.kernel)!;
        if (k.shape[0] !== 3 || k.shape[1] !== 3) return null;
        break;
      }
      case 'scale':
        if (!same((g as typeof c).input, c.input) || (g as typeof c).factor !== c.factor) return null;
        break;
      case 'add': {
        const ga = g as typeof c;
        const straight = same(ga.inputs[0], c.inputs[0]) && same(ga.inputs[1], c.inputs[1]);
        const crossed = same(ga.inputs[0], c.inputs[1]) && same(ga.inputs[1], c.inputs[0]);
        if (!straight && !crossed) return null;
        break;
      }
      case 'slice': {
        const gs = g as typeof c;
        if (!same(gs.input, c.input) || gs.start !== c.start || gs.end !== c.end) return null;
        break;
      }
      default:
        return null;
    }
    map.set(g.name, c.name);
  }
  if (!same(graph.output, canon.output)) return null;
  const renamed = new Map<string, Tensor>();
  convs.forEach((n, i) => {
    const c = canon.nodes.filter((x): x is ConvNode => x.op === 'conv2d')[i];
    renamed.set(c.kernel, weights.get(n.kernel)!);
    renamed.set(c.bias!, weights.get(n.bias!)!);
  });
  return { graph: canon, weights: renamed, blocks, filters, residualScale };
}

/** DSen2 from a weights-only file: the layers with weights, in file order, are DSen2's convolutions. */
function dsen2FromWeights(layers: readonly LayerWeights[], residualScale: number): { graph: Graph; weights: Map<string, Tensor>; blocks: number; filters: number } {
  const convs = layers.filter((l) => l.weights.length > 0);
  const describe = () => convs.map((l) => `${l.layer} [${l.weights.map((w) => w.tensor.shape.join('x')).join(', ')}]`).join('; ');
  if (convs.length < 2 || convs.length % 2 !== 0) {
    throw new Error(`has no model_config, so it is read as DSen2 by layer position, but its ${convs.length} layers with weights cannot be DSen2's 2 + 2d convolutions (${describe()})`);
  }
  const blocks = (convs.length - 2) / 2;
  const kernelOf = (l: LayerWeights) => {
    const w = l.weights.find((x) => /(^|\/)kernel(:\d+)?$/.test(x.name)) ?? l.weights[0];
    return w.tensor;
  };
  const biasOf = (l: LayerWeights) => {
    const w = l.weights.find((x) => /(^|\/)bias(:\d+)?$/.test(x.name)) ?? l.weights[1];
    if (!w) throw new Error(`weights-only DSen2: layer "${l.layer}" has no bias`);
    return w.tensor;
  };
  const first = kernelOf(convs[0]);
  const last = kernelOf(convs[convs.length - 1]);
  if (first.shape.length !== 4 || last.shape.length !== 4) throw new Error(`weights-only DSen2: layers are not convolutions (${describe()})`);
  const inputChannels = first.shape[2];
  const filters = first.shape[3];
  const targets = last.shape[3];
  const graph = dsen2Graph(inputChannels, targets, { blocks, filters, residualScale });
  const weights = new Map<string, Tensor>();
  const names = graph.nodes.filter((n): n is ConvNode => n.op === 'conv2d');
  convs.forEach((l, i) => {
    const k = kernelOf(l);
    const b = biasOf(l);
    const cin = i === 0 ? inputChannels : filters;
    const cout = i === convs.length - 1 ? targets : filters;
    if (k.shape.join('x') !== `3x3x${cin}x${cout}` || b.shape.join('x') !== `${cout}`) {
      throw new Error(`weights-only DSen2: layer "${l.layer}" (convolution ${i + 1} of ${convs.length}) has kernel [${k.shape.join(', ')}] and bias [${b.shape.join(', ')}], expected [3, 3, ${cin}, ${cout}] and [${cout}]`);
    }
    weights.set(names[i].kernel, k);
    weights.set(names[i].bias!, b);
  });
  return { graph, weights, blocks, filters };
}

// ---------------------------------------------------------------------------------------------
// Import

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function resolveGroup(options: KerasImportOptions): { spec: SatelliteSpec; group: GroupSpec } {
  const spec = typeof options.satellite === 'string' ? satellites().resolve(options.satellite) : options.satellite;
  const group = spec.groups.find((g) => g.id === options.group);
  if (!group) throw new Error(`satellite ${spec.id} has no group "${options.group}" (groups: ${spec.groups.map((g) => g.id).join(', ')})`);
  return { spec, group };
}

/** The group's input bands in runs of one resolution (such as 4 x 10 m, 6 x 20 m). */
function resolutionRuns(spec: SatelliteSpec, bands: readonly string[]): { resolution: number; bands: string[] }[] {
  const runs: { resolution: number; bands: string[] }[] = [];
  for (const b of bands) {
    const r = bandById(spec, b).resolution;
    if (runs.length > 0 && runs[runs.length - 1].resolution === r) runs[runs.length - 1].bands.push(b);
    else runs.push({ resolution: r, bands: [b] });
  }
  return runs;
}

function checkChannels(
  spec: SatelliteSpec,
  group: GroupSpec,
  bands: readonly string[],
  inputs: readonly { readonly layer: string; readonly channels: number }[],
  total: number,
  outputs: number,
): void {
  const where = `satellite ${spec.id} group ${group.id}`;
  const listed = inputs.length > 0 ? ` (${inputs.map((i) => `${i.layer}: ${i.channels}`).join(', ')})` : '';
  if (total !== bands.length) {
    throw new Error(`the model takes ${total} input channels${listed} but ${where} has ${bands.length} input bands (${bands.join(', ')})`);
  }
  const runs = resolutionRuns(spec, bands);
  if (inputs.length > 1 && inputs.length === runs.length) {
    inputs.forEach((inp, i) => {
      if (inp.channels !== runs[i].bands.length) {
        throw new Error(
          `model input ${i + 1} "${inp.layer}" takes ${inp.channels} channels but ${where} feeds it its ${runs[i].resolution} m bands, ${runs[i].bands.length} of them (${runs[i].bands.join(', ')})`,
        );
      }
    });
  }
  if (outputs !== group.targets.length) {
    throw new Error(`the model gives ${outputs} output channels but ${where} sharpens ${group.targets.length} bands (${group.targets.join(', ')})`);
  }
}

/**
 * Reads a Keras HDF5 model (or DSen2 weights-only file) and returns it as an in-memory model package
 * for a satellite group, ready for `saveModel` and every runtime. Throws a ModelError naming the file.
 */
export async function importKeras(path: string, options: KerasImportOptions): Promise<ModelPackage> {
  const fail = (message: string): never => {
    throw new ModelError(path, message);
  };
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) fail('is not a file');
    size = st.size;
  } catch (e) {
    if (e instanceof ModelError) throw e;
    return fail(`cannot read the Keras file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!(await isHdf5(path))) fail(`is not an HDF5 file (no HDF5 signature in its ${size} bytes), so not a Keras .h5/.hdf5 model`);
  let spec: SatelliteSpec;
  let group: GroupSpec;
  try {
    ({ spec, group } = resolveGroup(options));
  } catch (e) {
    return fail((e as Error).message);
  }
  const bands = options.inputs ? [...options.inputs] : groupInputs(spec, group);
  for (const b of bands) {
    try {
      bandById(spec, b);
    } catch (e) {
      fail((e as Error).message);
    }
  }
  if (options.residualScale !== undefined && !Number.isFinite(options.residualScale)) fail(`residualScale ${options.residualScale} is not a number`);

  await h5wasm.ready;
  let file: H5File;
  try {
    file = new h5wasm.File(path, 'r');
  } catch (e) {
    return fail(`the HDF5 library cannot open it (${(e as Error).message})`);
  }
  if (file.file_id < 0n) fail('has an HDF5 signature but the HDF5 library cannot open it (truncated or corrupt?)');
  let graph: Graph;
  let weights: Map<string, Tensor>;
  let architecture: Architecture;
  let modelName: string;
  let kerasVersion: string | undefined;
  let backend: string | undefined;
  try {
    kerasVersion = attrString(file, 'keras_version');
    backend = attrString(file, 'backend');
    const config = attrString(file, 'model_config');
    const root = weightsRoot(file);
    if (!root) {
      if (config) fail('has a model_config but no model_weights group');
      if (getGroup(file, 'layers') || getGroup(file, 'vars')) fail("is a Keras 3 .weights.h5 file, which is not supported: save the whole model with model.save('model.h5')");
      fail('is HDF5 but not a Keras file (no model_config, no model_weights, no layer_names)');
    }
    kerasVersion ??= attrString(root!, 'keras_version');
    backend ??= attrString(root!, 'backend');
    const layerNames = attrStrings(root!, 'layer_names') ?? root!.keys();
    if (config) {
      const model = parseModelConfig(config);
      modelName = model.name;
      // Weights of the layers the model has, by name.
      const layerWeights = new Map<string, LayerWeights>();
      for (const l of model.layers.values()) {
        if ((l.className === 'Conv2D' || l.className === 'Conv2DTranspose') && layerNames.includes(l.name)) layerWeights.set(l.name, readLayer(root!, l.name));
      }
      const conv = convertModel(model, layerWeights, options);
      const ch = inferChannels(conv.graph, conv.weights);
      checkChannels(spec, group, bands, conv.inputChannels, conv.graph.inputChannels, ch.get(conv.graph.output)!);
      const d = asDsen2(conv.graph, conv.weights);
      if (d) {
        graph = d.graph;
        weights = d.weights;
        architecture = { type: 'dsen2', blocks: d.blocks, filters: d.filters, residualScale: d.residualScale };
      } else {
        graph = conv.graph;
        weights = conv.weights;
        architecture = { type: 'keras', source: basename(path), name: model.name };
      }
    } else {
      modelName = 'dsen2';
      const layers = layerNames.map((n) => readLayer(root!, n));
      const residualScale = options.residualScale ?? DSEN2_RESIDUAL_SCALE;
      const d = dsen2FromWeights(layers, residualScale);
      const ch = inferChannels(d.graph, d.weights);
      checkChannels(spec, group, bands, [], d.graph.inputChannels, ch.get(d.graph.output)!);
      graph = d.graph;
      weights = d.weights;
      architecture = { type: 'dsen2', blocks: d.blocks, filters: d.filters, residualScale };
    }
  } catch (e) {
    if (e instanceof ModelError) throw e;
    return fail((e as Error).message);
  } finally {
    file.close();
  }
  const sha256 = await fileSha256(path);
  const packed = packWeights(weights);
  const manifest: ModelManifest = {
    format: MODEL_FORMAT,
    id: options.id,
    version: options.version ?? '1',
    title: options.title ?? `${modelName} (Keras) for ${spec.id} ${group.id}`,
    description: options.description ?? `Imported from the Keras file ${basename(path)} (${architecture.type === 'dsen2' ? `DSen2, d=${architecture.blocks}, f=${architecture.filters}` : 'layer graph'}).`,
    satellite: spec.id,
    group: group.id,
    factor: group.factor,
    inputs: bands,
    outputs: [...group.targets],
    upsample: 'bilinear',
    normalisation: { divisor: options.divisor ?? 2000, applyDnOffset: true },
    architecture,
    graph,
    weights: { file: 'weights.bin', sha256: packed.sha256, tensors: packed.tensors },
    patch: groupPatch(group),
    training: {
      importedFrom: {
        format: 'keras-hdf5',
        file: basename(path),
        sha256,
        kerasVersion: kerasVersion ?? null,
        backend: backend ?? null,
        model: modelName,
      },
    },
    created: options.created ?? new Date().toISOString(),
  };
  return makePackage(manifest, weights);
}
