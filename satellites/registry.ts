/**
 * The satellite registry: every JSON definition in this folder, plus any folders or files named by
 * the SHARPSTREAM_SATELLITES environment variable (path-delimited), plus any added at run time.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSatelliteSpec, type SatelliteSpec } from './spec.js';

/** The folder that holds the shipped satellite definitions (works from sources and from dist/). */
export function builtinSatelliteDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  // From dist/satellites/ the JSON files live two levels up, in the package's satellites/ folder.
  const candidates = [here, resolve(here, '../../satellites')];
  for (const c of candidates) {
    try {
      if (readdirSync(c).some((f) => f.endsWith('.json'))) return c;
    } catch {
      /* try the next */
    }
  }
  throw new Error(`cannot find the shipped satellite definitions (looked in ${candidates.join(', ')})`);
}

/** Reads and validates one satellite definition file. */
export function loadSatelliteFile(path: string): SatelliteSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read satellite definition ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`satellite definition ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseSatelliteSpec(json, path);
}

function loadDir(dir: string): SatelliteSpec[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => loadSatelliteFile(join(dir, f)));
}

/** A set of satellite definitions, looked up by id or recognised from names and metadata. */
export class SatelliteRegistry {
  private readonly specs = new Map<string, SatelliteSpec>();

  /** Adds a definition; a later one with the same id replaces the earlier. */
  add(spec: SatelliteSpec): this {
    this.specs.set(spec.id, spec);
    return this;
  }

  /** Adds every definition in a JSON file or a folder of them. */
  addPath(path: string): this {
    const st = statSync(path);
    for (const s of st.isDirectory() ? loadDir(path) : [loadSatelliteFile(path)]) this.add(s);
    return this;
  }

  /** All definitions, in id order. */
  list(): SatelliteSpec[] {
    return [...this.specs.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /** The definition with this id, or a clear error listing the known ids. */
  get(id: string): SatelliteSpec {
    const s = this.specs.get(id);
    if (!s) throw new Error(`unknown satellite "${id}" (known: ${[...this.specs.keys()].sort().join(', ')})`);
    return s;
  }

  /** Resolves a --satellite argument: a known id, or a path to a JSON definition. */
  resolve(idOrPath: string): SatelliteSpec {
    if (this.specs.has(idOrPath)) return this.specs.get(idOrPath)!;
    if (idOrPath.endsWith('.json')) {
      const spec = loadSatelliteFile(idOrPath);
      this.add(spec);
      return spec;
    }
    return this.get(idOrPath);
  }

  /** The definitions whose product-name patterns match a product, folder, archive or item name. */
  matchProductName(name: string): SatelliteSpec[] {
    return this.list().filter((s) => s.recognition.productName.some((p) => new RegExp(p, 'i').test(name)));
  }

  /** The definitions that claim a STAC collection id. */
  matchStacCollection(collection: string): SatelliteSpec[] {
    return this.list().filter((s) => (s.recognition.stacCollections ?? []).includes(collection));
  }

  /** The definitions that name a product type (such as "S2MSI2A" or "L1TP"). */
  matchProductType(productType: string): SatelliteSpec[] {
    const t = productType.toUpperCase();
    return this.list().filter((s) => (s.recognition.productTypes ?? []).some((p) => p.toUpperCase() === t));
  }
}

let defaultRegistry: SatelliteRegistry | null = null;

/** The process-wide registry: shipped definitions plus SHARPSTREAM_SATELLITES. */
export function satellites(): SatelliteRegistry {
  if (!defaultRegistry) {
    const reg = new SatelliteRegistry().addPath(builtinSatelliteDir());
    const extra = process.env.SHARPSTREAM_SATELLITES;
    if (extra) for (const p of extra.split(delimiter).filter(Boolean)) reg.addPath(p);
    defaultRegistry = reg;
  }
  return defaultRegistry;
}
