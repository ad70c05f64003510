/**
 * TRAIN: fits a DSen2-family network to one super-resolution group of a satellite by Wald's protocol,
 * in TensorFlow.js (WebAssembly backend by default). L1 loss, Nadam (or Adam), learning rate halved when
 * the validation loss plateaus, the best-on-validation weights kept and saved as a model package with
 * its training provenance and metrics, a resumable checkpoint every epoch and on interruption, and
 * progress events (epoch, step, loss, validation loss, ETA) for a progress bar or an HTTP API.
 */
import { EventEmitter } from 'node:events';
import { basename, resolve } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import { dsen2Graph, dsen2InitialWeights, DSEN2_SIZES, growDsen2Weights, type Dsen2Size } from '../model/dsen2.js';
import type { Tensor } from '../model/graph.js';
import { loadModel, saveModel, type ModelManifest, type Normalisation } from '../model/package.js';
import { packageVersion } from '../pipeline/version.js';
import { satellites } from '../satellites/registry.js';
import { groupPatch, type GroupSpec, type SatelliteSpec } from '../satellites/spec.js';
import { openScene } from '../scene/open.js';
import type { Scene } from '../scene/types.js';
import { findCheckpoint, loadCheckpoint, saveCheckpoint, type Checkpoint, type EpochRecord } from './checkpoint.js';
import { defaultPatchSize, findGroup, groupBands, PatchSource, PatchStream, regionSplit, type Batch, type PatchStreamOptions, type StreamState } from './dataset.js';
import { l1Gradients, loadTrainingBackend, trainingForward, type TrainingBackend } from './network.js';
import { GradientPool } from './gradient-pool.js';
import { MomentOptimizer, PlateauSchedule, type OptimizerKind, type PlateauSettings } from './optimizer.js';
import { deriveSeed } from './rng.js';
import type { DegradeOptions } from './wald.js';

/**
 * Gain of a new network's output convolution: small, so that training starts at the bilinear baseline
 * (the global skip) instead of a large random residual that costs the first epochs to unlearn.
 */
const OUTPUT_GAIN = 0.01;

type Tf = typeof TF;

/** Options of a training run. */
export interface TrainOptions {
  /** Satellite definition (or its id or file); with --resume it defaults to the model's. */
  readonly satellite?: string | SatelliteSpec;
  /** Super-resolution group id (default: the model's when resuming, else the satellite's first group). */
  readonly group?: string;
  /** Training scenes (paths, URLs or open scenes); with a checkpoint they default to the checkpoint's. */
  readonly scenes?: readonly (string | Scene)[];
  /** Held-out validation scenes. */
  readonly valScenes?: readonly (string | Scene)[];
  /** Without validation scenes: the fraction of each scene's rows (a band at the bottom) held out (default 0.1). */
  readonly valFraction?: number;
  /** Output model folder (the checkpoint goes to its `checkpoint/` subfolder). */
  readonly out: string;
  /** Network size name (DSEN2_SIZES; default "dsen2"). */
  readonly size?: string;
  /** Epoch to stop after (default 50). */
  readonly epochs?: number;
  /** Training patches drawn per scene per epoch (default DSen2's: 8000 for x2, 500 otherwise). */
  readonly patchesPerScene?: number;
  /** Steps per epoch (default: patches per scene x scenes / batch, rounded up). */
  readonly stepsPerEpoch?: number;
  /** Validation patches (default: a tenth of an epoch's patches, at least one batch). */
  readonly valPatches?: number;
  /** Patches per step (default 32). */
  readonly batch?: number;
  /** Initial learning rate (default 1e-4, DSen2's); a resumed checkpoint keeps its schedule's rate. */
  readonly lr?: number;
  readonly optimizer?: OptimizerKind;
  /** Learning-rate schedule (default: factor 0.5, patience 5, minLr 1e-5, cooldown 0). */
  readonly plateau?: PlateauSettings;
  /** Seed of the initial weights and of patch sampling (default 42). */
  readonly seed?: number;
  /** Training runtime (default tfjs-wasm). */
  readonly runtime?: string;
  /**
   * Worker threads computing each step's gradients, the batch split between them (default 1: the main
   * thread). For the single-threaded WebAssembly and pure-JS backends; tfjs-node runs its own threads.
   */
  readonly threads?: number;
  /** Label patch side at the target grid (default DSen2's: 32 for x2, 96 for x6). */
  readonly patchSize?: number;
  readonly degrade?: DegradeOptions;
  readonly stream?: PatchStreamOptions;
  /** Random rotations and mirrorings of the training patches (PatchStreamOptions.augment); a resumed run keeps its setting unless given. */
  readonly augment?: boolean;
  /** A checkpoint folder, a trained model folder holding one, or a model package to fine-tune. */
  readonly resume?: string;
  /** How DN become network values, for a new model (default DSen2's: (DN + dnOffset) / 2000). */
  readonly normalisation?: Normalisation;
  /** Model id and title written in the manifest (default: the output folder's name). */
  readonly id?: string;
  readonly title?: string;
  /** The command line, for provenance. */
  readonly command?: string;
  /** Aborting saves a checkpoint at the next step boundary and ends the run as "interrupted". */
  readonly signal?: AbortSignal;
  /** Called with every progress event. */
  readonly onEvent?: (e: TrainEvent) => void;
}

/** Progress events: what an HTTP API or a progress bar reports. */
export type TrainEvent =
  | {
      readonly type: 'start';
      readonly epoch: number;
      readonly epochs: number;
      readonly step: number;
      readonly stepsPerEpoch: number;
      readonly batch: number;
      readonly patchSize: number;
      readonly runtime: string;
      /** Threads computing gradients (1: the main thread). */
      readonly threads: number;
      readonly parameters: number;
      readonly resumedFrom: string | null;
    }
  | {
      readonly type: 'step';
      /** 1-based epoch and step within it. */
      readonly epoch: number;
      readonly step: number;
      readonly stepsPerEpoch: number;
      readonly globalStep: number;
      readonly loss: number;
      /** Mean loss of the epoch so far. */
      readonly epochLoss: number;
      readonly lr: number;
      readonly patchesPerSecond: number;
      readonly elapsedSeconds: number;
      readonly etaSeconds: number;
    }
  | {
      readonly type: 'epoch';
      readonly epoch: number;
      readonly loss: number | null;
      readonly valLoss: number;
      readonly valRmse: number;
      readonly lr: number;
      readonly improved: boolean;
      readonly lrReduced: boolean;
      readonly seconds: number;
      readonly etaSeconds: number;
    }
  | { readonly type: 'checkpoint'; readonly path: string; readonly epoch: number; readonly step: number }
  | { readonly type: 'done'; readonly status: 'finished' | 'interrupted'; readonly modelDir: string; readonly bestEpoch: number | null; readonly bestValLoss: number | null; readonly seconds: number };

/** What a training run produced. */
export interface TrainResult {
  readonly status: 'finished' | 'interrupted';
  /** The model package folder (best weights). */
  readonly modelDir: string;
  /** The checkpoint folder. */
  readonly checkpointDir: string;
  readonly manifest: ModelManifest;
  readonly history: readonly EpochRecord[];
  readonly epochsDone: number;
  readonly globalStep: number;
  /** Wall seconds of this session. */
  readonly seconds: number;
  /** Training patches per second in this session (steps only, validation excluded). */
  readonly patchesPerSecond: number;
}

interface ValResult {
  readonly loss: number;
  readonly rmse: number;
  readonly bilinearLoss: number;
  readonly bilinearRmse: number;
  readonly patches: number;
}

let runCounter = 0;

/** Where a scene came from, as given (absolute for local paths): what a resumed run reopens. An archive's scene.uri is its temporary extraction folder. */
function sceneInput(arg: string | Scene): string {
  if (typeof arg !== 'string') return arg.uri;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(arg) ? arg : resolve(arg);
}

/** A scene's id and input, for provenance. */
function sceneInfo(s: Scene, arg: string | Scene): { id: string; input: string } {
  return { id: s.id, input: sceneInput(arg) };
}

/** A training run; emits 'progress' (and each event's own type) with TrainEvent objects. */
export class TrainingRun extends EventEmitter {
  constructor(private readonly opts: TrainOptions) {
    super();
  }

  private emitEvent(e: TrainEvent): void {
    this.opts.onEvent?.(e);
    this.emit(e.type, e);
    this.emit('progress', e);
  }

  /** Runs training to the last epoch or until aborted; resolves with the saved model and history. */
  async run(): Promise<TrainResult> {
    const held: Held = { opened: [], vars: new Map(), optimizer: null, pool: null };
    try {
      return await this.body(held);
    } finally {
      await held.pool?.close();
      held.optimizer?.dispose();
      for (const v of held.vars.values()) v.dispose();
      await Promise.allSettled(held.opened.map((s) => s.close()));
    }
  }

  private async body(held: Held): Promise<TrainResult> {
    const o = this.opts;
    const t0 = performance.now();
    const registry = satellites();
    const out = resolve(o.out);
    const checkpointDir = resolve(out, 'checkpoint');

    // What to start from: a checkpoint, a model package to fine-tune, or fresh weights.
    let ck: Checkpoint | null = null;
    let fineTune: { manifest: ModelManifest; weights: ReadonlyMap<string, Tensor>; dir: string } | null = null;
    if (o.resume) {
      const ckDir = findCheckpoint(o.resume);
      if (ckDir) ck = await loadCheckpoint(ckDir);
      else {
        const pkg = await loadModel(o.resume);
        fineTune = { manifest: pkg.manifest, weights: pkg.weights, dir: o.resume };
      }
    }
    const cfg = (ck?.state.config ?? {}) as Record<string, unknown>;
    const base = ck?.state.manifest ?? fineTune?.manifest;
    const sceneArgs = o.scenes ?? (Array.isArray(cfg.scenes) ? (cfg.scenes as string[]) : undefined);
    if (!sceneArgs || sceneArgs.length === 0) throw new Error('train needs at least one training scene');
    const opened = held.opened;
    const openedBy = new Map<string, Scene>();
    const open = async (s: string | Scene, sat?: SatelliteSpec): Promise<Scene> => {
      if (typeof s !== 'string') return s;
      const known = openedBy.get(s);
      if (known) return known;
      const sc = await openScene(s, sat ? { satellite: sat, registry } : { registry });
      opened.push(sc);
      openedBy.set(s, sc);
      return sc;
    };
    // The satellite: given, the resumed model's, or recognised from the first scene.
    const satArg = o.satellite ?? base?.satellite;
    const satellite = satArg ? (typeof satArg === 'string' ? registry.resolve(satArg) : satArg) : (await open(sceneArgs[0])).satellite;
    const group: GroupSpec = findGroup(satellite, o.group ?? base?.group);
    if (ck && base && (base.satellite !== satellite.id || base.group !== group.id)) {
      throw new Error(`${o.resume}: the checkpoint is for ${base.satellite} group ${base.group}, not ${satellite.id} group ${group.id}`);
    }
    if (fineTune && base && (base.satellite !== satellite.id || base.group !== group.id)) {
      // Fine-tuning may move a model to another product of the same bands (e.g. L1C to L2A).
      const want = groupBands(satellite, group);
      const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
      if (!same(base.inputs, want.inputs) || !same(base.outputs, want.outputs)) {
        throw new Error(
          `${o.resume}: the model (${base.satellite} ${base.group}) takes ${base.inputs.join(',')} -> ${base.outputs.join(',')}, but ${satellite.id} group ${group.id} has ${want.inputs.join(',')} -> ${want.outputs.join(',')}`,
        );
      }
    }
    if (!Number.isInteger(group.factor)) throw new Error(`group ${group.id} of ${satellite.id} has a non-integer factor ${group.factor}`);

    const seed = ck ? Number(cfg.seed) : (o.seed ?? 42);
    const sizeName = o.size ?? (typeof cfg.size === 'string' ? cfg.size : 'dsen2');
    const sizeSpec = DSEN2_SIZES[sizeName];
    if (!sizeSpec && (!base || o.size)) throw new Error(`unknown network size "${sizeName}" (sizes: ${Object.keys(DSEN2_SIZES).join(', ')})`);
    // A fine-tune may grow its model into a larger DSen2 size; a checkpoint resumes its own network.
    let grow: { from: Dsen2Size; to: Dsen2Size } | null = null;
    if (base && o.size) {
      const arch = base.architecture;
      if (arch.type !== 'dsen2') throw new Error(`--size ${o.size}: the resumed model is not a DSen2 network, so it cannot change size`);
      if (arch.blocks !== sizeSpec.blocks || arch.filters !== sizeSpec.filters) {
        const differs = `--size ${o.size} (${sizeSpec.blocks} blocks x ${sizeSpec.filters} filters) differs from the resumed model's ${arch.blocks} blocks x ${arch.filters} filters`;
        if (ck) throw new Error(`${differs}: a checkpoint resumes its own network; fine-tune its model package to grow it`);
        if (sizeSpec.blocks < arch.blocks || sizeSpec.filters < arch.filters) throw new Error(`${differs}: a model can grow, not shrink`);
        grow = { from: { blocks: arch.blocks, filters: arch.filters, residualScale: arch.residualScale }, to: { ...sizeSpec, residualScale: arch.residualScale } };
      }
    }
    const batchSize = o.batch ?? (typeof cfg.batch === 'number' ? cfg.batch : 32);
    const patchSize = ck ? Number(cfg.patchSize) : (o.patchSize ?? defaultPatchSize(group.factor));
    const lr0 = o.lr ?? (typeof cfg.lr === 'number' ? cfg.lr : 1e-4);
    const optimizerKind: OptimizerKind = ck ? ck.state.optimizer.kind : (o.optimizer ?? 'nadam');
    const epochs = o.epochs ?? (typeof cfg.epochs === 'number' ? cfg.epochs : 50);
    const degrade: DegradeOptions = o.degrade ?? ((cfg.degrade as DegradeOptions | undefined) ?? {});
    const streamBase: PatchStreamOptions = o.stream ?? ((cfg.stream as PatchStreamOptions | undefined) ?? {});
    const streamOpts: PatchStreamOptions = o.augment === undefined ? streamBase : { ...streamBase, augment: o.augment };
    const plateau: PlateauSettings = { factor: 0.5, patience: 5, minDelta: 1e-6, cooldown: 0, minLr: 1e-5, ...((cfg.plateau as PlateauSettings | undefined) ?? {}), ...(o.plateau ?? {}) };
    for (const [k, v] of [['epochs', epochs], ['batch', batchSize], ['patch size', patchSize]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${v}`);
    }
    if (!(lr0 > 0)) throw new Error(`learning rate must be positive, got ${lr0}`);
    if (o.normalisation && base) throw new Error('the normalisation of a resumed or fine-tuned model is its own; it cannot be changed');
    if (o.normalisation && !(o.normalisation.divisor > 0)) throw new Error(`the normalisation divisor must be positive, got ${o.normalisation.divisor}`);

    // The model being trained.
    const bands = groupBands(satellite, group);
    const manifestBase: Omit<ModelManifest, 'weights' | 'format'> =
      ck?.state.manifest ??
      (fineTune
        ? {
            ...stripWeights(fineTune.manifest),
            satellite: satellite.id,
            group: group.id,
            id: o.id ?? basename(out),
            ...(o.title ? { title: o.title } : {}),
            // A grown network computes what the resumed one did; its manifest describes the new size.
            ...(grow ? grownArchitecture(fineTune.manifest, grow.from, grow.to) : {}),
            created: new Date().toISOString(),
          }
        : {
            id: o.id ?? basename(out),
            version: '1',
            title: o.title ?? `DSen2 ${sizeName} for ${satellite.id} ${group.id}`,
            description: `DSen2-family network (${sizeSpec.blocks} blocks x ${sizeSpec.filters} filters) trained by Wald's protocol with sharpstream: super-resolves ${group.targets.join(', ')} by x${group.factor}.`,
            satellite: satellite.id,
            group: group.id,
            factor: group.factor,
            inputs: bands.inputs,
            outputs: bands.outputs,
            upsample: 'bilinear',
            normalisation: o.normalisation ?? { divisor: 2000, applyDnOffset: true },
            architecture: { type: 'dsen2', blocks: sizeSpec.blocks, filters: sizeSpec.filters, residualScale: sizeSpec.residualScale ?? 0.1 },
            graph: dsen2Graph(bands.inputs.length, bands.outputs.length, sizeSpec),
            patch: groupPatch(group),
            created: new Date().toISOString(),
          });
    const initial: ReadonlyMap<string, Tensor> =
      ck?.weights ??
      (fineTune
        ? grow
          ? growDsen2Weights(fineTune.weights, manifestBase.inputs.length, manifestBase.outputs.length, grow.from, grow.to, seed)
          : fineTune.weights
        : dsen2InitialWeights(bands.inputs.length, bands.outputs.length, sizeSpec, seed, OUTPUT_GAIN));

    // Scenes and the training/validation split.
    // Validation: held-out scenes, or a row band of every training scene; a resumed run keeps its split unless given new scenes.
    const keepSplit = ck !== null && !o.scenes && !o.valScenes && o.valFraction === undefined;
    const valArgs = o.valScenes ?? (keepSplit && Array.isArray(cfg.valScenes) && cfg.valScenes.length ? (cfg.valScenes as string[]) : undefined);
    if (valArgs && valArgs.length && o.valFraction !== undefined) throw new Error('give validation scenes or a validation fraction, not both');
    const valFraction = valArgs && valArgs.length ? undefined : (o.valFraction ?? (keepSplit && typeof cfg.valFraction === 'number' ? cfg.valFraction : 0.1));
    const backend = await loadTrainingBackend(o.runtime ?? (typeof cfg.runtime === 'string' ? cfg.runtime : 'tfjs-wasm'));
    const tf = backend.tf;
    if (o.threads !== undefined && (!Number.isInteger(o.threads) || o.threads < 1)) throw new Error(`threads must be a positive integer, got ${o.threads}`);
    // Data-parallel gradients on worker threads, for the single-threaded CPU backends.
    const threads = backend.backend === 'wasm' || backend.backend === 'cpu' ? Math.min(o.threads ?? 1, batchSize) : 1;

    const vars = held.vars;
    {
      const trainScenes: Scene[] = [];
      for (const s of sceneArgs) trainScenes.push(await open(s, satellite));
      const valScenes: Scene[] = [];
      for (const s of valArgs ?? []) valScenes.push(await open(s, satellite));
      const model = { inputs: manifestBase.inputs, outputs: manifestBase.outputs, upsample: manifestBase.upsample, normalisation: manifestBase.normalisation };
      const srcOpts = { ...degrade, size: patchSize };
      const trainSources: PatchSource[] = [];
      const valSources: PatchSource[] = [];
      const split: Record<string, unknown>[] = [];
      for (const sc of trainScenes) {
        if (sc.satellite.id !== satellite.id) throw new Error(`scene ${sc.uri} is ${sc.satellite.id}, not ${satellite.id}`);
        if (valFraction !== undefined) {
          const probe = new PatchSource(sc, group, model, srcOpts);
          const rows = regionSplit(probe.rows[1], valFraction, probe.step, probe.reach);
          trainSources.push(new PatchSource(sc, group, model, { ...srcOpts, rows: rows.train }));
          valSources.push(new PatchSource(sc, group, model, { ...srcOpts, rows: rows.val }));
          split.push({ ...sceneInfo(sc, sceneArgs[trainScenes.indexOf(sc)]), trainRows: rows.train, valRows: rows.val });
        } else {
          trainSources.push(new PatchSource(sc, group, model, srcOpts));
        }
      }
      for (const sc of valScenes) {
        if (sc.satellite.id !== satellite.id) throw new Error(`validation scene ${sc.uri} is ${sc.satellite.id}, not ${satellite.id}`);
        valSources.push(new PatchSource(sc, group, model, srcOpts));
      }
      const patchesPerScene = o.patchesPerScene ?? (typeof cfg.patchesPerScene === 'number' ? cfg.patchesPerScene : group.factor <= 2 ? 8000 : 500);
      // A resumed run keeps its epoch length unless told otherwise.
      const stepsPerEpoch =
        o.stepsPerEpoch ??
        (o.patchesPerScene === undefined && o.batch === undefined && typeof cfg.stepsPerEpoch === 'number' ? cfg.stepsPerEpoch : Math.ceil((patchesPerScene * trainSources.length) / batchSize));
      const valPatches = o.valPatches ?? (typeof cfg.valPatches === 'number' ? cfg.valPatches : Math.max(batchSize, Math.round((stepsPerEpoch * batchSize) / 10)));
      if (!Number.isInteger(stepsPerEpoch) || stepsPerEpoch < 1) throw new Error(`steps per epoch must be a positive integer, got ${stepsPerEpoch}`);
      if (!Number.isInteger(valPatches) || valPatches < 1) throw new Error(`validation patches must be a positive integer, got ${valPatches}`);

      const config: Record<string, unknown> = {
        satellite: satellite.id,
        group: group.id,
        size: base ? (base.architecture.type === 'dsen2' ? `${base.architecture.blocks}x${base.architecture.filters}` : base.architecture.type) : sizeName,
        scenes: sceneArgs.map(sceneInput),
        valScenes: (valArgs ?? []).map(sceneInput),
        ...(valFraction !== undefined ? { valFraction } : {}),
        seed,
        batch: batchSize,
        patchSize,
        patchesPerScene,
        stepsPerEpoch,
        valPatches,
        lr: lr0,
        epochs,
        optimizer: optimizerKind,
        plateau,
        degrade: { sigmaScale: degrade.sigmaScale ?? 1, truncate: degrade.truncate ?? 4 },
        stream: streamOpts,
        runtime: backend.runtime,
        threads,
      };

      // Variables (unique names: tfjs registers variables process-wide).
      const runId = `train${++runCounter}`;
      for (const [name, t] of initial) vars.set(name, tf.tidy(() => tf.variable(tf.tensor(t.data, [...t.shape], 'float32'), true, `${runId}/${name}`)));
      const byVarName = new Map([...vars].map(([k, v]) => [v.name, k]));
      if (threads > 1) held.pool = await GradientPool.start(threads, backend.runtime, manifestBase.graph, [...initial].map(([k, t]) => [k, [...t.shape]] as const));
      const pool = held.pool;
      const optimizer = new MomentOptimizer(tf, vars, { kind: optimizerKind });
      held.optimizer = optimizer;
      if (ck) optimizer.restore(ck.state.optimizer, ck.moments);
      const schedule = new PlateauSchedule(lr0, plateau, ck?.state.schedule);

      let epochsDone = ck?.state.epochsDone ?? 0;
      let stepInEpoch = ck?.state.stepInEpoch ?? 0;
      let globalStep = ck?.state.globalStep ?? 0;
      let epochLossSum = ck?.state.epochLossSum ?? 0;
      let epochLossCount = ck?.state.epochLossCount ?? 0;
      let epochSecondsBefore = ck?.state.epochSeconds ?? 0;
      let patchesSeen = ck?.state.patchesSeen ?? 0;
      // A fine-tuned model carries its base's training time and sessions, so that its card shows the whole history.
      const baseTraining = fineTune?.manifest.training;
      const wallBefore = ck?.state.wallSeconds ?? (typeof baseTraining?.wallSeconds === 'number' ? baseTraining.wallSeconds : 0);
      const history: EpochRecord[] = [...(ck?.state.history ?? [])];
      let best = ck?.state.best ?? null;
      let bestWeights: Map<string, Tensor> | null = ck?.best ? new Map(ck.best) : null;
      const stream = new PatchStream(trainSources, ck ? (ck.state.stream as StreamState) : deriveSeed(seed, 'train'), streamOpts);
      let streamStateOverride: StreamState | null = null;
      const valSeed = deriveSeed(seed, 'validation');
      const startedAt = typeof cfg.startedAt === 'string' ? cfg.startedAt : new Date().toISOString();
      config.startedAt = startedAt;
      const earlier = (cfg.sessions as unknown[] | undefined) ?? (Array.isArray(baseTraining?.sessions) ? (baseTraining.sessions as unknown[]) : []);
      const sessions = [...earlier, { startedAt: new Date().toISOString(), command: o.command ?? null, resumedFrom: o.resume ?? null }];
      config.sessions = sessions;
      const parameters = [...initial.values()].reduce((a, t) => a + t.data.length, 0);

      const snapshot = async (): Promise<Map<string, Tensor>> => {
        const m = new Map<string, Tensor>();
        for (const [k, v] of vars) m.set(k, { shape: [...v.shape], data: Float32Array.from((await v.data()) as Float32Array) });
        return m;
      };

      const forward = (x: TF.Tensor4D): TF.Tensor4D => trainingForward(tf, manifestBase.graph, vars, x, backend.conv);

      const validate = async (): Promise<ValResult> => validateOn(tf, valSources, valSeed, valPatches, batchSize, streamOpts, forward, manifestBase);

      let baselineCache: ValResult | null = null;
      const manifestNow = (status: string): Omit<ModelManifest, 'weights' | 'format'> => {
        const wall = wallBefore + (performance.now() - t0) / 1000;
        return {
          ...manifestBase,
          training: {
            tool: `sharpstream ${packageVersion()}`,
            protocol: `Wald: inputs degraded x${group.factor} (Gaussian blur sigma ${degrade.sigmaScale ?? 1}/${group.factor} px, truncate ${degrade.truncate ?? 4}, then ${group.factor}x${group.factor} block mean); targets are the original ${group.targets.join(', ')}`,
            status,
            command: o.command ?? null,
            runtime: backend.runtime,
            backend: backend.backend,
            threads,
            seed,
            scenes: trainScenes.map((sc, i) => sceneInfo(sc, sceneArgs[i])),
            validation: valFraction !== undefined ? { kind: 'region', fraction: valFraction, split } : { kind: 'scene', scenes: valScenes.map((sc, i) => sceneInfo(sc, valArgs![i])) },
            patchSize,
            patchesPerScene,
            patchesPerEpoch: stepsPerEpoch * batchSize,
            augment: streamOpts.augment ?? false,
            stepsPerEpoch,
            batch: batchSize,
            valPatches,
            patchesSeen,
            epochs: epochsDone,
            steps: globalStep,
            bestEpoch: best?.epoch ?? null,
            loss: 'L1 (mean absolute error) on normalised values',
            optimizer: { ...optimizer.scalars(), lr: lr0 },
            lrFinal: schedule.lr,
            plateau,
            parameters,
            startedAt,
            finishedAt: new Date().toISOString(),
            wallSeconds: Math.round(wall * 10) / 10,
            sessions,
            ...(fineTune ? { fineTunedFrom: { id: fineTune.manifest.id, dir: fineTune.dir } } : {}),
            history,
          },
          metrics: best
            ? {
                protocol: `Wald x${group.factor}, ${valPatches} validation patches of ${patchSize} px`,
                valL1: best.valLoss,
                valMaeDn: best.valLoss * manifestBase.normalisation.divisor,
                valRmseDn: best.valRmse,
                ...(baselineCache ? { bilinearValL1: baselineCache.bilinearLoss, bilinearValRmseDn: baselineCache.bilinearRmse } : {}),
              }
            : {},
        };
      };
      const writeCheckpoint = async (): Promise<string> => {
        const path = await saveCheckpoint(checkpointDir, {
          state: {
            manifest: manifestBase,
            config,
            epochsDone,
            stepInEpoch,
            globalStep,
            epochLossSum,
            epochLossCount,
            epochSeconds: epochSecondsBefore,
            stream: streamStateOverride ?? stream.state,
            optimizer: optimizer.scalars(),
            schedule: schedule.state,
            best,
            history,
            wallSeconds: wallBefore + (performance.now() - t0) / 1000,
            patchesSeen,
          },
          weights: await snapshot(),
          moments: await optimizer.moments(),
          best: bestWeights,
        });
        this.emitEvent({ type: 'checkpoint', path, epoch: epochsDone, step: stepInEpoch });
        return path;
      };

      const saveBest = async (status: string): Promise<ModelManifest> => saveModel(out, manifestNow(status), bestWeights ?? (await snapshot()));

      this.emitEvent({
        type: 'start',
        epoch: epochsDone,
        epochs,
        step: stepInEpoch,
        stepsPerEpoch,
        batch: batchSize,
        patchSize,
        runtime: backend.runtime,
        threads,
        parameters,
        resumedFrom: o.resume ?? null,
      });

      // Timing for the ETA: this session's step and validation times.
      let stepSeconds = 0;
      let stepsThisSession = 0;
      let valSeconds = 0;
      let valsThisSession = 0;
      const eta = (): number => {
        const remainingSteps = (epochs - epochsDone) * stepsPerEpoch - stepInEpoch;
        const remainingVals = Math.max(0, epochs - epochsDone);
        const perStep = stepsThisSession ? stepSeconds / stepsThisSession : Number.NaN;
        // Before the first validation, guess one as a third of a step per batch (a forward pass without gradients).
        const perVal = valsThisSession ? valSeconds / valsThisSession : (perStep * Math.ceil(valPatches / batchSize)) / 3;
        return Math.max(0, remainingSteps * perStep + remainingVals * perVal);
      };

      const recordValidation = async (epoch: number, loss: number | null, seconds: number, lrUsed: number): Promise<{ improved: boolean; lrReduced: boolean; val: ValResult }> => {
        const tv = performance.now();
        const val = await validate();
        valSeconds += (performance.now() - tv) / 1000;
        valsThisSession++;
        baselineCache ??= val;
        const improved = !best || val.loss < best.valLoss;
        const lrReduced = epoch > 0 ? schedule.update(val.loss) : false;
        history.push({ epoch, loss, valLoss: val.loss, valRmse: val.rmse, lr: lrUsed, seconds: seconds + (performance.now() - tv) / 1000 });
        if (improved) {
          best = { valLoss: val.loss, epoch, valRmse: val.rmse };
          bestWeights = await snapshot();
        }
        return { improved, lrReduced, val };
      };

      // Validation of the starting weights (random, or the model being fine-tuned).
      if (!ck) {
        const { improved, lrReduced, val } = await recordValidation(0, null, 0, schedule.lr);
        await saveBest('training');
        this.emitEvent({ type: 'epoch', epoch: 0, loss: null, valLoss: val.loss, valRmse: val.rmse, lr: schedule.lr, improved, lrReduced, seconds: 0, etaSeconds: eta() });
      }

      let status: 'finished' | 'interrupted' = 'finished';
      const varList = [...vars.values()];
      // With worker threads, the next batch of the epoch is built on this thread while they compute;
      // the stream's state before it is what a checkpoint records, so a resumed run rebuilds it.
      let prefetch: { batch: Promise<Batch>; before: StreamState } | null = null;
      outer: while (epochsDone < epochs) {
        const epochStart = performance.now();
        const lrUsed = schedule.lr;
        while (stepInEpoch < stepsPerEpoch) {
          if (o.signal?.aborted) {
            if (prefetch) {
              await prefetch.batch.catch(() => undefined);
              streamStateOverride = prefetch.before;
              prefetch = null;
            }
            epochSecondsBefore += (performance.now() - epochStart) / 1000;
            status = 'interrupted';
            break outer;
          }
          const ts = performance.now();
          let batch: Batch;
          if (prefetch) {
            batch = await prefetch.batch;
            prefetch = null;
          } else batch = await stream.batch(batchSize);
          let lossValue: number;
          if (pool) {
            if (stepInEpoch + 1 < stepsPerEpoch) {
              const before = stream.state;
              const next = stream.batch(batchSize);
              next.catch(() => undefined);
              prefetch = { batch: next, before };
            }
            lossValue = await pooledStep(tf, pool, batch, vars, optimizer, schedule.lr);
          } else {
            const loss = trainStep(tf, batch, forward, varList, byVarName, optimizer, schedule.lr);
            lossValue = (await loss.data())[0];
            loss.dispose();
          }
          if (!Number.isFinite(lossValue)) throw new Error(`training diverged: the loss is ${lossValue} at step ${globalStep + 1} (try a lower --lr)`);
          stepSeconds += (performance.now() - ts) / 1000;
          stepsThisSession++;
          stepInEpoch++;
          globalStep++;
          patchesSeen += batch.n;
          epochLossSum += lossValue;
          epochLossCount++;
          this.emitEvent({
            type: 'step',
            epoch: epochsDone + 1,
            step: stepInEpoch,
            stepsPerEpoch,
            globalStep,
            loss: lossValue,
            epochLoss: epochLossSum / epochLossCount,
            lr: schedule.lr,
            patchesPerSecond: (stepsThisSession * batchSize) / stepSeconds,
            elapsedSeconds: (performance.now() - t0) / 1000,
            etaSeconds: eta(),
          });
        }
        const trainSeconds = epochSecondsBefore + (performance.now() - epochStart) / 1000;
        const meanLoss = epochLossCount ? epochLossSum / epochLossCount : null;
        const { improved, lrReduced, val } = await recordValidation(epochsDone + 1, meanLoss, trainSeconds, lrUsed);
        epochsDone++;
        stepInEpoch = 0;
        epochLossSum = 0;
        epochLossCount = 0;
        epochSecondsBefore = 0;
        if (improved) await saveBest('training');
        await writeCheckpoint();
        this.emitEvent({ type: 'epoch', epoch: epochsDone, loss: meanLoss, valLoss: val.loss, valRmse: val.rmse, lr: lrUsed, improved, lrReduced, seconds: trainSeconds, etaSeconds: eta() });
      }
      if (status === 'interrupted') await writeCheckpoint();
      const manifest = await saveBest(status === 'finished' ? 'finished' : 'interrupted');
      const seconds = (performance.now() - t0) / 1000;
      this.emitEvent({ type: 'done', status, modelDir: out, bestEpoch: best?.epoch ?? null, bestValLoss: best?.valLoss ?? null, seconds });
      return {
        status,
        modelDir: out,
        checkpointDir,
        manifest,
        history,
        epochsDone,
        globalStep,
        seconds,
        patchesPerSecond: stepSeconds > 0 ? (stepsThisSession * batchSize) / stepSeconds : 0,
      };
    }
  }
}

/** The manifest fields that change when a model grows from one DSen2 size to another. */
function grownArchitecture(m: ModelManifest, from: Dsen2Size, to: Dsen2Size): Pick<ModelManifest, 'architecture' | 'graph' | 'description'> {
  return {
    architecture: { type: 'dsen2', blocks: to.blocks, filters: to.filters, residualScale: to.residualScale ?? 0.1 },
    graph: dsen2Graph(m.inputs.length, m.outputs.length, to),
    description: `DSen2-family network (${to.blocks} blocks x ${to.filters} filters, grown from ${from.blocks} x ${from.filters}) trained by Wald's protocol with sharpstream: super-resolves ${m.outputs.join(', ')} by x${m.factor}.`,
  };
}

/** What a run holds and must release. */
interface Held {
  readonly opened: Scene[];
  readonly vars: Map<string, TF.Variable>;
  optimizer: MomentOptimizer | null;
  pool: GradientPool | null;
}

function stripWeights(m: ModelManifest): Omit<ModelManifest, 'weights' | 'format'> {
  const { weights: _w, format: _f, training: _t, metrics: _m, ...rest } = m;
  void _w;
  void _f;
  void _t;
  void _m;
  return rest;
}

/** One optimiser step on a batch; returns the loss (a scalar tensor the caller disposes). */
function trainStep(
  tf: Tf,
  batch: Batch,
  forward: (x: TF.Tensor4D) => TF.Tensor4D,
  varList: TF.Variable[],
  byVarName: ReadonlyMap<string, string>,
  optimizer: MomentOptimizer,
  lr: number,
): TF.Scalar {
  const x = tf.tensor4d(batch.input, [batch.n, batch.size, batch.size, batch.channels]);
  const y = tf.tensor4d(batch.label, [batch.n, batch.size, batch.size, batch.outputs]);
  try {
    const { value, grads } = l1Gradients(tf, forward, x, y, varList);
    const named: Record<string, TF.Tensor> = {};
    for (const [k, g] of Object.entries(grads)) named[byVarName.get(k) ?? k] = g;
    optimizer.apply(named, lr);
    for (const g of Object.values(grads)) g.dispose();
    return value;
  } finally {
    x.dispose();
    y.dispose();
  }
}

/** One optimiser step with the batch's gradients computed by the worker pool; returns the loss. */
async function pooledStep(tf: Tf, pool: GradientPool, batch: Batch, vars: ReadonlyMap<string, TF.Variable>, optimizer: MomentOptimizer, lr: number): Promise<number> {
  const names = [...vars.keys()];
  const weights = names.map((n) => vars.get(n)!.dataSync() as Float32Array);
  const { loss, grads } = await pool.gradients(weights, batch);
  const named: Record<string, TF.Tensor> = {};
  names.forEach((n, i) => {
    named[n] = tf.tensor(grads[i], vars.get(n)!.shape, 'float32');
  });
  try {
    optimizer.apply(named, lr);
  } finally {
    for (const t of Object.values(named)) t.dispose();
  }
  return loss;
}

/** Validation: L1 and DN RMSE of the network and of the bilinear input (the network's skip) over a fixed seeded set of patches. */
async function validateOn(
  tf: Tf,
  sources: readonly PatchSource[],
  seed: number,
  count: number,
  batchSize: number,
  streamOpts: PatchStreamOptions,
  forward: (x: TF.Tensor4D) => TF.Tensor4D,
  manifest: Pick<ModelManifest, 'inputs' | 'outputs' | 'normalisation'>,
): Promise<ValResult> {
  const stream = new PatchStream(sources, seed, streamOpts);
  const div = manifest.normalisation.divisor;
  const skip = manifest.outputs.map((id) => manifest.inputs.indexOf(id));
  let abs = 0;
  let sq = 0;
  let babs = 0;
  let bsq = 0;
  let n = 0;
  for (let done = 0; done < count; ) {
    const b = await stream.batch(Math.min(batchSize, count - done));
    const pred = tf.tidy(() => forward(tf.tensor4d(b.input, [b.n, b.size, b.size, b.channels])));
    const p = (await pred.data()) as Float32Array;
    pred.dispose();
    const T = b.outputs;
    const C = b.channels;
    const px = b.n * b.size * b.size;
    for (let i = 0; i < px; i++) {
      for (let t = 0; t < T; t++) {
        const truth = b.label[i * T + t];
        const e = p[i * T + t] - truth;
        abs += Math.abs(e);
        sq += e * e;
        if (skip[t] >= 0) {
          const be = b.input[i * C + skip[t]] - truth;
          babs += Math.abs(be);
          bsq += be * be;
        }
      }
    }
    n += px * T;
    done += b.n;
  }
  return { loss: abs / n, rmse: Math.sqrt(sq / n) * div, bilinearLoss: babs / n, bilinearRmse: Math.sqrt(bsq / n) * div, patches: count };
}

/** Trains a model; see TrainingRun. */
export function train(options: TrainOptions): Promise<TrainResult> {
  return new TrainingRun(options).run();
}
