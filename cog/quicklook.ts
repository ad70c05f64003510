/**
 * Quicklooks: an 8-bit RGB (or grey) PNG or JPEG of a scene or of any GeoTIFF, written with sharp.
 *
 * The image is downsampled so its long side is at most `size` pixels by area averaging: every source
 * pixel is added to the output pixel its centre falls in (nodata skipped). Where a band's pixels are
 * larger than output pixels (a coarse band in a small image) the output pixel takes the nearest band
 * pixel instead. Sources are read in strips of rows, so memory stays bounded for large scenes; a
 * GeoTIFF with overviews is read from the smallest overview that is still at least the output size.
 * Each band gets a 2-98 percentile linear stretch computed over valid output pixels; a pixel where
 * any band is nodata is transparent in PNG and black in JPEG.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { fromFile, type GeoTIFF, type GeoTIFFImage } from 'geotiff';
import sharp from 'sharp';
import type { PixelArray } from '../raster/types.js';
import { satellites, type SatelliteRegistry } from '../satellites/registry.js';
import { matchBandId, type SatelliteSpec } from '../satellites/spec.js';
import { openScene } from '../scene/open.js';
import { sampleDescription } from '../scene/sources/geotiff.js';
import { SceneError, type Scene } from '../scene/types.js';

/** Options of the quicklook functions. */
export interface QuicklookOptions {
  /** Output file; `.png` or `.jpg`/`.jpeg` chooses the format. */
  readonly out: string;
  /**
   * One band (grey) or three (red, green, blue). For scenes: band ids. For GeoTIFFs: band descriptions
   * or 1-based band numbers. Default: the bands whose common names are red, green and blue.
   */
  readonly bands?: readonly string[];
  /** Longest side of the image in pixels (default 1024); smaller sources are not enlarged. */
  readonly size?: number;
  /** Lower and upper percentiles of the stretch (default 2 and 98). */
  readonly percentiles?: readonly [number, number];
  /** JPEG quality, 1-100 (default 85). */
  readonly quality?: number;
}

/** What a quicklook wrote. */
export interface QuicklookResult {
  readonly path: string;
  readonly width: number;
  readonly height: number;
  /** Channels in the file: 4 (RGBA PNG), 2 (grey+alpha PNG), 3 (RGB JPEG) or 1 (grey JPEG). */
  readonly channels: number;
  readonly format: 'png' | 'jpeg';
  /** The bands drawn, in channel order. */
  readonly bands: readonly string[];
}

/** The image format an output path asks for, or a clear error. */
export function quicklookFormat(out: string): 'png' | 'jpeg' {
  const ext = extname(out).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  throw new Error(`quicklook output ${out} must end in .png, .jpg or .jpeg`);
}

/** The output size for a source of width x height whose long side is limited to `size`. */
export function quicklookSize(width: number, height: number, size: number): { width: number; height: number } {
  if (!(Number.isInteger(size) && size > 0)) throw new Error(`quicklook size must be a positive integer, got ${size}`);
  const long = Math.max(width, height);
  if (long <= size) return { width, height };
  const k = size / long;
  return { width: Math.max(1, Math.round(width * k)), height: Math.max(1, Math.round(height * k)) };
}

/**
 * A satellite's default quicklook bands among those present: red, green, blue by common name; else the
 * panchromatic band alone (grey). Throws naming the bands present when neither is available.
 */
export function defaultQuicklookBands(spec: SatelliteSpec, present: readonly string[]): string[] {
  const byName = (name: string) => spec.bands.find((b) => b.commonName === name && present.includes(b.id))?.id;
  const rgb = [byName('red'), byName('green'), byName('blue')];
  if (rgb.every((b): b is string => b !== undefined)) return rgb;
  const pan = byName('pan');
  if (pan) return [pan];
  throw new Error(`no red, green and blue bands (or a pan band) among ${present.join(', ')}; choose bands with --bands`);
}

/** Maps source pixels of one block onto output pixels: output coordinate of a source pixel centre = off + (i + 0.5) * s. */
interface BlockMapping {
  readonly offX: number;
  readonly sx: number;
  readonly offY: number;
  readonly sy: number;
}

/** Sums and counts of valid source values per output pixel and band. */
class Accumulator {
  readonly sum: Float64Array[];
  readonly count: Uint32Array[];

  constructor(
    readonly width: number,
    readonly height: number,
    bands: number,
  ) {
    this.sum = Array.from({ length: bands }, () => new Float64Array(width * height));
    this.count = Array.from({ length: bands }, () => new Uint32Array(width * height));
  }

  /** Adds a w x h block of one band, touching only output rows r0 <= row < r1. */
  add(band: number, data: PixelArray, w: number, h: number, nodata: number | null, m: BlockMapping, r0: number, r1: number): void {
    const sum = this.sum[band];
    const count = this.count[band];
    const W = this.width;
    const valid = (v: number) => v === v && v !== nodata;
    if (m.sx <= 1 && m.sy <= 1) {
      // Area averaging: each source pixel goes to the output pixel holding its centre.
      const ox = new Int32Array(w);
      for (let c = 0; c < w; c++) {
        const o = Math.floor(m.offX + (c + 0.5) * m.sx);
        ox[c] = o >= 0 && o < W ? o : -1;
      }
      for (let r = 0; r < h; r++) {
        const oy = Math.floor(m.offY + (r + 0.5) * m.sy);
        if (oy < r0 || oy >= r1) continue;
        const row = r * w;
        const orow = oy * W;
        for (let c = 0; c < w; c++) {
          const o = ox[c];
          if (o < 0) continue;
          const v = data[row + c];
          if (!valid(v)) continue;
          sum[orow + o] += v;
          count[orow + o] += 1;
        }
      }
      return;
    }
    // Source pixels larger than output pixels: nearest source pixel to each output pixel centre.
    const sc = new Int32Array(W);
    for (let o = 0; o < W; o++) {
      const c = Math.floor((o + 0.5 - m.offX) / m.sx);
      sc[o] = c >= 0 && c < w ? c : -1;
    }
    for (let oy = r0; oy < r1; oy++) {
      const r = Math.floor((oy + 0.5 - m.offY) / m.sy);
      if (r < 0 || r >= h) continue;
      for (let o = 0; o < W; o++) {
        const c = sc[o];
        if (c < 0) continue;
        const v = data[r * w + c];
        if (!valid(v)) continue;
        sum[oy * W + o] = v;
        count[oy * W + o] = 1;
      }
    }
  }
}

/** The value at percentile p (0-100) of sorted values, by nearest rank. */
function percentile(sorted: Float64Array, p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))));
  return sorted[i];
}

/** Stretches the accumulated bands to 8 bits and writes the image with sharp. */
async function render(acc: Accumulator, bandNames: readonly string[], options: QuicklookOptions): Promise<QuicklookResult> {
  const format = quicklookFormat(options.out);
  const [pLow, pHigh] = options.percentiles ?? [2, 98];
  if (!(pLow >= 0 && pHigh <= 100 && pLow < pHigh)) throw new Error(`quicklook percentiles must satisfy 0 <= low < high <= 100, got ${pLow}, ${pHigh}`);
  const n = acc.width * acc.height;
  const nb = bandNames.length;
  const mask = new Uint8Array(n);
  let nValid = 0;
  for (let i = 0; i < n; i++) {
    let ok = 1;
    for (let b = 0; b < nb; b++) if (acc.count[b][i] === 0) ok = 0;
    mask[i] = ok;
    nValid += ok;
  }
  const alpha = format === 'png';
  const channels = nb + (alpha ? 1 : 0);
  const pixels = Buffer.alloc(n * channels);
  for (let b = 0; b < nb; b++) {
    const values = new Float64Array(nValid);
    const mean = new Float64Array(n);
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (!mask[i]) continue;
      const v = acc.sum[b][i] / acc.count[b][i];
      mean[i] = v;
      values[k++] = v;
    }
    values.sort();
    const lo = nValid ? percentile(values, pLow) : 0;
    const hi = nValid ? percentile(values, pHigh) : 1;
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < n; i++) {
      if (!mask[i]) continue;
      const v = Math.round(((mean[i] - lo) / span) * 255);
      pixels[i * channels + b] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  if (alpha) for (let i = 0; i < n; i++) pixels[i * channels + nb] = mask[i] ? 255 : 0;
  await mkdir(dirname(options.out), { recursive: true });
  let img = sharp(pixels, { raw: { width: acc.width, height: acc.height, channels: channels as 1 | 2 | 3 | 4 } });
  // sharp writes sRGB unless told otherwise: keep one band grey (grey+alpha PNG, one-component JPEG).
  if (nb === 1) img = img.toColourspace('b-w');
  const encoded = format === 'png' ? img.png({ compressionLevel: 6 }) : img.jpeg({ quality: options.quality ?? 85, chromaSubsampling: '4:4:4' });
  try {
    await encoded.toFile(options.out);
  } catch (e) {
    throw new Error(`cannot write quicklook ${options.out}: ${(e as Error).message}`, { cause: e });
  }
  return { path: options.out, width: acc.width, height: acc.height, channels, format, bands: bandNames };
}

/** Fine-grid pixels read per strip (per band), bounding memory for large scenes. */
const STRIP_PIXELS = 4 * 1024 * 1024;

/** Writes a quicklook of an open scene, reading it in strips of its fine grid through readWindow. */
export async function sceneQuicklook(scene: Scene, options: QuicklookOptions): Promise<QuicklookResult> {
  quicklookFormat(options.out);
  const present = scene.bands.map((b) => b.spec.id);
  let bands: string[];
  if (options.bands) {
    bands = options.bands.map((raw) => {
      const id = matchBandId(scene.satellite, raw);
      if (!id || !present.includes(id)) throw new SceneError(scene.uri, `band ${raw} is not in this scene (bands: ${present.join(', ')})`);
      return id;
    });
  } else {
    try {
      bands = defaultQuicklookBands(scene.satellite, present);
    } catch (e) {
      throw new SceneError(scene.uri, (e as Error).message);
    }
  }
  if (bands.length !== 1 && bands.length !== 3) throw new Error(`a quicklook draws 1 band (grey) or 3 (red, green, blue), got ${bands.length}: ${bands.join(', ')}`);
  const { width: W, height: H } = scene.grid;
  const out = quicklookSize(W, H, options.size ?? 1024);
  const acc = new Accumulator(out.width, out.height, bands.length);
  const fx = W / out.width;
  const fy = H / out.height;
  const fineRows = Math.max(1, Math.floor(STRIP_PIXELS / W));
  const outRowsPerStrip = Math.max(1, Math.floor(fineRows / fy));
  for (let r0 = 0; r0 < out.height; r0 += outRowsPerStrip) {
    const r1 = Math.min(out.height, r0 + outRowsPerStrip);
    const y0 = Math.max(0, Math.floor(r0 * fy));
    const y1 = Math.min(H, Math.ceil(r1 * fy));
    const sw = await scene.readWindow({ x: 0, y: y0, width: W, height: y1 - y0 }, { bands });
    for (const bw of sw.bands) {
      const b = bands.indexOf(bw.band);
      // Band-window pixel centre c+0.5 lies at fine-window coordinate (c+0.5-originX)/scaleX.
      const m: BlockMapping = {
        sx: 1 / (bw.scaleX * fx),
        offX: -bw.originX / (bw.scaleX * fx),
        sy: 1 / (bw.scaleY * fy),
        offY: y0 / fy - bw.originY / (bw.scaleY * fy),
      };
      acc.add(b, bw.data, bw.window.width, bw.window.height, bw.nodata, m, r0, r1);
    }
  }
  return render(acc, bands, options);
}

/** True when an IFD is a transparency mask rather than an image or overview. */
function isMask(image: GeoTIFFImage): boolean {
  try {
    const t = image.fileDirectory.hasTag('NewSubfileType') ? Number(image.fileDirectory.getValue('NewSubfileType')) : 0;
    return (t & 4) !== 0;
  } catch {
    return false;
  }
}

/**
 * Picks GeoTIFF samples (0-based) for a quicklook: requested descriptions or 1-based numbers; else
 * red, green and blue of a satellite whose band ids (or common names) the descriptions carry; else
 * samples 1-3, or sample 1 alone when there are fewer than three.
 */
export function pickGeoTiffSamples(
  descriptions: readonly (string | null)[],
  requested: readonly string[] | undefined,
  specs: readonly SatelliteSpec[],
  uri: string,
): number[] {
  const shown = descriptions.map((d, i) => `${i + 1}${d ? ` (${d})` : ''}`).join(', ');
  if (requested) {
    return requested.map((raw) => {
      const byDesc = descriptions.findIndex((d) => d !== null && d.toLowerCase() === raw.toLowerCase());
      if (byDesc >= 0) return byDesc;
      if (/^\d+$/.test(raw)) {
        const n = Number(raw);
        if (n >= 1 && n <= descriptions.length) return n - 1;
      }
      throw new SceneError(uri, `has no band "${raw}" (bands: ${shown})`);
    });
  }
  for (const spec of specs) {
    const find = (name: string): number => {
      const band = spec.bands.find((b) => b.commonName === name);
      if (!band) return -1;
      return descriptions.findIndex((d) => d !== null && (matchBandId(spec, d) === band.id || d.toLowerCase() === name));
    };
    const rgb = [find('red'), find('green'), find('blue')];
    if (rgb.every((i) => i >= 0)) return rgb;
  }
  return descriptions.length >= 3 ? [0, 1, 2] : [0];
}

/** Options of geotiffQuicklook besides the common ones. */
export interface GeoTiffQuicklookOptions extends QuicklookOptions {
  /** Satellite whose band ids are tried first when matching band descriptions to red, green and blue. */
  readonly satellite?: SatelliteSpec;
  readonly registry?: SatelliteRegistry;
}

/** Writes a quicklook of any GeoTIFF geotiff.js reads, from its smallest sufficient overview, in strips. */
export async function geotiffQuicklook(path: string, options: GeoTiffQuicklookOptions): Promise<QuicklookResult> {
  quicklookFormat(options.out);
  let tiff: GeoTIFF;
  try {
    tiff = await fromFile(path);
  } catch (e) {
    throw new SceneError(path, `not a readable GeoTIFF: ${(e as Error).message}`, { cause: e });
  }
  try {
    let image: GeoTIFFImage;
    let count: number;
    try {
      image = await tiff.getImage(0);
      count = await tiff.getImageCount();
    } catch (e) {
      throw new SceneError(path, `not a readable GeoTIFF (bad image directory): ${(e as Error).message}`, { cause: e });
    }
    const W = image.getWidth();
    const H = image.getHeight();
    const samples = image.getSamplesPerPixel();
    if (!(W > 0 && H > 0 && samples > 0)) throw new SceneError(path, `image has no pixels (${W}x${H}, ${samples} samples)`);
    // One at a time: geotiff.js 3.0 loses concurrent loads of the same deferred tag.
    const descriptions: (string | null)[] = [];
    for (let s = 0; s < samples; s++) descriptions.push(await sampleDescription(image, s));
    const registry = options.registry ?? satellites();
    const specs = options.satellite ? [options.satellite, ...registry.list()] : registry.list();
    const picked = pickGeoTiffSamples(descriptions, options.bands, specs, path);
    if (picked.length !== 1 && picked.length !== 3) {
      throw new Error(`a quicklook draws 1 band (grey) or 3 (red, green, blue), got ${picked.length}`);
    }
    const names = picked.map((s) => descriptions[s] ?? String(s + 1));
    const nodata = image.getGDALNoData();
    const out = quicklookSize(W, H, options.size ?? 1024);

    // The smallest overview still at least as large as the output, so pixels are still averaged.
    let source = image;
    for (let i = 1; i < count; i++) {
      const ov = await tiff.getImage(i);
      if (isMask(ov) || ov.getSamplesPerPixel() !== samples) continue;
      if (ov.getWidth() >= out.width && ov.getHeight() >= out.height && ov.getWidth() < source.getWidth()) source = ov;
    }
    const iw = source.getWidth();
    const ih = source.getHeight();
    const acc = new Accumulator(out.width, out.height, picked.length);
    const fy = ih / out.height;
    const rows = Math.max(1, Math.floor(STRIP_PIXELS / iw));
    const outRowsPerStrip = Math.max(1, Math.floor(rows / fy));
    for (let r0 = 0; r0 < out.height; r0 += outRowsPerStrip) {
      const r1 = Math.min(out.height, r0 + outRowsPerStrip);
      const y0 = Math.max(0, Math.floor(r0 * fy));
      const y1 = Math.min(ih, Math.ceil(r1 * fy));
      let rasters: PixelArray[];
      try {
        const r = await source.readRasters({ window: [0, y0, iw, y1], samples: picked, interleave: false });
        rasters = Array.from(r as unknown as ArrayLike<PixelArray>);
      } catch (e) {
        throw new SceneError(path, `cannot decode rows ${y0}..${y1}: ${(e as Error).message} (truncated or corrupt file?)`, { cause: e });
      }
      const m: BlockMapping = { offX: 0, sx: out.width / iw, offY: y0 / fy, sy: 1 / fy };
      rasters.forEach((data, b) => acc.add(b, data, iw, y1 - y0, nodata, m, r0, r1));
    }
    return await render(acc, names, options);
  } finally {
    await Promise.resolve(tiff.close()).catch(() => undefined);
  }
}

/** Options of quicklook(): the common ones plus how to open scenes. */
export interface QuicklookInputOptions extends QuicklookOptions {
  /** --satellite: a definition id or JSON file. */
  readonly satellite?: string;
}

/**
 * Writes a quicklook of any input: a `.tif`/`.tiff` file is drawn as a GeoTIFF (choosing bands by
 * description or number), anything else is opened as a scene.
 */
export async function quicklook(input: string, options: QuicklookInputOptions): Promise<QuicklookResult> {
  quicklookFormat(options.out);
  let isFile = false;
  try {
    isFile = (await stat(input)).isFile();
  } catch {
    /* openScene reports missing inputs */
  }
  if (isFile && /\.tiff?$/i.test(input)) {
    const registry = satellites();
    const { satellite, ...common } = options;
    return geotiffQuicklook(input, { ...common, registry, ...(satellite ? { satellite: registry.resolve(satellite) } : {}) });
  }
  const scene = await openScene(input, options.satellite ? { satellite: options.satellite } : {});
  try {
    return await sceneQuicklook(scene, options);
  } finally {
    await scene.close();
  }
}
