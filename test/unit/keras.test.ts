/**
 * Keras import on synthetic HDF5 files written here with h5wasm (Keras 2.x layout: model_config +
 * model_weights/<layer>/<layer>/kernel:0): the Conv2DTranspose conversion against the scatter
 * definition of a transposed convolution, DSen2 recognition and its residual scale, ReLU fusion,
 * the weights-only layouts, and a clear error for every construct the importer refuses.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import h5wasm from 'h5wasm/node';
import { dsen2Graph } from '../../model/dsen2.js';
import type { Tensor } from '../../model/graph.js';
import { importKeras, isHdf5, transposeKernelToConv } from '../../model/keras.js';
import { Rng } from '../../model/random.js';
import { runReference } from '../../model/reference.js';

const dir = mkdtempSync(join(tmpdir(), 'keras-unit-'));
let fileNo = 0;

type Json = Record<string, unknown>;

function tensor(shape: number[], rng: Rng, scale = 0.5): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.uniform(-scale, scale);
  return { shape, data };
}

/** A Keras 2 config layer called once on the named layers. */
function layer(cls: string, name: string, config: Json, inbound: string[] = []): Json {
  return { class_name: cls, name, config: { name, ...config }, inbound_nodes: inbound.length > 0 ? [inbound.map((n) => [n, 0, 0, {}])] : [] };
}

function input(name: string, channels: number, channelsFirst = false): Json {
  return layer('InputLayer', name, { batch_input_shape: channelsFirst ? [null, channels, null, null] : [null, null, null, channels], dtype: 'float32' });
}

function conv(name: string, filters: number, inbound: string, extra: Json = {}, cls = 'Conv2D'): Json {
  return layer(cls, name, { filters, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'linear', use_bias: true, ...extra }, [inbound]);
}

function model(layers: Json[], inputs: string[], output: string, cls = 'Functional'): Json {
  return { class_name: cls, config: { name: 'synthetic', layers, input_layers: inputs.map((n) => [n, 0, 0]), output_layers: [[output, 0, 0]] } };
}

interface WriteOptions {
  /** Weight datasets at <layer>/kernel:0 instead of <layer>/<layer>/kernel:0. */
  readonly flat?: boolean;
  /** Leave out the weight_names attributes. */
  readonly noWeightNames?: boolean;
  /** Weights at the root with layer_names (save_weights), no model_config. */
  readonly weightsOnly?: boolean;
  /** Bytes of junk before the HDF5 data (a user block). */
  readonly userBlock?: number;
}

/** Writes a Keras-style HDF5 file and returns its path. */
function writeKeras(config: Json | string | null, layerNames: string[], weights: Record<string, Tensor[]>, o: WriteOptions = {}): string {
  const path = join(dir, `m${fileNo++}.h5`);
  const f = new h5wasm.File(path, 'w');
  try {
    if (config !== null) f.create_attribute('model_config', typeof config === 'string' ? config : JSON.stringify(config));
    f.create_attribute('keras_version', '2.4.0');
    f.create_attribute('backend', 'tensorflow');
    const root = o.weightsOnly ? f : f.create_group('model_weights');
    root.create_attribute('layer_names', layerNames);
    for (const name of layerNames) {
      const g = root.create_group(name);
      const ws = weights[name] ?? [];
      if (ws.length === 0) continue;
      const names = ws.map((_, i) => `${name}/${i === 0 ? 'kernel' : 'bias'}:0`);
      if (!o.noWeightNames) g.create_attribute('weight_names', names);
      if (!o.flat) g.create_group(name);
      ws.forEach((t, i) => g.create_dataset({ name: o.flat ? names[i].split('/')[1] : names[i], data: t.data, shape: [...t.shape] }));
    }
  } finally {
    f.close();
  }
  if (o.userBlock) writeFileSync(path, Buffer.concat([Buffer.alloc(o.userBlock, 0x20), readFileSync(path)]));
  return path;
}

const S2 = (group = '20m') => ({ satellite: 'sentinel-2-l1c', group, id: 'synthetic' });

/** A DSen2 (lanha/DSen2 s2model) config with d blocks of f filters for 4 + 6 inputs, Keras 2 style. */
function dsen2Config(blocks: number, filters: number, lambdaFunction: unknown): { config: Json; names: string[]; weights: Record<string, Tensor[]> } {
  const rng = new Rng(3);
  const layers: Json[] = [input('input_1', 4), input('input_2', 6), layer('Concatenate', 'concatenate', { axis: -1 }, ['input_1', 'input_2'])];
  const weights: Record<string, Tensor[]> = {};
  let c = 0;
  const addConv = (inbound: string, out: number, activation: string, cin: number): string => {
    const name = c === 0 ? 'conv2d' : `conv2d_${c}`;
    c++;
    layers.push(conv(name, out, inbound, { activation }));
    weights[name] = [tensor([3, 3, cin, out], rng, 0.2), tensor([out], rng, 0.1)];
    return name;
  };
  let x = addConv('concatenate', filters, 'relu', 10);
  for (let b = 0; b < blocks; b++) {
    const a = addConv(x, filters, 'linear', filters);
    layers.push(layer('Activation', `activation_${b}`, { activation: 'relu' }, [a]));
    const t = addConv(`activation_${b}`, filters, 'linear', filters);
    layers.push(layer('Lambda', `lambda_${b}`, { function: lambdaFunction, function_type: 'lambda' }, [t]));
    layers.push(layer('Add', `add_${b}`, {}, [x, `lambda_${b}`]));
    x = `add_${b}`;
  }
  const out = addConv(x, 6, 'linear', filters);
  layers.push(layer('Add', 'add_out', {}, [out, 'input_2']));
  return { config: model(layers, ['input_1', 'input_2'], 'add_out'), names: layers.map((l) => l.name as string), weights };
}

beforeAll(async () => {
  await h5wasm.ready;
});

describe('transposeKernelToConv', () => {
  it('flips the kernel in space and swaps its channel axes', () => {
    // [kh=1, kw=3, out=2, in=1]: values 0..5 at (x, o).
    const t = { shape: [1, 3, 2, 1], data: Float32Array.from([0, 1, 2, 3, 4, 5]) };
    const k = transposeKernelToConv(t);
    expect(k.shape).toEqual([1, 3, 1, 2]);
    // k[0, x, 0, o] = t[0, 2 - x, o, 0]
    expect([...k.data]).toEqual([4, 5, 2, 3, 0, 1]);
  });
});

describe('importKeras on synthetic Keras files', () => {
  it('turns a Conv2DTranspose (stride 1, same, channels_first) into a conv2d equal to the transposed convolution', async () => {
    const rng = new Rng(11);
    const [kh, kw, cin, cout, hgt, wid] = [3, 5, 10, 6, 7, 9];
    const kernel = tensor([kh, kw, cout, cin], rng); // Keras transpose layout [kh, kw, out, in]
    const bias = tensor([cout], rng);
    const cfg = model(
      [
        input('a', 4, true),
        input('b', 6, true),
        layer('Concatenate', 'cat', { axis: 1 }, ['a', 'b']),
        conv('up', cout, 'cat', { kernel_size: [kh, kw], data_format: 'channels_first', output_padding: null }, 'Conv2DTranspose'),
      ],
      ['a', 'b'],
      'up',
    );
    const path = writeKeras(cfg, ['a', 'b', 'cat', 'up'], { up: [kernel, bias] });
    const pkg = await importKeras(path, S2());
    expect(pkg.manifest.architecture).toEqual({ type: 'keras', source: path.split('/').pop(), name: 'synthetic' });
    expect(pkg.manifest.graph.nodes.map((n) => n.op)).toEqual(['conv2d']);
    const x = tensor([cin, hgt, wid], rng, 1).data;
    const y = runReference(pkg.manifest.graph, pkg.weights, x, 1, hgt, wid);
    // Scatter definition: each input pixel q adds x[j, q] * W[d, o, j] to output pixel q + d - centre.
    const want = new Float64Array(cout * hgt * wid);
    for (let o = 0; o < cout; o++) want.fill(bias.data[o], o * hgt * wid, (o + 1) * hgt * wid);
    for (let j = 0; j < cin; j++)
      for (let qy = 0; qy < hgt; qy++)
        for (let qx = 0; qx < wid; qx++)
          for (let dy = 0; dy < kh; dy++)
            for (let dx = 0; dx < kw; dx++) {
              const py = qy + dy - (kh - 1) / 2;
              const px = qx + dx - (kw - 1) / 2;
              if (py < 0 || py >= hgt || px < 0 || px >= wid) continue;
              for (let o = 0; o < cout; o++) want[(o * hgt + py) * wid + px] += x[(j * hgt + qy) * wid + qx] * kernel.data[((dy * kw + dx) * cout + o) * cin + j];
            }
    let d = 0;
    for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(y[i] - want[i]));
    expect(d).toBeLessThan(1e-5);
  });

  it('recognises DSen2 and takes the residual scale its Lambda closes over', async () => {
    const { config, names, weights } = dsen2Config(2, 4, ['base64code', null, [0.25]]);
    const pkg = await importKeras(writeKeras(config, names, weights), S2());
    expect(pkg.manifest.architecture).toEqual({ type: 'dsen2', blocks: 2, filters: 4, residualScale: 0.25 });
    expect(pkg.manifest.graph).toEqual(dsen2Graph(10, 6, { blocks: 2, filters: 4, residualScale: 0.25 }));
    expect(pkg.weights.get('conv2d_5/kernel')!.data).toEqual(weights.conv2d_5[0].data);
  });

  it("uses DSen2's 0.1 when the Lambda closes over nothing, and residualScale when given", async () => {
    const keras3Lambda = { class_name: '__lambda__', config: { code: 'base64code', defaults: null, closure: null } };
    const { config, names, weights } = dsen2Config(1, 4, keras3Lambda);
    const path = writeKeras(config, names, weights);
    expect((await importKeras(path, S2())).manifest.architecture).toEqual({ type: 'dsen2', blocks: 1, filters: 4, residualScale: 0.1 });
    expect((await importKeras(path, { ...S2(), residualScale: 0.5 })).manifest.architecture).toEqual({ type: 'dsen2', blocks: 1, filters: 4, residualScale: 0.5 });
  });

  it('keeps a ReLU separate when the convolution before it is read elsewhere, and fuses it otherwise', async () => {
    const rng = new Rng(5);
    const cfg = model(
      [
        input('x', 10),
        conv('c1', 6, 'x', { use_bias: false }),
        layer('ReLU', 'r1', { max_value: null, negative_slope: 0, threshold: 0 }, ['c1']),
        layer('Add', 'sum', {}, ['c1', 'r1']),
        conv('c2', 6, 'sum'),
        layer('Activation', 'r2', { activation: 'relu' }, ['c2']),
        layer('Dropout', 'drop', { rate: 0.3 }, ['r2']),
      ],
      ['x'],
      'drop',
    );
    const pkg = await importKeras(writeKeras(cfg, ['x', 'c1', 'r1', 'sum', 'c2', 'r2', 'drop'], { c1: [tensor([3, 3, 10, 6], rng)], c2: [tensor([3, 3, 6, 6], rng), tensor([6], rng)] }), S2());
    const nodes = pkg.manifest.graph.nodes;
    expect(nodes.map((n) => `${n.op}:${n.name}${n.op === 'conv2d' ? `:${n.activation}` : ''}`)).toEqual(['conv2d:c1:linear', 'relu:r1', 'add:sum', 'conv2d:c2:relu']);
    expect(pkg.manifest.graph.output).toBe('c2');
  });

  it('reads weights stored flat (<layer>/kernel:0) and without weight_names', async () => {
    const { config, names, weights } = dsen2Config(1, 4, ['code', null, [0.1]]);
    for (const o of [{ flat: true }, { noWeightNames: true }, { flat: true, noWeightNames: true }]) {
      const pkg = await importKeras(writeKeras(config, names, weights, o), S2());
      expect(pkg.weights.get('conv2d/kernel')!.data, JSON.stringify(o)).toEqual(weights.conv2d[0].data);
      expect(pkg.weights.get('conv2d_3/bias')!.data).toEqual(weights.conv2d_3[1].data);
    }
  });

  it('reads a weights-only file as DSen2 by layer position, whatever the layers are called', async () => {
    const { names, weights } = dsen2Config(2, 4, null);
    const renamed: Record<string, Tensor[]> = {};
    const order = names.map((n) => (weights[n] ? `conv2d_${names.indexOf(n) + 40}` : n));
    names.forEach((n, i) => weights[n] && (renamed[order[i]] = weights[n]));
    const pkg = await importKeras(writeKeras(null, order, renamed, { weightsOnly: true }), S2());
    expect(pkg.manifest.architecture).toEqual({ type: 'dsen2', blocks: 2, filters: 4, residualScale: 0.1 });
    expect(pkg.weights.get('conv2d_1/kernel')!.data).toEqual(weights.conv2d_1[0].data);
    expect(pkg.weights.get('conv2d_5/bias')!.data).toEqual(weights.conv2d_5[1].data);
  });

  it('finds the HDF5 data after a user block', async () => {
    const { config, names, weights } = dsen2Config(1, 4, ['code', null, [0.1]]);
    const path = writeKeras(config, names, weights, { userBlock: 512 });
    expect(await isHdf5(path)).toBe(true);
    expect((await importKeras(path, S2())).manifest.architecture.type).toBe('dsen2');
  });
});

describe('importKeras refuses what it cannot convert, naming the file and the problem', () => {
  const rng = new Rng(9);
  const one = (extra: Json, cls = 'Conv2D', k: number[] = [3, 3]) => {
    const cfg = model([input('x', 10), conv('c', 6, 'x', { kernel_size: k, ...extra }, cls)], ['x'], 'c');
    const kernel = cls === 'Conv2DTranspose' ? [k[0], k[1], 6, 10] : [k[0], k[1], 10, 6];
    return writeKeras(cfg, ['x', 'c'], { c: [tensor(kernel, rng), tensor([6], rng)] });
  };

  it.each([
    ['strides', one({ strides: [2, 2] }), /layer "c" \(Conv2D\): strides \[2,2\] are not supported \(stride 1 only\)/],
    ['padding', one({ padding: 'valid' }), /layer "c" \(Conv2D\): padding "valid" is not supported/],
    ['even kernel', one({}, 'Conv2D', [2, 2]), /layer "c" \(Conv2D\): kernel 2x2 is not odd/],
    ['activation', one({ activation: 'tanh' }), /layer "c" \(Conv2D\): activation "tanh" is not supported \(relu or linear\)/],
    ['dilation', one({ dilation_rate: [2, 2] }), /dilation_rate \[2,2\] is not supported/],
    ['strided transpose', one({ strides: [2, 2] }, 'Conv2DTranspose'), /layer "c" \(Conv2DTranspose\): strides/],
    ['wrong filters', one({ filters: 8 }), /kernel has shape \[3, 3, 10, 6\] but the layer is 3x3, 10 -> 8 channels/],
  ])('a convolution with unsupported %s', async (_, path, message) => {
    await expect(importKeras(path, S2())).rejects.toThrow(message);
    await expect(importKeras(path, S2())).rejects.toThrow(path);
  });

  it('an unknown layer type, an activation other than relu, a Rescaling with offset', async () => {
    const base = (extra: Json[], out: string) => writeKeras(model([input('x', 10), conv('c', 6, 'x'), ...extra], ['x'], out), ['x', 'c'], { c: [tensor([3, 3, 10, 6], rng), tensor([6], rng)] });
    await expect(importKeras(base([layer('UpSampling2D', 'up', { size: [2, 2] }, ['c'])], 'up'), S2())).rejects.toThrow(/Keras layer "up" of type UpSampling2D is not supported \(supported: InputLayer, Concatenate, Conv2D/);
    await expect(importKeras(base([layer('Activation', 'a', { activation: 'sigmoid' }, ['c'])], 'a'), S2())).rejects.toThrow(/layer "a" \(Activation\): activation "sigmoid" is not supported/);
    await expect(importKeras(base([layer('Rescaling', 'r', { scale: 2, offset: 1 }, ['c'])], 'r'), S2())).rejects.toThrow(/layer "r" \(Rescaling\): only a scale by one number without offset/);
    await expect(importKeras(base([layer('ReLU', 'r', { max_value: 6, negative_slope: 0, threshold: 0 }, ['c'])], 'r'), S2())).rejects.toThrow(/only a plain ReLU/);
  });

  it('a Lambda outside DSen2’s residual position, unless residualScale says what it multiplies by', async () => {
    const cfg = model([input('x', 10), layer('Lambda', 'lam', { function: ['code', null, null] }, ['x']), conv('c', 6, 'lam')], ['x'], 'c');
    const path = writeKeras(cfg, ['x', 'lam', 'c'], { c: [tensor([3, 3, 10, 6], rng), tensor([6], rng)] });
    await expect(importKeras(path, S2())).rejects.toThrow(/Lambda layer "lam" holds Python code that cannot be read here.*pass that constant as residualScale/);
    const pkg = await importKeras(path, { ...S2(), residualScale: 2 });
    expect(pkg.manifest.graph.nodes[0]).toEqual({ op: 'scale', name: 'lam', input: 'input', factor: 2 });
  });

  it('a concatenation along another axis than channels', async () => {
    const cfg = model([input('a', 4), input('b', 6), layer('Concatenate', 'cat', { axis: 1 }, ['a', 'b']), conv('c', 6, 'cat')], ['a', 'b'], 'c');
    const path = writeKeras(cfg, ['a', 'b', 'cat', 'c'], { c: [tensor([3, 3, 10, 6], rng), tensor([6], rng)] });
    await expect(importKeras(path, S2())).rejects.toThrow(/layer "cat" \(Concatenate\) joins along axis 1, not the channel axis of channels_last data/);
  });

  it('Sequential models, shared layers, several outputs, inputs without a channel count', async () => {
    const seq = writeKeras({ class_name: 'Sequential', config: { name: 's', layers: [] } }, [], {});
    await expect(importKeras(seq, S2())).rejects.toThrow(/Sequential models are not supported/);
    const shared = model([input('x', 10), { ...conv('c', 6, 'x'), inbound_nodes: [[['x', 0, 0, {}]], [['x', 0, 0, {}]]] }], ['x'], 'c');
    await expect(importKeras(writeKeras(shared, ['x', 'c'], { c: [tensor([3, 3, 10, 6], rng)] }), S2())).rejects.toThrow(/layer "c" is called 2 times; shared layers are not supported/);
    const two = { class_name: 'Functional', config: { name: 'm', layers: [input('x', 10)], input_layers: [['x', 0, 0]], output_layers: [['x', 0, 0], ['x', 0, 0]] } };
    await expect(importKeras(writeKeras(two, ['x'], {}), S2())).rejects.toThrow(/the model has 2 outputs; one is supported/);
    const open = model([layer('InputLayer', 'x', { batch_input_shape: [null, null, null, null] }), conv('c', 6, 'x')], ['x'], 'c');
    await expect(importKeras(writeKeras(open, ['x', 'c'], { c: [tensor([3, 3, 10, 6], rng)] }), S2())).rejects.toThrow(/input "x" has no fixed channel count/);
  });

  it('missing weights, unreadable config, HDF5 files that are not Keras files', async () => {
    const cfg = model([input('x', 10), conv('c', 6, 'x')], ['x'], 'c');
    await expect(importKeras(writeKeras(cfg, ['x'], {}), S2())).rejects.toThrow(/layer "c" \(Conv2D\) has no weights in the file/);
    await expect(importKeras(writeKeras(cfg, ['x', 'c'], { c: [tensor([3, 3, 10, 6], rng)] }), S2())).rejects.toThrow(/layer "c" \(Conv2D\) uses a bias but the file has none/);
    await expect(importKeras(writeKeras('{"class_name": ', ['x'], {}), S2())).rejects.toThrow(/model_config is not valid JSON/);
    const plain = join(dir, 'plain.h5');
    const f = new h5wasm.File(plain, 'w');
    f.create_dataset({ name: 'data', data: new Float32Array(4), shape: [4] });
    f.close();
    await expect(importKeras(plain, S2())).rejects.toThrow(/plain\.h5: is HDF5 but not a Keras file/);
    const k3 = join(dir, 'model.weights.h5');
    const g = new h5wasm.File(k3, 'w');
    g.create_group('layers');
    g.create_group('vars');
    g.close();
    await expect(importKeras(k3, S2())).rejects.toThrow(/is a Keras 3 \.weights\.h5 file, which is not supported/);
    const { config, names, weights } = dsen2Config(1, 4, ['code', null, [0.1]]);
    const truncated = writeKeras(config, names, weights);
    writeFileSync(truncated, readFileSync(truncated).subarray(0, 3000));
    await expect(importKeras(truncated, S2())).rejects.toThrow(/has an HDF5 signature but the HDF5 library cannot open it/);
  });

  it('weights-only files that cannot be DSen2', async () => {
    const w = { c1: [tensor([3, 3, 10, 4], rng), tensor([4], rng)], c2: [tensor([3, 3, 4, 4], rng), tensor([4], rng)], c3: [tensor([3, 3, 4, 6], rng), tensor([6], rng)] };
    await expect(importKeras(writeKeras(null, ['c1', 'c2', 'c3'], w, { weightsOnly: true }), S2())).rejects.toThrow(/has no model_config, so it is read as DSen2 by layer position, but its 3 layers with weights cannot be DSen2's 2 \+ 2d convolutions/);
    const w4 = { ...w, c0: [tensor([5, 5, 10, 4], rng), tensor([4], rng)] };
    await expect(importKeras(writeKeras(null, ['c0', 'c2', 'c2b', 'c3'], { ...w4, c2b: w.c2 }, { weightsOnly: true }), S2())).rejects.toThrow(/layer "c0" \(convolution 1 of 4\) has kernel \[5, 5, 10, 4\]/);
  });
});
