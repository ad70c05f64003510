/**
 * Training checkpoints: a folder holding `checkpoint.json` (where training stands: epoch, step, patch
 * stream and optimiser state, learning-rate schedule, best validation loss, history, the model manifest
 * being trained) and `checkpoint-<step>.bin` (float32 tensors: weights, optimiser moments and the best
 * weights so far). The JSON is written last with an atomic rename and names its tensor file and checksum,
 * so a crash mid-write leaves the previous checkpoint intact.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packWeights, type ModelManifest } from '../model/package.js';
import type { Tensor } from '../model/graph.js';
import type { StreamState } from './dataset.js';
import type { OptimizerScalars, PlateauState } from './optimizer.js';

/** The checkpoint format this code reads and writes. */
export const CHECKPOINT_FORMAT = 'sharpstream-checkpoint/1';

/** The file name of a checkpoint's JSON. */
export const CHECKPOINT_JSON = 'checkpoint.json';

/** One epoch of the training history. */
export interface EpochRecord {
  /** 1-based epoch number (0: the validation before any training). */
  readonly epoch: number;
  /** Mean training L1 loss (normalised units) over the epoch's steps; null for epoch 0. */
  readonly loss: number | null;
  /** Validation L1 loss (normalised units). */
  readonly valLoss: number;
  /** Validation RMSE in DN, pooled over pixels and bands. */
  readonly valRmse: number;
  /** Learning rate used during the epoch. */
  readonly lr: number;
  /** Wall seconds the epoch took (training and validation). */
  readonly seconds: number;
}

/** Where training stands, as saved in checkpoint.json. */
export interface CheckpointState {
  readonly format: typeof CHECKPOINT_FORMAT;
  /** The manifest of the model being trained (weights table excluded). */
  readonly manifest: Omit<ModelManifest, 'weights' | 'format'>;
  /** The training settings the run was started with (scenes, sizes, seed, ...). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Epochs fully done. */
  readonly epochsDone: number;
  /** Steps done within the epoch in progress (0 at an epoch boundary). */
  readonly stepInEpoch: number;
  /** Optimiser steps done in all. */
  readonly globalStep: number;
  /** Sum and count of the training losses of the epoch in progress. */
  readonly epochLossSum: number;
  readonly epochLossCount: number;
  /** Seconds the epoch in progress has taken so far. */
  readonly epochSeconds: number;
  readonly stream: StreamState;
  readonly optimizer: OptimizerScalars;
  readonly schedule: PlateauState;
  /** Best validation loss so far and its epoch (null before any validation). */
  readonly best: { readonly valLoss: number; readonly epoch: number; readonly valRmse: number } | null;
  readonly history: readonly EpochRecord[];
  /** Training wall seconds over all sessions. */
  readonly wallSeconds: number;
  /** Patches trained on so far. */
  readonly patchesSeen: number;
  readonly savedAt: string;
  /** The tensor file and its checksum. */
  readonly tensors: { readonly file: string; readonly sha256: string; readonly entries: readonly { name: string; shape: number[]; offset: number }[] };
}

/** Everything a checkpoint holds. */
export interface Checkpoint {
  readonly state: Omit<CheckpointState, 'tensors' | 'format' | 'savedAt'>;
  readonly weights: ReadonlyMap<string, Tensor>;
  readonly moments: ReadonlyMap<string, { m: Float32Array; v: Float32Array }>;
  /** Best weights so far (absent before any validation). */
  readonly best: ReadonlyMap<string, Tensor> | null;
}

/** A checkpoint that cannot be read, naming the file and the problem. */
export class CheckpointError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'CheckpointError';
  }
}

/** Writes a checkpoint into a folder (created if missing), replacing the previous one atomically. */
export async function saveCheckpoint(dir: string, ck: Checkpoint): Promise<string> {
  await mkdir(dir, { recursive: true });
  const all = new Map<string, Tensor>();
  for (const [k, t] of ck.weights) all.set(`weights/${k}`, t);
  for (const [k, mv] of ck.moments) {
    const shape = ck.weights.get(k)?.shape ?? [mv.m.length];
    all.set(`m/${k}`, { shape, data: mv.m });
    all.set(`v/${k}`, { shape, data: mv.v });
  }
  if (ck.best) for (const [k, t] of ck.best) all.set(`best/${k}`, t);
  const { bytes, tensors, sha256 } = packWeights(all);
  const file = `checkpoint-${ck.state.globalStep}.bin`;
  await writeFile(join(dir, `${file}.tmp`), bytes);
  await rename(join(dir, `${file}.tmp`), join(dir, file));
  const json: CheckpointState = {
    format: CHECKPOINT_FORMAT,
    ...ck.state,
    savedAt: new Date().toISOString(),
    tensors: { file, sha256, entries: tensors.map((t) => ({ name: t.name, shape: [...t.shape], offset: t.offset })) },
  };
  await writeFile(join(dir, `${CHECKPOINT_JSON}.tmp`), `${JSON.stringify(json, null, 1)}\n`);
  await rename(join(dir, `${CHECKPOINT_JSON}.tmp`), join(dir, CHECKPOINT_JSON));
  // Older tensor files are no longer referenced.
  for (const f of await readdir(dir)) {
    if (/^checkpoint-\d+\.bin(\.tmp)?$/.test(f) && f !== file) await rm(join(dir, f), { force: true });
  }
  return join(dir, CHECKPOINT_JSON);
}

/** The checkpoint folder a --resume argument names: the folder itself, or its `checkpoint/` subfolder; null when neither holds one. */
export function findCheckpoint(path: string): string | null {
  if (existsSync(join(path, CHECKPOINT_JSON))) return path;
  if (existsSync(join(path, 'checkpoint', CHECKPOINT_JSON))) return join(path, 'checkpoint');
  if (path.endsWith(CHECKPOINT_JSON) && existsSync(path)) return join(path, '..');
  return null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads and verifies a checkpoint folder. */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const jsonPath = join(dir, CHECKPOINT_JSON);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (e) {
    throw new CheckpointError(jsonPath, `cannot read checkpoint: ${(e as Error).message}`);
  }
  if (!isRecord(parsed) || parsed.format !== CHECKPOINT_FORMAT) throw new CheckpointError(jsonPath, `not a ${CHECKPOINT_FORMAT} file`);
  for (const k of ['manifest', 'config', 'stream', 'optimizer', 'schedule', 'tensors'] as const) {
    if (!isRecord(parsed[k])) throw new CheckpointError(jsonPath, `field "${k}" is missing or malformed`);
  }
  for (const k of ['epochsDone', 'stepInEpoch', 'globalStep'] as const) {
    if (!Number.isInteger(parsed[k])) throw new CheckpointError(jsonPath, `field "${k}" must be an integer`);
  }
  const st = parsed as unknown as CheckpointState;
  const binPath = join(dir, st.tensors.file);
  let bytes: Buffer;
  try {
    bytes = await readFile(binPath);
  } catch (e) {
    throw new CheckpointError(binPath, `cannot read checkpoint tensors: ${(e as Error).message}`);
  }
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== st.tensors.sha256) throw new CheckpointError(binPath, `checkpoint tensors are corrupt (sha256 ${sha.slice(0, 12)}… but ${CHECKPOINT_JSON} says ${String(st.tensors.sha256).slice(0, 12)}…)`);
  const weights = new Map<string, Tensor>();
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  const best = new Map<string, Tensor>();
  for (const e of st.tensors.entries) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.offset % 4 !== 0 || e.offset + 4 * n > bytes.length) throw new CheckpointError(binPath, `tensor ${e.name} lies outside the file`);
    const data = new Float32Array(n);
    Buffer.from(data.buffer).set(bytes.subarray(e.offset, e.offset + 4 * n));
    const slash = e.name.indexOf('/');
    const kind = e.name.slice(0, slash);
    const name = e.name.slice(slash + 1);
    if (kind === 'weights') weights.set(name, { shape: e.shape, data });
    else if (kind === 'm') m.set(name, data);
    else if (kind === 'v') v.set(name, data);
    else if (kind === 'best') best.set(name, { shape: e.shape, data });
    else throw new CheckpointError(binPath, `unknown tensor kind in "${e.name}"`);
  }
  const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  for (const [k, mm] of m) {
    const vv = v.get(k);
    if (!vv) throw new CheckpointError(binPath, `second moment of ${k} is missing`);
    moments.set(k, { m: mm, v: vv });
  }
  const { format: _f, savedAt: _s, tensors: _t, ...state } = st;
  void _f;
  void _s;
  void _t;
  return { state, weights, moments, best: best.size ? best : null };
}
