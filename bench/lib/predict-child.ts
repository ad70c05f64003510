/**
 * Child process of bench/predict.bench.ts: runs one prediction and prints {seconds, maxRssMB, ...} as
 * JSON, so the peak RSS belongs to the prediction alone.
 * argv: <scene> <outDir> <model spec: bicubic | dsen2:<blocks>x<filters>> [runtime]
 */
import { resolveModels } from '../../model/catalog.js';
import { dsen2Graph, dsen2InitialWeights } from '../../model/dsen2.js';
import { MODEL_FORMAT, makePackage, type ModelPackage } from '../../model/package.js';
import { predictScene } from '../../pipeline/predict.js';
import { satellites } from '../../satellites/registry.js';
import { groupInputs, groupPatch } from '../../satellites/spec.js';
import { openScene } from '../../scene/open.js';

const [scenePath, outDir, modelSpec, runtime = 'auto'] = process.argv.slice(2);
const scene = await openScene(scenePath);
let models: ModelPackage[];
const m = /^dsen2:(\d+)x(\d+)$/.exec(modelSpec);
if (m) {
  const size = { blocks: Number(m[1]), filters: Number(m[2]) };
  models = scene.satellite.groups.map((g) => {
    const inputs = groupInputs(scene.satellite, g);
    return makePackage(
      {
        format: MODEL_FORMAT,
        id: `bench-${g.id}`,
        version: '0',
        satellite: scene.satellite.id,
        group: g.id,
        factor: g.factor,
        inputs,
        outputs: [...g.targets],
        upsample: 'bilinear',
        normalisation: { divisor: 2000, applyDnOffset: true },
        architecture: { type: 'dsen2', ...size, residualScale: 0.1 },
        graph: dsen2Graph(inputs.length, g.targets.length, size),
        weights: { file: '', sha256: '', tensors: [] },
        patch: groupPatch(g),
        created: new Date().toISOString(),
      },
      dsen2InitialWeights(inputs.length, g.targets.length, size, 3),
    );
  });
} else {
  models = await resolveModels(modelSpec, scene.satellite, satellites());
}
const t0 = performance.now();
const r = await predictScene({ scene, models, outDir, runtime });
const seconds = (performance.now() - t0) / 1000;
await scene.close();
process.stdout.write(
  `${JSON.stringify({
    scene: scene.id,
    width: r.window.width,
    height: r.window.height,
    model: modelSpec,
    runtime: r.runtime,
    seconds: +seconds.toFixed(2),
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  })}\n`,
);
