/**
 * A satellite (or processing level of one) is data: a JSON file in this folder, checked against
 * this shape by `parseSatelliteSpec`. Adding a satellite means adding a file, never code.
 */

/** One spectral band of a sensor. */
export interface BandSpec {
  /** The band id used in file names and outputs, such as "B05". */
  readonly id: string;
  /** STAC eo common name, such as "rededge" or "pan". */
  readonly commonName?: string;
  /** Centre wavelength in micrometres. */
  readonly centerWavelength?: number;
  /** Full width at half maximum in micrometres. */
  readonly fullWidthHalfMax?: number;
  /** Ground sampling distance of the delivered product, in metres. */
  readonly resolution: number;
  /** Free text shown in band descriptions. */
  readonly description?: string;
}

/** A super-resolution group: bands of one coarse resolution sharpened together by one network. */
export interface GroupSpec {
  /** Short id, such as "20m". */
  readonly id: string;
  /** Bands sharpened by this group's network, in network output order. */
  readonly targets: readonly string[];
  /** Ratio of the targets' resolution to the finest resolution (2 for 20 m -> 10 m). */
  readonly factor: number;
  /**
   * Network input bands in order. When absent: every band finer than the targets (in the file's band
   * order), then the targets themselves.
   */
  readonly inputs?: readonly string[];
  /** Inference patch size and border in fine-grid pixels (DSen2: 128/8 for x2, 192/12 for x6). */
  readonly patch?: { readonly size: number; readonly border: number };
}

/** How digital numbers map to physical values, and which values mean "no data". */
export interface RadiometrySpec {
  /** physical = DN * scale + offset (before any metadata-driven offset). */
  readonly scale: number;
  readonly offset: number;
  /** DN that marks missing pixels. */
  readonly nodata: number | null;
  /** DN at or above which a pixel is saturated (skipped when training). */
  readonly saturated?: number;
  /**
   * An additive DN offset announced by the product metadata, such as Sentinel-2's RADIO_ADD_OFFSET
   * (-1000 since processing baseline 04.00). `value` is used when the metadata names a baseline at or
   * after `sinceBaseline` but carries no explicit offset.
   */
  readonly metadataOffset?: {
    readonly value: number;
    readonly sinceBaseline: string;
  };
}

/** How products of this satellite are recognised. */
export interface RecognitionSpec {
  /** Regular expressions matched against a product or scene name (folder, archive or item id). */
  readonly productName: readonly string[];
  /**
   * Regular expression whose first capture group, matched against a file name, gives the band id.
   * The band id match is case-insensitive and leading zeros are tolerated ("B8A", "B05", "B5").
   */
  readonly bandFile: string;
  /** STAC collection ids whose items belong to this satellite. */
  readonly stacCollections?: readonly string[];
  /** STAC `constellation`/`platform` values together with `processing:level` or similar that identify it. */
  readonly stacPlatforms?: readonly string[];
  /** Product-type keywords found in product metadata (such as "S2MSI1C" or "L1TP"). */
  readonly productTypes?: readonly string[];
  /** Asset keys of STAC items per band id, in preference order (Earth Search uses common names). */
  readonly stacAssets?: Readonly<Record<string, readonly string[]>>;
}

/** A whole satellite/product definition. */
export interface SatelliteSpec {
  readonly id: string;
  readonly title: string;
  readonly constellation: string;
  readonly platforms: readonly string[];
  readonly instruments: readonly string[];
  readonly processingLevel: string;
  readonly bands: readonly BandSpec[];
  readonly groups: readonly GroupSpec[];
  readonly radiometry: RadiometrySpec;
  readonly recognition: RecognitionSpec;
  /** Free text notes shown by `sharpstream satellites`. */
  readonly notes?: string;
}

/** A parse failure that names the offending field. */
export class SatelliteSpecError extends Error {
  constructor(source: string, message: string) {
    super(`satellite definition ${source}: ${message}`);
    this.name = 'SatelliteSpecError';
  }
}

type Json = unknown;

function isRecord(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates untrusted JSON as a satellite definition, naming the first problem found. */
export function parseSatelliteSpec(json: Json, source = '<inline>'): SatelliteSpec {
  const fail = (msg: string): never => {
    throw new SatelliteSpecError(source, msg);
  };
  if (!isRecord(json)) return fail('must be a JSON object');
  const str = (o: Record<string, Json>, k: string, where: string): string => {
    const v = o[k];
    if (typeof v !== 'string' || v.length === 0) return fail(`${where}.${k} must be a non-empty string`);
    return v;
  };
  const num = (o: Record<string, Json>, k: string, where: string, positive = false): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)) {
      return fail(`${where}.${k} must be a ${positive ? 'positive ' : ''}number`);
    }
    return v;
  };
  const strList = (o: Record<string, Json>, k: string, where: string, optional = false): string[] => {
    const v = o[k];
    if (v === undefined && optional) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) return fail(`${where}.${k} must be an array of strings`);
    return v as string[];
  };

  const id = str(json, 'id', '$');
  if (!/^[a-z0-9][a-z0-9-]*$/.test(id)) fail(`$.id "${id}" must be lower-case letters, digits and dashes`);
  if (!Array.isArray(json.bands) || json.bands.length === 0) fail('$.bands must be a non-empty array');
  const bands: BandSpec[] = (json.bands as Json[]).map((b, i) => {
    const where = `$.bands[${i}]`;
    if (!isRecord(b)) return fail(`${where} must be an object`);
    const band: BandSpec = {
      id: str(b, 'id', where),
      resolution: num(b, 'resolution', where, true),
      ...(b.commonName !== undefined ? { commonName: str(b, 'commonName', where) } : {}),
      ...(b.centerWavelength !== undefined ? { centerWavelength: num(b, 'centerWavelength', where, true) } : {}),
      ...(b.fullWidthHalfMax !== undefined ? { fullWidthHalfMax: num(b, 'fullWidthHalfMax', where, true) } : {}),
      ...(b.description !== undefined ? { description: str(b, 'description', where) } : {}),
    };
    return band;
  });
  const byId = new Map(bands.map((b) => [b.id, b]));
  if (byId.size !== bands.length) fail('$.bands has duplicate band ids');
  const finest = Math.min(...bands.map((b) => b.resolution));

  if (!Array.isArray(json.groups)) fail('$.groups must be an array');
  const groups: GroupSpec[] = (json.groups as Json[]).map((g, i) => {
    const where = `$.groups[${i}]`;
    if (!isRecord(g)) return fail(`${where} must be an object`);
    const targets = strList(g, 'targets', where);
    if (targets.length === 0) fail(`${where}.targets must not be empty`);
    for (const t of targets) if (!byId.has(t)) fail(`${where}.targets names unknown band "${t}"`);
    const res = new Set(targets.map((t) => byId.get(t)!.resolution));
    if (res.size !== 1) fail(`${where}.targets must share one resolution`);
    const factor = num(g, 'factor', where, true);
    const targetRes = [...res][0];
    if (Math.abs(targetRes / finest - factor) > 1e-9) {
      fail(`${where}.factor is ${factor} but the targets' resolution ${targetRes} m over the finest ${finest} m is ${targetRes / finest}`);
    }
    const inputs = g.inputs === undefined ? undefined : strList(g, 'inputs', where);
    if (inputs) {
      for (const t of inputs) if (!byId.has(t)) fail(`${where}.inputs names unknown band "${t}"`);
      for (const t of targets) if (!inputs.includes(t)) fail(`${where}.inputs must include target "${t}"`);
    }
    let patch: GroupSpec['patch'];
    if (g.patch !== undefined) {
      if (!isRecord(g.patch)) return fail(`${where}.patch must be an object`);
      patch = { size: num(g.patch, 'size', `${where}.patch`, true), border: num(g.patch, 'border', `${where}.patch`) };
      if (patch.size <= 2 * patch.border) fail(`${where}.patch.size must exceed twice the border`);
      if (patch.size % factor !== 0 || patch.border % factor !== 0) fail(`${where}.patch size and border must be multiples of the factor ${factor}`);
    }
    return { id: str(g, 'id', where), targets, factor, ...(inputs ? { inputs } : {}), ...(patch ? { patch } : {}) };
  });

  if (!isRecord(json.radiometry)) return fail('$.radiometry must be an object');
  const r = json.radiometry;
  const nodata = r.nodata === null ? null : num(r, 'nodata', '$.radiometry');
  let metadataOffset: RadiometrySpec['metadataOffset'];
  if (r.metadataOffset !== undefined) {
    if (!isRecord(r.metadataOffset)) return fail('$.radiometry.metadataOffset must be an object');
    metadataOffset = {
      value: num(r.metadataOffset, 'value', '$.radiometry.metadataOffset'),
      sinceBaseline: str(r.metadataOffset, 'sinceBaseline', '$.radiometry.metadataOffset'),
    };
  }
  const radiometry: RadiometrySpec = {
    scale: num(r, 'scale', '$.radiometry'),
    offset: num(r, 'offset', '$.radiometry'),
    nodata,
    ...(r.saturated !== undefined ? { saturated: num(r, 'saturated', '$.radiometry') } : {}),
    ...(metadataOffset ? { metadataOffset } : {}),
  };

  if (!isRecord(json.recognition)) return fail('$.recognition must be an object');
  const rec = json.recognition;
  const productName = strList(rec, 'productName', '$.recognition');
  for (const p of productName) {
    try {
      new RegExp(p);
    } catch {
      fail(`$.recognition.productName has an invalid regular expression: ${p}`);
    }
  }
  const bandFile = str(rec, 'bandFile', '$.recognition');
  try {
    if (!/\((?!\?)/.test(bandFile)) fail('$.recognition.bandFile needs a capture group for the band id');
    new RegExp(bandFile);
  } catch (e) {
    if (e instanceof SatelliteSpecError) throw e;
    fail(`$.recognition.bandFile is an invalid regular expression: ${bandFile}`);
  }
  let stacAssets: Record<string, string[]> | undefined;
  if (rec.stacAssets !== undefined) {
    if (!isRecord(rec.stacAssets)) return fail('$.recognition.stacAssets must be an object');
    stacAssets = {};
    for (const [k, v] of Object.entries(rec.stacAssets)) {
      if (!byId.has(k)) fail(`$.recognition.stacAssets names unknown band "${k}"`);
      stacAssets[k] = strList(rec.stacAssets, k, '$.recognition.stacAssets');
    }
  }
  const recognition: RecognitionSpec = {
    productName,
    bandFile,
    stacCollections: strList(rec, 'stacCollections', '$.recognition', true),
    stacPlatforms: strList(rec, 'stacPlatforms', '$.recognition', true),
    productTypes: strList(rec, 'productTypes', '$.recognition', true),
    ...(stacAssets ? { stacAssets } : {}),
  };

  return {
    id,
    title: str(json, 'title', '$'),
    constellation: str(json, 'constellation', '$'),
    platforms: strList(json, 'platforms', '$'),
    instruments: strList(json, 'instruments', '$'),
    processingLevel: str(json, 'processingLevel', '$'),
    bands,
    groups,
    radiometry,
    recognition,
    ...(typeof json.notes === 'string' ? { notes: json.notes } : {}),
  };
}

/** The finest resolution among a satellite's bands, in metres. */
export function finestResolution(spec: SatelliteSpec): number {
  return Math.min(...spec.bands.map((b) => b.resolution));
}

/** The band with the given id, or a clear error. */
export function bandById(spec: SatelliteSpec, id: string): BandSpec {
  const b = spec.bands.find((x) => x.id === id);
  if (!b) throw new Error(`satellite ${spec.id} has no band "${id}" (bands: ${spec.bands.map((x) => x.id).join(', ')})`);
  return b;
}

/** A group's network inputs in order: explicit, or every finer band followed by the targets. */
export function groupInputs(spec: SatelliteSpec, group: GroupSpec): string[] {
  if (group.inputs) return [...group.inputs];
  const targetRes = bandById(spec, group.targets[0]).resolution;
  // Finer bands by resolution (finest first), keeping file order within a resolution: DSen2's order.
  const finer = spec.bands
    .map((b, i) => ({ b, i }))
    .filter(({ b }) => b.resolution < targetRes)
    .sort((p, q) => p.b.resolution - q.b.resolution || p.i - q.i)
    .map(({ b }) => b.id);
  return [...finer, ...group.targets];
}

/** A group's inference patch size and border: explicit, or DSen2's (128/8 for x2, 192/12 for x6, else scaled). */
export function groupPatch(group: GroupSpec): { size: number; border: number } {
  if (group.patch) return group.patch;
  if (group.factor <= 2) return { size: 128, border: 8 };
  const f = group.factor;
  const size = Math.ceil(192 / f) * f;
  return { size, border: Math.ceil(12 / f) * f };
}

/** Normalises a band id written in a file name ("B5", "b05", "B8a") to the spec's id, or null. */
export function matchBandId(spec: SatelliteSpec, raw: string): string | null {
  const norm = (s: string) => s.toUpperCase().replace(/^([A-Z_]*?)0*(\d)/, '$1$2');
  const want = norm(raw);
  const hit = spec.bands.find((b) => norm(b.id) === want);
  return hit ? hit.id : null;
}
