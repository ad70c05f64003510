/**
 * JPEG 2000 band sources (.jp2 files and raw .j2k codestreams) decoded with OpenJPEG compiled to
 * WebAssembly (@cornerstonejs/codec-openjpeg), which has no region decoding. Windows are read without
 * decoding whole bands: the JP2 boxes and codestream markers are parsed here, and each JPEG 2000 tile a
 * window touches is decoded on its own from a single-tile codestream built for it (the main header
 * with SIZ narrowed to that tile, then that tile's tile-parts renumbered as tile 0). Decoded tiles are
 * kept in a small LRU cache. Georeferencing comes from the GeoJP2 box, else the GML-in-JP2 box, as
 * GDAL's JP2 drivers read them, else from a grid the reader supplies (Sentinel-2 MTD_TL.xml).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { intersectWindows, type Crs, type GeoTransform, type Grid, type PixelWindow } from '../../raster/grid.js';
import { allocPixels, type DataType, type PixelArray } from '../../raster/types.js';
import { SceneError, type BandSource } from '../types.js';

/** Options of openJp2Band. */
export interface Jp2Options {
  /** Georeferencing to use when the file carries none (or no EPSG code): Sentinel-2's MTD_TL.xml grid. */
  readonly fallbackGrid?: { readonly transform: GeoTransform; readonly crs: Crs };
  /** Most bytes of decoded tiles kept per band (default 48 MiB; at least 4 tiles are always kept). */
  readonly cacheBytes?: number;
}

/** How a JPEG 2000 file is laid out, as parsed from its headers. */
export interface Jp2Layout {
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  readonly tilesAcross: number;
  readonly tilesDown: number;
  readonly bitDepth: number;
  readonly signed: boolean;
  /** Where the georeferencing came from. */
  readonly georef: 'geojp2' | 'gmljp2' | 'fallback';
  /** True when tiles cannot be decoded one by one (packed packet headers, PPM) and the image is decoded whole once. */
  readonly wholeImage: boolean;
}

/** Counters of decoding work, for tests and benchmarks. */
export interface Jp2Stats {
  tilesDecoded: number;
  pixelsDecoded: number;
}

// ---------------------------------------------------------------------------------------------
// The WebAssembly decoder.

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned: boolean;
}

interface J2KDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): FrameInfo;
  delete(): void;
}

interface OpenJpegModule {
  J2KDecoder: new () => J2KDecoder;
}

type OpenJpegFactory = (opts: { print: (m: string) => void; printErr: (m: string) => void }) => Promise<OpenJpegModule>;

let modulePromise: Promise<OpenJpegModule> | null = null;
/** OpenJPEG's messages during the current decode ("[ERROR] ..."), for error reports. */
let decoderLog: string[] = [];

function openJpeg(): Promise<OpenJpegModule> {
  if (!modulePromise) {
    const require = createRequire(import.meta.url);
    const factory = require('@cornerstonejs/codec-openjpeg/decodewasmjs') as OpenJpegFactory;
    const log = (m: string) => {
      if (decoderLog.length < 50) decoderLog.push(String(m).trim());
    };
    modulePromise = factory({ print: log, printErr: log });
    modulePromise.catch(() => {
      modulePromise = null;
    });
  }
  return modulePromise;
}

/** Decodes one complete codestream; throws with OpenJPEG's own error messages when it fails. */
async function decodeCodestream(codestream: Uint8Array): Promise<{ info: FrameInfo; bytes: Uint8Array }> {
  const mod = await openJpeg();
  decoderLog = [];
  let decoder: J2KDecoder | null = null;
  try {
    decoder = new mod.J2KDecoder();
    decoder.getEncodedBuffer(codestream.length).set(codestream);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (!(info.width > 0 && info.height > 0)) {
      const said = decoderLog.filter((l) => /error/i.test(l)).map((l) => l.replace(/^\[ERROR\]\s*/, ''));
      throw new Error(said.length ? said.join('; ') : 'OpenJPEG decoded no pixels');
    }
    // The decoded buffer is a view into WebAssembly memory: copy it before the next decode.
    const bytes = decoder.getDecodedBuffer().slice();
    return { info: { ...info }, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
  } catch (e) {
    if (e instanceof Error && e.name === 'Error') throw e; // our own "no pixels" report
    // A C++ exception or abort may leave the module in a bad state: start a fresh one next time.
    modulePromise = null;
    const said = decoderLog.filter((l) => /error/i.test(l)).join('; ');
    const what = e instanceof Error ? e.message : `decoder exception ${String(e)}`;
    throw new Error(said ? `${said} (${what})` : what);
  } finally {
    try {
      decoder?.delete();
    } catch {
      /* the module is gone already */
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the file.

/** Reads exactly `length` bytes at `position`, or throws a truncation error. */
async function readAt(fh: FileHandle, uri: string, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) throw new SceneError(uri, `truncated file: wanted ${length} bytes at byte ${position}, but the file ends at byte ${position + got}`);
    got += bytesRead;
  }
  return buf;
}

interface Box {
  readonly type: string;
  /** Offset of the box's contents. */
  readonly start: number;
  /** Offset just past the box. */
  readonly end: number;
}

/** Lists the boxes between two offsets of the file (a box of length 0 runs to `to`). */
async function listBoxes(fh: FileHandle, uri: string, from: number, to: number): Promise<Box[]> {
  const boxes: Box[] = [];
  let pos = from;
  while (pos + 8 <= to) {
    const h = await readAt(fh, uri, pos, Math.min(16, to - pos));
    let length = h.readUInt32BE(0);
    const type = h.toString('latin1', 4, 8);
    let header = 8;
    if (length === 1) {
      if (h.length < 16) throw new SceneError(uri, `corrupt JP2: box "${type}" at byte ${pos} is cut short`);
      length = Number(h.readBigUInt64BE(8));
      header = 16;
    } else if (length === 0) {
      length = to - pos;
    }
    if (length < header || pos + length > to) {
      throw new SceneError(uri, `corrupt or truncated JP2: box "${type}" at byte ${pos} claims ${length} bytes but ${to - pos} remain`);
    }
    boxes.push({ type, start: pos + header, end: pos + length });
    pos += length;
    if (boxes.length > 10_000) throw new SceneError(uri, 'corrupt JP2: too many boxes');
  }
  return boxes;
}

/** Lists the boxes inside an in-memory box body. */
function listBoxesIn(buf: Buffer): { type: string; body: Buffer }[] {
  const out: { type: string; body: Buffer }[] = [];
  let pos = 0;
  while (pos + 8 <= buf.length) {
    let length = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    let header = 8;
    if (length === 1) {
      if (pos + 16 > buf.length) break;
      length = Number(buf.readBigUInt64BE(pos + 8));
      header = 16;
    } else if (length === 0) {
      length = buf.length - pos;
    }
    if (length < header || pos + length > buf.length) break;
    out.push({ type, body: buf.subarray(pos + header, pos + length) });
    pos += length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Georeferencing: GeoJP2 (a degenerate GeoTIFF in a UUID box) and GML-in-JP2.

const GEOJP2_UUID = 'b14bf8bd083d4b43a5ae8cd7d5a6ce03';

/** What a georeferencing box says: a GDAL-convention transform and/or an EPSG code. */
interface Georef {
  readonly transform: GeoTransform | null;
  readonly epsg: number | null;
}

function checkNorthUp(uri: string, gt: number[], what: string): GeoTransform {
  if (gt.some((v) => !Number.isFinite(v))) throw new SceneError(uri, `${what} georeferencing has non-numeric terms`);
  if (gt[2] !== 0 || gt[4] !== 0) throw new SceneError(uri, `${what} georeferencing is rotated (${gt.join(', ')}); only north-up grids are supported`);
  if (gt[1] === 0 || gt[5] === 0) throw new SceneError(uri, `${what} georeferencing has a zero pixel size`);
  return { x0: gt[0], dx: gt[1], y0: gt[3], dy: gt[5] };
}

/** Reads the tags of a degenerate GeoTIFF (GeoJP2) that matter for georeferencing. */
export function parseGeoJp2(tiff: Buffer, uri = '<GeoJP2>'): Georef | null {
  if (tiff.length < 8) return null;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return null;
  const le = order === 'II';
  const u16 = (o: number) => (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number) => (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  const f64 = (o: number) => (le ? tiff.readDoubleLE(o) : tiff.readDoubleBE(o));
  if (u16(2) !== 42) return null;
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return null;
  const n = u16(ifd);
  const tags = new Map<number, number[]>();
  const sizes: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 12: 8, 16: 8 };
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > tiff.length) return null;
    const tag = u16(e);
    const type = u16(e + 2);
    const count = u32(e + 4);
    const size = sizes[type];
    if (!size || count > 100_000) continue;
    const at = size * count <= 4 ? e + 8 : u32(e + 8);
    if (at + size * count > tiff.length) continue;
    const vals: number[] = [];
    for (let k = 0; k < count; k++) {
      const o = at + k * size;
      vals.push(type === 3 ? u16(o) : type === 4 ? u32(o) : type === 12 ? f64(o) : tiff[o]);
    }
    tags.set(tag, vals);
  }
  const scale = tags.get(33550);
  const tie = tags.get(33922);
  const matrix = tags.get(34264);
  const dir = tags.get(34735);
  const keys = new Map<number, number>();
  if (dir && dir.length >= 4) {
    for (let k = 0; k < dir[3] && 4 + k * 4 + 3 < dir.length; k++) {
      const [id, loc, , value] = dir.slice(4 + k * 4, 8 + k * 4);
      if (loc === 0) keys.set(id, value);
    }
  }
  let gt: number[] | null = null;
  if (scale && tie && tie.length >= 6 && scale.length >= 2) {
    gt = [tie[3] - tie[0] * scale[0], scale[0], 0, tie[4] + tie[1] * scale[1], 0, -scale[1]];
  } else if (matrix && matrix.length >= 8) {
    gt = [matrix[3], matrix[0], matrix[1], matrix[7], matrix[4], matrix[5]];
  }
  // GDAL shifts PixelIsPoint rasters by half a pixel so the transform addresses pixel corners.
  if (gt && keys.get(1025) === 2) {
    gt = [gt[0] - gt[1] / 2 - gt[2] / 2, gt[1], gt[2], gt[3] - gt[4] / 2 - gt[5] / 2, gt[4], gt[5]];
  }
  const proj = keys.get(3072);
  const geog = keys.get(2048);
  const epsg = proj && proj !== 32767 ? proj : geog && geog !== 32767 ? geog : null;
  if (!gt && epsg === null) return null;
  return { transform: gt ? checkNorthUp(uri, gt, 'GeoJP2') : null, epsg };
}

/** The EPSG code named by a GML srsName ("urn:ogc:def:crs:EPSG::32633", "EPSG:32633", an OGC CRS URL). */
export function epsgFromSrsName(name: string | null | undefined): number | null {
  if (!name) return null;
  const m = /EPSG(?::[\d.]*)?:+(\d+)\s*$/i.exec(name) ?? /\/EPSG\/[^/]+\/(\d+)\s*$/i.exec(name) ?? /EPSG\D{0,3}(\d{4,6})/i.exec(name);
  return m ? Number(m[1]) : null;
}

const tagRe = (name: string, flags = '') => new RegExp(`<(?:[\\w.-]+:)?${name}\\b([^>]*)>([\\s\\S]*?)</(?:[\\w.-]+:)?${name}\\s*>`, flags);
const attr = (attrs: string, name: string): string | null => {
  const m = new RegExp(`(?:^|\\s)(?:[\\w.-]+:)?${name}\\s*=\\s*"([^"]*)"`).exec(attrs) ?? new RegExp(`(?:^|\\s)(?:[\\w.-]+:)?${name}\\s*=\\s*'([^']*)'`).exec(attrs);
  return m ? m[1] : null;
};
const numbers = (text: string): number[] =>
  text
    .trim()
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(Number);

/**
 * Reads a GML-in-JP2 coverage description as GDAL does: the RectifiedGrid origin is a pixel centre
 * (the transform is shifted by half a pixel), offset vectors give the pixel steps, and lat/long CRSs
 * have their axes swapped unless axisName says east first.
 */
export function parseGmlJp2(xml: string, uri = '<GMLJP2>'): Georef | null {
  const rg = tagRe('RectifiedGrid').exec(xml);
  if (!rg) return null;
  const [, rgAttrs, body] = rg;
  const origin = tagRe('origin').exec(body);
  const point = origin ? tagRe('Point').exec(origin[2]) : null;
  const posText = point ? (tagRe('pos').exec(point[2]) ?? tagRe('coordinates').exec(point[2])) : null;
  const offsets = [...body.matchAll(tagRe('offsetVector', 'g'))].map((m) => numbers(m[2]));
  let srs = point ? attr(point[1], 'srsName') : null;
  if (!srs) {
    const env = /<(?:[\w.-]+:)?Envelope\b([^>]*)>/.exec(xml);
    if (env) srs = attr(env[1], 'srsName');
  }
  if (!srs) srs = attr(rgAttrs, 'srsName');
  const epsg = epsgFromSrsName(srs);
  if (!posText || offsets.length < 2) return epsg === null ? null : { transform: null, epsg };
  const o = numbers(posText[2]);
  const [v1, v2] = offsets;
  if (o.length < 2 || v1.length < 2 || v2.length < 2) return epsg === null ? null : { transform: null, epsg };
  let gt = [o[0], v1[0], v2[0], o[1], v1[1], v2[1]];
  gt[0] -= gt[1] * 0.5 + gt[2] * 0.5;
  gt[3] -= gt[4] * 0.5 + gt[5] * 0.5;
  // EPSG geographic CRSs (4000-4999) are latitude-first; GDAL flips them unless axisName says otherwise.
  const axisNames = [...body.matchAll(tagRe('axisName', 'g'))].map((m) => m[2].trim().toUpperCase());
  const eastFirst = axisNames.length >= 2 && /^(EAST|LONG)/.test(axisNames[0]) && /^(NORTH|LAT)/.test(axisNames[1]);
  if (epsg !== null && epsg >= 4000 && epsg < 5000 && !eastFirst) {
    gt = [gt[3], gt[4], gt[5], gt[0], gt[1], gt[2]];
  }
  return { transform: checkNorthUp(uri, gt, 'GML-in-JP2'), epsg };
}

// ---------------------------------------------------------------------------------------------
// The codestream.

const SOC = 0xff4f;
const SIZ = 0xff51;
const SOT = 0xff90;
const EOC = 0xffd9;
const TLM = 0xff55;
const PLM = 0xff57;
const PPM = 0xff60;

interface Siz {
  xsiz: number;
  ysiz: number;
  xosiz: number;
  yosiz: number;
  xtsiz: number;
  ytsiz: number;
  xtosiz: number;
  ytosiz: number;
  components: number;
  bitDepth: number;
  signed: boolean;
}

interface TilePart {
  readonly pos: number;
  readonly length: number;
}

/** A parsed codestream: its main header and where each tile's tile-parts lie in the file. */
interface Codestream {
  readonly siz: Siz;
  /** SIZ segment bytes (marker included). */
  readonly sizSegment: Buffer;
  /** The other main-header segments to copy into single-tile codestreams (TLM and PLM dropped). */
  readonly otherSegments: Buffer[];
  readonly hasPpm: boolean;
  readonly start: number;
  readonly end: number;
  readonly tileParts: TilePart[][];
}

function parseSiz(seg: Buffer, uri: string): Siz {
  // seg: marker(2) Lsiz(2) Rsiz(2) Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz (4 each) Csiz(2) then 3 bytes per component.
  if (seg.length < 41) throw new SceneError(uri, 'corrupt JPEG 2000 codestream: SIZ marker segment is too short');
  const r = (o: number) => seg.readUInt32BE(o);
  const siz: Siz = {
    xsiz: r(6),
    ysiz: r(10),
    xosiz: r(14),
    yosiz: r(18),
    xtsiz: r(22),
    ytsiz: r(26),
    xtosiz: r(30),
    ytosiz: r(34),
    components: seg.readUInt16BE(38),
    bitDepth: (seg[40] & 0x7f) + 1,
    signed: (seg[40] & 0x80) !== 0,
  };
  if (seg.length < 40 + 3 * siz.components) throw new SceneError(uri, 'corrupt JPEG 2000 codestream: SIZ lists more components than it holds');
  const bad = (why: string) => new SceneError(uri, `corrupt JPEG 2000 codestream: ${why}`);
  if (siz.xsiz <= siz.xosiz || siz.ysiz <= siz.yosiz) throw bad(`image has no pixels (SIZ ${siz.xsiz}x${siz.ysiz} from ${siz.xosiz},${siz.yosiz})`);
  if (siz.xtsiz === 0 || siz.ytsiz === 0) throw bad('tile size is zero');
  if (siz.xtosiz > siz.xosiz || siz.ytosiz > siz.yosiz || siz.xtosiz + siz.xtsiz <= siz.xosiz || siz.ytosiz + siz.ytsiz <= siz.yosiz) {
    throw bad('tile grid offset does not cover the image origin');
  }
  if (siz.components !== 1) throw new SceneError(uri, `has ${siz.components} components; only single-band JPEG 2000 files are supported`);
  if (seg[41] !== 1 || seg[42] !== 1) throw new SceneError(uri, 'subsampled JPEG 2000 components are not supported');
  if (siz.bitDepth > 16) throw new SceneError(uri, `${siz.bitDepth}-bit samples are not supported (at most 16)`);
  if (siz.signed && siz.bitDepth <= 8) throw new SceneError(uri, 'signed 8-bit samples are not supported');
  return siz;
}

/** Parses the main header and indexes every tile-part, reading only marker segments and SOT headers. */
async function parseCodestream(fh: FileHandle, uri: string, start: number, end: number): Promise<Codestream> {
  const head = await readAt(fh, uri, start, Math.min(4, end - start));
  if (head.length < 4 || head.readUInt16BE(0) !== SOC || head.readUInt16BE(2) !== SIZ) {
    throw new SceneError(uri, 'not a JPEG 2000 codestream (no SOC/SIZ marker at its start)');
  }
  // Main header: marker segments from SIZ up to the first SOT.
  const segments: Buffer[] = [];
  let pos = start + 2;
  let sizSegment: Buffer | null = null;
  let hasPpm = false;
  let headerBytes = 0;
  for (;;) {
    if (pos + 4 > end) throw new SceneError(uri, 'truncated JPEG 2000 codestream: the main header ends before the first tile');
    const mh = await readAt(fh, uri, pos, 4);
    const marker = mh.readUInt16BE(0);
    if (marker === SOT) break;
    if (marker === EOC) throw new SceneError(uri, 'corrupt JPEG 2000 codestream: it ends before any tile');
    if (mh[0] !== 0xff) throw new SceneError(uri, `corrupt JPEG 2000 codestream: expected a marker at byte ${pos - start}, found 0x${marker.toString(16)}`);
    const length = mh.readUInt16BE(2);
    if (length < 2) throw new SceneError(uri, `corrupt JPEG 2000 codestream: marker 0x${marker.toString(16)} at byte ${pos - start} has a bad length`);
    if (pos + 2 + length > end) {
      throw new SceneError(uri, `truncated JPEG 2000 codestream: marker 0x${marker.toString(16)} at byte ${pos - start} runs past the end of the codestream`);
    }
    headerBytes += length + 2;
    if (headerBytes > 64 << 20) throw new SceneError(uri, 'corrupt JPEG 2000 codestream: main header larger than 64 MiB');
    if (marker === PPM) hasPpm = true;
    if (marker === SIZ || (marker !== TLM && marker !== PLM)) {
      const seg = await readAt(fh, uri, pos, length + 2);
      if (marker === SIZ) sizSegment = seg;
      else segments.push(seg);
    }
    pos += 2 + length;
  }
  if (!sizSegment) throw new SceneError(uri, 'corrupt JPEG 2000 codestream: no SIZ marker');
  const siz = parseSiz(sizSegment, uri);
  const across = Math.ceil((siz.xsiz - siz.xtosiz) / siz.xtsiz);
  const down = Math.ceil((siz.ysiz - siz.ytosiz) / siz.ytsiz);
  if (across * down > 65535) throw new SceneError(uri, `corrupt JPEG 2000 codestream: ${across * down} tiles (at most 65535)`);
  const tileParts: TilePart[][] = Array.from({ length: across * down }, () => []);
  const expected = new Array<number>(across * down).fill(0);
  // Tile-parts: SOT(2) Lsot(2) Isot(2) Psot(4) TPsot(1) TNsot(1), then the tile-part header and data.
  let parts = 0;
  while (pos < end) {
    if (pos + 2 > end) break;
    const sh = await readAt(fh, uri, pos, Math.min(12, end - pos));
    const marker = sh.readUInt16BE(0);
    if (marker === EOC) break;
    if (marker !== SOT || sh.length < 12) {
      throw new SceneError(uri, `corrupt or truncated JPEG 2000 codestream: expected a tile-part at byte ${pos - start}, found 0x${marker.toString(16)}`);
    }
    const isot = sh.readUInt16BE(4);
    let psot = sh.readUInt32BE(6);
    const tnsot = sh[11];
    if (isot >= tileParts.length) throw new SceneError(uri, `corrupt JPEG 2000 codestream: tile-part of tile ${isot}, but the image has ${tileParts.length} tiles`);
    if (psot === 0) {
      // The last tile-part may run to the end of the codestream (less its EOC marker).
      psot = end - pos;
      const tail = await readAt(fh, uri, end - 2, 2);
      if (tail.readUInt16BE(0) === EOC) psot -= 2;
    }
    if (psot < 14) throw new SceneError(uri, `corrupt JPEG 2000 codestream: tile-part at byte ${pos - start} is ${psot} bytes long`);
    if (pos + psot > end) {
      throw new SceneError(uri, `truncated JPEG 2000 codestream: tile-part of tile ${isot} at byte ${pos - start} needs ${psot} bytes but only ${end - pos} remain`);
    }
    tileParts[isot].push({ pos, length: psot });
    if (tnsot) expected[isot] = tnsot;
    pos += psot;
    if (++parts > tileParts.length * 255) throw new SceneError(uri, 'corrupt JPEG 2000 codestream: too many tile-parts');
  }
  tileParts.forEach((list, t) => {
    if (list.length === 0) throw new SceneError(uri, `truncated JPEG 2000 codestream: tile ${t} of ${tileParts.length} has no data`);
    if (expected[t] && list.length < expected[t]) {
      throw new SceneError(uri, `truncated JPEG 2000 codestream: tile ${t} has ${list.length} of its ${expected[t]} tile-parts`);
    }
  });
  return { siz, sizSegment, otherSegments: segments, hasPpm, start, end, tileParts };
}

// ---------------------------------------------------------------------------------------------
// The band source.

/** One decoded JPEG 2000 tile, in image pixel coordinates. */
interface DecodedTile {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly data: PixelArray;
}

function dataTypeFor(bitDepth: number, signed: boolean): DataType {
  if (bitDepth <= 8) return 'uint8';
  return signed ? 'int16' : 'uint16';
}

/** A JPEG 2000 file opened as a band: windows decode only the tiles they touch. */
export class Jp2BandSource implements BandSource {
  readonly stats: Jp2Stats = { tilesDecoded: 0, pixelsDecoded: 0 };
  private readonly cache = new Map<number, DecodedTile>();
  private readonly pending = new Map<number, Promise<DecodedTile>>();
  private cachedBytes = 0;
  private closed = false;

  /** Use openJp2Band. */
  constructor(
    readonly uri: string,
    readonly grid: Grid,
    readonly dataType: DataType,
    readonly layout: Jp2Layout,
    private readonly fh: FileHandle,
    private readonly cs: Codestream,
    private readonly cacheBytes: number,
  ) {}

  readonly nodata: number | null = null;

  /** The image-pixel rectangle of tile t (or of the whole image in whole-image mode). */
  private tileRect(t: number): PixelWindow & { p: number; q: number } {
    const s = this.cs.siz;
    if (this.layout.wholeImage) return { x: 0, y: 0, width: this.grid.width, height: this.grid.height, p: 0, q: 0 };
    const p = t % this.layout.tilesAcross;
    const q = Math.floor(t / this.layout.tilesAcross);
    const x0 = Math.max(s.xtosiz + p * s.xtsiz, s.xosiz);
    const y0 = Math.max(s.ytosiz + q * s.ytsiz, s.yosiz);
    const x1 = Math.min(s.xtosiz + (p + 1) * s.xtsiz, s.xsiz);
    const y1 = Math.min(s.ytosiz + (q + 1) * s.ytsiz, s.ysiz);
    return { x: x0 - s.xosiz, y: y0 - s.yosiz, width: x1 - x0, height: y1 - y0, p, q };
  }

  /** Builds the codestream that decodes tile t alone: same reference grid, narrowed to that tile. */
  private async tileCodestream(t: number): Promise<Buffer> {
    const s = this.cs.siz;
    const r = this.tileRect(t);
    const siz = Buffer.from(this.cs.sizSegment);
    siz.writeUInt32BE(r.x + s.xosiz + r.width, 6); // Xsiz: right edge of the tile
    siz.writeUInt32BE(r.y + s.yosiz + r.height, 10); // Ysiz
    siz.writeUInt32BE(r.x + s.xosiz, 14); // XOsiz: image origin at the tile's corner
    siz.writeUInt32BE(r.y + s.yosiz, 18); // YOsiz
    siz.writeUInt32BE(s.xtosiz + r.p * s.xtsiz, 30); // XTOsiz: the tile grid starts at this tile
    siz.writeUInt32BE(s.ytosiz + r.q * s.ytsiz, 34); // YTOsiz
    const parts: Buffer[] = [];
    for (const tp of this.cs.tileParts[t]) {
      const bytes = await readAt(this.fh, this.uri, tp.pos, tp.length);
      bytes.writeUInt16BE(0, 4); // Isot: the only tile
      bytes.writeUInt32BE(tp.length, 6); // Psot: explicit even where the file said "to the end"
      parts.push(bytes);
    }
    const soc = Buffer.from([0xff, 0x4f]);
    const eoc = Buffer.from([0xff, 0xd9]);
    return Buffer.concat([soc, siz, ...this.cs.otherSegments, ...parts, eoc]);
  }

  /** The whole original codestream (whole-image mode). */
  private async wholeCodestream(): Promise<Buffer> {
    return readAt(this.fh, this.uri, this.cs.start, this.cs.end - this.cs.start);
  }

  private async decodeTile(t: number): Promise<DecodedTile> {
    const r = this.tileRect(t);
    const codestream = this.layout.wholeImage ? await this.wholeCodestream() : await this.tileCodestream(t);
    let decoded;
    try {
      decoded = await decodeCodestream(codestream);
    } catch (e) {
      const where = this.layout.wholeImage ? 'the image' : `tile ${t} (pixels ${r.x},${r.y} ${r.width}x${r.height})`;
      throw new SceneError(this.uri, `cannot decode JPEG 2000 ${where}: ${(e as Error).message} (corrupt or truncated file?)`, { cause: e });
    }
    const { info, bytes } = decoded;
    if (info.width !== r.width || info.height !== r.height || info.componentCount !== 1) {
      throw new SceneError(this.uri, `JPEG 2000 tile ${t} decoded to ${info.width}x${info.height}x${info.componentCount}, expected ${r.width}x${r.height}x1 (corrupt file?)`);
    }
    const n = r.width * r.height;
    const bps = info.bitsPerSample <= 8 ? 1 : 2;
    if (bytes.byteLength < n * bps) throw new SceneError(this.uri, `JPEG 2000 tile ${t} decoded to too few bytes`);
    let data: PixelArray;
    if (bps === 1) data = new Uint8Array(bytes.buffer, bytes.byteOffset, n);
    else data = this.dataType === 'int16' ? new Int16Array(bytes.buffer, bytes.byteOffset, n) : new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    if (data.constructor !== allocPixels(this.dataType, 0).constructor) {
      throw new SceneError(this.uri, `JPEG 2000 tile ${t} decoded to ${info.bitsPerSample}-bit samples, expected ${this.dataType}`);
    }
    this.stats.tilesDecoded += 1;
    this.stats.pixelsDecoded += n;
    return { x: r.x, y: r.y, width: r.width, height: r.height, data };
  }

  /** A decoded tile from the cache, an in-flight decode, or a fresh decode. */
  private tile(t: number): Promise<DecodedTile> {
    const hit = this.cache.get(t);
    if (hit) {
      this.cache.delete(t);
      this.cache.set(t, hit); // most recently used last
      return Promise.resolve(hit);
    }
    const inflight = this.pending.get(t);
    if (inflight) return inflight;
    const p = this.decodeTile(t)
      .then((tile) => {
        if (!this.closed) this.remember(t, tile);
        return tile;
      })
      .finally(() => this.pending.delete(t));
    this.pending.set(t, p);
    return p;
  }

  private remember(t: number, tile: DecodedTile): void {
    this.cache.set(t, tile);
    this.cachedBytes += tile.data.byteLength;
    while (this.cache.size > 4 && this.cachedBytes > this.cacheBytes) {
      const oldest = this.cache.keys().next().value as number;
      this.cachedBytes -= this.cache.get(oldest)!.data.byteLength;
      this.cache.delete(oldest);
    }
  }

  /** The tiles (by index) a window of image pixels touches. */
  private tilesFor(w: PixelWindow): number[] {
    if (this.layout.wholeImage) return [0];
    const s = this.cs.siz;
    const gx0 = w.x + s.xosiz - s.xtosiz;
    const gy0 = w.y + s.yosiz - s.ytosiz;
    const p0 = Math.floor(gx0 / s.xtsiz);
    const p1 = Math.floor((gx0 + w.width - 1) / s.xtsiz);
    const q0 = Math.floor(gy0 / s.ytsiz);
    const q1 = Math.floor((gy0 + w.height - 1) / s.ytsiz);
    const out: number[] = [];
    for (let q = q0; q <= q1; q++) for (let p = p0; p <= p1; p++) out.push(q * this.layout.tilesAcross + p);
    return out;
  }

  /** Reads a window of band pixels; parts outside the image are filled with `fill`. */
  async read(window: PixelWindow, fill: number): Promise<PixelArray> {
    if (this.closed) throw new SceneError(this.uri, 'band source is closed');
    const out = allocPixels(this.dataType, window.width * window.height);
    const inside = intersectWindows(window, { x: 0, y: 0, width: this.grid.width, height: this.grid.height });
    if (!inside || inside.width !== window.width || inside.height !== window.height) out.fill(fill);
    if (!inside) return out;
    for (const t of this.tilesFor(inside)) {
      const tile = await this.tile(t);
      const part = intersectWindows(inside, tile);
      if (!part) continue;
      for (let row = 0; row < part.height; row++) {
        const srcStart = (part.y - tile.y + row) * tile.width + (part.x - tile.x);
        const dst = (part.y - window.y + row) * window.width + (part.x - window.x);
        out.set(tile.data.subarray(srcStart, srcStart + part.width) as never, dst);
      }
    }
    return out;
  }

  /** Closes the file and drops cached tiles. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    this.cachedBytes = 0;
    await this.fh.close().catch(() => undefined);
  }
}

/** Opens a JPEG 2000 file (.jp2 or a raw .j2k codestream) as a band source. */
export async function openJp2Band(uri: string, options: Jp2Options = {}): Promise<Jp2BandSource> {
  let fh: FileHandle;
  try {
    fh = await open(uri, 'r');
  } catch (e) {
    throw new SceneError(uri, `cannot open JPEG 2000 file: ${(e as Error).message}`, { cause: e });
  }
  try {
    const size = (await fh.stat()).size;
    if (size < 12) throw new SceneError(uri, `not a JPEG 2000 file (${size} bytes)`);
    const magic = await readAt(fh, uri, 0, 12);
    let csStart: number;
    let csEnd: number;
    let geojp2: Georef | null = null;
    let gml: Georef | null = null;
    if (magic.readUInt16BE(0) === SOC && magic.readUInt16BE(2) === SIZ) {
      csStart = 0;
      csEnd = size;
    } else if (magic.readUInt32BE(0) === 12 && magic.toString('latin1', 4, 8) === 'jP  ' && magic.readUInt32BE(8) === 0x0d0a870a) {
      const boxes = await listBoxes(fh, uri, 0, size);
      const jp2c = boxes.find((b) => b.type === 'jp2c');
      if (!jp2c) throw new SceneError(uri, 'corrupt JP2: no codestream (jp2c) box');
      csStart = jp2c.start;
      csEnd = jp2c.end;
      for (const b of boxes) {
        const len = b.end - b.start;
        if (b.type === 'uuid' && len >= 16 && len < 16 << 20 && !geojp2) {
          const body = await readAt(fh, uri, b.start, len);
          if (body.subarray(0, 16).toString('hex') === GEOJP2_UUID) geojp2 = parseGeoJp2(body.subarray(16), uri);
        } else if (b.type === 'asoc' && len < 16 << 20 && !gml) {
          gml = findGml(await readAt(fh, uri, b.start, len), uri);
        }
      }
    } else {
      throw new SceneError(uri, 'not a JPEG 2000 file (no JP2 signature box and no codestream SOC marker)');
    }
    const cs = await parseCodestream(fh, uri, csStart, csEnd);
    const s = cs.siz;
    const width = s.xsiz - s.xosiz;
    const height = s.ysiz - s.yosiz;
    // GDAL's order: GeoJP2 first, then GML-in-JP2; a reader-supplied grid only when neither georeferences.
    let transform: GeoTransform | null = null;
    let epsg: number | null = null;
    let source: Jp2Layout['georef'] = 'fallback';
    for (const [g, name] of [
      [geojp2, 'geojp2'],
      [gml, 'gmljp2'],
    ] as const) {
      if (g?.transform && !transform) {
        transform = g.transform;
        epsg = g.epsg ?? geojp2?.epsg ?? gml?.epsg ?? null;
        source = name;
      }
    }
    if (!transform || epsg === null) {
      if (!options.fallbackGrid) {
        throw new SceneError(uri, 'has no georeferencing (no GeoJP2 or GML-in-JP2 box with a grid and an EPSG code), and the product metadata gives none');
      }
      if (!transform) source = 'fallback';
      transform = transform ?? options.fallbackGrid.transform;
      epsg = epsg ?? options.fallbackGrid.crs.epsg;
    }
    const wholeImage = cs.hasPpm || cs.tileParts.length === 1;
    const layout: Jp2Layout = {
      width,
      height,
      tileWidth: wholeImage ? width : s.xtsiz,
      tileHeight: wholeImage ? height : s.ytsiz,
      tilesAcross: Math.ceil((s.xsiz - s.xtosiz) / s.xtsiz),
      tilesDown: Math.ceil((s.ysiz - s.ytosiz) / s.ytsiz),
      bitDepth: s.bitDepth,
      signed: s.signed,
      georef: source,
      wholeImage,
    };
    const grid: Grid = { width, height, transform, crs: { epsg } };
    return new Jp2BandSource(uri, grid, dataTypeFor(s.bitDepth, s.signed), layout, fh, cs, options.cacheBytes ?? 48 << 20);
  } catch (e) {
    await fh.close().catch(() => undefined);
    if (e instanceof SceneError) throw e;
    throw new SceneError(uri, `cannot read JPEG 2000 file: ${(e as Error).message}`, { cause: e });
  }
}

/** Finds the gml.root-instance document in an asoc box labelled gml.data and parses it. */
function findGml(asoc: Buffer, uri: string): Georef | null {
  const kids = listBoxesIn(asoc);
  const label = kids.find((k) => k.type === 'lbl ');
  if (!label || label.body.toString('latin1').replace(/\0+$/, '') !== 'gml.data') return null;
  for (const k of kids) {
    if (k.type !== 'asoc') continue;
    const sub = listBoxesIn(k.body);
    const lbl = sub.find((s) => s.type === 'lbl ');
    const xml = sub.find((s) => s.type === 'xml ');
    if (lbl && xml && lbl.body.toString('latin1').replace(/\0+$/, '') === 'gml.root-instance') {
      // Some writers pad or separate the XML with NUL bytes.
      return parseGmlJp2(xml.body.toString('utf8').replace(/\0/g, '\n'), uri);
    }
  }
  return null;
}
