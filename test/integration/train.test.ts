/**
 * Training end to end on real Sentinel-2 scenes (two BigEarthNet L2A patches, one held out): the loss of
 * a tiny network goes down in a few dozen steps, runs are bit-for-bit reproducible under a seed, an
 * interrupted run resumed from its checkpoint ends exactly where an uninterrupted one does, a model
 * package can be fine-tuned, and the saved package loads and runs through the inference path.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { copyFile, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../model/package.js';
import { gpuDeviceNodes } from '../../model/runtimes/gpu-device.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import { loadTrainingBackend } from '../../train/network.js';
import { train, TrainingRun, type TrainEvent, type TrainOptions } from '../../train/trainer.js';
import { dataPath, missingData } from '../helpers/data.js';

const BEN_A = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'];
const BEN_B = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_4_55'];
const missing = missingData(BEN_A, BEN_B);

const run = promisify(execFile);
const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

describe.skipIf(missing)('train on real scenes', () => {
  const base = (out: string, extra: Partial<TrainOptions> = {}): TrainOptions => ({
    scenes: [dataPath(...BEN_A)],
    valScenes: [dataPath(...BEN_B)],
    out,
    size: 'dsen2-tiny',
    batch: 8,
    valPatches: 16,
    lr: 1e-3,
    seed: 5,
    stream: { regionSize: 48, patchesPerRegion: 8, regionsPerChunk: 2 },
    ...extra,
  });
  let tmp: string;
  const dir = async (name: string) => {
    tmp ??= await mkdtemp(join(tmpdir(), 'sharpstream-train-'));
    return join(tmp, name);
  };

  it("brings a tiny network's loss down in a few dozen steps and saves the best model with its provenance", async () => {
    const out = await dir('loss');
    const tf = (await loadTrainingBackend('tfjs-wasm')).tf;
    const tensorsBefore = tf.memory().numTensors;
    const events: TrainEvent[] = [];
    const run = new TrainingRun(base(out, { epochs: 3, stepsPerEpoch: 12 }));
    const epochsSeen: number[] = [];
    run.on('epoch', (e: Extract<TrainEvent, { type: 'epoch' }>) => epochsSeen.push(e.epoch));
    run.on('progress', (e: TrainEvent) => events.push(e));
    const r = await run.run();
    expect(r.status).toBe('finished');
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(epochsSeen).toEqual([0, 1, 2, 3]);
    const h = r.history;
    expect(h.map((e) => e.epoch)).toEqual([0, 1, 2, 3]);
    // The untrained network is the bilinear baseline (its output convolution starts near zero); training
    // takes the validation loss on the held-out scene below it, and it keeps falling.
    const bilinear = (r.manifest.metrics as Record<string, number>).bilinearValL1;
    expect(Math.abs(h[0].valLoss - bilinear)).toBeLessThan(0.05 * bilinear);
    expect(h[3].valLoss).toBeLessThan(0.9 * h[0].valLoss);
    expect(h[3].valLoss).toBeLessThan(h[1].valLoss);
    expect(h[3].loss!).toBeLessThan(h[1].loss!);
    // Events: start, one per step, one per epoch (and epoch 0), checkpoints, done.
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.length).toBe(36);
    expect(steps.every((e) => Number.isFinite(e.loss) && e.lr === 1e-3)).toBe(true);
    expect(steps.every((e) => Number.isFinite(e.etaSeconds) && e.etaSeconds >= 0)).toBe(true);
    const epochEvents = events.filter((e): e is Extract<TrainEvent, { type: 'epoch' }> => e.type === 'epoch');
    expect(epochEvents.at(-1)!.etaSeconds).toBe(0);
    expect(events[0].type).toBe('start');
    expect(events.at(-1)).toMatchObject({ type: 'done', status: 'finished', bestEpoch: 3 });
    expect(events.filter((e) => e.type === 'checkpoint').length).toBe(3);
    // The saved package: best weights, provenance, metrics; it loads and its manifest names the split.
    const pkg = await loadModel(out);
    const m = pkg.manifest;
    expect(m.satellite).toBe('sentinel-2-l2a');
    expect(m.group).toBe('20m');
    expect(m.inputs).toEqual(['B04', 'B03', 'B02', 'B08', 'B05', 'B06', 'B07', 'B8A', 'B11', 'B12']);
    expect(m.architecture).toEqual({ type: 'dsen2', blocks: 2, filters: 16, residualScale: 0.1 });
    const t = m.training as Record<string, unknown>;
    expect(t).toMatchObject({ status: 'finished', runtime: 'tfjs-wasm', seed: 5, epochs: 3, steps: 36, batch: 8, patchSize: 32, patchesSeen: 288, bestEpoch: 3, valPatches: 16 });
    expect((t.scenes as { id: string }[]).map((s) => s.id)).toEqual(['S2A_MSIL2A_20170617T113321_36_85']);
    expect(t.validation).toMatchObject({ kind: 'scene', scenes: [{ id: 'S2A_MSIL2A_20170617T113321_4_55' }] });
    expect(t.wallSeconds as number).toBeGreaterThan(0);
    const metrics = m.metrics as Record<string, number>;
    expect(metrics.valL1).toBeCloseTo(h[3].valLoss, 12);
    expect(metrics.valRmseDn).toBeCloseTo(h[3].valRmse, 9);
    expect(metrics.bilinearValRmseDn).toBeGreaterThan(10);
    const ck = await loadCheckpoint(join(out, 'checkpoint'));
    expect(ck.state.epochsDone).toBe(3);
    expect(ck.state.globalStep).toBe(36);
    // The best weights are the package's weights.
    for (const [k, w] of pkg.weights) expect(Array.from(ck.best!.get(k)!.data)).toEqual(Array.from(w.data));
  });

  it('is reproducible under --seed: two runs of a few steps give identical weights', async () => {
    const a = await train(base(await dir('seed-a'), { epochs: 1, stepsPerEpoch: 3 }));
    const b = await train(base(await dir('seed-b'), { epochs: 1, stepsPerEpoch: 3 }));
    const c = await train(base(await dir('seed-c'), { epochs: 1, stepsPerEpoch: 3, seed: 6 }));
    const wa = await loadCheckpoint(a.checkpointDir);
    const wb = await loadCheckpoint(b.checkpointDir);
    const wc = await loadCheckpoint(c.checkpointDir);
    for (const [k, t] of wa.weights) {
      expect(Array.from(wb.weights.get(k)!.data), k).toEqual(Array.from(t.data));
    }
    expect(Array.from(wc.weights.get('conv2d/kernel')!.data)).not.toEqual(Array.from(wa.weights.get('conv2d/kernel')!.data));
    expect(a.history.map((e) => e.valLoss)).toEqual(b.history.map((e) => e.valLoss));
  });

  it('trains on worker threads: reproducible for a thread count, and the same training as on one thread', async () => {
    const opts = { epochs: 1, stepsPerEpoch: 4 };
    const one = await train(base(await dir('threads-1'), opts));
    const events: TrainEvent[] = [];
    const a = await train(base(await dir('threads-2a'), { ...opts, threads: 2, onEvent: (e) => events.push(e) }));
    const b = await train(base(await dir('threads-2b'), { ...opts, threads: 2 }));
    expect(events.find((e) => e.type === 'start')).toMatchObject({ threads: 2 });
    expect((await loadCheckpoint(a.checkpointDir)).state.config).toMatchObject({ threads: 2 });
    const w1 = await loadCheckpoint(one.checkpointDir);
    const wa = await loadCheckpoint(a.checkpointDir);
    const wb = await loadCheckpoint(b.checkpointDir);
    for (const [k, t] of wa.weights) expect(Array.from(wb.weights.get(k)!.data), k).toEqual(Array.from(t.data));
    // Interrupted while the next batch was being built ahead, and resumed: it ends where run a did.
    const out = await dir('threads-2-interrupted');
    const ac = new AbortController();
    const first = await train(base(out, { ...opts, threads: 2, signal: ac.signal, onEvent: (e) => e.type === 'step' && e.globalStep === 2 && ac.abort() }));
    expect([first.status, first.globalStep]).toEqual(['interrupted', 2]);
    const resumed = await train({ out, resume: out, threads: 2 });
    expect(resumed.globalStep).toBe(4);
    const wr = await loadCheckpoint(resumed.checkpointDir);
    for (const [k, t] of wa.weights) expect(Array.from(wr.weights.get(k)!.data), k).toEqual(Array.from(t.data));
    // Only the order of floating-point sums differs from one thread: the losses agree closely.
    const losses = (r: typeof one) => r.history.filter((e) => e.loss !== null).map((e) => [e.loss!, e.valLoss]);
    losses(a).forEach(([l, v], i) => {
      const [l1, v1] = losses(one)[i];
      expect(Math.abs(l - l1) / l1).toBeLessThan(1e-5);
      expect(Math.abs(v - v1) / v1).toBeLessThan(1e-5);
    });
    let moved = 0;
    for (const [k, t] of wa.weights) {
      const u = w1.weights.get(k)!.data;
      for (let i = 0; i < t.data.length; i++) moved = Math.max(moved, Math.abs(t.data[i] - u[i]));
    }
    expect(moved).toBeLessThan(1e-5);
    // ... while training itself moved the validation loss by far more.
    expect(Math.abs(a.history[1].valLoss - a.history[0].valLoss) / a.history[0].valLoss).toBeGreaterThan(1e-2);
  });

  it('resumes an interrupted run from its checkpoint and ends exactly where an uninterrupted run does', async () => {
    const straight = await train(base(await dir('straight'), { epochs: 2, stepsPerEpoch: 4 }));
    const out = await dir('interrupted');
    const ac = new AbortController();
    const first = await train(
      base(out, {
        epochs: 2,
        stepsPerEpoch: 4,
        signal: ac.signal,
        onEvent: (e) => {
          if (e.type === 'step' && e.globalStep === 6) ac.abort();
        },
      }),
    );
    expect(first.status).toBe('interrupted');
    expect(first.globalStep).toBe(6);
    const saved = await loadCheckpoint(join(out, 'checkpoint'));
    expect([saved.state.epochsDone, saved.state.stepInEpoch, saved.state.globalStep]).toEqual([1, 2, 6]);
    expect((await loadModel(out)).manifest.training).toMatchObject({ status: 'interrupted' });
    const resumed = await train({ out, resume: out, onEvent: () => undefined });
    expect(resumed.status).toBe('finished');
    expect(resumed.globalStep).toBe(8);
    const a = await loadCheckpoint(straight.checkpointDir);
    const b = await loadCheckpoint(resumed.checkpointDir);
    for (const [k, t] of a.weights) expect(Array.from(b.weights.get(k)!.data), k).toEqual(Array.from(t.data));
    for (const [k, mv] of a.moments) expect(Array.from(b.moments.get(k)!.v), k).toEqual(Array.from(mv.v));
    expect(b.state.history).toEqual(a.state.history.map((e, i) => ({ ...e, seconds: b.state.history[i].seconds })));
    expect(await sha(join(out, 'weights.bin'))).toBe(await sha(join(straight.modelDir, 'weights.bin')));
    const t = (await loadModel(out)).manifest.training as Record<string, unknown>;
    expect((t.sessions as unknown[]).length).toBe(2);
    expect(t.status).toBe('finished');
  });

  it('fine-tunes a model package (no checkpoint): starts from its weights', async () => {
    const src = await train(base(await dir('to-tune'), { epochs: 1, stepsPerEpoch: 4 }));
    const pkgDir = await dir('package-only');
    await mkdir(pkgDir, { recursive: true });
    for (const f of ['model.json', 'weights.bin']) await copyFile(join(src.modelDir, f), join(pkgDir, f));
    const tuned = await train(base(await dir('tuned'), { resume: pkgDir, epochs: 1, stepsPerEpoch: 2, size: undefined }));
    // Epoch 0 validates the imported weights: the same validation set, so the same loss as the source's best.
    expect(tuned.history[0].valLoss).toBeCloseTo(src.history.at(-1)!.valLoss, 12);
    expect(tuned.manifest.training).toMatchObject({ fineTunedFrom: { id: 'to-tune' } });
    // the base's sessions and training time carry over, so that a model card shows the whole history
    const srcTraining = src.manifest.training as { sessions: unknown[]; wallSeconds: number };
    const tunedTraining = tuned.manifest.training as { sessions: { resumedFrom: string | null }[]; wallSeconds: number };
    expect(tunedTraining.sessions).toHaveLength(srcTraining.sessions.length + 1);
    expect(tunedTraining.sessions.slice(0, -1)).toEqual(srcTraining.sessions);
    expect(tunedTraining.sessions.at(-1)!.resumedFrom).toBe(pkgDir);
    expect(tunedTraining.wallSeconds).toBeGreaterThan(srcTraining.wallSeconds);
    expect(existsSync(join(tuned.checkpointDir, 'checkpoint.json'))).toBe(true);
  });

  it('grows a model package into a larger network that starts where it left off, and trains it', async () => {
    const src = await train(base(await dir('to-grow'), { epochs: 1, stepsPerEpoch: 4 }));
    const pkgDir = await dir('grow-package');
    await mkdir(pkgDir, { recursive: true });
    for (const f of ['model.json', 'weights.bin']) await copyFile(join(src.modelDir, f), join(pkgDir, f));
    const grown = await train(base(await dir('grown'), { resume: pkgDir, size: 'dsen2-small', epochs: 1, stepsPerEpoch: 2 }));
    expect(grown.manifest.architecture).toEqual({ type: 'dsen2', blocks: 4, filters: 32, residualScale: 0.1 });
    expect(grown.manifest.description).toMatch(/4 blocks x 32 filters, grown from 2 x 16/);
    // Epoch 0 validates the grown weights before any step: the same function, so the source's loss.
    expect(grown.history[0].valLoss).toBeCloseTo(src.history.at(-1)!.valLoss, 6);
    expect(grown.history[1].loss).toBeGreaterThan(0);
    const pkg = await loadModel(grown.modelDir);
    expect(pkg.weights.get('conv2d_9/kernel')!.shape).toEqual([3, 3, 32, 6]);
    // a network shrinks by no option, and a checkpoint keeps its own size
    await expect(train(base(await dir('shrink'), { resume: grown.modelDir, size: 'dsen2-tiny' }))).rejects.toThrow(/checkpoint resumes its own network/);
    const grownPkg = await dir('grown-package');
    await mkdir(grownPkg, { recursive: true });
    for (const f of ['model.json', 'weights.bin']) await copyFile(join(grown.modelDir, f), join(grownPkg, f));
    await expect(train(base(await dir('shrink2'), { resume: grownPkg, size: 'dsen2-tiny' }))).rejects.toThrow(/--size dsen2-tiny \(2 blocks x 16 filters\) differs from the resumed model's 4 blocks x 32 filters: a model can grow, not shrink/);
  });

  it('fine-tunes a model into another product with the same bands (L1C to L2A), and refuses other bands', async () => {
    const src = await train(base(await dir('l1c-src'), { satellite: 'sentinel-2-l1c', epochs: 1, stepsPerEpoch: 2 }));
    const pkgDir = await dir('l1c-package');
    await mkdir(pkgDir, { recursive: true });
    for (const f of ['model.json', 'weights.bin']) await copyFile(join(src.modelDir, f), join(pkgDir, f));
    const tuned = await train(base(await dir('l2a-tuned'), { resume: pkgDir, satellite: 'sentinel-2-l2a', epochs: 1, stepsPerEpoch: 2, size: undefined }));
    expect(tuned.manifest).toMatchObject({ satellite: 'sentinel-2-l2a', group: '20m' });
    expect(tuned.manifest.training).toMatchObject({ fineTunedFrom: { id: 'l1c-src' } });
    // a checkpoint is tied to its satellite and group; a package of other bands cannot move groups
    await expect(train(base(await dir('l2a-from-ck'), { resume: src.modelDir, satellite: 'sentinel-2-l2a' }))).rejects.toThrow(/the checkpoint is for sentinel-2-l1c group 20m, not sentinel-2-l2a group 20m/);
    await expect(train(base(await dir('l2a-60m'), { resume: pkgDir, satellite: 'sentinel-2-l2a', group: '60m', size: undefined }))).rejects.toThrow(/takes B04,B03,B02,B08,B05,B06,B07,B8A,B11,B12 -> B05,B06,B07,B8A,B11,B12, but sentinel-2-l2a group 60m has/);
  });

  it('splits one scene by rows when no validation scene is given', async () => {
    const r = await train({
      ...base(await dir('rows'), { epochs: 1, stepsPerEpoch: 2, valPatches: 8, patchSize: 16 }),
      valScenes: undefined,
      valFraction: 0.4,
    });
    const v = (r.manifest.training as Record<string, unknown>).validation as { kind: string; split: { trainRows: number[]; valRows: number[] }[] };
    expect(v.kind).toBe('region');
    expect(v.split[0].trainRows).toEqual([0, 34]);
    expect(v.split[0].valRows).toEqual([38, 60]);
  });

  it('records scenes as given, so a resumed run reopens an archive (not its deleted extraction folder)', async () => {
    const zip = join(await dir('zips'), 'ben-a.zip');
    await mkdir(join(zip, '..'), { recursive: true });
    await run('/usr/bin/python3', ['-c', 'import shutil, sys; shutil.make_archive(sys.argv[1][:-4], "zip", sys.argv[2], sys.argv[3])', zip, join(dataPath(...BEN_A), '..'), BEN_A[1]]);
    const out = await dir('from-zip');
    const first = await train({ ...base(out, { epochs: 1, stepsPerEpoch: 2 }), scenes: [zip] });
    const t = first.manifest.training as { scenes: { id: string; input: string }[] };
    expect(t.scenes).toEqual([{ id: 'S2A_MSIL2A_20170617T113321_36_85', input: zip }]);
    const resumed = await train({ out, resume: out, epochs: 2 });
    expect(resumed.status).toBe('finished');
    expect(resumed.globalStep).toBe(4);
  });

  it('names what is wrong with bad settings', async () => {
    await expect(train(base(await dir('bad1'), { size: 'huge' }))).rejects.toThrow(/unknown network size "huge"/);
    await expect(train(base(await dir('bad2'), { group: '10m' }))).rejects.toThrow(/has no group "10m"/);
    await expect(train(base(await dir('bad3'), { patchSize: 64 }))).rejects.toThrow(/too small for 64x64 patches/);
    await expect(train(base(await dir('bad4'), { runtime: 'tfjs-gpu' }))).rejects.toThrow(/unknown training runtime "tfjs-gpu"/);
    if (!gpuDeviceNodes()) {
      await expect(train(base(await dir('bad4b'), { runtime: 'tfjs-webgpu' }))).rejects.toThrow(/^training runtime tfjs-webgpu is not available: no GPU device in \/dev \(nvidia\*, dri\/renderD\*\): WebGPU needs a GPU with a Vulkan driver$/);
    }
    await expect(train(base(await dir('bad5'), { resume: dataPath(...BEN_A) }))).rejects.toThrow(/not a model folder/);
    await expect(train(base(await dir('bad6'), { satellite: 'landsat-c2-l1' }))).rejects.toThrow(/resolutions disagree/);
  });
});
