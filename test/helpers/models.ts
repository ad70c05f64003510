/** Small seeded models for tests. */
import { dsen2Graph, dsen2InitialWeights } from '../../model/dsen2.js';
import { MODEL_FORMAT, makePackage, type ModelPackage } from '../../model/package.js';
import { groupInputs, groupPatch, type SatelliteSpec } from '../../satellites/spec.js';

/** A random DSen2 of the given size for a satellite group, with non-zero biases so every term counts. */
export function tinyDsen2(satellite: SatelliteSpec, groupId: string, blocks = 2, filters = 16, seed = 1): ModelPackage {
  const group = satellite.groups.find((g) => g.id === groupId);
  if (!group) throw new Error(`no group ${groupId}`);
  const inputs = groupInputs(satellite, group);
  const size = { blocks, filters };
  const weights = dsen2InitialWeights(inputs.length, group.targets.length, size, seed);
  for (const [k, t] of weights) if (k.endsWith('/bias')) t.data.forEach((_, i) => (t.data[i] = 0.01 * ((i % 7) - 3)));
  return makePackage(
    {
      format: MODEL_FORMAT,
      id: `tiny-${satellite.id}-${groupId}`,
      version: '0.0.1',
      satellite: satellite.id,
      group: group.id,
      factor: group.factor,
      inputs,
      outputs: [...group.targets],
      upsample: 'bilinear',
      normalisation: { divisor: 2000, applyDnOffset: true },
      architecture: { type: 'dsen2', blocks, filters, residualScale: 0.1 },
      graph: dsen2Graph(inputs.length, group.targets.length, size),
      weights: { file: 'weights.bin', sha256: '', tensors: [] },
      patch: groupPatch(group),
      created: '2026-11-25T00:00:00Z',
    },
    weights,
  );
}
