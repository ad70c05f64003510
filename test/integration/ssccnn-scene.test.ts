/**
 * scripts/ssccnn-scene.ts turns the S2_SSC_CNN coastal crop (MATLAB v7.3, read through GDAL's HDF5
 * driver) into a Sentinel-2 L1C band folder: every band present at its size, values kept, and each
 * band transposed back from MATLAB's column-major order (checked as PROVENANCE.md does: B08 averaged
 * over 2x2 blocks follows B8A; transposed, it would not).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { openScene } from '../../scene/open.js';
import { dataPath, missingData, REPO_ROOT } from '../helpers/data.js';
import { pearson } from '../helpers/stats.js';

const MAT = ['ssccnn-s2-coastal', 'CoastalA_cell.mat'];
const missing = missingData(MAT);

describe.skipIf(missing)('scripts/ssccnn-scene.ts (the S2_SSC_CNN coastal crop as a scene)', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes a band folder that opens as Sentinel-2 L1C with every band the right way round', async () => {
    dir = await mkdtemp(join(tmpdir(), 'sharpstream-ssccnn-'));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/ssccnn-scene.ts'), dataPath(...MAT), dir], { cwd: REPO_ROOT });
    const scene = await openScene(stdout.trim());
    try {
      expect(scene.satellite.id).toBe('sentinel-2-l1c');
      expect(scene.bands.map((b) => b.spec.id)).toEqual(['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B11', 'B12']);
      expect([scene.grid.width, scene.grid.height]).toEqual([408, 408]);
      const w = await scene.readWindow({ x: 0, y: 0, width: 408, height: 408 }, { bands: ['B08', 'B8A', 'B02'] });
      const band = (id: string): ArrayLike<number> => w.bands.find((b) => b.band === id)!.data;
      const b08 = band('B08');
      const b8a = band('B8A');
      expect(b8a.length).toBe(204 * 204);
      // value ranges from PROVENANCE.md
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < b08.length; i++) {
        min = Math.min(min, b08[i]!);
        max = Math.max(max, b08[i]!);
      }
      expect([min, max]).toEqual([93, 5623]);
      const mean2x2 = new Float64Array(204 * 204);
      const transposed = new Float64Array(204 * 204);
      for (let y = 0; y < 204; y++) {
        for (let x = 0; x < 204; x++) {
          const i = 2 * y * 408 + 2 * x;
          mean2x2[y * 204 + x] = (b08[i]! + b08[i + 1]! + b08[i + 408]! + b08[i + 409]!) / 4;
          transposed[y * 204 + x] = b8a[x * 204 + y]!;
        }
      }
      expect(pearson(mean2x2, b8a)).toBeGreaterThan(0.99);
      expect(pearson(mean2x2, transposed)).toBeLessThan(0.5);
    } finally {
      await scene.close();
    }
  }, 120_000);
});
