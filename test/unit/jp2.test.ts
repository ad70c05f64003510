/**
 * The JPEG 2000 band source on codestreams made here with OpenJPEG's encoder (lossless, so every
 * decoded pixel is known), wrapped in JP2 boxes built byte by byte: windows, fills, data types,
 * GeoJP2 / GML-in-JP2 georeferencing as GDAL reads it, and clear errors for broken files.
 * Multi-tile decoding against GDAL is in test/integration/jp2.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { epsgFromSrsName, openJp2Band, parseGeoJp2, parseGmlJp2 } from '../../scene/sources/jp2.js';
import { SceneError } from '../../scene/types.js';

// ----------------------------------------------------------------------------------------------
// Encoding test images with OpenJPEG (the encoding build of the same package).

interface Encoder {
  getDecodedBuffer(info: object): Uint8Array;
  getEncodedBuffer(): Uint8Array;
  setQuality(lossless: boolean, quality: number): void;
  setDecompositions(n: number): void;
  encode(): void;
  delete(): void;
}
type EncoderModule = { J2KEncoder: new () => Encoder };

let encoderModule: EncoderModule;

/** Lossless single-tile codestream of the given pixels. */
function encode(pixels: Uint8Array | Uint16Array | Int16Array, width: number, height: number, bits: number, signed: boolean): Buffer {
  const enc = new encoderModule.J2KEncoder();
  try {
    const buf = enc.getDecodedBuffer({ width, height, bitsPerSample: bits, componentCount: 1, isSigned: signed, isUsingColorTransform: false });
    buf.set(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
    enc.setQuality(true, 0);
    enc.setDecompositions(2);
    enc.encode();
    return Buffer.from(enc.getEncodedBuffer().slice());
  } finally {
    enc.delete();
  }
}

// ----------------------------------------------------------------------------------------------
// JP2 boxes and a degenerate GeoTIFF.

function box(type: string, ...body: Buffer[]): Buffer {
  const content = Buffer.concat(body);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + content.length, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, content]);
}

function jp2(codestream: Buffer, width: number, height: number, extra: Buffer[] = []): Buffer {
  const sig = box('jP  ', Buffer.from([0x0d, 0x0a, 0x87, 0x0a]));
  const ftyp = box('ftyp', Buffer.from('jp2 \0\0\0\0jp2 ', 'latin1'));
  const ihdr = Buffer.alloc(14);
  ihdr.writeUInt32BE(height, 0);
  ihdr.writeUInt32BE(width, 4);
  ihdr.writeUInt16BE(1, 8);
  ihdr[10] = 15;
  ihdr[11] = 7;
  const colr = Buffer.from([1, 0, 0, 0, 0, 0, 17]);
  return Buffer.concat([sig, ftyp, box('jp2h', box('ihdr', ihdr), box('colr', colr)), ...extra, box('jp2c', codestream)]);
}

function gmlBox(xml: string): Buffer {
  const inner = box('asoc', box('lbl ', Buffer.from('gml.root-instance\0')), box('xml ', Buffer.from(xml)));
  return box('asoc', box('lbl ', Buffer.from('gml.data\0')), inner);
}

function gmlXml(origin: [number, number], v1: [number, number], v2: [number, number], srs: string): string {
  return `<?xml version="1.0"?>
<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml">
  <gml:featureMember><gml:FeatureCollection><gml:featureMember>
    <gml:RectifiedGridCoverage dimension="2" gml:id="RGC0001">
      <gml:rectifiedGridDomain>
        <gml:RectifiedGrid dimension="2">
          <gml:limits><gml:GridEnvelope><gml:low>0 0</gml:low><gml:high>36 20</gml:high></gml:GridEnvelope></gml:limits>
          <gml:axisName>x</gml:axisName><gml:axisName>y</gml:axisName>
          <gml:origin><gml:Point gml:id="P0001" srsName="${srs}"><gml:pos>${origin.join(' ')}</gml:pos></gml:Point></gml:origin>
          <gml:offsetVector srsName="${srs}">${v1.join(' ')}</gml:offsetVector>
          <gml:offsetVector srsName="${srs}">${v2.join(' ')}</gml:offsetVector>
        </gml:RectifiedGrid>
      </gml:rectifiedGridDomain>
    </gml:RectifiedGridCoverage>
  </gml:featureMember></gml:FeatureCollection></gml:featureMember>
</gml:FeatureCollection>`;
}

/** A little-endian 1x1 GeoTIFF with pixel scale, tiepoint and GeoKeys (the GeoJP2 payload). */
function geoTiff(opts: { scale: [number, number]; tie: [number, number, number, number]; epsg: number; pixelIsPoint?: boolean }): Buffer {
  const keys = [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, opts.pixelIsPoint ? 2 : 1, 3072, 0, 1, opts.epsg];
  const entries: { tag: number; type: number; values: number[] }[] = [
    { tag: 256, type: 3, values: [1] },
    { tag: 257, type: 3, values: [1] },
    { tag: 33550, type: 12, values: [opts.scale[0], opts.scale[1], 0] },
    { tag: 33922, type: 12, values: [opts.tie[0], opts.tie[1], 0, opts.tie[2], opts.tie[3], 0] },
    { tag: 34735, type: 3, values: keys },
  ];
  const ifdSize = 2 + entries.length * 12 + 4;
  let dataAt = 8 + ifdSize;
  const ifd = Buffer.alloc(ifdSize);
  const data: Buffer[] = [];
  ifd.writeUInt16LE(entries.length, 0);
  entries.forEach((e, i) => {
    const size = e.type === 12 ? 8 : 2;
    const o = 2 + i * 12;
    ifd.writeUInt16LE(e.tag, o);
    ifd.writeUInt16LE(e.type, o + 2);
    ifd.writeUInt32LE(e.values.length, o + 4);
    const bytes = Buffer.alloc(size * e.values.length);
    e.values.forEach((v, k) => (size === 8 ? bytes.writeDoubleLE(v, k * 8) : bytes.writeUInt16LE(v, k * 2)));
    if (bytes.length <= 4) bytes.copy(ifd, o + 8);
    else {
      ifd.writeUInt32LE(dataAt, o + 8);
      data.push(bytes);
      dataAt += bytes.length;
    }
  });
  const head = Buffer.from([0x49, 0x49, 42, 0, 8, 0, 0, 0]);
  return Buffer.concat([head, ifd, ...data]);
}

function geoJp2Box(tiff: Buffer): Buffer {
  return box('uuid', Buffer.from('b14bf8bd083d4b43a5ae8cd7d5a6ce03', 'hex'), tiff);
}

// ----------------------------------------------------------------------------------------------

const W = 37;
const H = 21;
let dir: string;
let u16: Uint16Array;
let cs16: Buffer;

beforeAll(async () => {
  const require = createRequire(import.meta.url);
  const factory = require('@cornerstonejs/codec-openjpeg/wasmjs') as (o: object) => Promise<EncoderModule>;
  encoderModule = await factory({ print: () => undefined, printErr: () => undefined });
  dir = mkdtempSync(join(tmpdir(), 'sharpstream-jp2-'));
  u16 = Uint16Array.from({ length: W * H }, (_, i) => (i * 1237) % 40000);
  cs16 = encode(u16, W, H, 16, false);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const FALLBACK = { transform: { x0: 500000, y0: 4000000, dx: 10, dy: -10 }, crs: { epsg: 32631 } };

/** Expected pixels of a window of the source image, `fill` outside. */
function expected(src: ArrayLike<number>, w: { x: number; y: number; width: number; height: number }, fill: number): number[] {
  const out: number[] = [];
  for (let r = w.y; r < w.y + w.height; r++) {
    for (let c = w.x; c < w.x + w.width; c++) out.push(r >= 0 && r < H && c >= 0 && c < W ? src[r * W + c] : fill);
  }
  return out;
}

describe('openJp2Band on lossless codestreams', () => {
  it('reads windows exactly, filling outside the image', async () => {
    const src = await openJp2Band(file('a.j2k', cs16), { fallbackGrid: FALLBACK });
    try {
      expect(src.dataType).toBe('uint16');
      expect(src.grid).toEqual({ width: W, height: H, ...FALLBACK });
      expect(src.layout.georef).toBe('fallback');
      expect(src.nodata).toBeNull();
      for (const w of [
        { x: 0, y: 0, width: W, height: H },
        { x: 5, y: 3, width: 11, height: 7 },
        { x: -4, y: -2, width: 10, height: 6 },
        { x: W - 3, y: H - 2, width: 8, height: 5 },
        { x: W + 2, y: 0, width: 3, height: 3 },
      ]) {
        expect(Array.from(await src.read(w, 7))).toEqual(expected(u16, w, 7));
      }
      // A single-tile file is decoded once and cached.
      expect(src.layout.wholeImage).toBe(true);
      expect(src.stats.tilesDecoded).toBe(1);
    } finally {
      await src.close();
    }
  });

  it('decodes one tile once when windows ask for it concurrently', async () => {
    const src = await openJp2Band(file('b.j2k', cs16), { fallbackGrid: FALLBACK });
    const reads = await Promise.all([0, 1, 2, 3].map((i) => src.read({ x: i, y: i, width: 4, height: 4 }, 0)));
    expect(reads.map((r) => r[0])).toEqual([0, 1, 2, 3].map((i) => u16[i * W + i]));
    expect(src.stats.tilesDecoded).toBe(1);
    await src.close();
    await expect(src.read({ x: 0, y: 0, width: 1, height: 1 }, 0)).rejects.toThrow(/closed/);
  });

  it('reads 8-bit, 12-bit and signed 16-bit samples', async () => {
    const u8 = Uint8Array.from({ length: W * H }, (_, i) => (i * 31) % 256);
    const i16 = Int16Array.from({ length: W * H }, (_, i) => ((i * 977) % 30000) - 15000);
    const u12 = Uint16Array.from({ length: W * H }, (_, i) => (i * 53) % 4096);
    for (const [name, px, bits, signed, type] of [
      ['u8.j2k', u8, 8, false, 'uint8'],
      ['i16.j2k', i16, 16, true, 'int16'],
      ['u12.j2k', u12, 12, false, 'uint16'],
    ] as const) {
      const src = await openJp2Band(file(name, encode(px, W, H, bits, signed)), { fallbackGrid: FALLBACK });
      expect(src.dataType).toBe(type);
      expect(src.layout.bitDepth).toBe(bits);
      const w = { x: 2, y: 1, width: 30, height: 15 };
      expect(Array.from(await src.read(w, 0))).toEqual(expected(px, w, 0));
      await src.close();
    }
  });
});

describe('JP2 georeferencing', () => {
  it('reads GML-in-JP2 as GDAL does (origin is a pixel centre)', async () => {
    const xml = gmlXml([330005, 5822035], [10, 0], [0, -10], 'urn:ogc:def:crs:EPSG::32633');
    const src = await openJp2Band(file('gml.jp2', jp2(cs16, W, H, [gmlBox(xml)])));
    expect(src.layout.georef).toBe('gmljp2');
    expect(src.grid.transform).toEqual({ x0: 330000, y0: 5822040, dx: 10, dy: -10 });
    expect(src.grid.crs.epsg).toBe(32633);
    expect(Array.from(await src.read({ x: 0, y: 0, width: 3, height: 1 }, 0))).toEqual(Array.from(u16.slice(0, 3)));
    await src.close();
  });

  it('prefers GeoJP2 over GML, as GDAL does, and honours PixelIsPoint', async () => {
    const xml = gmlXml([1005, 2995], [10, 0], [0, -10], 'EPSG:32632');
    const tiff = geoTiff({ scale: [20, 20], tie: [0, 0, 600000, 5000000], epsg: 32633 });
    const src = await openJp2Band(file('both.jp2', jp2(cs16, W, H, [geoJp2Box(tiff), gmlBox(xml)])));
    expect(src.layout.georef).toBe('geojp2');
    expect(src.grid.transform).toEqual({ x0: 600000, y0: 5000000, dx: 20, dy: -20 });
    expect(src.grid.crs.epsg).toBe(32633);
    await src.close();
    const point = geoTiff({ scale: [20, 20], tie: [0, 0, 600010, 4999990], epsg: 32633, pixelIsPoint: true });
    expect(parseGeoJp2(point)?.transform).toEqual({ x0: 600000, y0: 5000000, dx: 20, dy: -20 });
  });

  it('uses the reader-supplied grid only when the file has none', async () => {
    const xml = gmlXml([330005, 5822035], [10, 0], [0, -10], 'urn:ogc:def:crs:EPSG::32633');
    const src = await openJp2Band(file('gml2.jp2', jp2(cs16, W, H, [gmlBox(xml)])), { fallbackGrid: FALLBACK });
    expect(src.grid.transform.x0).toBe(330000);
    await src.close();
    await expect(openJp2Band(file('none.jp2', jp2(cs16, W, H)))).rejects.toThrow(/none\.jp2: has no georeferencing/);
    const fb = await openJp2Band(join(dir, 'none.jp2'), { fallbackGrid: FALLBACK });
    expect(fb.grid.transform).toEqual(FALLBACK.transform);
    expect(fb.layout.georef).toBe('fallback');
    await fb.close();
  });

  it('parses GML variants: coordinates, Envelope srsName, lat/long axis order', () => {
    const latlong = parseGmlJp2(gmlXml([52.5, 12.5], [0, 0.001], [-0.001, 0], 'urn:ogc:def:crs:EPSG::4326'));
    // Lat/long EPSG order is swapped into x = longitude, y = latitude.
    expect(latlong?.epsg).toBe(4326);
    expect(latlong?.transform?.dx).toBeCloseTo(0.001, 12);
    expect(latlong?.transform?.dy).toBeCloseTo(-0.001, 12);
    expect(latlong?.transform?.x0).toBeCloseTo(12.4995, 9);
    expect(latlong?.transform?.y0).toBeCloseTo(52.5005, 9);
    const coords = `<FeatureCollection><boundedBy><Envelope srsName="EPSG:32610"/></boundedBy><RectifiedGrid>
      <origin><Point><coordinates>100.5,199.5</coordinates></Point></origin>
      <offsetVector>1,0</offsetVector><offsetVector>0,-1</offsetVector></RectifiedGrid></FeatureCollection>`;
    expect(parseGmlJp2(coords)).toEqual({ transform: { x0: 100, y0: 200, dx: 1, dy: -1 }, epsg: 32610 });
    expect(parseGmlJp2('<gml:Point/>')).toBeNull();
    expect(() => parseGmlJp2(gmlXml([0, 0], [10, 1], [0, -10], 'EPSG:32633'))).toThrow(/rotated/);
  });

  it('reads EPSG codes from the srsName forms in use', () => {
    expect(epsgFromSrsName('urn:ogc:def:crs:EPSG::32633')).toBe(32633);
    expect(epsgFromSrsName('urn:ogc:def:crs:EPSG:6.9:32633')).toBe(32633);
    expect(epsgFromSrsName('EPSG:4326')).toBe(4326);
    expect(epsgFromSrsName('http://www.opengis.net/def/crs/EPSG/0/32721')).toBe(32721);
    expect(epsgFromSrsName('urn:ogc:def:crs:OGC:1.3:CRS84')).toBeNull();
    expect(epsgFromSrsName(undefined)).toBeNull();
  });
});

describe('broken JPEG 2000 files', () => {
  async function openError(name: string, bytes: Buffer): Promise<string> {
    const p = file(name, bytes);
    const e = await openJp2Band(p, { fallbackGrid: FALLBACK }).then(
      async (s) => {
        await s.close();
        return null;
      },
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(SceneError);
    const msg = (e as Error).message;
    expect(msg.startsWith(p)).toBe(true);
    return msg;
  }

  it('refuses files that are not JPEG 2000', async () => {
    expect(await openError('tiny.jp2', Buffer.from('hello'))).toMatch(/not a JPEG 2000 file/);
    expect(await openError('text.jp2', Buffer.from('this is not an image, just text'))).toMatch(/not a JPEG 2000 file/);
  });

  it('reports truncated files', async () => {
    const whole = jp2(cs16, W, H);
    expect(await openError('cut.jp2', whole.subarray(0, whole.length - 100))).toMatch(/truncated JP2: box "jp2c"/);
    expect(await openError('cut.j2k', cs16.subarray(0, cs16.length - 100))).toMatch(/truncated JPEG 2000 codestream: tile-part of tile 0/);
    expect(await openError('head.j2k', cs16.subarray(0, 30))).toMatch(/truncated/);
  });

  it('reports corrupt structure', async () => {
    const sig = box('jP  ', Buffer.from([0x0d, 0x0a, 0x87, 0x0a]));
    expect(await openError('nojp2c.jp2', Buffer.concat([sig, box('ftyp', Buffer.from('jp2 \0\0\0\0jp2 ', 'latin1'))]))).toMatch(/no codestream/);
    // Overwrite the first tile-part's SOT marker.
    const bad = Buffer.from(cs16);
    const sot = bad.indexOf(Buffer.from([0xff, 0x90]));
    bad.writeUInt16BE(0x1234, sot);
    expect(await openError('nosot.j2k', bad)).toMatch(/corrupt JPEG 2000 codestream: expected a marker|expected a tile-part/);
    // Claim two components.
    const two = Buffer.from(cs16);
    two.writeUInt16BE(2, 2 + 38);
    expect(await openError('two.j2k', two)).toMatch(/components|corrupt/);
  });

  it('reports decoder failures with OpenJPEG\'s own words, naming the file', async () => {
    // An impossible code-block size in COD passes the marker walk but fails in OpenJPEG.
    const bad = Buffer.from(cs16);
    const cod = bad.indexOf(Buffer.from([0xff, 0x52]));
    bad[cod + 10] = 12;
    const p = file('badcod.j2k', bad);
    const src = await openJp2Band(p, { fallbackGrid: FALLBACK });
    await expect(src.read({ x: 0, y: 0, width: 4, height: 4 }, 0)).rejects.toThrow(new RegExp(`^${p}: cannot decode JPEG 2000 .*(COD|cblk)`));
    await src.close();
    // The decoder still works for the next file.
    const ok = await openJp2Band(file('ok.j2k', cs16), { fallbackGrid: FALLBACK });
    expect((await ok.read({ x: 1, y: 0, width: 1, height: 1 }, 0))[0]).toBe(u16[1]);
    await ok.close();
  });
});
