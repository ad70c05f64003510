/**
 * The streaming COG writer against the real tools: every output passes GDAL's validator with
 * --full-check=yes and `rio cogeo validate --strict`, reads back pixel-identical through geotiff.js and
 * GDAL, GDAL reports the georeferencing and metadata as written, and GDAL's read of each overview
 * equals independently computed nodata-aware means.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fromFile } from 'geotiff';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CogWriter, writeCog, type CogDataType, type CogOptions, type CogResult } from '../../cog/writer.js';
import { allocPixels, BYTES_PER_SAMPLE, isFloat, type PixelArray } from '../../raster/types.js';
import { gdalInfo, gdalReadWindow, validateCogGdal, validateCogRio } from '../helpers/gdal.js';

const run = promisify(execFile);

/** Every band of one overview level as GDAL reads it (raw little-endian samples), plus dataset metadata and block sizes. */
async function gdalOverview(path: string, level: number): Promise<{ bands: Buffer[]; width: number; height: number }> {
  const code = `
import sys
from osgeo import gdal
gdal.UseExceptions()
ds = gdal.Open(sys.argv[1])
i = int(sys.argv[2])
out = sys.stdout.buffer
for k in range(ds.RasterCount):
    o = ds.GetRasterBand(k + 1).GetOverview(i)
    data = o.ReadRaster(0, 0, o.XSize, o.YSize)
    out.write(b"%d %d %d\\n" % (o.XSize, o.YSize, len(data)))
    out.write(data)
`;
  const { stdout } = await run('/usr/bin/python3', ['-c', code, path, String(level)], { encoding: 'buffer', maxBuffer: 1 << 28 });
  const bands: Buffer[] = [];
  let pos = 0;
  let width = 0;
  let height = 0;
  while (pos < stdout.length) {
    const nl = stdout.indexOf(10, pos);
    const [w, h, n] = stdout.subarray(pos, nl).toString().split(' ').map(Number);
    width = w;
    height = h;
    bands.push(stdout.subarray(nl + 1, nl + 1 + n));
    pos = nl + 1 + n;
  }
  return { bands, width, height };
}

/** GDAL's dataset metadata (default domain), the block size of every level and band 1's nodata as text. */
async function gdalExtra(path: string): Promise<{ metadata: Record<string, string>; blocks: number[][]; nodata: string }> {
  const code = `
import sys, json
from osgeo import gdal
gdal.UseExceptions()
ds = gdal.Open(sys.argv[1])
b = ds.GetRasterBand(1)
blocks = [b.GetBlockSize()] + [b.GetOverview(i).GetBlockSize() for i in range(b.GetOverviewCount())]
print(json.dumps({"metadata": ds.GetMetadata(), "blocks": blocks, "nodata": str(b.GetNoDataValue())}))
`;
  const { stdout } = await run('/usr/bin/python3', ['-c', code, path]);
  return JSON.parse(stdout) as { metadata: Record<string, string>; blocks: number[][]; nodata: string };
}

/** Independent reference for one overview step: mean of the valid pixels of each 2x2 block, whole arrays. */
function halve(src: PixelArray, w: number, h: number, nodata: number | null, dataType: CogDataType): PixelArray {
  const ow = Math.ceil(w / 2);
  const oh = Math.ceil(h / 2);
  const out = allocPixels(dataType, ow * oh);
  const float = isFloat(dataType);
  const nd = nodata === null ? null : dataType === 'float32' ? Math.fround(nodata) : nodata;
  for (let j = 0; j < oh; j++) {
    for (let i = 0; i < ow; i++) {
      let sum = 0;
      let n = 0;
      for (const [x, y] of [[2 * i, 2 * j], [2 * i + 1, 2 * j], [2 * i, 2 * j + 1], [2 * i + 1, 2 * j + 1]]) {
        if (x >= w || y >= h) continue;
        const v = src[y * w + x];
        if ((nd !== null && v === nd) || Number.isNaN(v)) continue;
        sum += v;
        n++;
      }
      const m = sum / Math.max(n, 1);
      out[j * ow + i] = n === 0 ? (nd ?? (float ? Number.NaN : 0)) : float ? m : Math.sign(m) * Math.round(Math.abs(m));
    }
  }
  return out;
}

function bytes(a: PixelArray): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

interface Case {
  name: string;
  options: CogOptions;
  planes: PixelArray[];
  /** How the test feeds the writer. */
  feed: 'tiles' | 'padded-tiles' | 'writeCog';
  gdalType: string;
  predictor: string;
}

/** A smooth field plus texture and a little noise, with nodata rectangles and a nodata corner when a nodata value is given. */
function synth(dataType: CogDataType, w: number, h: number, bands: number, nodata: number | null, seed: number): PixelArray[] {
  let s = seed;
  return Array.from({ length: bands }, (_, b) => {
    const a = allocPixels(dataType, w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        let v = 1500 + 400 * b + 600 * Math.sin(x / 97 + b) + 500 * Math.cos(y / 61) + 40 * Math.sin((x + y) / 5) + (s >>> 28);
        if (isFloat(dataType)) v = v / 10000 - 0.05 + ((s >>> 8) & 0xff) / 1e6;
        else if (dataType === 'int16') v -= 2000;
        if (nodata !== null) {
          const hole = (x > 200 && x < 420 && y > 100 && y < 333) || x + y < 150 || (b === 0 && x > w - 40);
          if (hole) v = nodata;
          else if (!isFloat(dataType) && v === nodata) v += 1;
        }
        a[y * w + x] = v;
      }
    }
    return a;
  });
}

const transform = { x0: 399960, y0: 5000040, dx: 10, dy: -10 };

const cases: Case[] = [
  {
    name: 'uint16, 4 bands, 1300x900 with nodata regions, fed tile by tile (clipped edges)',
    options: {
      width: 1300, height: 900, bands: 4, dataType: 'uint16', transform, crs: { epsg: 32633 }, nodata: 0,
      bandDescriptions: ['B02', 'B03', 'B04', 'B08'], scales: [0.0001, 0.0001, 0.0001, 0.0001], offsets: [-0.1, -0.1, -0.1, -0.1],
      metadata: { PRODUCT_TYPE: 'S2MSI2A', SR_MODEL: 'dsen2 <v1> & co' },
    },
    planes: synth('uint16', 1300, 900, 4, 0, 1),
    feed: 'tiles',
    gdalType: 'UInt16',
    predictor: '2',
  },
  {
    name: 'float32, 3 bands, 700x600, 256-pixel tiles, geographic CRS, fed as padded tiles',
    options: {
      width: 700, height: 600, bands: 3, dataType: 'float32', transform: { x0: 10.5, y0: 45.25, dx: 0.0001, dy: -0.0001 }, crs: { epsg: 4326 },
      nodata: -9999.5, tileSize: 256, bandDescriptions: ['red & <nir>', 'green', 'blue'],
    },
    planes: synth('float32', 700, 600, 3, -9999.5, 2),
    feed: 'padded-tiles',
    gdalType: 'Float32',
    predictor: '3',
  },
  {
    name: 'single band int16 1100x530 without nodata, through writeCog',
    options: { width: 1100, height: 530, bands: 1, dataType: 'int16', transform, crs: { epsg: 32632 }, scales: [0.5], offsets: [100] },
    planes: synth('int16', 1100, 530, 1, null, 3),
    feed: 'writeCog',
    gdalType: 'Int16',
    predictor: '2',
  },
  {
    name: 'a 300x200 uint8 image smaller than one tile (no overviews)',
    options: { width: 300, height: 200, bands: 2, dataType: 'uint8', transform, crs: { epsg: 32634 }, nodata: 255 },
    planes: synth('uint16', 300, 200, 2, null, 4).map((p) => Uint8Array.from(p, (v, i) => (i % 97 === 0 ? 255 : v % 250))),
    feed: 'writeCog',
    gdalType: 'Byte',
    predictor: '2',
  },
  {
    name: 'forced BigTIFF, uint16 2 bands 600x520',
    options: { width: 600, height: 520, bands: 2, dataType: 'uint16', transform, crs: { epsg: 32633 }, nodata: 0, bigtiff: 'yes' },
    planes: synth('uint16', 600, 520, 2, 0, 5),
    feed: 'tiles',
    gdalType: 'UInt16',
    predictor: '2',
  },
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cog-writer-it-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(c: Case, path: string): Promise<CogResult> {
  const { width: W, bands, tileSize = 512 } = c.options;
  if (c.feed === 'writeCog') {
    const { bands: _b, dataType: _d, ...rest } = c.options;
    return writeCog(path, c.planes, rest);
  }
  const w = await CogWriter.create(path, c.options);
  try {
    for (let pos = w.nextTile(); pos; pos = w.nextTile()) {
      const padded = c.feed === 'padded-tiles';
      const stride = padded ? tileSize : pos.width;
      const tile = Array.from({ length: bands }, (_, b) => {
        const t = allocPixels(c.options.dataType, stride * (padded ? tileSize : pos.height));
        if (padded) t.fill(7); // garbage beyond the image edge
        for (let r = 0; r < pos.height; r++) t.set(c.planes[b].subarray((pos.y + r) * W + pos.x, (pos.y + r) * W + pos.x + pos.width), r * stride);
        return t;
      });
      await w.writeTile(tile, { col: pos.col, row: pos.row });
    }
    return await w.finish();
  } catch (e) {
    await w.abort();
    throw e;
  }
}

describe.each(cases)('COG writer: $name', (c) => {
  const file = () => join(dir, `${c.options.dataType}-${c.options.width}x${c.options.height}-${c.feed}.tif`);
  let result: CogResult;
  let expectedLevels: { width: number; height: number; planes: PixelArray[] }[];

  beforeAll(async () => {
    result = await write(c, file());
    const { width, height, nodata = null, dataType } = c.options;
    expectedLevels = [{ width, height, planes: c.planes }];
    for (let i = 1; i < result.levels.length; i++) {
      const prev = expectedLevels[i - 1];
      expectedLevels.push({
        width: Math.ceil(prev.width / 2),
        height: Math.ceil(prev.height / 2),
        planes: prev.planes.map((p) => halve(p, prev.width, prev.height, nodata, dataType)),
      });
    }
  });

  it('leaves only the output file behind and picks the TIFF flavour asked for', async () => {
    const mine = (await readdir(dir)).filter((f) => f.includes(`${c.options.width}x${c.options.height}`));
    expect(mine).toEqual([file().split('/').pop()]);
    expect(result.bigtiff).toBe(c.options.bigtiff === 'yes');
  });

  it("passes GDAL's validator with --full-check=yes", async () => {
    const v = await validateCogGdal(file());
    expect(v.output).toMatch(/is a valid cloud optimized GeoTIFF/);
    expect(v.valid).toBe(true);
  });

  it('passes rio cogeo validate --strict', async () => {
    const v = await validateCogRio(file());
    expect(v.output).not.toMatch(/warning/i);
    expect(v.valid).toBe(true);
  });

  it('shows CRS, geotransform, nodata, descriptions, scale/offset, overview sizes and structure as written', async () => {
    const info = await gdalInfo(file());
    const o = c.options;
    expect([info.width, info.height, info.bands, info.dataType]).toEqual([o.width, o.height, o.bands, c.gdalType]);
    expect(info.epsg).toBe(o.crs.epsg);
    expect(info.geoTransform).toEqual([o.transform.x0, o.transform.dx, 0, o.transform.y0, 0, o.transform.dy]);
    const nd = o.nodata ?? null;
    for (const v of info.nodata) {
      if (nd !== null && Number.isNaN(nd)) expect(Number.isNaN(v as number)).toBe(true);
      else expect(v).toBe(nd);
    }
    expect(info.descriptions).toEqual(o.bandDescriptions ?? new Array(o.bands).fill(''));
    expect(info.scales).toEqual(o.scales ?? new Array(o.bands).fill(null));
    expect(info.offsets).toEqual(o.offsets ?? new Array(o.bands).fill(null));
    expect(info.overviews).toEqual(expectedLevels.slice(1).map((l) => [l.width, l.height]));
    // GDAL calls a single band's layout BAND whatever PlanarConfiguration says
    expect(info.imageStructure).toMatchObject({ LAYOUT: 'COG', COMPRESSION: 'DEFLATE', INTERLEAVE: o.bands > 1 ? 'PIXEL' : 'BAND', PREDICTOR: c.predictor });
    const extra = await gdalExtra(file());
    expect(extra.blocks).toEqual(expectedLevels.map(() => [o.tileSize ?? 512, o.tileSize ?? 512]));
    expect(extra.metadata).toMatchObject({ AREA_OR_POINT: 'Area', ...(o.metadata ?? {}) });
  });

  it('reads back pixel-identical through GDAL', async () => {
    for (let b = 0; b < c.options.bands; b++) {
      const { data } = await gdalReadWindow(file(), b + 1, 0, 0, c.options.width, c.options.height);
      expect(data.equals(bytes(c.planes[b]))).toBe(true);
    }
  });

  it('reads back pixel-identical through geotiff.js, overviews included', async () => {
    const tiff = await fromFile(file());
    expect(await tiff.getImageCount()).toBe(expectedLevels.length);
    for (let i = 0; i < expectedLevels.length; i++) {
      const img = await tiff.getImage(i);
      expect([img.getWidth(), img.getHeight()]).toEqual([expectedLevels[i].width, expectedLevels[i].height]);
      const got = (await img.readRasters({ interleave: false })) as unknown as PixelArray[];
      got.forEach((g, b) => expect(bytes(g).equals(bytes(expectedLevels[i].planes[b]))).toBe(true));
    }
  });

  it("GDAL's read of every overview equals the expected nodata-aware means", async () => {
    for (let i = 1; i < expectedLevels.length; i++) {
      const ov = await gdalOverview(file(), i - 1);
      expect([ov.width, ov.height]).toEqual([expectedLevels[i].width, expectedLevels[i].height]);
      ov.bands.forEach((g, b) => {
        const want = bytes(expectedLevels[i].planes[b]);
        expect(g.length).toBe(want.length);
        expect(g.equals(want)).toBe(true);
      });
    }
    // the reference really exercised nodata: some overview pixels of the first level are nodata, most are not
    const nd = c.options.nodata ?? null;
    if (nd !== null && expectedLevels.length > 1 && c.options.dataType === 'uint16') {
      const p = expectedLevels[1].planes[0];
      const nodataCount = p.filter((v) => v === nd).length;
      expect(nodataCount).toBeGreaterThan(0);
      expect(nodataCount).toBeLessThan(p.length / 2);
    }
    expect(BYTES_PER_SAMPLE[c.options.dataType]).toBeGreaterThan(0);
  });
});

describe('COG writer: float32 with NaN nodata', () => {
  // gdalInfo's JSON cannot carry NaN, so this case reads GDAL's view through the snippets above
  const W = 300;
  const H = 260;
  const planes = synth('float32', W, H, 2, Number.NaN, 6);
  const file = () => join(dir, 'nan-nodata.tif');
  beforeAll(async () => {
    await writeCog(file(), planes, { width: W, height: H, transform, crs: { epsg: 32633 }, nodata: Number.NaN, tileSize: 128 });
  });

  it('is a valid COG whose nodata GDAL reads as NaN and whose pixels and overviews match', async () => {
    expect((await validateCogGdal(file())).valid).toBe(true);
    const extra = await gdalExtra(file());
    expect(extra.nodata).toBe('nan');
    expect(extra.blocks).toEqual([[128, 128], [128, 128], [128, 128]]);
    for (let b = 0; b < 2; b++) {
      const { data } = await gdalReadWindow(file(), b + 1, 0, 0, W, H);
      expect(data.equals(bytes(planes[b]))).toBe(true);
    }
    let prev = { w: W, h: H, p: planes as PixelArray[] };
    for (let i = 0; i < 2; i++) {
      const next = { w: Math.ceil(prev.w / 2), h: Math.ceil(prev.h / 2), p: prev.p.map((p) => halve(p, prev.w, prev.h, Number.NaN, 'float32')) };
      const ov = await gdalOverview(file(), i);
      expect([ov.width, ov.height]).toEqual([next.w, next.h]);
      ov.bands.forEach((g, b) => expect(g.equals(bytes(next.p[b]))).toBe(true));
      prev = next;
    }
    // the NaN holes survive into the smallest overview, but do not swallow it
    const nan = Array.from(prev.p[0]).filter(Number.isNaN).length;
    expect(nan).toBeGreaterThan(0);
    expect(nan).toBeLessThan(prev.p[0].length / 2);
  });
});
