/**
 * Training on the GPU through tfjs' WebGPU backend (`train --runtime tfjs-webgpu`): the same training as
 * on the default WebAssembly backend, to float rounding. Without a GPU it runs on Mesa's software Vulkan
 * driver, which the test setup unpacks.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../model/package.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import { train, type TrainOptions } from '../../train/trainer.js';
import { dataPath, missingData } from '../helpers/data.js';
import { useSoftwareWebGpu } from '../helpers/webgpu.js';

const BEN_A = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'];
const BEN_B = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_4_55'];
const missing = missingData(BEN_A, BEN_B);
const webgpu = useSoftwareWebGpu();
const noWebGpu = webgpu.ok || /has a GPU/.test(webgpu.reason) ? null : webgpu.reason;

describe.skipIf(missing || noWebGpu)('train on tfjs-webgpu', () => {
  const base = (out: string, runtime: string): TrainOptions => ({
    scenes: [dataPath(...BEN_A)],
    valScenes: [dataPath(...BEN_B)],
    out,
    runtime,
    size: 'dsen2-tiny',
    batch: 8,
    valPatches: 16,
    lr: 1e-3,
    seed: 5,
    epochs: 1,
    stepsPerEpoch: 4,
    stream: { regionSize: 48, patchesPerRegion: 8, regionsPerChunk: 2 },
  });

  it('gives the training tfjs-wasm gives, to float rounding, and records the runtime', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'sharpstream-train-webgpu-'));
    const wasm = await train(base(join(tmp, 'wasm'), 'tfjs-wasm'));
    const gpu = await train(base(join(tmp, 'webgpu'), 'tfjs-webgpu'));
    expect(gpu.status).toBe('finished');
    const t = (await loadModel(join(tmp, 'webgpu'))).manifest.training as Record<string, unknown>;
    expect(t).toMatchObject({ runtime: 'tfjs-webgpu', threads: 1, steps: 4 });
    // Training moved the weights, and both backends moved them the same way.
    const a = await loadCheckpoint(wasm.checkpointDir);
    const b = await loadCheckpoint(gpu.checkpointDir);
    let moved = 0;
    for (const [k, w] of a.weights) {
      const g = b.weights.get(k)!.data;
      let diff = 0;
      let norm = 0;
      for (let i = 0; i < w.data.length; i++) {
        diff = Math.max(diff, Math.abs(w.data[i] - g[i]));
        norm = Math.max(norm, Math.abs(w.data[i]));
      }
      expect(diff, k).toBeLessThan(1e-4 * Math.max(norm, 1e-3) + 1e-6);
      moved += 1;
    }
    expect(moved).toBeGreaterThan(4);
    expect(gpu.history[1].valLoss).toBeCloseTo(wasm.history[1].valLoss, 5);
    expect(gpu.history[1].valLoss).not.toBe(gpu.history[0].valLoss);
  });
});
