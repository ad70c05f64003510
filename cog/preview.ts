/**
 * Preview pairs: two PNG quicklooks of the same composite of sharpened bands with the same stretch,
 * one from the super-resolved COG and one from the scene's coarse bands upsampled bicubically onto the
 * fine grid, so a reader sees what the model added over plain interpolation.
 *
 * Both images are made the same way: fine-grid pixels of the region are area-averaged into the output
 * pixels (the COG is read from its smallest overview still at least the output size, whose pixels are
 * themselves 2x2 means of the fine grid); the per-band 2-98 percentile stretch is computed on the
 * super-resolved image and applied to both. Work is done in strips, so memory stays bounded.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fromFile, type GeoTIFFImage } from 'geotiff';
import sharp from 'sharp';
import { resamplePatch } from '../patches/upsample.js';
import { bandWindowFor, type PixelWindow } from '../raster/grid.js';
import type { PixelArray } from '../raster/types.js';
import type { SatelliteSpec } from '../satellites/spec.js';
import type { Scene } from '../scene/types.js';
import { quicklookSize } from './quicklook.js';

/** Composites tried in order, by common name: natural colour, then S2-style SWIR/NIR/red-edge, then SWIR/NIR/red. */
const COMPOSITES: readonly (readonly string[])[] = [
  ['red', 'green', 'blue'],
  ['swir22', 'nir08', 'rededge'],
  ['swir16', 'nir08', 'red'],
];

/**
 * The bands a preview pair draws, among the sharpened ones: the first composite whose three bands are
 * all sharpened (Landsat: B4,B3,B2; Sentinel-2: B12,B8A,B05), else the first three sharpened bands,
 * else the first alone (grey).
 */
export function previewBands(satellite: SatelliteSpec, sharpened: readonly string[]): string[] {
  if (sharpened.length === 0) throw new Error(`no sharpened band to preview for ${satellite.id}`);
  for (const names of COMPOSITES) {
    const ids = names.map((n) => satellite.bands.find((b) => b.commonName === n && sharpened.includes(b.id))?.id);
    if (ids.every((x): x is string => x !== undefined)) return ids;
  }
  return sharpened.length >= 3 ? sharpened.slice(0, 3) : [sharpened[0]];
}

/** Options of previewPair. */
export interface PreviewPairOptions {
  /** The scene the COG was made from (its coarse bands feed the bicubic image). */
  readonly scene: Scene;
  /** The region the COG covers, in the scene's fine-grid pixels. */
  readonly roi: PixelWindow;
  readonly cogPath: string;
  /** Band ids of the COG's bands, in order. */
  readonly cogBands: readonly string[];
  /** Bands to draw (1 or 3); default previewBands() of the sharpened bands. */
  readonly bands?: readonly string[];
  /** Bands of the COG that were sharpened (for the default choice). */
  readonly sharpened?: readonly string[];
  /** PNG of the super-resolved image. */
  readonly out: string;
  /** PNG of the bicubic image. */
  readonly outBicubic: string;
  /** Longest side in pixels (default 512). */
  readonly size?: number;
  readonly percentiles?: readonly [number, number];
}

/** What previewPair wrote. */
export interface PreviewPairResult {
  readonly out: string;
  readonly outBicubic: string;
  readonly width: number;
  readonly height: number;
  readonly bands: readonly string[];
  /** The stretch applied to both images, per band. */
  readonly stretch: readonly { readonly low: number; readonly high: number }[];
}

/** Sums and counts of fine-grid values per output pixel and band. */
class AreaMean {
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

  /** Adds rows [y0, y0+h) of a grid of srcW x srcH pixels (NaN or nodata skipped). */
  add(band: number, data: ArrayLike<number>, srcW: number, srcH: number, y0: number, h: number, nodata: number | null): void {
    const fx = this.width / srcW;
    const fy = this.height / srcH;
    const ox = new Int32Array(srcW);
    for (let c = 0; c < srcW; c++) ox[c] = Math.min(this.width - 1, Math.floor((c + 0.5) * fx));
    const sum = this.sum[band];
    const count = this.count[band];
    for (let r = 0; r < h; r++) {
      const orow = Math.min(this.height - 1, Math.floor((y0 + r + 0.5) * fy)) * this.width;
      for (let c = 0; c < srcW; c++) {
        const v = data[r * srcW + c];
        if (v !== v || v === nodata) continue;
        sum[orow + ox[c]] += v;
        count[orow + ox[c]] += 1;
      }
    }
  }

  /** Mean of one band per pixel (NaN where nothing valid fell). */
  mean(band: number): Float64Array {
    const m = new Float64Array(this.width * this.height);
    for (let i = 0; i < m.length; i++) m[i] = this.count[band][i] ? this.sum[band][i] / this.count[band][i] : Number.NaN;
    return m;
  }
}

const STRIP_PIXELS = 2 * 1024 * 1024;

/** Area-averages COG bands into the output grid, from its smallest overview at least that size. */
async function cogMeans(path: string, samples: readonly number[], width: number, height: number): Promise<AreaMean> {
  const tiff = await fromFile(path);
  try {
    let image: GeoTIFFImage = await tiff.getImage(0);
    const count = await tiff.getImageCount();
    for (let i = 1; i < count; i++) {
      const ov = await tiff.getImage(i);
      if (ov.getSamplesPerPixel() !== image.getSamplesPerPixel()) continue;
      if (ov.getWidth() >= width && ov.getHeight() >= height && ov.getWidth() < image.getWidth()) image = ov;
    }
    const nodata = image.getGDALNoData();
    const iw = image.getWidth();
    const ih = image.getHeight();
    const acc = new AreaMean(width, height, samples.length);
    const rows = Math.max(1, Math.floor(STRIP_PIXELS / iw));
    for (let y = 0; y < ih; y += rows) {
      const h = Math.min(rows, ih - y);
      const r = (await image.readRasters({ window: [0, y, iw, y + h], samples: [...samples], interleave: false })) as unknown as ArrayLike<PixelArray>;
      for (let b = 0; b < samples.length; b++) acc.add(b, r[b], iw, ih, y, h, nodata);
    }
    return acc;
  } finally {
    await Promise.resolve(tiff.close()).catch(() => undefined);
  }
}

/** Area-averages the scene's coarse bands, bicubically upsampled onto the region's fine grid, into the output grid. */
async function bicubicMeans(scene: Scene, roi: PixelWindow, bands: readonly string[], width: number, height: number): Promise<AreaMean> {
  const acc = new AreaMean(width, height, bands.length);
  const rows = Math.max(1, Math.floor(STRIP_PIXELS / roi.width));
  for (const [bi, id] of bands.entries()) {
    const band = scene.bands.find((b) => b.spec.id === id);
    if (!band) throw new Error(`scene ${scene.id} has no band ${id} to preview`);
    const g = band.source.grid;
    const nodata = band.source.nodata ?? scene.satellite.radiometry.nodata;
    for (let y = 0; y < roi.height; y += rows) {
      const h = Math.min(rows, roi.height - y);
      const fine = { x: roi.x, y: roi.y + y, width: roi.width, height: h };
      const m = bandWindowFor(scene.grid.transform, g.transform, fine, 2);
      // Clip to the band's grid: the resampler mirrors at the edges instead of reading fill values.
      const x0 = Math.max(0, m.window.x);
      const y0 = Math.max(0, m.window.y);
      const x1 = Math.min(g.width, m.window.x + m.window.width);
      const y1 = Math.min(g.height, m.window.y + m.window.height);
      const cw = x1 - x0;
      const ch = y1 - y0;
      const raw = await band.source.read({ x: x0, y: y0, width: cw, height: ch }, nodata ?? 0);
      const src = new Float32Array(raw.length);
      const mask = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) {
        const v = raw[i];
        if (v !== v || (nodata !== null && v === nodata)) mask[i] = 1;
        else src[i] = v;
      }
      const out = new Float32Array(h * roi.width);
      const place = { offsetX: m.originX - x0, offsetY: m.originY - y0, scaleX: m.scaleX, scaleY: m.scaleY };
      resamplePatch(src, ch, cw, h, roi.width, place, 'bicubic', out, 0);
      // A fine pixel whose nearest coarse pixel is nodata stays nodata.
      for (let r = 0; r < h; r++) {
        const sr = Math.min(ch - 1, Math.max(0, Math.floor(place.offsetY + (r + 0.5) * place.scaleY)));
        for (let c = 0; c < roi.width; c++) {
          const sc = Math.min(cw - 1, Math.max(0, Math.floor(place.offsetX + (c + 0.5) * place.scaleX)));
          if (mask[sr * cw + sc]) out[r * roi.width + c] = Number.NaN;
        }
      }
      acc.add(bi, out, roi.width, roi.height, y, h, null);
    }
  }
  return acc;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round((p / 100) * (sorted.length - 1))))];
}

/** Writes an RGBA (or grey + alpha) PNG of band means with a fixed stretch; transparent where any band is empty. */
async function writePng(path: string, acc: AreaMean, stretch: readonly { low: number; high: number }[]): Promise<void> {
  const n = acc.width * acc.height;
  const nb = stretch.length;
  const channels = nb + 1;
  const px = Buffer.alloc(n * channels);
  const means = stretch.map((_, b) => acc.mean(b));
  for (let i = 0; i < n; i++) {
    let ok = true;
    for (let b = 0; b < nb; b++) {
      const v = means[b][i];
      if (v !== v) {
        ok = false;
        continue;
      }
      const { low, high } = stretch[b];
      const s = Math.round(((v - low) / (high > low ? high - low : 1)) * 255);
      px[i * channels + b] = s < 0 ? 0 : s > 255 ? 255 : s;
    }
    px[i * channels + nb] = ok ? 255 : 0;
  }
  await mkdir(dirname(path), { recursive: true });
  let img = sharp(px, { raw: { width: acc.width, height: acc.height, channels: channels as 2 | 4 } });
  if (nb === 1) img = img.toColourspace('b-w');
  await img.png({ compressionLevel: 6 }).toFile(path);
}

/** Writes the super-resolved and bicubic quicklooks of the same bands with the same stretch. */
export async function previewPair(options: PreviewPairOptions): Promise<PreviewPairResult> {
  const { scene, roi } = options;
  const bands = options.bands
    ? [...options.bands]
    : previewBands(scene.satellite, options.sharpened ?? options.cogBands.filter((id) => !scene.bands.some((b) => b.spec.id === id && Math.abs(b.source.grid.transform.dx) === Math.abs(scene.grid.transform.dx))));
  if (bands.length !== 1 && bands.length !== 3) throw new Error(`a preview draws 1 band or 3, got ${bands.join(', ')}`);
  const samples = bands.map((id) => {
    const i = options.cogBands.indexOf(id);
    if (i < 0) throw new Error(`${options.cogPath}: no band ${id} to preview (bands: ${options.cogBands.join(', ')})`);
    return i;
  });
  const { width, height } = quicklookSize(roi.width, roi.height, options.size ?? 512);
  const sr = await cogMeans(options.cogPath, samples, width, height);
  const bicubic = await bicubicMeans(scene, roi, bands, width, height);
  const [pLow, pHigh] = options.percentiles ?? [2, 98];
  const stretch = bands.map((_, b) => {
    const m = sr.mean(b).filter((v) => v === v);
    m.sort();
    return m.length ? { low: percentile(m, pLow), high: percentile(m, pHigh) } : { low: 0, high: 1 };
  });
  await writePng(options.out, sr, stretch);
  await writePng(options.outBicubic, bicubic, stretch);
  return { out: options.out, outBicubic: options.outBicubic, width, height, bands, stretch };
}
