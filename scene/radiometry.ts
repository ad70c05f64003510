/** Radiometric metadata rules shared by readers: product-announced DN offsets. */
import type { SatelliteSpec } from '../satellites/spec.js';

/** Compares processing baselines such as "04.00" and "02.04" numerically. */
export function compareBaselines(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The additive DN offset a product announces: an explicit value from its metadata wins; otherwise the
 * definition's offset applies when the processing baseline is at or after the one that introduced it.
 */
export function metadataDnOffset(spec: SatelliteSpec, baseline: string | undefined, explicit?: number): number {
  if (explicit !== undefined && Number.isFinite(explicit)) return explicit;
  const rule = spec.radiometry.metadataOffset;
  if (!rule || !baseline || !/^\d+(\.\d+)*$/.test(baseline)) return 0;
  return compareBaselines(baseline, rule.sinceBaseline) >= 0 ? rule.value : 0;
}
