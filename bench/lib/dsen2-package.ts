/** The benchmarks' DSen2 20 m network (6 ResBlocks x 128 filters, 10 -> 6 bands) as a model package with seeded random weights. */
import { dsen2Graph, dsen2InitialWeights } from '../../model/dsen2.js';
import { MODEL_FORMAT, makePackage, type ModelPackage } from '../../model/package.js';

/** A full-size DSen2 20 m package; `biases` sets non-zero biases so that every term of the network counts in a comparison. */
export function dsen2BenchPackage(seed: number, biases = false): ModelPackage {
  const size = { blocks: 6, filters: 128 };
  const weights = dsen2InitialWeights(10, 6, size, seed);
  if (biases) for (const [k, t] of weights) if (k.endsWith('/bias')) t.data.forEach((_, i) => (t.data[i] = 0.01 * ((i % 7) - 3)));
  return makePackage(
    {
      format: MODEL_FORMAT,
      id: 'bench-dsen2-20m',
      version: '0',
      satellite: 'sentinel-2-l1c',
      group: '20m',
      factor: 2,
      inputs: ['B02', 'B03', 'B04', 'B08', 'B05', 'B06', 'B07', 'B8A', 'B11', 'B12'],
      outputs: ['B05', 'B06', 'B07', 'B8A', 'B11', 'B12'],
      upsample: 'bilinear',
      normalisation: { divisor: 2000, applyDnOffset: true },
      architecture: { type: 'dsen2', ...size, residualScale: 0.1 },
      graph: dsen2Graph(10, 6, size),
      weights: { file: '', sha256: '', tensors: [] },
      created: new Date().toISOString(),
    },
    weights,
  );
}
