/**
 * Interpolation baselines as models with the same interface as the networks: bilinear and bicubic
 * upsampling of a group's target bands (the network is an identity over the upsampled targets).
 */
import { GRAPH_INPUT } from './graph.js';
import { MODEL_FORMAT, makePackage, type ModelPackage } from './package.js';
import { groupPatch, type GroupSpec, type SatelliteSpec } from '../satellites/spec.js';

/** The interpolation methods offered as baselines. */
export const BASELINE_METHODS = ['bicubic', 'bilinear'] as const;

/** A baseline method name. */
export type BaselineMethod = (typeof BASELINE_METHODS)[number];

/** The id of a baseline model for a satellite group, such as "bicubic:sentinel-2-l1c:20m". */
export function baselineId(method: BaselineMethod, satellite: string, group: string): string {
  return `${method}:${satellite}:${group}`;
}

/** An interpolation model for one group of a satellite. */
export function baselineModel(method: BaselineMethod, satellite: SatelliteSpec, group: GroupSpec): ModelPackage {
  const t = group.targets.length;
  return makePackage(
    {
      format: MODEL_FORMAT,
      id: baselineId(method, satellite.id, group.id),
      version: '1',
      title: `${method} interpolation of ${satellite.id} ${group.id} bands`,
      description: `Baseline: ${method} upsampling of ${group.targets.join(', ')} by x${group.factor}, no network.`,
      satellite: satellite.id,
      group: group.id,
      factor: group.factor,
      inputs: [...group.targets],
      outputs: [...group.targets],
      upsample: method,
      normalisation: { divisor: 2000, applyDnOffset: false },
      architecture: { type: 'interpolation', method },
      graph: { inputChannels: t, nodes: [{ op: 'slice', name: 'output', input: GRAPH_INPUT, start: 0, end: t }], output: 'output' },
      weights: { file: '', sha256: '', tensors: [] },
      patch: groupPatch(group),
      created: '1970-01-01T00:00:00Z',
    },
    new Map(),
  );
}
