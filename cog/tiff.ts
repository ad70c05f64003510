/**
 * Low-level TIFF encoding for the COG writer: tag constants, IFD layout (classic and BigTIFF,
 * little-endian), file headers and GDAL's "ghost" structural-metadata block.
 */

/** TIFF field types used by the writer, with their TIFF type codes. */
export const FieldType = {
  ASCII: 2,
  SHORT: 3,
  LONG: 4,
  DOUBLE: 12,
  LONG8: 16,
} as const;

/** A TIFF field type code the writer emits. */
export type FieldTypeCode = (typeof FieldType)[keyof typeof FieldType];

const FIELD_SIZE: Readonly<Record<FieldTypeCode, number>> = { 2: 1, 3: 2, 4: 4, 12: 8, 16: 8 };

/** TIFF and GeoTIFF tag numbers written by the COG writer. */
export const Tag = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  PhotometricInterpretation: 262,
  SamplesPerPixel: 277,
  PlanarConfiguration: 284,
  Predictor: 317,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  ExtraSamples: 338,
  SampleFormat: 339,
  ModelPixelScale: 33550,
  ModelTiepoint: 33922,
  GeoKeyDirectory: 34735,
  GeoDoubleParams: 34736,
  GeoAsciiParams: 34737,
  GdalMetadata: 42112,
  GdalNodata: 42113,
} as const;

/** One IFD entry: a tag, its type and its values (numbers, or a string for ASCII, NUL added on encoding). */
export interface TiffField {
  readonly tag: number;
  readonly type: FieldTypeCode;
  readonly values: readonly number[] | string;
}

/** Size in bytes of the file header: 8 for classic TIFF, 16 for BigTIFF. */
export function headerSize(bigtiff: boolean): number {
  return bigtiff ? 16 : 8;
}

/** Number of values a field holds (ASCII counts its terminating NUL). */
function fieldCount(f: TiffField): number {
  return typeof f.values === 'string' ? Buffer.byteLength(f.values, 'utf8') + 1 : f.values.length;
}

function fieldByteLength(f: TiffField): number {
  return fieldCount(f) * FIELD_SIZE[f.type];
}

/** Bytes an IFD takes, entry table plus out-of-line values, given only the fields' types and counts. */
export function ifdByteLength(fields: readonly TiffField[], bigtiff: boolean): number {
  const inline = bigtiff ? 8 : 4;
  let size = bigtiff ? 8 + fields.length * 20 + 8 : 2 + fields.length * 12 + 4;
  for (const f of fields) {
    const n = fieldByteLength(f);
    if (n > inline) size += n + (n & 1);
  }
  return size;
}

function writeValues(buf: Buffer, at: number, f: TiffField): void {
  if (typeof f.values === 'string') {
    const n = buf.write(f.values, at, 'utf8');
    buf[at + n] = 0;
    return;
  }
  const v = f.values;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    switch (f.type) {
      case FieldType.SHORT:
        if (!Number.isInteger(x) || x < 0 || x > 0xffff) throw new RangeError(`TIFF tag ${f.tag}: ${x} does not fit a SHORT`);
        buf.writeUInt16LE(x, at + i * 2);
        break;
      case FieldType.LONG:
        if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new RangeError(`TIFF tag ${f.tag}: ${x} does not fit a LONG`);
        buf.writeUInt32LE(x, at + i * 4);
        break;
      case FieldType.LONG8:
        if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`TIFF tag ${f.tag}: ${x} does not fit a LONG8`);
        buf.writeBigUInt64LE(BigInt(x), at + i * 8);
        break;
      case FieldType.DOUBLE:
        buf.writeDoubleLE(x, at + i * 8);
        break;
      default:
        throw new Error(`TIFF tag ${f.tag}: numeric values given for type ${f.type}`);
    }
  }
}

/**
 * Encodes one IFD placed at file offset `offset` (which must be even): the entry table sorted by tag,
 * the next-IFD pointer, then out-of-line values, each starting on a word boundary.
 */
export function encodeIfd(fields: readonly TiffField[], offset: number, nextIfd: number, bigtiff: boolean): Buffer {
  if (offset % 2 !== 0) throw new Error(`IFD offset ${offset} is not on a word boundary`);
  const sorted = [...fields].sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].tag === sorted[i - 1].tag) throw new Error(`TIFF tag ${sorted[i].tag} given twice in one IFD`);
  }
  if (!bigtiff && (offset > 0xffffffff || nextIfd > 0xffffffff)) throw new RangeError('IFD offset beyond 4 GiB in a classic TIFF');
  const buf = Buffer.alloc(ifdByteLength(sorted, bigtiff));
  const inline = bigtiff ? 8 : 4;
  const entrySize = bigtiff ? 20 : 12;
  const tableStart = bigtiff ? 8 : 2;
  let extra = tableStart + sorted.length * entrySize + (bigtiff ? 8 : 4);
  if (bigtiff) buf.writeBigUInt64LE(BigInt(sorted.length), 0);
  else buf.writeUInt16LE(sorted.length, 0);
  sorted.forEach((f, i) => {
    const e = tableStart + i * entrySize;
    const count = fieldCount(f);
    const bytes = fieldByteLength(f);
    buf.writeUInt16LE(f.tag, e);
    buf.writeUInt16LE(f.type, e + 2);
    if (bigtiff) buf.writeBigUInt64LE(BigInt(count), e + 4);
    else buf.writeUInt32LE(count, e + 4);
    const valueAt = e + (bigtiff ? 12 : 8);
    if (bytes <= inline) {
      writeValues(buf, valueAt, f);
    } else {
      if (bigtiff) buf.writeBigUInt64LE(BigInt(offset + extra), valueAt);
      else buf.writeUInt32LE(offset + extra, valueAt);
      writeValues(buf, extra, f);
      extra += bytes + (bytes & 1);
    }
  });
  const nextAt = tableStart + sorted.length * entrySize;
  if (bigtiff) buf.writeBigUInt64LE(BigInt(nextIfd), nextAt);
  else buf.writeUInt32LE(nextIfd, nextAt);
  return buf;
}

/** The file header: byte order "II", the version (42 or 43) and the first IFD's offset. */
export function encodeHeader(firstIfd: number, bigtiff: boolean): Buffer {
  const buf = Buffer.alloc(headerSize(bigtiff));
  buf.write('II', 0, 'latin1');
  if (bigtiff) {
    buf.writeUInt16LE(43, 2);
    buf.writeUInt16LE(8, 4);
    buf.writeUInt16LE(0, 6);
    buf.writeBigUInt64LE(BigInt(firstIfd), 8);
  } else {
    buf.writeUInt16LE(42, 2);
    buf.writeUInt32LE(firstIfd, 4);
  }
  return buf;
}

/** GDAL's structural-metadata lines declaring the COG layout, tile leaders and trailers. */
export const GHOST_LINES = [
  'LAYOUT=IFDS_BEFORE_DATA',
  'BLOCK_ORDER=ROW_MAJOR',
  'BLOCK_LEADER=SIZE_AS_UINT4',
  'BLOCK_TRAILER=LAST_4_BYTES_REPEATED',
  'KNOWN_INCOMPATIBLE_EDITION=NO',
  'MASK_INTERLEAVED_WITH_IMAGERY=YES',
] as const;

/**
 * GDAL's "ghost" block written right after the header: `GDAL_STRUCTURAL_METADATA_SIZE=NNNNNN bytes\n`
 * and the structural lines, padded with a space (counted in the size) so the first IFD after it starts
 * on a word boundary, as GDAL does.
 */
export function encodeGhostArea(bigtiff: boolean): Buffer {
  let body = GHOST_LINES.map((l) => `${l}\n`).join('');
  const prefixLen = 'GDAL_STRUCTURAL_METADATA_SIZE=000000 bytes\n'.length;
  if ((headerSize(bigtiff) + prefixLen + body.length) % 2 !== 0) body += ' ';
  const text = `GDAL_STRUCTURAL_METADATA_SIZE=${String(body.length).padStart(6, '0')} bytes\n${body}`;
  return Buffer.from(text, 'latin1');
}
