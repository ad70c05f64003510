/**
 * The metrics against scikit-image and numpy on the same arrays, to float precision: SSIM
 * (structural_similarity with Gaussian weights, sigma 1.5, population covariance), PSNR
 * (peak_signal_noise_ratio with the reference maximum as data range), RMSE, SRE, SAM and ERGAS.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openScene } from '../../scene/open.js';
import { computeMetrics } from '../../train/metrics.js';
import { dataPath, missingData, REPO_ROOT } from '../helpers/data.js';

const run = promisify(execFile);
const PY = join(REPO_ROOT, '.venv/bin/python');
const BEN = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_4_55'];
const missing = missingData(BEN);

const SCRIPT = `
import json, sys
import numpy as np
from skimage.metrics import structural_similarity, peak_signal_noise_ratio
B, H, W, factor = map(int, sys.argv[3:7])
pred = np.fromfile(sys.argv[1], dtype="<f8").reshape(B, H, W)
ref = np.fromfile(sys.argv[2], dtype="<f8").reshape(B, H, W)
err = pred - ref
mse = (err ** 2).mean(axis=(1, 2))
mean = ref.mean(axis=(1, 2))
cos = (pred * ref).sum(0) / np.sqrt((pred ** 2).sum(0) * (ref ** 2).sum(0))
print(json.dumps({
  "rmse": float(np.sqrt((err ** 2).mean())),
  "sre": [float(v) for v in 10 * np.log10(mean ** 2 / mse)],
  "sam": float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()),
  "ergas": float(100 / factor * np.sqrt(np.mean(mse / mean ** 2))),
  "psnr": [peak_signal_noise_ratio(r, p, data_range=r.max()) for r, p in zip(ref, pred)],
  "ssim": [structural_similarity(r, p, data_range=r.max() - r.min(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False) for r, p in zip(ref, pred)],
}))
`;

describe.skipIf(missing)('metrics against scikit-image', () => {
  it('agree to float precision on real bands', async () => {
    const scene = await openScene(dataPath(...BEN));
    try {
      // Reference: three 20 m bands; "prediction": the same bands blurred and shifted by one pixel with an offset.
      const ids = ['B05', 'B8A', 'B12'];
      const w = await scene.readWindow({ x: 0, y: 0, width: 120, height: 120 }, { bands: ids });
      const W = 60;
      const H = 60;
      const ref = w.bands.map((b) => Float64Array.from(b.data));
      const pred = ref.map((r, k) => r.map((_, i) => {
        const y = Math.floor(i / W);
        const x = i % W;
        const j = Math.min(H - 1, y + 1) * W + x;
        return 0.5 * r[i] + 0.5 * r[j] + 7 * (k + 1);
      }));
      const dir = mkdtempSync(join(tmpdir(), 'metrics-'));
      const pack = (planes: Float64Array[]) => Buffer.concat(planes.map((p) => Buffer.from(p.buffer)));
      writeFileSync(join(dir, 'pred.bin'), pack(pred));
      writeFileSync(join(dir, 'ref.bin'), pack(ref));
      const want = JSON.parse((await run(PY, ['-c', SCRIPT, join(dir, 'pred.bin'), join(dir, 'ref.bin'), '3', String(H), String(W), '2'])).stdout) as {
        rmse: number;
        sre: number[];
        sam: number;
        ergas: number;
        psnr: number[];
        ssim: number[];
      };
      const m = computeMetrics(pred, ref, { bands: ids, factor: 2, width: W, height: H });
      expect(m.rmse).toBeCloseTo(want.rmse, 9);
      expect(m.sam).toBeCloseTo(want.sam, 9);
      expect(m.ergas).toBeCloseTo(want.ergas, 9);
      m.bands.forEach((b, i) => {
        expect(b.sre).toBeCloseTo(want.sre[i], 9);
        expect(b.psnr).toBeCloseTo(want.psnr[i], 9);
        expect(b.ssim!).toBeCloseTo(want.ssim[i], 9);
      });
      expect(m.ssim!).toBeLessThan(0.99);
    } finally {
      await scene.close();
    }
  });
});
