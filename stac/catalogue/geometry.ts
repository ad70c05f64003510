/**
 * GeoJSON geometry checks and planar intersection tests in longitude/latitude, used to validate item
 * footprints and to test `intersects` / `s_intersects` exactly after the R*Tree bounding-box prefilter.
 */

/** A GeoJSON geometry (coordinates kept loose; see `geometryError`). */
export interface Geometry {
  readonly type: string;
  readonly coordinates?: unknown;
  readonly geometries?: readonly Geometry[];
}

/** A bounding box [west, south, east, north]. */
export type Bbox2d = [number, number, number, number];

type Pos = readonly [number, number];

const DEPTH: Record<string, number> = { Point: 0, MultiPoint: 1, LineString: 1, MultiLineString: 2, Polygon: 2, MultiPolygon: 3 };

function positionError(p: unknown, where: string): string | null {
  if (!Array.isArray(p) || p.length < 2 || p.length > 3 || !p.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    return `${where}: a position must be 2 or 3 finite numbers`;
  }
  if (p[0] < -180 || p[0] > 180) return `${where}: longitude ${p[0]} is outside -180..180`;
  if (p[1] < -90 || p[1] > 90) return `${where}: latitude ${p[1]} is outside -90..90`;
  return null;
}

function nestedError(c: unknown, depth: number, where: string, type: string): string | null {
  if (depth === 0) return positionError(c, where);
  if (!Array.isArray(c)) return `${where}: expected an array`;
  if (depth === 1 && type.endsWith('LineString') && c.length < 2) return `${where}: a line string needs at least 2 positions`;
  for (let i = 0; i < c.length; i++) {
    const e = nestedError(c[i], depth - 1, `${where}[${i}]`, type);
    if (e) return e;
  }
  if (depth === 1 && type.endsWith('Polygon')) {
    if (c.length < 4) return `${where}: a linear ring needs at least 4 positions`;
    const a = c[0] as number[];
    const b = c[c.length - 1] as number[];
    if (a[0] !== b[0] || a[1] !== b[1]) return `${where}: a linear ring must end where it starts`;
  }
  if (depth === 2 && type === 'Polygon' && c.length === 0) return `${where}: a polygon needs an outer ring`;
  return null;
}

/** What is wrong with a GeoJSON geometry (type, nesting, closed rings, lon/lat ranges), or null when it is valid. */
export function geometryError(g: unknown, where = 'geometry'): string | null {
  if (typeof g !== 'object' || g === null || Array.isArray(g)) return `${where} must be a GeoJSON geometry object`;
  const geom = g as Geometry;
  if (geom.type === 'GeometryCollection') {
    if (!Array.isArray(geom.geometries)) return `${where}: a GeometryCollection needs "geometries"`;
    for (let i = 0; i < geom.geometries.length; i++) {
      const e = geometryError(geom.geometries[i], `${where}.geometries[${i}]`);
      if (e) return e;
    }
    return null;
  }
  const depth = DEPTH[geom.type];
  if (depth === undefined) return `${where}: unknown geometry type ${JSON.stringify(geom.type)}`;
  if (geom.coordinates === undefined) return `${where}: missing "coordinates"`;
  return nestedError(geom.coordinates, depth, `${where}.coordinates`, geom.type);
}

/** What is wrong with a bbox (4 or 6 numbers, longitudes within ±180, latitudes within ±90, south <= north), or null. */
export function bboxError(b: unknown, where = 'bbox'): string | null {
  if (!Array.isArray(b) || (b.length !== 4 && b.length !== 6)) return `${where} must have 4 or 6 numbers`;
  if (!b.every((v) => typeof v === 'number' && Number.isFinite(v))) return `${where} must contain only finite numbers`;
  const [w, s, e, n] = b.length === 4 ? b : [b[0], b[1], b[3], b[4]];
  if (w < -180 || w > 180 || e < -180 || e > 180) return `${where}: longitude ${w < -180 || w > 180 ? w : e} is outside -180..180`;
  if (s < -90 || s > 90 || n < -90 || n > 90) return `${where}: latitude ${s < -90 || s > 90 ? s : n} is outside -90..90`;
  if (s > n) return `${where}: south ${s} is north of north ${n}`;
  if (b.length === 6 && b[2] > b[5]) return `${where}: minimum elevation ${b[2]} is above the maximum ${b[5]}`;
  return null;
}

/** The 2D part [west, south, east, north] of a 4- or 6-number bbox. */
export function bbox2d(b: readonly number[]): Bbox2d {
  return b.length === 6 ? [b[0], b[1], b[3], b[4]] : [b[0], b[1], b[2], b[3]];
}

function eachPosition(g: Geometry, f: (p: Pos) => void): void {
  if (g.type === 'GeometryCollection') {
    for (const c of g.geometries ?? []) eachPosition(c, f);
    return;
  }
  const walk = (c: unknown, d: number): void => {
    if (d === 0) f(c as Pos);
    else for (const x of c as unknown[]) walk(x, d - 1);
  };
  walk(g.coordinates, DEPTH[g.type] ?? 0);
}

/** The bounding box of a (valid) geometry. */
export function geometryBbox(g: Geometry): Bbox2d {
  const b: Bbox2d = [Infinity, Infinity, -Infinity, -Infinity];
  eachPosition(g, (p) => {
    b[0] = Math.min(b[0], p[0]);
    b[1] = Math.min(b[1], p[1]);
    b[2] = Math.max(b[2], p[0]);
    b[3] = Math.max(b[3], p[1]);
  });
  return b;
}

/** A bbox as a polygon (or two, when it crosses the antimeridian: west > east). */
export function bboxGeometry(b: Bbox2d): Geometry {
  const [w, s, e, n] = b;
  const rect = (x0: number, x1: number) => [[[x0, s], [x1, s], [x1, n], [x0, n], [x0, s]]];
  if (w <= e) return { type: 'Polygon', coordinates: rect(w, e) };
  return { type: 'MultiPolygon', coordinates: [rect(w, 180), rect(-180, e)] };
}

/** Simple parts of a geometry: points, segments and polygons (as ring lists). */
interface Parts {
  points: Pos[];
  segments: [Pos, Pos][];
  polygons: Pos[][][];
}

function parts(g: Geometry, out: Parts = { points: [], segments: [], polygons: [] }): Parts {
  const c = g.coordinates as never;
  const lines = (ls: Pos[]) => {
    for (let i = 1; i < ls.length; i++) out.segments.push([ls[i - 1], ls[i]]);
    if (ls.length === 1) out.points.push(ls[0]);
  };
  const poly = (rings: Pos[][]) => {
    out.polygons.push(rings);
    for (const r of rings) lines(r);
  };
  switch (g.type) {
    case 'Point':
      out.points.push(c);
      break;
    case 'MultiPoint':
      out.points.push(...(c as Pos[]));
      break;
    case 'LineString':
      lines(c);
      break;
    case 'MultiLineString':
      for (const l of c as Pos[][]) lines(l);
      break;
    case 'Polygon':
      poly(c);
      break;
    case 'MultiPolygon':
      for (const p of c as Pos[][][]) poly(p);
      break;
    case 'GeometryCollection':
      for (const x of g.geometries ?? []) parts(x, out);
      break;
  }
  return out;
}

function orient(a: Pos, b: Pos, c: Pos): number {
  const v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
  return v > 0 ? 1 : v < 0 ? -1 : 0;
}

function onSegment(a: Pos, b: Pos, p: Pos): boolean {
  return Math.min(a[0], b[0]) <= p[0] && p[0] <= Math.max(a[0], b[0]) && Math.min(a[1], b[1]) <= p[1] && p[1] <= Math.max(a[1], b[1]);
}

/** True when two closed segments share a point (collinear and degenerate cases included). */
export function segmentsIntersect(p1: Pos, p2: Pos, q1: Pos, q2: Pos): boolean {
  const o1 = orient(p1, p2, q1);
  const o2 = orient(p1, p2, q2);
  const o3 = orient(q1, q2, p1);
  const o4 = orient(q1, q2, p2);
  if (o1 !== o2 && o3 !== o4) return true;
  if (o1 === 0 && onSegment(p1, p2, q1)) return true;
  if (o2 === 0 && onSegment(p1, p2, q2)) return true;
  if (o3 === 0 && onSegment(q1, q2, p1)) return true;
  if (o4 === 0 && onSegment(q1, q2, p2)) return true;
  return false;
}

function inRing(p: Pos, ring: readonly Pos[]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const a = ring[i];
    const b = ring[j];
    if (a[1] > p[1] !== b[1] > p[1] && p[0] < ((b[0] - a[0]) * (p[1] - a[1])) / (b[1] - a[1]) + a[0]) inside = !inside;
  }
  return inside;
}

/** True when a point lies in a polygon (inside the outer ring and outside every hole; boundaries count via segments). */
function inPolygon(p: Pos, rings: readonly (readonly Pos[])[]): boolean {
  if (!rings.length || !inRing(p, rings[0])) return false;
  return !rings.slice(1).some((h) => inRing(p, h));
}

/** True when two geometries share at least one point (planar test in longitude/latitude). */
export function geometriesIntersect(a: Geometry, b: Geometry): boolean {
  const ba = geometryBbox(a);
  const bb = geometryBbox(b);
  if (ba[0] > bb[2] || bb[0] > ba[2] || ba[1] > bb[3] || bb[1] > ba[3]) return false;
  const pa = parts(a);
  const pb = parts(b);
  // Points as zero-length segments make point/line and point/point tests the segment test.
  const segs = (p: Parts) => [...p.segments, ...p.points.map((x) => [x, x] as [Pos, Pos])];
  const sa = segs(pa);
  const sb = segs(pb);
  for (const [p1, p2] of sa) for (const [q1, q2] of sb) if (segmentsIntersect(p1, p2, q1, q2)) return true;
  // No boundary contact: one lies inside the other if any of its vertices does.
  // No boundary contact: one lies inside the other if any of its vertices does.
  for (const x of [...pa.points, ...pa.segments.map((s) => s[0])]) if (pb.polygons.some((r) => inPolygon(x, r))) return true;
  for (const x of [...pb.points, ...pb.segments.map((s) => s[0])]) if (pa.polygons.some((r) => inPolygon(x, r))) return true;
  return false;
}
