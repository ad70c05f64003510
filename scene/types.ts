/**
 * A scene is one acquisition of one satellite product: a set of bands, each on its own grid, that
 * readers open from folders, archives, URLs or STAC items. Everything downstream asks a scene for
 * windows on its finest grid.
 */
import type { Grid, PixelWindow, GeoTransform } from '../raster/grid.js';
import type { DataType, PixelArray } from '../raster/types.js';
import type { BandSpec, SatelliteSpec } from '../satellites/spec.js';

/** One band's raster, readable by window: a GeoTIFF, a JPEG 2000 file, a remote COG. */
export interface BandSource {
  /** Where the band comes from (a path or URL), for error messages and provenance. */
  readonly uri: string;
  readonly grid: Grid;
  readonly dataType: DataType;
  /** The file's own nodata value, if it declares one. */
  readonly nodata: number | null;
  /** The band's description in the file (GDAL band description), when it has one. */
  readonly description?: string | null;
  /** False when the file carried no georeferencing and the grid is only nominal. */
  readonly georeferenced?: boolean;
  /** Reads a window in this band's pixels; parts outside the grid are filled with `fill`. */
  read(window: PixelWindow, fill: number): Promise<PixelArray>;
  /** Releases file handles. */
  close(): Promise<void>;
}

/** A band of a scene: its definition and its source. */
export interface SceneBand {
  readonly spec: BandSpec;
  readonly source: BandSource;
  /** Additive DN offset announced by the product metadata (Sentinel-2 RADIO_ADD_OFFSET), 0 if none. */
  readonly dnOffset: number;
}

/** What a reader learns about the acquisition. */
export interface SceneMetadata {
  /** ISO 8601 acquisition time, when known. */
  readonly datetime?: string;
  readonly platform?: string;
  /** Sentinel-2 processing baseline such as "04.00", when known. */
  readonly processingBaseline?: string;
  readonly cloudCover?: number;
  /** Product or scene identifier as the provider names it. */
  readonly productId?: string;
  /** The STAC item the scene came from, when it came from one. */
  readonly stacItem?: Readonly<Record<string, unknown>>;
  /** Any further provider metadata worth carrying along (flat key/value pairs). */
  readonly extra?: Readonly<Record<string, string | number>>;
}

/** One band's pixels for a fine-grid window, on the band's own grid. */
export interface BandWindow {
  readonly band: string;
  readonly resolution: number;
  /** Pixels of `window`, row-major. */
  readonly data: PixelArray;
  /** The window read, in this band's pixel coordinates (may reach outside the grid when a margin was asked). */
  readonly window: PixelWindow;
  /** Geotransform of this window's top-left corner. */
  readonly transform: GeoTransform;
  /**
   * Band-pixel coordinate (in `window`'s own pixels, corner-based) of the fine window's top-left corner,
   * and band pixels per fine pixel. A fine pixel (i,j) centre lies at band-window coordinate
   * (originX + (i+0.5)*scaleX, originY + (j+0.5)*scaleY).
   */
  readonly originX: number;
  readonly originY: number;
  readonly scaleX: number;
  readonly scaleY: number;
  readonly nodata: number | null;
  readonly dnOffset: number;
}

/** Every requested band for one window of the fine grid. */
export interface SceneWindow {
  /** The window on the fine grid. */
  readonly window: PixelWindow;
  readonly transform: GeoTransform;
  readonly bands: readonly BandWindow[];
}

/** Options of Scene.readWindow. */
export interface ReadWindowOptions {
  /** Band ids to read (default: all). */
  readonly bands?: readonly string[];
  /** Extra band pixels on every side of each band's window (for resampling kernels). */
  readonly margin?: number;
}

/** An open scene. */
export interface Scene {
  /** Scene id used in output names (product id without extension). */
  readonly id: string;
  readonly satellite: SatelliteSpec;
  /** Where the scene was opened from. */
  readonly uri: string;
  readonly metadata: SceneMetadata;
  /** Bands present, in the satellite's band order. */
  readonly bands: readonly SceneBand[];
  /** The grid of the finest band: every window is given in its pixels. */
  readonly grid: Grid;
  /** Reads a window of the fine grid: every band on its own grid, aligned by geotransform. */
  readWindow(window: PixelWindow, options?: ReadWindowOptions): Promise<SceneWindow>;
  /** Releases files and removes any temporary extraction folder. */
  close(): Promise<void>;
}

/** A reader failure that names the file and the problem. */
export class SceneError extends Error {
  readonly uri: string;
  constructor(uri: string, message: string, options?: { cause?: unknown }) {
    super(`${uri}: ${message}`, options);
    this.name = 'SceneError';
    this.uri = uri;
  }
}
