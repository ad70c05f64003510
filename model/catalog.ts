/**
 * The model catalogue: models shipped in the package's `models/` folder, the user's own (in
 * $SHARPSTREAM_MODELS, default ~/.sharpstream/models), and interpolation baselines for every group of
 * every satellite. Resolves `--model` arguments (an id, a folder path, or "bicubic"/"bilinear").
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SatelliteRegistry } from '../satellites/registry.js';
import type { SatelliteSpec } from '../satellites/spec.js';
import { BASELINE_METHODS, baselineModel, type BaselineMethod } from './baselines.js';
import { loadModel, type ModelManifest, type ModelPackage } from './package.js';

/** The package's root folder (holding package.json), from sources or from dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'sharpstream') return dir;
      } catch {
        /* keep looking */
      }
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the sharpstream package root');
}

/** Folder of the models shipped with sharpstream. */
export function shippedModelsDir(): string {
  return join(packageRoot(), 'models');
}

/** Folder of the user's trained models. */
export function userModelsDir(): string {
  return process.env.SHARPSTREAM_MODELS ? resolve(process.env.SHARPSTREAM_MODELS) : join(homedir(), '.sharpstream', 'models');
}

/** One model the catalogue knows. */
export interface CatalogEntry {
  readonly id: string;
  readonly satellite: string;
  readonly group: string;
  readonly source: 'shipped' | 'user' | 'baseline';
  readonly title?: string;
  /** Folder of the package (not for baselines). */
  readonly dir?: string;
  readonly metrics?: Readonly<Record<string, unknown>>;
}

function scan(dir: string, source: 'shipped' | 'user'): CatalogEntry[] {
  if (!existsSync(dir)) return [];
  const out: CatalogEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    const d = join(dir, name);
    const mf = join(d, 'model.json');
    if (!statSync(d).isDirectory() || !existsSync(mf)) continue;
    try {
      const m = JSON.parse(readFileSync(mf, 'utf8')) as ModelManifest;
      out.push({ id: m.id, satellite: m.satellite, group: m.group, source, dir: d, ...(m.title ? { title: m.title } : {}), ...(m.metrics ? { metrics: m.metrics } : {}) });
    } catch {
      /* a broken folder is reported when loaded by path */
    }
  }
  return out;
}

/** Every model the catalogue knows: shipped, user, then baselines for each satellite group. */
export function listModels(registry: SatelliteRegistry): CatalogEntry[] {
  const baselines: CatalogEntry[] = [];
  for (const s of registry.list())
    for (const g of s.groups)
      for (const m of BASELINE_METHODS)
        baselines.push({ id: `${m}:${s.id}:${g.id}`, satellite: s.id, group: g.id, source: 'baseline', title: `${m} interpolation` });
  return [...scan(shippedModelsDir(), 'shipped'), ...scan(userModelsDir(), 'user'), ...baselines];
}

/**
 * Resolves one --model argument for a satellite into packages: a folder path, a catalogue id, or
 * "bicubic"/"bilinear" (one baseline per group of the satellite).
 */
export async function resolveModels(ref: string, satellite: SatelliteSpec, registry: SatelliteRegistry): Promise<ModelPackage[]> {
  if ((BASELINE_METHODS as readonly string[]).includes(ref)) {
    return satellite.groups.map((g) => baselineModel(ref as BaselineMethod, satellite, g));
  }
  const base = /^(bicubic|bilinear):([^:]+):([^:]+)$/.exec(ref);
  if (base) {
    const s = registry.get(base[2]);
    const g = s.groups.find((x) => x.id === base[3]);
    if (!g) throw new Error(`satellite ${s.id} has no group "${base[3]}" (groups: ${s.groups.map((x) => x.id).join(', ')})`);
    return [baselineModel(base[1] as BaselineMethod, s, g)];
  }
  if (existsSync(ref) && statSync(ref).isDirectory()) return [await loadModel(ref)];
  const hit = listModels(registry).find((e) => e.id === ref && e.dir);
  if (!hit || !hit.dir) {
    const known = listModels(registry)
      .filter((e) => e.satellite === satellite.id)
      .map((e) => e.id);
    throw new Error(`unknown model "${ref}": not a model folder nor a known id (models for ${satellite.id}: ${known.join(', ')})`);
  }
  return [await loadModel(hit.dir)];
}

/** The shipped or user models for a satellite, one per group that has one (user models win). */
export async function defaultModels(satellite: SatelliteSpec, registry: SatelliteRegistry): Promise<ModelPackage[]> {
  const entries = listModels(registry).filter((e) => e.satellite === satellite.id && e.source !== 'baseline');
  const out: ModelPackage[] = [];
  for (const g of satellite.groups) {
    const e = entries.find((x) => x.group === g.id && x.source === 'user') ?? entries.find((x) => x.group === g.id);
    if (e?.dir) out.push(await loadModel(e.dir));
  }
  return out;
}
