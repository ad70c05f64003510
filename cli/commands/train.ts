/** `sharpstream train`: trains a DSen2-family network for one satellite group by Wald's protocol. */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { flagOption, positiveIntOption, requiredStringOption, stringOption, UsageError, type CommandArgs, type Command } from '../command.js';
import { formatDuration, ProgressBar } from '../progress.js';

/** A finite number option, or undefined; a usage error naming the option otherwise. */
function numberOption(args: CommandArgs, name: string, check: (n: number) => boolean, what: string): number | undefined {
  const v = stringOption(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`--${name} must be ${what}, got "${v}"`, 'train');
  return n;
}

/** Scene arguments: each value is a path or URL, or @file naming a text file with one per line (# comments). */
export function expandSceneList(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (!v.startsWith('@')) {
      out.push(v);
      continue;
    }
    const file = v.slice(1);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read scene list ${file}: ${(e as Error).message}`, 'train');
    }
    for (const line of text.split(/\r?\n/)) {
      const t = line.replace(/#.*/, '').trim();
      if (t) out.push(/^[a-z]+:\/\//i.test(t) || t.startsWith('/') ? t : resolve(dirname(file), t));
    }
  }
  return out;
}

/** The command line as parsed (for the model's provenance), options in the order given. */
function commandLine(args: CommandArgs): string {
  const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  const parts = ['sharpstream', 'train'];
  for (const [k, v] of Object.entries(args.values)) {
    if (v === undefined || v === false) continue;
    if (v === true) parts.push(`--${k}`);
    else for (const x of typeof v === 'string' ? [v] : v) parts.push(`--${k}`, quote(x));
  }
  return parts.join(' ');
}

/** The `train` command. */
export const command: Command = {
  name: 'train',
  order: 40,
  summary: "train a super-resolution network for one satellite group by Wald's protocol (TF.js, resumable)",
  examples: [
    'sharpstream train --satellite sentinel-2-l1c --scenes a.SAFE.zip --scenes b.SAFE.zip --val-scene c.SAFE.zip --out models/s2-20m --size dsen2-small',
    'sharpstream train --satellite sentinel-2-l1c --group 60m --scenes @train.txt --val-fraction 0.1 --out models/s2-60m --epochs 20',
    'sharpstream train --resume models/s2-20m --out models/s2-20m --epochs 80',
    'sharpstream train --resume models/s2-l1c-20m --size dsen2-medium --scenes @train.txt --val-scene c.SAFE.zip --out models/s2-20m-medium --runtime tfjs-webgpu --lr 5e-5',
  ],
  positionals: [],
  options: {
    satellite: { type: 'string', valueName: 'id|file', description: 'satellite definition id or JSON file (default: the resumed model\'s, or recognised from the first scene)' },
    scenes: { type: 'string', multiple: true, valueName: 'path|@list', description: 'training scene (folder, archive, STAC item); @file reads one per line' },
    out: { type: 'string', valueName: 'dir', description: 'output model folder: the best model, and its checkpoint in <dir>/checkpoint' },
    group: { type: 'string', valueName: 'id', description: "super-resolution group, e.g. 20m or 60m (default: the satellite's first)" },
    size: { type: 'string', valueName: 'name', description: 'network size: dsen2 (default, 6x128), dsen2-medium (6x64), dsen2-small (4x32), dsen2-tiny (2x16), vdsen2 (32x256); with --resume <model package>, a larger size grows the model (same output at first)' },
    epochs: { type: 'string', valueName: 'n', description: 'train until this epoch (default 50)' },
    resume: { type: 'string', valueName: 'dir', description: 'continue from a checkpoint (or a model folder holding one), or fine-tune a model package' },
    seed: { type: 'string', valueName: 'n', description: 'seed of the initial weights and patch sampling (default 42)' },
    'val-scene': { type: 'string', multiple: true, valueName: 'path', description: 'held-out validation scene' },
    'val-fraction': { type: 'string', valueName: 'f', description: "without --val-scene: hold out this fraction of each scene's rows, a band at the bottom (default 0.1)" },
    'patches-per-scene': { type: 'string', valueName: 'n', description: 'training patches per scene per epoch (default 8000 for x2, 500 for x6, as DSen2)' },
    'val-patches': { type: 'string', valueName: 'n', description: "validation patches (default: a tenth of an epoch's)" },
    'patch-size': { type: 'string', valueName: 'px', description: 'label patch side at the target grid (default 32 for x2, 96 for x6)' },
    augment: { type: 'boolean', description: 'turn each training patch by a random rotation or mirroring (8x the distinct examples; default off, as DSen2)' },
    batch: { type: 'string', valueName: 'n', description: 'patches per step (default 32)' },
    lr: { type: 'string', valueName: 'x', description: 'initial learning rate (default 1e-4; halved after --patience epochs without improvement, down to 1e-5)' },
    patience: { type: 'string', valueName: 'n', description: 'epochs without validation improvement before the learning rate halves (default 5)' },
    optimizer: { type: 'string', valueName: 'name', description: 'nadam (default, as DSen2) or adam' },
    divisor: { type: 'string', valueName: 'x', description: 'a new model takes (DN + metadata offset) / x (default 2000, DSen2\'s for Sentinel-2 reflectance x 10000)' },
    runtime: { type: 'string', valueName: 'name', description: 'tfjs-wasm (default), tfjs-webgpu on a GPU (Vulkan), tfjs-node or tfjs-node-gpu when installed' },
    threads: { type: 'string', valueName: 'n', description: 'threads computing gradients on tfjs-wasm, each step\'s batch split between them (default: all cores)' },
    id: { type: 'string', valueName: 'id', description: "model id in the manifest (default: the output folder's name)" },
    title: { type: 'string', valueName: 'text', description: 'model title in the manifest' },
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  details: [
    "Wald's protocol (as DSen2): every band is degraded by the group's factor (Gaussian blur, sigma 1/factor",
    'pixels, then block averaging); the network learns to restore the original coarse bands from the degraded',
    'ones. Patches are drawn at random (seeded) and skipped where any pixel is nodata or saturated. The best',
    'weights on the validation patches are saved as a model package in --out after every improvement; a',
    'checkpoint is written every epoch, and on Ctrl-C before exiting: resume with --resume <out>.',
    'Fine-tuning a model package with a larger --size grows it (new filters and blocks start at zero weight',
    'on the output), so training starts from the model\'s own quality and can only add to it.',
  ].join('\n'),
  async run(args, io) {
    const out = requiredStringOption(args, 'out', 'train');
    const resume = stringOption(args, 'resume');
    const sceneValues = (args.values.scenes as readonly string[] | undefined) ?? [];
    const scenes = expandSceneList(sceneValues);
    if (scenes.length === 0 && !resume) throw new UsageError('--scenes is required (at least one training scene)', 'train');
    const valScenes = expandSceneList((args.values['val-scene'] as readonly string[] | undefined) ?? []);
    const valFraction = numberOption(args, 'val-fraction', (n) => n > 0 && n < 1, 'a number between 0 and 1 (exclusive)');
    if (valScenes.length && valFraction !== undefined) throw new UsageError('--val-scene and --val-fraction exclude each other', 'train');
    const lr = numberOption(args, 'lr', (n) => n > 0, 'a positive number');
    const divisor = numberOption(args, 'divisor', (n) => n > 0, 'a positive number');
    const seedText = stringOption(args, 'seed');
    if (seedText !== undefined && !/^\s*\d+\s*$/.test(seedText)) throw new UsageError(`--seed must be a non-negative integer, got "${seedText}"`, 'train');
    const optimizer = stringOption(args, 'optimizer');
    if (optimizer !== undefined && optimizer !== 'nadam' && optimizer !== 'adam') throw new UsageError(`--optimizer must be nadam or adam, got "${optimizer}"`, 'train');
    const int = (name: string) => (stringOption(args, name) !== undefined ? positiveIntOption(args, name, 1, 'train') : undefined);
    const patienceText = stringOption(args, 'patience');
    if (patienceText !== undefined && !/^\s*\d+\s*$/.test(patienceText)) throw new UsageError(`--patience must be a non-negative integer, got "${patienceText}"`, 'train');

    const { TrainingRun } = await import('../../train/trainer.js');
    const bar = new ProgressBar(io.stderr as { write(t: string): unknown; isTTY?: boolean }, 'train', 1, 'steps');
    const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
    let sessionSteps = 0;
    let lastVal: number | null = null;
    const controller = new AbortController();
    const onSigint = (): void => {
      if (controller.signal.aborted) {
        io.stderr.write('\nsecond interrupt: quitting without waiting for the checkpoint\n');
        process.exit(130);
      }
      io.stderr.write(`${tty ? '\n' : ''}interrupted: saving a checkpoint after this step (Ctrl-C again to quit at once)\n`);
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    const command = commandLine(args);
    try {
      const run = new TrainingRun({
        ...(stringOption(args, 'satellite') ? { satellite: stringOption(args, 'satellite')! } : {}),
        ...(stringOption(args, 'group') ? { group: stringOption(args, 'group')! } : {}),
        ...(scenes.length ? { scenes } : {}),
        ...(valScenes.length ? { valScenes } : {}),
        ...(valFraction !== undefined ? { valFraction } : {}),
        out,
        ...(stringOption(args, 'size') ? { size: stringOption(args, 'size')! } : {}),
        ...(int('epochs') !== undefined ? { epochs: int('epochs')! } : {}),
        ...(int('patches-per-scene') !== undefined ? { patchesPerScene: int('patches-per-scene')! } : {}),
        ...(int('val-patches') !== undefined ? { valPatches: int('val-patches')! } : {}),
        ...(int('patch-size') !== undefined ? { patchSize: int('patch-size')! } : {}),
        ...(args.values.augment === true ? { augment: true } : {}),
        ...(int('batch') !== undefined ? { batch: int('batch')! } : {}),
        ...(lr !== undefined ? { lr } : {}),
        ...(divisor !== undefined ? { normalisation: { divisor, applyDnOffset: true } } : {}),
        ...(patienceText !== undefined ? { plateau: { patience: Number(patienceText) } } : {}),
        ...(optimizer ? { optimizer: optimizer as 'nadam' | 'adam' } : {}),
        ...(seedText !== undefined ? { seed: Number(seedText) } : {}),
        ...(stringOption(args, 'runtime') ? { runtime: stringOption(args, 'runtime')! } : {}),
        threads: int('threads') ?? availableParallelism(),
        ...(resume ? { resume } : {}),
        ...(stringOption(args, 'id') ? { id: stringOption(args, 'id')! } : {}),
        ...(stringOption(args, 'title') ? { title: stringOption(args, 'title')! } : {}),
        command,
        signal: controller.signal,
      });
      run.on('progress', (e: import('../../train/trainer.js').TrainEvent) => {
        if (e.type === 'start') {
          bar.setTotal((e.epochs - e.epoch) * e.stepsPerEpoch - e.step);
          io.stderr.write(
            `training ${e.parameters.toLocaleString('en')} parameters on ${e.runtime}${e.threads > 1 ? ` (${e.threads} threads)` : ''}: ${e.stepsPerEpoch} steps of ${e.batch} patches (${e.patchSize} px) per epoch, epochs ${e.epoch + 1}..${e.epochs}${e.resumedFrom ? `, resumed from ${e.resumedFrom}` : ''}\n`,
          );
        } else if (e.type === 'step') {
          sessionSteps++;
          bar.update(
            sessionSteps,
            `epoch ${e.epoch} loss ${e.epochLoss.toFixed(4)}${lastVal !== null ? ` val ${lastVal.toFixed(4)}` : ''} lr ${e.lr.toExponential(1)} ${e.patchesPerSecond.toFixed(1)} patch/s`,
          );
        } else if (e.type === 'epoch') {
          lastVal = e.valLoss;
          io.stderr.write(
            `${tty ? '\r\x1b[K' : ''}epoch ${e.epoch}: ${e.loss === null ? 'before training' : `loss ${e.loss.toFixed(5)}`}, val ${e.valLoss.toFixed(5)} (RMSE ${e.valRmse.toFixed(1)} DN), lr ${e.lr.toExponential(2)}${e.improved ? ', best so far: saved' : ''}${e.lrReduced ? ', learning rate halved' : ''}${Number.isFinite(e.etaSeconds) && e.epoch > 0 ? `, ETA ${formatDuration(e.etaSeconds)}` : ''}\n`,
          );
        }
      });
      const result = await run.run();
      bar.done();
      const metrics = (result.manifest.metrics ?? {}) as Record<string, number | undefined>;
      const summary = {
        status: result.status,
        model: result.modelDir,
        checkpoint: result.checkpointDir,
        epochs: result.epochsDone,
        steps: result.globalStep,
        bestEpoch: (result.manifest.training as Record<string, unknown> | undefined)?.bestEpoch ?? null,
        valL1: metrics.valL1 ?? null,
        valRmseDn: metrics.valRmseDn ?? null,
        bilinearValRmseDn: metrics.bilinearValRmseDn ?? null,
        patchesPerSecond: result.patchesPerSecond,
        seconds: result.seconds,
      };
      if (flagOption(args, 'json')) io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else {
        io.stdout.write(
          `${result.status === 'interrupted' ? 'interrupted' : 'finished'} after epoch ${result.epochsDone} (${result.globalStep} steps, ${formatDuration(result.seconds)}, ${result.patchesPerSecond.toFixed(1)} patches/s)\n` +
            `model ${result.modelDir} (best epoch ${String(summary.bestEpoch)}: validation RMSE ${summary.valRmseDn?.toFixed(1) ?? '?'} DN, bilinear ${summary.bilinearValRmseDn?.toFixed(1) ?? '?'} DN)\n` +
            `checkpoint ${result.checkpointDir}${result.status === 'interrupted' ? ` (continue with --resume ${result.modelDir})` : ''}\n`,
        );
      }
      return result.status === 'interrupted' ? 130 : 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
