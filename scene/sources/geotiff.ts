/**
 * GeoTIFF band sources through geotiff.js: local files and remote COGs (HTTP range requests).
 * Only the tiles or strips a window touches are read.
 */
import { stat } from 'node:fs/promises';
import { fromFile, fromUrl, type BlockedSourceOptions, type GeoTIFF, type GeoTIFFImage, type RemoteSourceOptions } from 'geotiff';
import { intersectWindows, type Crs, type GeoTransform, type Grid, type PixelWindow } from '../../raster/grid.js';
import { allocPixels, type DataType, type PixelArray } from '../../raster/types.js';
import { SceneError, type BandSource } from '../types.js';
import { useNodeZlib } from './zlib-decoder.js';

useNodeZlib();

/** Options of openGeoTiffBands. */
export interface GeoTiffOptions {
  /** Georeferencing to use when the file has none (Landsat crops georeferenced by their MTL). */
  readonly fallbackGrid?: { readonly transform: GeoTransform; readonly crs: Crs };
  /**
   * Accept a file without georeferencing: its grid gets 1-unit pixels at the origin, no EPSG code, and
   * `georeferenced: false` (crops such as the DSen2 demo data; readers rescale the nominal grid).
   */
  readonly allowUngeoreferenced?: boolean;
  /** HTTP headers for remote files (authorisation). */
  readonly headers?: Readonly<Record<string, string>>;
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

function dataTypeOf(image: GeoTIFFImage, uri: string): DataType {
  const bits = image.getBitsPerSample(0);
  const fmt = image.getSampleFormat(0) ?? 1;
  const key = `${fmt}:${bits}`;
  const map: Record<string, DataType> = {
    '1:8': 'uint8',
    '2:8': 'int8',
    '1:16': 'uint16',
    '2:16': 'int16',
    '1:32': 'uint32',
    '2:32': 'int32',
    '3:32': 'float32',
    '3:64': 'float64',
  };
  const t = map[key];
  if (!t) throw new SceneError(uri, `unsupported sample format ${fmt} with ${bits} bits per sample`);
  return t;
}

/** Reads EPSG from a GeoTIFF's GeoKeys, or null when it has none. */
function crsOf(image: GeoTIFFImage): Crs | null {
  const keys = image.getGeoKeys();
  if (!keys) return null;
  const proj = keys.ProjectedCSTypeGeoKey as number | undefined;
  if (proj && proj !== 32767) return { epsg: proj };
  const geog = keys.GeographicTypeGeoKey as number | undefined;
  if (geog && geog !== 32767) return { epsg: geog };
  return { epsg: null };
}

/** The GDAL-convention (pixel-corner) geotransform of an image, or null when it carries none. */
function transformOf(image: GeoTIFFImage): GeoTransform | null {
  const fd = image.fileDirectory as unknown as { getValue?: (k: string) => unknown } & Record<string, unknown>;
  const get = (k: string): unknown => (typeof fd.getValue === 'function' ? fd.getValue(k) : fd[k]);
  const tie = get('ModelTiepoint') as number[] | undefined;
  const scale = get('ModelPixelScale') as number[] | undefined;
  const matrix = get('ModelTransformation') as number[] | undefined;
  let t: GeoTransform;
  if (tie && scale) {
    t = { x0: tie[3] - tie[0] * scale[0], y0: tie[4] + tie[1] * scale[1], dx: scale[0], dy: -scale[1] };
  } else if (matrix) {
    if (matrix[1] !== 0 || matrix[4] !== 0) throw new Error('rotated ModelTransformation is not supported');
    t = { x0: matrix[3], y0: matrix[7], dx: matrix[0], dy: matrix[5] };
  } else {
    return null;
  }
  // GDAL shifts PixelIsPoint rasters by half a pixel so the transform addresses pixel corners.
  const keys = image.getGeoKeys();
  if (keys && keys.GTRasterTypeGeoKey === 2) {
    t = { x0: t.x0 - t.dx / 2, y0: t.y0 - t.dy / 2, dx: t.dx, dy: t.dy };
  }
  return t;
}

/**
 * Throws when a local file ends before the strips or tiles of its first image do: geotiff.js reads
 * past the end of a truncated file as zeros instead of failing.
 */
async function assertComplete(image: GeoTIFFImage, path: string): Promise<void> {
  const fd = image.fileDirectory;
  const tiled = fd.hasTag('TileOffsets');
  const offsets = (await fd.loadValue(tiled ? 'TileOffsets' : 'StripOffsets')) as ArrayLike<number | bigint> | number | undefined;
  const counts = (await fd.loadValue(tiled ? 'TileByteCounts' : 'StripByteCounts')) as ArrayLike<number | bigint> | number | undefined;
  if (offsets === undefined || counts === undefined) throw new SceneError(path, 'not a readable GeoTIFF: no strip or tile offsets');
  const o = typeof offsets === 'number' ? [offsets] : Array.from(offsets, Number);
  const c = typeof counts === 'number' ? [counts] : Array.from(counts, Number);
  let end = 0;
  for (let i = 0; i < o.length; i++) if ((c[i] ?? 0) > 0) end = Math.max(end, o[i] + c[i]);
  const size = (await stat(path)).size;
  if (end > size) throw new SceneError(path, `truncated GeoTIFF: its image data runs to byte ${end} but the file has only ${size} bytes`);
}

class GeoTiffBand implements BandSource {
  constructor(
    readonly uri: string,
    readonly grid: Grid,
    readonly dataType: DataType,
    readonly nodata: number | null,
    private readonly image: GeoTIFFImage,
    private readonly sample: number,
    private readonly release: () => Promise<void>,
    readonly description: string | null = null,
    readonly georeferenced = true,
  ) {}

  async read(window: PixelWindow, fill: number): Promise<PixelArray> {
    const out = allocPixels(this.dataType, window.width * window.height);
    const inside = intersectWindows(window, { x: 0, y: 0, width: this.grid.width, height: this.grid.height });
    if (!inside || inside.width !== window.width || inside.height !== window.height) out.fill(fill);
    if (!inside) return out;
    let raster: PixelArray;
    try {
      const r = await this.image.readRasters({
        window: [inside.x, inside.y, inside.x + inside.width, inside.y + inside.height],
        samples: [this.sample],
        interleave: true,
      });
      raster = r as unknown as PixelArray;
    } catch (e) {
      throw new SceneError(this.uri, `cannot decode window ${inside.x},${inside.y},${inside.width}x${inside.height}: ${(e as Error).message} (truncated or corrupt file?)`, { cause: e });
    }
    if (inside.width === window.width && inside.height === window.height) return raster;
    for (let r = 0; r < inside.height; r++) {
      const src = raster.subarray(r * inside.width, (r + 1) * inside.width);
      out.set(src as never, (inside.y - window.y + r) * window.width + (inside.x - window.x));
    }
    return out;
  }

  close(): Promise<void> {
    return this.release();
  }
}

function remoteOptions(options: GeoTiffOptions): RemoteSourceOptions {
  // geotiff.js 3.0.x only caches and coalesces blocks when blockSize is given.
  const o: RemoteSourceOptions & BlockedSourceOptions = {
    allowFullFile: false,
    blockSize: 65536,
    cacheSize: 256,
    headers: { ...(options.headers ?? {}) },
  };
  return o;
}

/** A sample's GDAL band description (GDAL_METADATA DESCRIPTION item), or null. */
export async function sampleDescription(image: GeoTIFFImage, sample: number): Promise<string | null> {
  try {
    const md = await image.getGDALMetadata(sample);
    const d = md?.DESCRIPTION;
    return typeof d === 'string' && d.trim() ? d.trim() : null;
  } catch {
    return null;
  }
}

/** Opens every sample of a GeoTIFF (file path or http(s) URL) as a band source. */
export async function openGeoTiffBands(uri: string, options: GeoTiffOptions = {}): Promise<BandSource[]> {
  let tiff: GeoTIFF;
  try {
    tiff = isUrl(uri)
      ? await fromUrl(uri, remoteOptions(options))
      : await fromFile(uri);
  } catch (e) {
    throw new SceneError(uri, `not a readable GeoTIFF: ${(e as Error).message}`, { cause: e });
  }
  let image: GeoTIFFImage;
  try {
    image = await tiff.getImage(0);
  } catch (e) {
    await Promise.resolve(tiff.close()).catch(() => undefined);
    throw new SceneError(uri, `not a readable GeoTIFF (bad first image directory): ${(e as Error).message}`, { cause: e });
  }
  try {
    const width = image.getWidth();
    const height = image.getHeight();
    if (!(width > 0 && height > 0)) throw new SceneError(uri, `image has no pixels (${width}x${height})`);
    const dataType = dataTypeOf(image, uri);
    let transform = transformOf(image);
    let crs = crsOf(image);
    let georeferenced = true;
    if (!transform || !crs || crs.epsg === null) {
      if (options.fallbackGrid) {
        transform = transform ?? options.fallbackGrid.transform;
        crs = crs && crs.epsg !== null ? crs : options.fallbackGrid.crs;
      } else if (options.allowUngeoreferenced) {
        transform = { x0: 0, y0: 0, dx: 1, dy: -1 };
        crs = { epsg: null };
        georeferenced = false;
      } else {
        throw new SceneError(uri, 'has no georeferencing (no GeoTIFF tiepoint/pixel scale or no EPSG code), and the product metadata gives none');
      }
    }
    if (!isUrl(uri)) await assertComplete(image, uri);
    const nodata = image.getGDALNoData();
    const grid: Grid = { width, height, transform, crs };
    const samples = image.getSamplesPerPixel();
    // One at a time: geotiff.js can lose concurrent first reads of a deferred tag.
    const descriptions: (string | null)[] = [];
    for (let sIdx = 0; sIdx < samples; sIdx++) descriptions.push(await sampleDescription(image, sIdx));
    let open = samples;
    const release = async () => {
      open -= 1;
      if (open === 0) await Promise.resolve(tiff.close()).catch(() => undefined);
    };
    return Array.from(
      { length: samples },
      (_, s) => new GeoTiffBand(samples > 1 ? `${uri}#${s + 1}` : uri, grid, dataType, nodata, image, s, release, descriptions[s], georeferenced),
    );
  } catch (e) {
    await Promise.resolve(tiff.close()).catch(() => undefined);
    if (e instanceof SceneError) throw e;
    throw new SceneError(uri, (e as Error).message, { cause: e });
  }
}

/** Opens a single-band GeoTIFF as one band source. */
export async function openGeoTiffBand(uri: string, options: GeoTiffOptions = {}): Promise<BandSource> {
  const bands = await openGeoTiffBands(uri, options);
  if (bands.length !== 1) {
    await Promise.all(bands.map((b) => b.close()));
    throw new SceneError(uri, `expected one band per file, found ${bands.length}`);
  }
  return bands[0];
}
