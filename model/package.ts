/**
 * The model package: a folder with `model.json` (the manifest: satellite, group, band order,
 * normalisation, architecture and layer graph, training provenance, metrics) and `weights.bin`
 * (float32 little-endian tensors listed in the manifest). Every runtime loads it; ONNX is derived from it.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inferChannels, type Graph, type Tensor, type Weights } from './graph.js';

/** The manifest format this code reads and writes. */
export const MODEL_FORMAT = 'sharpstream-model/1';

/** How band DNs become network values: x = (DN + dnOffset if applyDnOffset) / divisor. */
export interface Normalisation {
  readonly divisor: number;
  readonly applyDnOffset: boolean;
}

/** What kind of network this is (informational; the graph is what runs). */
export type Architecture =
  | { readonly type: 'dsen2'; readonly blocks: number; readonly filters: number; readonly residualScale: number }
  | { readonly type: 'keras'; readonly source: string; readonly name: string }
  | { readonly type: 'interpolation'; readonly method: 'bilinear' | 'bicubic' };

/** One tensor's place in weights.bin. */
export interface TensorEntry {
  readonly name: string;
  readonly shape: readonly number[];
  /** Byte offset in the weights file. */
  readonly offset: number;
}

/** The model manifest (model.json). */
export interface ModelManifest {
  readonly format: typeof MODEL_FORMAT;
  readonly id: string;
  readonly version: string;
  readonly title?: string;
  readonly description?: string;
  /** Satellite definition id this model was trained for. */
  readonly satellite: string;
  /** Super-resolution group id within that definition. */
  readonly group: string;
  readonly factor: number;
  /** Input band ids in network channel order. */
  readonly inputs: readonly string[];
  /** Output band ids in network channel order. */
  readonly outputs: readonly string[];
  /** How coarse inputs are brought to the fine grid before the network. */
  readonly upsample: 'bilinear' | 'bicubic';
  readonly normalisation: Normalisation;
  readonly architecture: Architecture;
  readonly graph: Graph;
  readonly weights: { readonly file: string; readonly sha256: string; readonly tensors: readonly TensorEntry[] };
  /** Inference patch size and border in fine pixels (defaults from the satellite group). */
  readonly patch?: { readonly size: number; readonly border: number };
  readonly training?: Readonly<Record<string, unknown>>;
  readonly metrics?: Readonly<Record<string, unknown>>;
  readonly created: string;
}

/** A loaded model: manifest, weights and where it lives. */
export interface ModelPackage {
  readonly manifest: ModelManifest;
  readonly weights: Weights;
  /** Folder it was loaded from, or null for in-memory models. */
  readonly dir: string | null;
}

/** A model that cannot be loaded, naming the file and the problem. */
export class ModelError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'ModelError';
  }
}

/** Serialises weights in manifest order into one buffer and its table. */
export function packWeights(weights: Weights): { bytes: Buffer; tensors: TensorEntry[]; sha256: string } {
  const tensors: TensorEntry[] = [];
  let offset = 0;
  for (const [name, t] of weights) {
    tensors.push({ name, shape: [...t.shape], offset });
    offset += t.data.length * 4;
  }
  const bytes = Buffer.alloc(offset);
  for (const e of tensors) {
    const t = weights.get(e.name)!;
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(bytes, e.offset);
  }
  return { bytes, tensors, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Builds an in-memory package after checking the graph against the weights and the band lists. */
export function makePackage(manifest: ModelManifest, weights: Weights, dir: string | null = null): ModelPackage {
  const where = dir ?? manifest.id;
  let channels: Map<string, number>;
  try {
    channels = inferChannels(manifest.graph, weights);
  } catch (e) {
    throw new ModelError(where, (e as Error).message);
  }
  if (manifest.inputs.length !== manifest.graph.inputChannels) {
    throw new ModelError(where, `lists ${manifest.inputs.length} input bands but the network takes ${manifest.graph.inputChannels} channels`);
  }
  const outC = channels.get(manifest.graph.output)!;
  if (manifest.outputs.length !== outC) {
    throw new ModelError(where, `lists ${manifest.outputs.length} output bands but the network gives ${outC} channels`);
  }
  return { manifest, weights, dir };
}

/** Writes a package folder (model.json + weights.bin) and returns the manifest as written. */
export async function saveModel(dir: string, manifest: Omit<ModelManifest, 'weights' | 'format'>, weights: Weights): Promise<ModelManifest> {
  const { bytes, tensors, sha256 } = packWeights(weights);
  const full: ModelManifest = { format: MODEL_FORMAT, ...manifest, weights: { file: 'weights.bin', sha256, tensors } };
  makePackage(full, weights, dir);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'weights.bin'), bytes);
  await writeFile(join(dir, 'model.json'), `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Loads and verifies a package folder: manifest shape, weights size and checksum, graph consistency. */
export async function loadModel(dir: string): Promise<ModelPackage> {
  const manifestPath = join(dir, 'model.json');
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (e) {
    throw new ModelError(dir, `not a model folder (cannot read model.json: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new ModelError(manifestPath, `not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(m) || m.format !== MODEL_FORMAT) {
    throw new ModelError(manifestPath, `not a ${MODEL_FORMAT} manifest (format: ${isRecord(m) ? String(m.format) : typeof m})`);
  }
  for (const k of ['id', 'version', 'satellite', 'group', 'upsample', 'created'] as const) {
    if (typeof m[k] !== 'string') throw new ModelError(manifestPath, `field "${k}" must be a string`);
  }
  for (const k of ['inputs', 'outputs'] as const) {
    if (!Array.isArray(m[k]) || !(m[k] as unknown[]).every((s) => typeof s === 'string')) throw new ModelError(manifestPath, `field "${k}" must be a list of band ids`);
  }
  if (!isRecord(m.graph) || !Array.isArray(m.graph.nodes)) throw new ModelError(manifestPath, 'field "graph" is missing or malformed');
  if (!isRecord(m.normalisation) || typeof m.normalisation.divisor !== 'number' || !(m.normalisation.divisor > 0)) {
    throw new ModelError(manifestPath, 'field "normalisation.divisor" must be a positive number');
  }
  if (!isRecord(m.weights) || typeof m.weights.file !== 'string' || !Array.isArray(m.weights.tensors)) {
    throw new ModelError(manifestPath, 'field "weights" must name a file and its tensors');
  }
  const manifest = m as unknown as ModelManifest;
  const weightsPath = join(dir, manifest.weights.file);
  let bytes: Buffer;
  try {
    bytes = await readFile(weightsPath);
  } catch (e) {
    throw new ModelError(weightsPath, `cannot read weights: ${(e as Error).message}`);
  }
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== manifest.weights.sha256) {
    throw new ModelError(weightsPath, `weights are corrupt (sha256 ${sha.slice(0, 12)}… but the manifest says ${String(manifest.weights.sha256).slice(0, 12)}…)`);
  }
  const weights = new Map<string, Tensor>();
  for (const e of manifest.weights.tensors) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.offset % 4 !== 0 || e.offset + n * 4 > bytes.length) {
      throw new ModelError(weightsPath, `tensor ${e.name} [${e.shape.join(', ')}] at byte ${e.offset} lies outside the ${bytes.length}-byte file`);
    }
    const data = new Float32Array(n);
    Buffer.from(data.buffer).set(bytes.subarray(e.offset, e.offset + n * 4));
    weights.set(e.name, { shape: [...e.shape], data });
  }
  return makePackage(manifest, weights, dir);
}
