/**
 * Recognises a scene's satellite and product from names, product metadata or STAC properties.
 * `--satellite` always wins; otherwise the evidence must point at exactly one definition.
 */
import type { SatelliteRegistry } from '../satellites/registry.js';
import type { SatelliteSpec } from '../satellites/spec.js';
import { SceneError } from './types.js';

/** Evidence a reader gathered about a scene. */
export interface DetectionEvidence {
  /** Product, folder, archive or item names, most specific first. */
  readonly names?: readonly string[];
  /** Product types from metadata (S2MSI1C, L1TP, ...). */
  readonly productTypes?: readonly string[];
  /** STAC collection id. */
  readonly stacCollection?: string;
  /** Restrict to definitions of this constellation ("sentinel-2", "landsat"), when the reader knows it. */
  readonly constellation?: string;
}

/** Picks the satellite definition for a scene, or throws an error that says what was seen. */
export function detectSatellite(
  uri: string,
  registry: SatelliteRegistry,
  evidence: DetectionEvidence,
  override?: string | SatelliteSpec,
): SatelliteSpec {
  if (override) return typeof override === 'string' ? registry.resolve(override) : override;
  const inConstellation = (s: SatelliteSpec) => !evidence.constellation || s.constellation === evidence.constellation;
  const tries: SatelliteSpec[][] = [];
  for (const t of evidence.productTypes ?? []) tries.push(registry.matchProductType(t).filter(inConstellation));
  if (evidence.stacCollection) tries.push(registry.matchStacCollection(evidence.stacCollection).filter(inConstellation));
  for (const n of evidence.names ?? []) tries.push(registry.matchProductName(n).filter(inConstellation));
  for (const hits of tries) {
    if (hits.length === 1) return hits[0];
  }
  const seen = [
    ...(evidence.names ?? []).map((n) => `name "${n}"`),
    ...(evidence.productTypes ?? []).map((t) => `product type "${t}"`),
    ...(evidence.stacCollection ? [`STAC collection "${evidence.stacCollection}"`] : []),
  ];
  throw new SceneError(
    uri,
    `cannot tell which satellite and product this is (saw ${seen.join(', ') || 'nothing to go on'}); pass --satellite with one of: ${registry
      .list()
      .map((s) => s.id)
      .join(', ')}, or a path to a satellite definition`,
  );
}
