import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PixelWindow } from '../../raster/grid.js';
import { satellites } from '../../satellites/registry.js';
import { openScene } from '../../scene/open.js';
import { assetKeyFor, declaredDnOffset, detectItemSatellite, resolveAssetHref, stacItemReader } from '../../scene/readers/stac-item.js';
import { openGeoTiffBand } from '../../scene/sources/geotiff.js';
import { SceneError, type BandWindow, type Scene } from '../../scene/types.js';
import { dataPath, missingData } from '../helpers/data.js';
import { gdalInfo, gdalReadWindow } from '../helpers/gdal.js';
import { startStaticServer, type StaticServer } from '../helpers/http-server.js';

const run = promisify(execFile);
const S2 = 'riotilerpds-s2l2a-29RKH-decimated10x';
const SAT = 'sattestdata-l8-LC80200392015216';
const ITEM = 'S2A_29RKH_20200219_0_L2A.json';

type Json = Record<string, unknown>;

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sharpstream-stac-test-'));
  tmpDirs.push(d);
  return d;
}
const servers: StaticServer[] = [];
async function serve(root: string | null, options: Parameters<typeof startStaticServer>[1] = {}): Promise<StaticServer> {
  const s = await startStaticServer(root, options);
  servers.push(s);
  return s;
}
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** The fixture item with each asset href rewritten from its remote file name. */
function fixtureItem(href: (file: string) => string): Json {
  const item = JSON.parse(readFileSync(dataPath(S2, ITEM), 'utf8')) as Json;
  for (const a of Object.values(item.assets as Record<string, Json>)) {
    const h = a.href as string;
    if (h.startsWith('https://')) a.href = href(h.slice(h.lastIndexOf('/') + 1));
  }
  return item;
}

/** The in-grid part of a band window, row-major. */
function inside(b: BandWindow, width: number, height: number): { grid: PixelWindow; data: number[] } {
  const x0 = Math.max(0, b.window.x);
  const y0 = Math.max(0, b.window.y);
  const x1 = Math.min(width, b.window.x + b.window.width);
  const y1 = Math.min(height, b.window.y + b.window.height);
  const data: number[] = [];
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data.push(b.data[(y - b.window.y) * b.window.width + (x - b.window.x)]);
  return { grid: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, data };
}

async function gdalU16(path: string, w: PixelWindow): Promise<number[]> {
  const r = await gdalReadWindow(path, 1, w.x, w.y, w.width, w.height);
  expect(r.dataType).toBe('UInt16');
  return [...new Uint16Array(new Uint8Array(r.data).buffer)];
}

/** Every band of a scene window equals GDAL reading the local file that the band's asset serves. */
async function expectEqualsGdal(scene: Scene, w: PixelWindow, localFile: (bandUri: string) => string, margin = 0, bands?: string[]): Promise<void> {
  const sw = await scene.readWindow(w, { margin, ...(bands ? { bands } : {}) });
  expect(sw.bands.length).toBe(bands ? bands.length : scene.bands.length);
  for (const b of sw.bands) {
    const src = scene.bands.find((x) => x.spec.id === b.band)!.source;
    const part = inside(b, src.grid.width, src.grid.height);
    expect(part.data.length).toBeGreaterThan(0);
    expect(part.data, `${b.band} ${JSON.stringify(part.grid)}`).toEqual(await gdalU16(localFile(src.uri), part.grid));
  }
}

async function expectOpenError(input: string, pattern: RegExp): Promise<void> {
  const r = await openScene(input).then(
    async (s) => {
      await s.close();
      return null;
    },
    (e: unknown) => e,
  );
  expect(r).toBeInstanceOf(SceneError);
  expect((r as Error).message).toMatch(pattern);
}

describe('the test HTTP server', () => {
  it('honours single, suffix and multiple ranges (multipart/byteranges), and counts the bytes it serves', async () => {
    const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const srv = await serve(null, { files: { '/f.bin': body } });
    const one = await fetch(`${srv.url}/f.bin`, { headers: { Range: 'bytes=10-19' } });
    expect(one.status).toBe(206);
    expect(one.headers.get('content-range')).toBe('bytes 10-19/1000');
    expect(Buffer.from(await one.arrayBuffer()).equals(body.subarray(10, 20))).toBe(true);
    const suffix = await fetch(`${srv.url}/f.bin`, { headers: { Range: 'bytes=-5' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(body.subarray(995))).toBe(true);
    const multi = await fetch(`${srv.url}/f.bin`, { headers: { Range: 'bytes=0-3,500-509' } });
    expect(multi.status).toBe(206);
    const boundary = /boundary=(\S+)/.exec(multi.headers.get('content-type') ?? '')![1];
    const text = Buffer.from(await multi.arrayBuffer()).toString('latin1');
    const parts = text.split(`--${boundary}`).slice(1, -1);
    expect(parts.map((p) => /Content-Range: (.*)\r\n/.exec(p)![1])).toEqual(['bytes 0-3/1000', 'bytes 500-509/1000']);
    expect(Buffer.from(parts[1].split('\r\n\r\n')[1].slice(0, 10), 'latin1').equals(body.subarray(500, 510))).toBe(true);
    expect((await fetch(`${srv.url}/f.bin`, { headers: { Range: 'bytes=2000-' } })).status).toBe(416);
    expect((await fetch(`${srv.url}/missing`)).status).toBe(404);
    expect(srv.bytesServedFor('/f.bin')).toBe(10 + 5 + Number(multi.headers.get('content-length')));
    expect(srv.requests.filter((r) => r.path === '/f.bin').map((r) => r.status)).toEqual([206, 206, 206, 416]);
  });
});

describe.skipIf(missingData([S2]))('STAC item of the rio-tiler-pds Sentinel-2 L2A tile, assets served over HTTP', () => {
  const dir = dataPath(S2);
  let srv: StaticServer;
  let scene: Scene;
  const local = (uri: string) => join(dir, new URL(uri).pathname.slice(1));

  beforeAll(async () => {
    srv = await serve(dir);
    // The item served next to its assets, with relative hrefs (resolved against the item's URL).
    srv.setFile('/item.json', JSON.stringify(fixtureItem((f) => f)));
    scene = await openScene(`${srv.url}/item.json`);
  });
  afterAll(async () => scene?.close());

  it('picks Sentinel-2 L2A from the collection and maps the Earth Search asset keys to bands', async () => {
    expect(await stacItemReader.accepts(`${srv.url}/item.json`)).toBe(true);
    expect(scene.id).toBe('S2A_29RKH_20200219_0_L2A');
    expect(scene.satellite.id).toBe('sentinel-2-l2a');
    const files = Object.fromEntries(scene.bands.map((b) => [b.spec.id, new URL(b.source.uri).pathname]));
    expect(files).toEqual({
      B01: '/B01.tif', B02: '/B02.tif', B03: '/B03.tif', B04: '/B04.tif', B05: '/B05.tif', B06: '/B06.tif',
      B07: '/B07.tif', B08: '/B08.tif', B8A: '/B8A.tif', B09: '/B09.tif', B11: '/B11.tif', B12: '/B12.tif',
    });
    expect(scene.metadata).toMatchObject({
      datetime: '2020-02-19T11:34:25.405000Z',
      platform: 'sentinel-2a',
      cloudCover: 4.051854,
      processingBaseline: '02.14',
      productId: 'S2A_29RKH_20200219_0_L2A',
    });
    expect(scene.metadata.stacItem?.id).toBe('S2A_29RKH_20200219_0_L2A');
    // Baseline 02.14 and a declared offset of 0: no DN offset.
    expect(scene.bands.every((b) => b.dnOffset === 0)).toBe(true);
  });

  it('takes its grids from the COGs, as GDAL reports them (not from the item\'s full-tile proj:shape)', async () => {
    for (const id of ['B02', 'B05', 'B01']) {
      const src = scene.bands.find((b) => b.spec.id === id)!.source;
      const g = await gdalInfo(local(src.uri));
      expect([src.grid.transform.x0, src.grid.transform.dx, 0, src.grid.transform.y0, 0, src.grid.transform.dy]).toEqual(g.geoTransform);
      expect([src.grid.width, src.grid.height, src.grid.crs.epsg, src.nodata]).toEqual([g.width, g.height, g.epsg, g.nodata[0]]);
    }
    expect(scene.grid.width).toBe(1098);
  });

  it('reads the same values as GDAL for every band, inside and over the tile edge', async () => {
    await expectEqualsGdal(scene, { x: 517, y: 301, width: 24, height: 18 }, local, 1);
    await expectEqualsGdal(scene, { x: 1090, y: 1080, width: 12, height: 24 }, local, 0, ['B04', 'B12', 'B09']);
  });

  it('reads a small window with range requests: a fraction of each COG, never a whole file', async () => {
    srv.reset();
    await scene.readWindow({ x: 600, y: 600, width: 32, height: 32 }, { bands: ['B02', 'B05'] });
    const b02 = statSync(join(dir, 'B02.tif')).size;
    expect(srv.bytesServedFor('/B02.tif')).toBeGreaterThan(0);
    // One 512x512 tile of the 3x3 (plus overviews) in the 10 m band.
    expect(srv.bytesServedFor('/B02.tif')).toBeLessThan(b02 / 4);
    expect(srv.requests.length).toBeGreaterThan(0);
    expect(srv.requests.every((r) => r.range !== null && r.status === 206)).toBe(true);
  });

  it('opens a local item file whose hrefs point at the server, and one whose relative hrefs point at local files', async () => {
    const d = tmp();
    const remote = join(d, 'remote-item.json');
    writeFileSync(remote, JSON.stringify(fixtureItem((f) => `${srv.url}/${f}`)));
    const localItem = join(d, 'local-item.json');
    writeFileSync(localItem, JSON.stringify(fixtureItem((f) => relative(d, join(dir, f)))));
    for (const path of [remote, localItem]) {
      expect(await stacItemReader.accepts(path)).toBe(true);
      const s = await openScene(path);
      try {
        expect(s.satellite.id).toBe('sentinel-2-l2a');
        expect(s.bands.length).toBe(12);
        expect(s.uri).toBe(path);
        await expectEqualsGdal(s, { x: 100, y: 200, width: 16, height: 16 }, (uri) => (uri.startsWith('http') ? local(uri) : uri), 0, ['B03', 'B8A', 'B01']);
      } finally {
        await s.close();
      }
    }
  });
});

describe.skipIf(missingData([S2]))('Earth Search-style items', () => {
  const dir = dataPath(S2);
  const byKey: Record<string, string> = {
    coastal: 'B01', blue: 'B02', green: 'B03', red: 'B04', rededge1: 'B05', rededge2: 'B06', rededge3: 'B07',
    nir: 'B08', nir08: 'B8A', nir09: 'B09', swir16: 'B11', swir22: 'B12',
  };
  let srv: StaticServer;
  beforeAll(async () => {
    srv = await serve(dir);
  });

  /** A Collection-1 style item: common-name keys, decoy -jp2 keys, offsets declared and not applied. */
  function c1Item(extra: Json = {}, props: Json = {}): Json {
    const assets: Json = {};
    for (const [key, band] of Object.entries(byKey)) {
      assets[key] = { href: `${srv.url}/${band}.tif`, type: 'image/tiff; application=geotiff; profile=cloud-optimized', 'raster:bands': [{ nodata: 0, data_type: 'uint16', scale: 0.0001, offset: -0.1 }] };
      assets[`${key}-jp2`] = { href: `s3://sentinel-s2-l2a/${band}.jp2`, type: 'image/jp2' };
    }
    return {
      type: 'Feature',
      stac_version: '1.0.0',
      id: 'S2B_T29RKH_20240219T112111_L2A',
      collection: 'sentinel-2-c1-l2a',
      properties: { datetime: '2024-02-19T11:34:25Z', platform: 'sentinel-2b', constellation: 'sentinel-2', 'eo:cloud_cover': 1.5, 's2:processing_baseline': '05.10', ...props },
      geometry: null,
      links: [],
      assets: { ...assets, ...extra },
    };
  }

  it('maps common-name keys to bands and takes the declared -1000 DN offset', async () => {
    const d = tmp();
    const p = join(d, 'c1.json');
    writeFileSync(p, JSON.stringify(c1Item()));
    const s = await openScene(p);
    try {
      expect(s.satellite.id).toBe('sentinel-2-l2a');
      for (const b of s.bands) expect(new URL(b.source.uri).pathname).toBe(`/${b.spec.id}.tif`);
      expect(s.bands.map((b) => b.dnOffset)).toEqual(Array(12).fill(-1000));
      expect(s.metadata).toMatchObject({ processingBaseline: '05.10', platform: 'sentinel-2b', cloudCover: 1.5 });
      expect(s.metadata.extra).toMatchObject({ collection: 'sentinel-2-c1-l2a', 'raster:scale_B05': 0.0001, 'raster:offset_B05': -0.1 });
    } finally {
      await s.close();
    }
  });

  it('falls back to the baseline rule when no offset is declared, and takes a declared 0 as applied', () => {
    const spec = satellites().get('sentinel-2-l2a');
    expect(declaredDnOffset(spec, { 'raster:bands': [{ scale: 0.0001, offset: -0.1 }] })).toBe(-1000);
    expect(declaredDnOffset(spec, { 'raster:bands': [{ scale: 0.0001, offset: 0 }] })).toBe(0);
    expect(declaredDnOffset(spec, { 'raster:bands': [{ scale: 0.0001 }] })).toBeUndefined();
    expect(declaredDnOffset(spec, {})).toBeUndefined();
    // Another scale means other DN units: the offset is not carried over.
    expect(declaredDnOffset(satellites().get('landsat-c2-l1'), { 'raster:bands': [{ scale: 2.75e-5, offset: -0.2 }] })).toBeUndefined();
    expect(declaredDnOffset(satellites().get('landsat-c2-l2'), { 'raster:bands': [{ scale: 2.75e-5, offset: -0.2 }] })).toBe(0);
  });

  it('opens when no offset is declared, using the processing-baseline rule', async () => {
    const item = c1Item();
    for (const a of Object.values(item.assets as Record<string, Json>)) delete a['raster:bands'];
    const d = tmp();
    writeFileSync(join(d, 'new.json'), JSON.stringify(item));
    writeFileSync(join(d, 'old.json'), JSON.stringify({ ...item, properties: { ...(item.properties as Json), 's2:processing_baseline': '03.01' } }));
    const [newer, older] = [await openScene(join(d, 'new.json')), await openScene(join(d, 'old.json'))];
    try {
      expect(newer.bands.every((b) => b.dnOffset === -1000)).toBe(true);
      expect(older.bands.every((b) => b.dnOffset === 0)).toBe(true);
    } finally {
      await Promise.all([newer.close(), older.close()]);
    }
  });

  it('maps legacy B01..B12 keys (sentinel-s2-l2a-cogs)', async () => {
    const assets: Json = {};
    for (const band of Object.values(byKey)) assets[band] = { href: `${srv.url}/${band}.tif` };
    const item = { type: 'Feature', id: 'S2A_29RKH_20200219_0_L2A', collection: 'sentinel-s2-l2a-cogs', properties: { datetime: '2020-02-19T11:34:25Z' }, assets };
    const d = tmp();
    writeFileSync(join(d, 'legacy.json'), JSON.stringify(item));
    const s = await openScene(join(d, 'legacy.json'));
    try {
      expect(s.satellite.id).toBe('sentinel-2-l2a');
      expect(s.bands.length).toBe(12);
    } finally {
      await s.close();
    }
  });

  it('detects the definition from collection, product type, processing level or --satellite', () => {
    const reg = { registry: satellites() };
    const item = (props: Json, collection?: string): Json => ({ type: 'Feature', id: 'x', ...(collection ? { collection } : {}), properties: props, assets: {} });
    expect(detectItemSatellite('i', item({}, 'sentinel-2-c1-l2a'), reg).id).toBe('sentinel-2-l2a');
    expect(detectItemSatellite('i', item({ constellation: 'sentinel-2', 's2:product_type': 'S2MSI1C' }), reg).id).toBe('sentinel-2-l1c');
    expect(detectItemSatellite('i', item({ platform: 'sentinel-2a', 'processing:level': 'L2A' }), reg).id).toBe('sentinel-2-l2a');
    expect(detectItemSatellite('i', item({}, 'landsat-c2-l2'), reg).id).toBe('landsat-c2-l2');
    expect(detectItemSatellite('i', item({}, 'sentinel-2-c1-l2a'), { ...reg, satellite: 'sentinel-2-l1c' }).id).toBe('sentinel-2-l1c');
    expect(() => detectItemSatellite('i', item({ platform: 'worldview-3' }, 'maxar'), reg)).toThrow(/cannot tell which satellite.*STAC collection "maxar"/);
  });

  it('prefers the definition\'s asset keys in order, then the band id in any case', () => {
    const s2 = satellites().get('sentinel-2-l2a');
    const b05 = s2.bands.find((b) => b.id === 'B05')!;
    expect(assetKeyFor(s2, b05, { B05: {}, rededge1: {} })).toBe('rededge1');
    expect(assetKeyFor(s2, b05, { b05: {} })).toBe('b05');
    expect(assetKeyFor(s2, b05, { rededge: {} })).toBeNull();
  });
});

describe.skipIf(missingData([SAT]))('Landsat Collection 2 Level-2 items', () => {
  const dir = dataPath(SAT);
  const item = (withPan: boolean): Json => {
    const keys: Record<string, string> = { coastal: 'B1', blue: 'B2', green: 'B3', red: 'B4', nir08: 'B5', swir16: 'B6', swir22: 'B7', ...(withPan ? { pan: 'B8' } : {}) };
    const assets: Json = {};
    for (const [k, b] of Object.entries(keys)) assets[k] = { href: join(dir, `l8_${b}.tif`), 'raster:bands': [{ scale: 2.75e-5, offset: -0.2 }] };
    assets.lwir11 = { href: join(dir, 'l8_B10.tif') };
    return {
      type: 'Feature',
      id: 'LC08_L2SP_020039_20150804_02_T1',
      collection: 'landsat-c2-l2',
      properties: { datetime: '2015-08-04T16:19:21Z', platform: 'landsat-8', 'eo:cloud_cover': 11.08, 'landsat:correction': 'L2SP' },
      assets,
    };
  };

  it('says clearly that Level-2 items carry no pan band', async () => {
    const d = tmp();
    writeFileSync(join(d, 'l2.json'), JSON.stringify(item(false)));
    await expectOpenError(join(d, 'l2.json'), /has no panchromatic asset for band B8, which guides the sharpening: Level-2 products carry no pan band; add a "pan" asset/);
  });

  it('opens with a pan asset from Level-1, with the offsets declared as applied to the definition', async () => {
    const d = tmp();
    writeFileSync(join(d, 'l2pan.json'), JSON.stringify(item(true)));
    const s = await openScene(join(d, 'l2pan.json'));
    try {
      expect(s.satellite.id).toBe('landsat-c2-l2');
      expect(s.bands.map((b) => b.spec.id)).toEqual(['SR_B1', 'SR_B2', 'SR_B3', 'SR_B4', 'SR_B5', 'SR_B6', 'SR_B7', 'B8']);
      expect(s.grid.transform).toEqual({ x0: 452467.5, y0: 3408652.5, dx: 15, dy: -15 });
      expect(s.bands.every((b) => b.dnOffset === 0)).toBe(true);
      expect(s.metadata).toMatchObject({ platform: 'landsat-8', cloudCover: 11.08 });
    } finally {
      await s.close();
    }
  });
});

describe.skipIf(missingData([S2]))('bad STAC input', () => {
  const dir = dataPath(S2);

  it('names malformed JSON, non-items, items without assets', async () => {
    const d = tmp();
    const cases: [string, string, RegExp][] = [
      ['broken.json', '{"type": "Feature", "assets": {', /broken\.json: is not valid JSON/],
      ['array.json', '[1, 2]', /is not a STAC item \(the JSON is not an object\)/],
      ['collection.json', JSON.stringify({ type: 'Collection', id: 'c' }), /is not a STAC item \(type is "Collection", expected "Feature"\)/],
      ['two.json', JSON.stringify({ type: 'FeatureCollection', features: [{}, {}] }), /ItemCollection of 2 items/],
      ['noprops.json', JSON.stringify({ type: 'Feature', assets: { blue: { href: 'B02.tif' } } }), /no "properties" object/],
      ['noassets.json', JSON.stringify({ type: 'Feature', id: 'x', properties: {}, assets: {} }), /noassets\.json: STAC item has no assets/],
      ['nobands.json', JSON.stringify({ type: 'Feature', id: 'x', collection: 'sentinel-2-l2a', properties: {}, assets: { thumbnail: { href: 't.jpg' } } }), /missing bands: group 20m lacks/],
    ];
    for (const [name, text, msg] of cases) {
      writeFileSync(join(d, name), text);
      await expectOpenError(join(d, name), msg);
    }
    const srv = await serve(null, { files: { '/broken.json': '{"type":' } });
    await expectOpenError(`${srv.url}/broken.json`, /broken\.json: is not valid JSON/);
    await expectOpenError(`${srv.url}/nothing.json`, /nothing\.json: cannot fetch STAC item: HTTP 404/);
  });

  it('names an asset that is missing (404), not a TIFF, on s3://, or behind a server that ignores Range', async () => {
    const srv = await serve(dir, { files: { '/notes.tif': 'this is plain text, not a TIFF' } });
    const withAsset = (key: string, href: string): string => {
      const item = fixtureItem((f) => `${srv.url}/${f}`);
      (item.assets as Record<string, Json>)[key].href = href;
      srv.setFile(`/${key}.json`, JSON.stringify(item));
      return `${srv.url}/${key}.json`;
    };
    await expectOpenError(withAsset('red', `${srv.url}/gone/B04.tif`), /gone\/B04\.tif: asset "red" cannot be fetched: HTTP 404/);
    await expectOpenError(withAsset('green', `${srv.url}/notes.tif`), /notes\.tif: asset "green" is not a TIFF \(it starts with "this is "\)/);
    await expectOpenError(withAsset('blue', 's3://sentinel-cogs/B02.tif'), /asset "blue" \(band B02\): .*s3:\/\/ is not supported/);

    const noRange = await serve(dir, { ignoreRange: true });
    const item = fixtureItem((f) => `${noRange.url}/${f}`);
    noRange.setFile('/item.json', JSON.stringify(item));
    await expectOpenError(`${noRange.url}/item.json`, /the server ignores HTTP Range requests \(answered 200 with the whole \d+-byte file to a request for 8 bytes\)/);
    await new Promise((r) => setTimeout(r, 200));
    // The reader gave up on each asset at once instead of downloading it.
    const total = Object.values(byName(dir)).reduce((a, b) => a + b, 0);
    const served = noRange.bytesServed() - noRange.bytesServedFor('/item.json');
    expect(served).toBeLessThan(total / 3);
  });

  it('resolves hrefs: absolute URLs, relative to a URL or a file, file:// URLs', () => {
    expect(resolveAssetHref('B02.tif', 'https://h/a/b/item.json')).toBe('https://h/a/b/B02.tif');
    expect(resolveAssetHref('../c/B02.tif', 'https://h/a/b/item.json')).toBe('https://h/a/c/B02.tif');
    expect(resolveAssetHref('https://x/y.tif', '/data/item.json')).toBe('https://x/y.tif');
    expect(resolveAssetHref('sub/B02.tif', '/data/items/item.json')).toBe('/data/items/sub/B02.tif');
    expect(resolveAssetHref('file:///data/B02.tif', '/other/item.json')).toBe('/data/B02.tif');
    expect(() => resolveAssetHref('s3://bucket/B02.tif', '/data/item.json')).toThrow(/s3:\/\/ is not supported/);
  });
});

/** Sizes of the .tif files of a folder, by name. */
function byName(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B11', 'B12']) out[f] = statSync(join(dir, `${f}.tif`)).size;
  return out;
}

describe('range reads of a large COG', () => {
  it('fetches only a small fraction of the file for a small window, with the same values as GDAL', async () => {
    const d = tmp();
    const cog = join(d, 'big.tif');
    const code = `
import sys
import numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
a = np.random.RandomState(7).randint(0, 10000, (2048, 2048)).astype('uint16')
mem = gdal.GetDriverByName('MEM').Create('', 2048, 2048, 1, gdal.GDT_UInt16)
mem.GetRasterBand(1).WriteArray(a)
mem.SetGeoTransform([500000, 10, 0, 4000000, 0, -10])
srs = osr.SpatialReference(); srs.ImportFromEPSG(32633)
mem.SetProjection(srs.ExportToWkt())
gdal.GetDriverByName('COG').CreateCopy(sys.argv[1], mem, options=['BLOCKSIZE=256', 'COMPRESS=DEFLATE'])
`;
    await run('/usr/bin/python3', ['-c', code, cog]);
    const size = statSync(cog).size;
    expect(size).toBeGreaterThan(5_000_000);
    const srv = await serve(d);
    const band = await openGeoTiffBand(`${srv.url}/big.tif`);
    try {
      const w = { x: 1000, y: 1100, width: 64, height: 64 };
      const data = await band.read(w, 0);
      expect([...data]).toEqual(await gdalU16(cog, w));
      const fraction = srv.bytesServed() / size;
      expect(fraction).toBeGreaterThan(0);
      expect(fraction).toBeLessThan(0.05);
      expect(srv.requests.every((r) => r.status === 206)).toBe(true);
    } finally {
      await band.close();
    }
  });
});
