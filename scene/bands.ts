/** Matching files to band ids and checking that a scene has the bands it needs. */
import { basename } from 'node:path';
import { groupInputs, matchBandId, type SatelliteSpec } from '../satellites/spec.js';
import { SceneError } from './types.js';

/** The band id a file name carries for a satellite, or null. */
export function bandIdOfFile(spec: SatelliteSpec, fileName: string): string | null {
  const m = new RegExp(spec.recognition.bandFile, 'i').exec(basename(fileName));
  if (!m || !m[1]) return null;
  return matchBandId(spec, m[1]);
}

/**
 * Maps files to band ids. When several files carry one band (Sentinel-2 L2A ships B05 at 20 m and 60 m),
 * the one whose name states the band's native resolution wins, else the first in name order.
 */
export function assignBandFiles(spec: SatelliteSpec, files: readonly string[]): Map<string, string> {
  const byBand = new Map<string, string[]>();
  for (const f of [...files].sort()) {
    const id = bandIdOfFile(spec, f);
    if (!id) continue;
    const list = byBand.get(id) ?? [];
    list.push(f);
    byBand.set(id, list);
  }
  const out = new Map<string, string>();
  for (const [id, list] of byBand) {
    const res = spec.bands.find((b) => b.id === id)!.resolution;
    const native = list.find((f) => new RegExp(`_${res}m\\.`, 'i').test(basename(f)));
    out.set(id, native ?? list[0]);
  }
  return out;
}

/**
 * Checks that the bands found are enough: every band in `required`, or else (by default) every input of
 * at least one super-resolution group. The error names what is missing and where it was looked for.
 */
export function checkBands(uri: string, spec: SatelliteSpec, found: ReadonlySet<string>, required?: readonly string[]): void {
  if (required) {
    const missing = required.filter((b) => !found.has(b));
    if (missing.length) throw new SceneError(uri, `missing band${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${spec.id}`);
    return;
  }
  if (spec.groups.length === 0) {
    if (found.size === 0) throw new SceneError(uri, `no bands of ${spec.id} found`);
    return;
  }
  const report: string[] = [];
  for (const g of spec.groups) {
    const missing = groupInputs(spec, g).filter((b) => !found.has(b));
    if (missing.length === 0) return;
    report.push(`group ${g.id} lacks ${missing.join(', ')}`);
  }
  throw new SceneError(
    uri,
    `missing bands: ${report.join('; ')} (found ${[...found].join(', ') || 'no band files'}; band files must match /${spec.recognition.bandFile}/i)`,
  );
}
