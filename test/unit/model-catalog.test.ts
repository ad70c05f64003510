import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultModels, listModels, resolveModels } from '../../model/catalog.js';
import { saveModel } from '../../model/package.js';
import { satellites } from '../../satellites/registry.js';
import { tinyDsen2 } from '../helpers/models.js';

const reg = satellites();
const l2a = reg.get('sentinel-2-l2a');
const saved = process.env.SHARPSTREAM_MODELS;

afterEach(() => {
  if (saved === undefined) delete process.env.SHARPSTREAM_MODELS;
  else process.env.SHARPSTREAM_MODELS = saved;
});

describe('model catalogue', () => {
  it('offers bicubic and bilinear baselines for every group of every satellite', async () => {
    const ids = listModels(reg).map((e) => e.id);
    expect(ids).toContain('bicubic:sentinel-2-l1c:60m');
    expect(ids).toContain('bilinear:landsat-c2-l1:30m');
    const both = await resolveModels('bicubic', l2a, reg);
    expect(both.map((m) => m.manifest.group)).toEqual(['20m', '60m']);
    expect(both[0].manifest.inputs).toEqual(['B05', 'B06', 'B07', 'B8A', 'B11', 'B12']);
  });

  it("uses the user's trained models by default, one per group, and resolves them by id and by folder", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'models-'));
    process.env.SHARPSTREAM_MODELS = dir;
    const pkg = tinyDsen2(l2a, '20m');
    const { format: _f, weights: _w, ...manifest } = pkg.manifest;
    await saveModel(join(dir, 'my-20m'), { ...manifest, id: 'my-20m' }, pkg.weights);
    const defaults = await defaultModels(l2a, reg);
    expect(defaults.map((m) => m.manifest.id)).toEqual(['my-20m']);
    expect((await resolveModels('my-20m', l2a, reg))[0].dir).toBe(join(dir, 'my-20m'));
    expect((await resolveModels(join(dir, 'my-20m'), l2a, reg))[0].manifest.id).toBe('my-20m');
    expect(await defaultModels(reg.get('landsat-c2-l2'), reg)).toEqual([]); // no model shipped for it
  });

  it('names the models it knows when asked for an unknown one', async () => {
    await expect(resolveModels('no-such-model', l2a, reg)).rejects.toThrow(/unknown model "no-such-model".*bicubic:sentinel-2-l2a:20m/);
    await expect(resolveModels('bicubic:sentinel-2-l2a:90m', l2a, reg)).rejects.toThrow(/has no group "90m"/);
  });
});
