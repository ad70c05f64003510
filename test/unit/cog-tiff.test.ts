import { describe, expect, it } from 'vitest';
import { crsKind, gdalMetadataXml, gdalNodataText, geoFields } from '../../cog/geotags.js';
import { FieldType, GHOST_LINES, Tag, encodeGhostArea, encodeHeader, encodeIfd, ifdByteLength, type TiffField } from '../../cog/tiff.js';
import { chooseBigTiff } from '../../cog/writer.js';

const fields: TiffField[] = [
  { tag: Tag.ImageLength, type: FieldType.LONG, values: [900] },
  { tag: Tag.ImageWidth, type: FieldType.LONG, values: [1300] },
  { tag: Tag.BitsPerSample, type: FieldType.SHORT, values: [16, 16, 16] },
  { tag: Tag.ModelPixelScale, type: FieldType.DOUBLE, values: [10, 10, 0] },
  { tag: Tag.GdalNodata, type: FieldType.ASCII, values: '0' },
  { tag: Tag.TileOffsets, type: FieldType.LONG, values: [1000, 2000, 3000] },
];

describe('encodeIfd (classic TIFF)', () => {
  const at = 200;
  const buf = encodeIfd(fields, at, 4242, false);

  it('has the size ifdByteLength predicts', () => {
    expect(buf.length).toBe(ifdByteLength(fields, false));
    // 2 + 6*12 + 4 = 78, then out-of-line: BitsPerSample 6, ModelPixelScale 24, TileOffsets 12
    expect(buf.length).toBe(78 + 6 + 24 + 12);
  });

  it('sorts entries by tag, stores small values inline and large ones after the table at absolute offsets', () => {
    expect(buf.readUInt16LE(0)).toBe(6);
    const tags = Array.from({ length: 6 }, (_, i) => buf.readUInt16LE(2 + i * 12));
    expect(tags).toEqual([256, 257, 258, 324, 33550, 42113]);
    // ImageWidth: LONG, count 1, inline value
    expect(buf.readUInt16LE(4)).toBe(FieldType.LONG);
    expect(buf.readUInt32LE(6)).toBe(1);
    expect(buf.readUInt32LE(10)).toBe(1300);
    // BitsPerSample: 3 SHORTs = 6 bytes, out of line
    const bpsOffset = buf.readUInt32LE(2 + 2 * 12 + 8);
    expect(bpsOffset).toBe(at + 78);
    expect([0, 1, 2].map((i) => buf.readUInt16LE(bpsOffset - at + i * 2))).toEqual([16, 16, 16]);
    // TileOffsets
    const toOffset = buf.readUInt32LE(2 + 3 * 12 + 8);
    expect([0, 1, 2].map((i) => buf.readUInt32LE(toOffset - at + i * 4))).toEqual([1000, 2000, 3000]);
    // ModelPixelScale doubles
    const mpsOffset = buf.readUInt32LE(2 + 4 * 12 + 8);
    expect(buf.readDoubleLE(mpsOffset - at)).toBe(10);
    // ASCII "0" + NUL fits inline
    expect(buf.readUInt32LE(2 + 5 * 12 + 4)).toBe(2);
    expect(buf.subarray(2 + 5 * 12 + 8, 2 + 5 * 12 + 10).toString('latin1')).toBe('0\0');
    // next IFD pointer after the table
    expect(buf.readUInt32LE(2 + 6 * 12)).toBe(4242);
  });

  it('rejects duplicate tags, odd offsets and values out of range', () => {
    expect(() => encodeIfd([...fields, fields[0]], 0, 0, false)).toThrow(/given twice/);
    expect(() => encodeIfd(fields, 201, 0, false)).toThrow(/word boundary/);
    expect(() => encodeIfd([{ tag: 1, type: FieldType.SHORT, values: [70000] }], 0, 0, false)).toThrow(/SHORT/);
    expect(() => encodeIfd([{ tag: 1, type: FieldType.LONG, values: [2 ** 32] }], 0, 0, false)).toThrow(/LONG/);
  });
});

describe('encodeIfd (BigTIFF)', () => {
  it('uses 8-byte counts and offsets, inlines up to 8 bytes and writes LONG8 values', () => {
    const big: TiffField[] = [
      { tag: Tag.ImageWidth, type: FieldType.LONG, values: [10] },
      { tag: Tag.TileOffsets, type: FieldType.LONG8, values: [2 ** 33 + 5] },
      { tag: Tag.BitsPerSample, type: FieldType.SHORT, values: [16, 16, 16, 16, 16] },
    ];
    const at = 5_000_000_000;
    const buf = encodeIfd(big, at, 0, true);
    expect(buf.length).toBe(ifdByteLength(big, true));
    expect(buf.length).toBe(8 + 3 * 20 + 8 + 10);
    expect(Number(buf.readBigUInt64LE(0))).toBe(3);
    // TileOffsets (third by tag order): inline LONG8
    const e = 8 + 2 * 20;
    expect(buf.readUInt16LE(e)).toBe(Tag.TileOffsets);
    expect(buf.readUInt16LE(e + 2)).toBe(FieldType.LONG8);
    expect(Number(buf.readBigUInt64LE(e + 12))).toBe(2 ** 33 + 5);
    // BitsPerSample: 10 bytes, out of line at an absolute 64-bit offset
    const b = 8 + 1 * 20;
    expect(Number(buf.readBigUInt64LE(b + 12))).toBe(at + 8 + 60 + 8);
  });
});

describe('header and ghost area', () => {
  it('writes classic and BigTIFF headers', () => {
    expect([...encodeHeader(192, false)]).toEqual([0x49, 0x49, 42, 0, 192, 0, 0, 0]);
    const big = encodeHeader(200, true);
    expect(big.length).toBe(16);
    expect([...big.subarray(0, 8)]).toEqual([0x49, 0x49, 43, 0, 8, 0, 0, 0]);
    expect(Number(big.readBigUInt64LE(8))).toBe(200);
  });

  it.each([false, true])('declares its own size and ends on a word boundary (bigtiff=%s)', (bigtiff) => {
    const ghost = encodeGhostArea(bigtiff).toString('latin1');
    const m = /^GDAL_STRUCTURAL_METADATA_SIZE=(\d{6}) bytes\n/.exec(ghost);
    expect(m).not.toBeNull();
    const body = ghost.slice(m![0].length);
    expect(body.length).toBe(Number(m![1]));
    for (const line of GHOST_LINES) expect(body).toContain(`${line}\n`);
    expect(((bigtiff ? 16 : 8) + ghost.length) % 2).toBe(0);
  });
});

describe('GeoTIFF and GDAL tags', () => {
  it('writes a projected EPSG code with PixelIsArea, pixel scale and tie point', () => {
    const f = geoFields({ x0: 399960, y0: 5000040, dx: 10, dy: -10 }, { epsg: 32633 });
    const byTag = new Map(f.map((x) => [x.tag, x.values]));
    expect(byTag.get(Tag.ModelPixelScale)).toEqual([10, 10, 0]);
    expect(byTag.get(Tag.ModelTiepoint)).toEqual([0, 0, 0, 399960, 5000040, 0]);
    expect(byTag.get(Tag.GeoKeyDirectory)).toEqual([1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 32633]);
  });

  it('writes a geographic EPSG code as GeographicTypeGeoKey', () => {
    const f = geoFields({ x0: 10, y0: 50, dx: 0.001, dy: -0.001 }, { epsg: 4326 });
    expect(f.find((x) => x.tag === Tag.GeoKeyDirectory)!.values).toEqual([1, 1, 0, 3, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326]);
    expect(crsKind({ epsg: 4087 })).toBe('projected');
    expect(crsKind({ epsg: 4258 })).toBe('geographic');
    expect(crsKind({ epsg: 3857 })).toBe('projected');
    expect(crsKind({ epsg: 9999, wkt: 'GEOGCRS["x"]' })).toBe('geographic');
  });

  it('refuses a CRS without a usable EPSG code', () => {
    const t = { x0: 0, y0: 0, dx: 1, dy: -1 };
    expect(() => geoFields(t, { epsg: null, wkt: 'PROJCS["x"]' })).toThrow(/EPSG code/);
    expect(() => geoFields(t, { epsg: 102100 })).toThrow(/EPSG code/);
  });

  it('formats nodata as GDAL does', () => {
    expect(gdalNodataText(0)).toBe('0');
    expect(gdalNodataText(-9999.5)).toBe('-9999.5');
    expect(gdalNodataText(Number.NaN)).toBe('nan');
    expect(gdalNodataText(-Infinity)).toBe('-inf');
  });

  it('builds GDAL_METADATA XML with dataset items and per-band roles, escaping text twice as GDAL does', () => {
    const xml = gdalMetadataXml({
      items: { PRODUCT: 'S2 <L2A> & "SR"', SCALE_FACTOR: 2 },
      descriptions: ['B02', ''],
      scales: [0.0001, 0.0002],
      offsets: [-0.1, 0],
    })!;
    expect(xml).toBe(
      [
        '<GDALMetadata>',
        '  <Item name="PRODUCT">S2 &amp;lt;L2A&amp;gt; &amp;amp; &amp;quot;SR&amp;quot;</Item>',
        '  <Item name="SCALE_FACTOR">2</Item>',
        '  <Item name="OFFSET" sample="0" role="offset">-0.1</Item>',
        '  <Item name="SCALE" sample="0" role="scale">0.0001</Item>',
        '  <Item name="DESCRIPTION" sample="0" role="description">B02</Item>',
        '  <Item name="OFFSET" sample="1" role="offset">0</Item>',
        '  <Item name="SCALE" sample="1" role="scale">0.0002</Item>',
        '</GDALMetadata>',
      ].join('\n'),
    );
    expect(gdalMetadataXml({})).toBeNull();
    expect(() => gdalMetadataXml({ items: { 'bad key': 1 } })).toThrow(/metadata key/);
  });
});

describe('chooseBigTiff', () => {
  it('switches to BigTIFF only past 4 GiB in auto mode, and when forced', () => {
    expect(chooseBigTiff('auto', 0xffffffff)).toBe(false);
    expect(chooseBigTiff('auto', 0xffffffff + 1)).toBe(true);
    expect(chooseBigTiff('yes', 1000)).toBe(true);
    expect(chooseBigTiff('no', 1000)).toBe(false);
    expect(() => chooseBigTiff('no', 2 ** 33, '/out/x.tif')).toThrow(/\/out\/x\.tif: .*4 GiB/);
  });
});
