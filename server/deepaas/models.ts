/**
 * The models the DEEPaaS API offers, from the model catalogue (model/catalog.ts):
 * - every shipped or user model package, by its id (predict with it; train fine-tunes it into a new model);
 * - `dsen2`: predict with the best DSen2 models for the scene's satellite (user models over shipped ones,
 *   one per group), train a new DSen2 network;
 * - `bicubic` and `bilinear`: interpolation baselines for every group of any satellite (predict only).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BASELINE_METHODS } from '../../model/baselines.js';
import { listModels, resolveModels, type CatalogEntry } from '../../model/catalog.js';
import { loadModel, type ModelManifest, type ModelPackage } from '../../model/package.js';
import { packageVersion } from '../../pipeline/version.js';
import { satellites, type SatelliteRegistry } from '../../satellites/registry.js';
import type { SatelliteSpec } from '../../satellites/spec.js';

/** The blank network that training creates models from. */
export const DSEN2_MODEL = 'dsen2';

/** One model as the DEEPaaS API sees it. */
export interface DeepaasModel {
  readonly name: string;
  readonly kind: 'package' | 'dsen2' | 'baseline';
  readonly title: string;
  readonly description: string;
  readonly version: string;
  /** Satellite and group of a package; absent for models that take any satellite. */
  readonly satellite?: string;
  readonly group?: string;
  readonly factor?: number;
  readonly inputs?: readonly string[];
  readonly outputs?: readonly string[];
  readonly metrics?: Readonly<Record<string, unknown>>;
  readonly source: 'shipped' | 'user' | 'builtin';
  /** Folder of a package. */
  readonly dir?: string;
  readonly trainable: boolean;
}

/** Model packages in a folder (one sub-folder each with a model.json), as catalogue entries of source "user". */
function scanFolder(dir: string): CatalogEntry[] {
  if (!existsSync(dir)) return [];
  const out: CatalogEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    const d = join(dir, name);
    if (!existsSync(join(d, 'model.json'))) continue;
    try {
      const m = JSON.parse(readFileSync(join(d, 'model.json'), 'utf8')) as ModelManifest;
      out.push({ id: m.id, satellite: m.satellite, group: m.group, source: 'user', dir: d });
    } catch {
      /* a broken folder is skipped */
    }
  }
  return out;
}

/**
 * Every model the API offers now (the catalogue is read on each call, so new models appear at once);
 * `modelsDir`, when given, is listed first as the user's models.
 */
export function deepaasModels(registry: SatelliteRegistry = satellites(), modelsDir?: string): DeepaasModel[] {
  const out: DeepaasModel[] = [];
  const seen = new Set<string>();
  for (const e of [...(modelsDir ? scanFolder(resolve(modelsDir)) : []), ...listModels(registry)]) {
    if (e.source === 'baseline' || !e.dir || seen.has(e.id)) continue;
    let m: Partial<ModelManifest> = {};
    try {
      m = JSON.parse(readFileSync(join(e.dir, 'model.json'), 'utf8')) as ModelManifest;
    } catch {
      continue;
    }
    seen.add(e.id);
    out.push({
      name: e.id,
      kind: 'package',
      title: m.title ?? e.id,
      description: m.description ?? `${m.title ?? e.id}: super-resolves ${(m.outputs ?? []).join(', ')} of ${e.satellite} (group ${e.group})`,
      version: m.version ?? '1',
      satellite: e.satellite,
      group: e.group,
      ...(m.factor !== undefined ? { factor: m.factor } : {}),
      ...(m.inputs ? { inputs: m.inputs } : {}),
      ...(m.outputs ? { outputs: m.outputs } : {}),
      ...(m.metrics ? { metrics: m.metrics } : {}),
      source: e.source === 'shipped' ? 'shipped' : 'user',
      dir: e.dir,
      trainable: m.architecture?.type === 'dsen2',
    });
  }
  const version = packageVersion();
  out.push({
    name: DSEN2_MODEL,
    kind: 'dsen2',
    title: 'DSen2 (best available per satellite)',
    description:
      "DSen2-style residual CNN (Lanaras et al. 2018). Predict runs the best trained models for the scene's satellite (your own over shipped ones, one per super-resolution group); train fits a new network by Wald's protocol and publishes it as a new model.",
    version,
    source: 'builtin',
    trainable: true,
  });
  for (const method of BASELINE_METHODS) {
    out.push({
      name: method,
      kind: 'baseline',
      title: `${method} interpolation`,
      description: `${method[0].toUpperCase()}${method.slice(1)} upsampling of every coarse band to the finest grid: the baseline a network must beat. Any satellite.`,
      version,
      source: 'builtin',
      trainable: false,
    });
  }
  return out;
}

/** The model with this name, or null. */
export function findDeepaasModel(name: string, registry: SatelliteRegistry = satellites(), modelsDir?: string): DeepaasModel | null {
  return deepaasModels(registry, modelsDir).find((m) => m.name === name) ?? null;
}

/** A model that cannot run on a scene (wrong satellite, nothing trained): a 422 for the client. */
export class ModelMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelMismatchError';
  }
}

/** The packages a model runs on a scene of this satellite (for `dsen2`: per group, a user model over a shipped one). */
export async function packagesFor(model: DeepaasModel, satellite: SatelliteSpec, registry: SatelliteRegistry = satellites(), modelsDir?: string): Promise<ModelPackage[]> {
  if (model.kind === 'baseline') return resolveModels(model.name, satellite, registry);
  if (model.kind === 'dsen2') {
    const packages = deepaasModels(registry, modelsDir).filter((m) => m.kind === 'package' && m.satellite === satellite.id);
    const found: ModelPackage[] = [];
    for (const g of satellite.groups) {
      const pick = packages.find((m) => m.group === g.id && m.source === 'user') ?? packages.find((m) => m.group === g.id);
      if (pick?.dir) found.push(await loadModel(pick.dir));
    }
    if (found.length === 0) {
      throw new ModelMismatchError(`no trained DSen2 model for ${satellite.id} yet: train one (POST /v2/models/${DSEN2_MODEL}/train/) or predict with bicubic or bilinear`);
    }
    return found;
  }
  if (model.satellite !== satellite.id) throw new ModelMismatchError(`model ${model.name} is for ${model.satellite}, but the scene is ${satellite.id}`);
  return [await loadModel(model.dir!)];
}
