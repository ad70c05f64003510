/**
 * Grids, geotransforms and pixel windows: the geometry every reader, patcher and writer shares.
 * Only north-up grids are supported (no rotation terms), which covers Sentinel-2 and Landsat.
 */

/** A north-up affine transform: pixel (col,row) corner maps to (x0 + col*dx, y0 + row*dy). dy is negative for north-up. */
export interface GeoTransform {
  readonly x0: number;
  readonly y0: number;
  readonly dx: number;
  readonly dy: number;
}

/** A coordinate reference system, by EPSG code where one is known. */
export interface Crs {
  readonly epsg: number | null;
  /** WKT, when the source carried one and no EPSG code was found. */
  readonly wkt?: string;
}

/** A raster grid: size, georeferencing and CRS. */
export interface Grid {
  readonly width: number;
  readonly height: number;
  readonly transform: GeoTransform;
  readonly crs: Crs;
}

/** A rectangle of pixels, in the pixel coordinates of some grid. */
export interface PixelWindow {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A rectangle in CRS coordinates. */
export interface Extent {
  readonly minX: number;
  readonly minY: number;
  readonly maxX: number;
  readonly maxY: number;
}

/** Builds a GeoTransform from GDAL's 6-term form, rejecting rotated grids. */
export function fromGdalTransform(gt: readonly number[]): GeoTransform {
  if (gt.length !== 6) throw new Error(`geotransform must have 6 terms, got ${gt.length}`);
  if (gt[2] !== 0 || gt[4] !== 0) throw new Error('rotated geotransforms are not supported (only north-up grids)');
  return { x0: gt[0], dx: gt[1], y0: gt[3], dy: gt[5] };
}

/** GDAL's 6-term form of a GeoTransform. */
export function toGdalTransform(t: GeoTransform): [number, number, number, number, number, number] {
  return [t.x0, t.dx, 0, t.y0, 0, t.dy];
}

/** The whole grid as a window. */
export function fullWindow(grid: Pick<Grid, 'width' | 'height'>): PixelWindow {
  return { x: 0, y: 0, width: grid.width, height: grid.height };
}

/** The CRS extent covered by a window of a grid. */
export function windowExtent(t: GeoTransform, w: PixelWindow): Extent {
  const xa = t.x0 + w.x * t.dx;
  const xb = t.x0 + (w.x + w.width) * t.dx;
  const ya = t.y0 + w.y * t.dy;
  const yb = t.y0 + (w.y + w.height) * t.dy;
  return { minX: Math.min(xa, xb), maxX: Math.max(xa, xb), minY: Math.min(ya, yb), maxY: Math.max(ya, yb) };
}

/** The geotransform of a window's top-left corner within a grid. */
export function windowTransform(t: GeoTransform, w: Pick<PixelWindow, 'x' | 'y'>): GeoTransform {
  return { x0: t.x0 + w.x * t.dx, y0: t.y0 + w.y * t.dy, dx: t.dx, dy: t.dy };
}

/** True when a window lies wholly inside a grid. */
export function windowInside(w: PixelWindow, grid: Pick<Grid, 'width' | 'height'>): boolean {
  return w.x >= 0 && w.y >= 0 && w.width > 0 && w.height > 0 && w.x + w.width <= grid.width && w.y + w.height <= grid.height;
}

/** The overlap of two windows, or null when they do not overlap. */
export function intersectWindows(a: PixelWindow, b: PixelWindow): PixelWindow | null {
  const x = Math.max(a.x, b.x);
  const y = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.width, b.x + b.width);
  const y1 = Math.min(a.y + a.height, b.y + b.height);
  return x1 > x && y1 > y ? { x, y, width: x1 - x, height: y1 - y } : null;
}

/** Checks a window's numbers and throws a clear error when it is not a window of positive integer size. */
export function assertWindow(w: PixelWindow, what = 'window'): void {
  for (const k of ['x', 'y', 'width', 'height'] as const) {
    if (!Number.isInteger(w[k])) throw new Error(`${what}: ${k} must be an integer, got ${w[k]}`);
  }
  if (w.width <= 0 || w.height <= 0) throw new Error(`${what}: width and height must be positive, got ${w.width}x${w.height}`);
}

/** Parses "x,y,w,h" into a window. */
export function parseWindow(text: string): PixelWindow {
  const parts = text.split(',').map((s) => Number(s.trim()));
  if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) {
    throw new Error(`window must be "x,y,width,height" in fine-grid pixels, got "${text}"`);
  }
  const w = { x: parts[0], y: parts[1], width: parts[2], height: parts[3] };
  assertWindow(w);
  return w;
}

/**
 * Where a fine-grid window falls on a coarser (or equal) band grid.
 * Returns the band-pixel window that covers it (plus `margin` band pixels on each side) and the
 * exact fractional band-pixel coordinate of the fine window's top-left corner, which resamplers use to
 * place each band pixel on the fine grid (this is what handles Landsat's 7.5 m pan offset).
 */
export function bandWindowFor(
  fine: GeoTransform,
  band: GeoTransform,
  fineWindow: PixelWindow,
  margin = 0,
): { window: PixelWindow; originX: number; originY: number; scaleX: number; scaleY: number } {
  const ext = windowTransform(fine, fineWindow);
  const originX = (ext.x0 - band.x0) / band.dx;
  const originY = (ext.y0 - band.y0) / band.dy;
  const scaleX = fine.dx / band.dx;
  const scaleY = fine.dy / band.dy;
  const endX = originX + fineWindow.width * scaleX;
  const endY = originY + fineWindow.height * scaleY;
  const eps = 1e-6;
  const x = Math.floor(originX + eps) - margin;
  const y = Math.floor(originY + eps) - margin;
  const x1 = Math.ceil(endX - eps) + margin;
  const y1 = Math.ceil(endY - eps) + margin;
  return { window: { x, y, width: x1 - x, height: y1 - y }, originX, originY, scaleX, scaleY };
}
