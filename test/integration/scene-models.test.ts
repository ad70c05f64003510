/** Which models the stream runs on a scene: the trained ones per group, a baseline for groups without one. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../model/package.js';
import { sceneModels } from '../../operators/read-scene.js';
import { satellites } from '../../satellites/registry.js';
import { openScene } from '../../scene/open.js';
import { dataPath, missingData } from '../helpers/data.js';
import { tinyDsen2 } from '../helpers/models.js';

const SCENE = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'];

describe.skipIf(missingData(SCENE))('sceneModels', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scene-models-'));
  const saved = process.env.SHARPSTREAM_MODELS;
  afterAll(() => {
    if (saved === undefined) delete process.env.SHARPSTREAM_MODELS;
    else process.env.SHARPSTREAM_MODELS = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a trained model where a group has one and the fallback baseline for the other groups', async () => {
    const registry = satellites();
    const sat = registry.get('sentinel-2-l2a');
    const { weights: _w, format: _f, ...manifest } = tinyDsen2(sat, '60m').manifest;
    await saveModel(join(dir, 'my-60m'), { ...manifest, id: 'my-60m' }, tinyDsen2(sat, '60m').weights);
    process.env.SHARPSTREAM_MODELS = dir;
    const scene = await openScene(dataPath(...SCENE), { registry });
    try {
      const { models, notes } = await sceneModels(scene, undefined, registry, 'bicubic');
      const byGroup = Object.fromEntries(models.map((m) => [m.manifest.group, m.manifest.id]));
      expect(byGroup['60m']).toBe('my-60m');
      // 20m: the shipped model when there is one, else the fallback baseline, named in a note
      if (byGroup['20m'].startsWith('bicubic:')) expect(notes.join('\n')).toMatch(/no trained model for sentinel-2-l2a group 20m: using the bicubic baseline/);
      expect(Object.keys(byGroup).sort()).toEqual(['20m', '60m']);
      // without a fallback, groups without a model are left out (as predict does)
      const strict = await sceneModels(scene, undefined, registry);
      expect(strict.models.map((m) => m.manifest.group)).toContain('60m');
      expect(strict.models.every((m) => !m.manifest.id.startsWith('bicubic:'))).toBe(true);
    } finally {
      await scene.close();
    }
  });
});
