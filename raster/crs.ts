/**
 * Coordinate transforms to WGS84 for footprints and STAC geometry. UTM (EPSG:326xx/327xx), WGS84
 * (4326) and Web Mercator (3857) are built in; other EPSG codes need a proj4 definition registered with
 * `defineCrs`.
 */
import proj4 from 'proj4';
import type { Crs, Extent } from './grid.js';

const extra = new Map<number, string>();

/** Registers a proj4 definition for an EPSG code. */
export function defineCrs(epsg: number, proj4Definition: string): void {
  extra.set(epsg, proj4Definition);
}

/** The proj4 definition of an EPSG code, or a clear error. */
export function proj4Definition(epsg: number): string {
  if (extra.has(epsg)) return extra.get(epsg)!;
  if (epsg === 4326) return '+proj=longlat +datum=WGS84 +no_defs';
  if (epsg === 3857) return '+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +no_defs';
  if (epsg >= 32601 && epsg <= 32660) return `+proj=utm +zone=${epsg - 32600} +datum=WGS84 +units=m +no_defs`;
  if (epsg >= 32701 && epsg <= 32760) return `+proj=utm +zone=${epsg - 32700} +south +datum=WGS84 +units=m +no_defs`;
  throw new Error(`EPSG:${epsg} has no built-in definition; register one with defineCrs()`);
}

/** A function taking [x, y] in the CRS to [lon, lat] in WGS84. */
export function toWgs84(crs: Crs): (xy: [number, number]) => [number, number] {
  if (crs.epsg === null) throw new Error('the raster has no EPSG code, so it cannot be placed on the globe');
  if (crs.epsg === 4326) return (xy) => xy;
  const conv = proj4(proj4Definition(crs.epsg), proj4Definition(4326));
  return (xy) => conv.forward(xy) as [number, number];
}

/** The WGS84 polygon (closed ring, densified along each edge) of an extent in a CRS. */
export function footprintWgs84(crs: Crs, e: Extent, pointsPerEdge = 8): [number, number][] {
  const f = toWgs84(crs);
  const ring: [number, number][] = [];
  const corners: [number, number][] = [
    [e.minX, e.maxY],
    [e.minX, e.minY],
    [e.maxX, e.minY],
    [e.maxX, e.maxY],
  ];
  for (let c = 0; c < 4; c++) {
    const [ax, ay] = corners[c];
    const [bx, by] = corners[(c + 1) % 4];
    for (let i = 0; i < pointsPerEdge; i++) {
      const t = i / pointsPerEdge;
      const [lon, lat] = f([ax + (bx - ax) * t, ay + (by - ay) * t]);
      ring.push([Math.round(lon * 1e7) / 1e7, Math.round(lat * 1e7) / 1e7]);
    }
  }
  ring.push(ring[0]);
  return ring;
}

/** The bounding box [west, south, east, north] of a ring. */
export function ringBbox(ring: readonly [number, number][]): [number, number, number, number] {
  const xs = ring.map((p) => p[0]);
  const ys = ring.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}
