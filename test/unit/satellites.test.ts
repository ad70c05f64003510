import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SatelliteRegistry, builtinSatelliteDir, loadSatelliteFile, satellites } from '../../satellites/registry.js';
import { groupInputs, groupPatch, matchBandId, parseSatelliteSpec, SatelliteSpecError } from '../../satellites/spec.js';
import { detectSatellite } from '../../scene/detect.js';
import { metadataDnOffset } from '../../scene/radiometry.js';

/** A satellite that exists only in this test: 5 m pan, 10 m and 30 m multispectral bands. */
const madeUp = {
  id: 'acme-sat-l1',
  title: 'ACME-Sat imager, Level-1',
  constellation: 'acme',
  platforms: ['acme-1'],
  instruments: ['acmecam'],
  processingLevel: 'L1',
  bands: [
    { id: 'P', commonName: 'pan', resolution: 5 },
    { id: 'M1', commonName: 'blue', resolution: 10 },
    { id: 'M2', commonName: 'red', resolution: 10 },
    { id: 'S1', commonName: 'swir16', resolution: 30 },
  ],
  groups: [
    { id: '10m', targets: ['M1', 'M2'], factor: 2 },
    { id: '30m', targets: ['S1'], factor: 6 },
  ],
  radiometry: { scale: 0.0001, offset: 0, nodata: 0 },
  recognition: { productName: ['^ACME1_L1_'], bandFile: '_(P|M\\d|S\\d)\\.tif$', stacCollections: ['acme-l1'] },
};

describe('satellite definitions', () => {
  it('ships Sentinel-2 L1C/L2A and Landsat C2 L1/L2, each valid', () => {
    const ids = satellites().list().map((s) => s.id);
    expect(ids).toEqual(expect.arrayContaining(['sentinel-2-l1c', 'sentinel-2-l2a', 'landsat-c2-l1', 'landsat-c2-l2']));
  });

  it('gives Sentinel-2 the DSen2 groups and input orders', () => {
    const s2 = satellites().get('sentinel-2-l1c');
    const [g20, g60] = s2.groups;
    expect(g20.factor).toBe(2);
    expect(groupInputs(s2, g20)).toEqual(['B04', 'B03', 'B02', 'B08', 'B05', 'B06', 'B07', 'B8A', 'B11', 'B12']);
    expect(g60.factor).toBe(6);
    expect(groupInputs(s2, g60)).toEqual(['B04', 'B03', 'B02', 'B08', 'B05', 'B06', 'B07', 'B8A', 'B11', 'B12', 'B01', 'B09']);
    expect(groupPatch(g20)).toEqual({ size: 128, border: 8 });
    expect(groupPatch(g60)).toEqual({ size: 192, border: 12 });
    expect(s2.bands.some((b) => b.id === 'B10')).toBe(true);
    expect(s2.groups.flatMap((g) => g.targets)).not.toContain('B10');
    expect(satellites().get('sentinel-2-l2a').bands.some((b) => b.id === 'B10')).toBe(false);
  });

  it('guides Landsat 30 m bands with the 15 m pan band at x2', () => {
    const l8 = satellites().get('landsat-c2-l1');
    const g = l8.groups[0];
    expect(g.factor).toBe(2);
    expect(groupInputs(l8, g)[0]).toBe('B8');
  });

  it('adds a new satellite from a file alone, and detects its products', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sat-'));
    const file = join(dir, 'acme.json');
    writeFileSync(file, JSON.stringify(madeUp));
    const reg = new SatelliteRegistry().addPath(builtinSatelliteDir()).addPath(dir);
    const acme = reg.get('acme-sat-l1');
    expect(groupInputs(acme, acme.groups[0])).toEqual(['P', 'M1', 'M2']);
    expect(groupInputs(acme, acme.groups[1])).toEqual(['P', 'M1', 'M2', 'S1']);
    expect(groupPatch(acme.groups[1])).toEqual({ size: 192, border: 12 });
    expect(detectSatellite('x', reg, { names: ['ACME1_L1_20260101_0001'] }).id).toBe('acme-sat-l1');
    expect(detectSatellite('x', reg, { stacCollection: 'acme-l1' }).id).toBe('acme-sat-l1');
    expect(reg.resolve(file).id).toBe('acme-sat-l1');
  });

  it('loads definitions named by SHARPSTREAM_SATELLITES-style paths and by --satellite file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sat-'));
    const file = join(dir, 'acme.json');
    writeFileSync(file, JSON.stringify(madeUp));
    expect(loadSatelliteFile(file).bands.map((b) => b.id)).toEqual(['P', 'M1', 'M2', 'S1']);
  });

  it.each([
    [{ ...madeUp, id: 'Bad Id' }, /lower-case/],
    [{ ...madeUp, bands: [] }, /bands must be a non-empty array/],
    [{ ...madeUp, groups: [{ id: 'x', targets: ['NOPE'], factor: 2 }] }, /unknown band "NOPE"/],
    [{ ...madeUp, groups: [{ id: 'x', targets: ['M1'], factor: 3 }] }, /factor is 3 but/],
    [{ ...madeUp, groups: [{ id: 'x', targets: ['M1', 'S1'], factor: 2 }] }, /share one resolution/],
    [{ ...madeUp, recognition: { productName: ['('], bandFile: '_(P)\\.tif$' } }, /invalid regular expression/],
    [{ ...madeUp, recognition: { productName: [], bandFile: '_P\\.tif$' } }, /capture group/],
    [{ ...madeUp, radiometry: { scale: 'x', offset: 0, nodata: 0 } }, /radiometry\.scale/],
  ])('rejects a broken definition with a message naming the field (%#)', (json, msg) => {
    expect(() => parseSatelliteSpec(json, 'bad.json')).toThrow(SatelliteSpecError);
    expect(() => parseSatelliteSpec(json, 'bad.json')).toThrow(msg);
  });

  it('reports malformed JSON files by path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sat-'));
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ "id": ');
    expect(() => loadSatelliteFile(file)).toThrow(/broken\.json is not valid JSON/);
  });

  it('says which satellites it knows when none matches', () => {
    expect(() => detectSatellite('scene-x', satellites(), { names: ['WHATEVER_123'] })).toThrow(/pass --satellite with one of: .*sentinel-2-l1c/);
  });

  it('matches band ids written with or without leading zeros', () => {
    const s2 = satellites().get('sentinel-2-l2a');
    expect(matchBandId(s2, 'b5')).toBe('B05');
    expect(matchBandId(s2, 'B8a')).toBe('B8A');
    expect(matchBandId(s2, 'B10')).toBeNull();
  });

  it('applies the -1000 DN offset from processing baseline 04.00 on', () => {
    const s2 = satellites().get('sentinel-2-l1c');
    expect(metadataDnOffset(s2, '02.04')).toBe(0);
    expect(metadataDnOffset(s2, '04.00')).toBe(-1000);
    expect(metadataDnOffset(s2, '05.10')).toBe(-1000);
    expect(metadataDnOffset(s2, '05.10', -500)).toBe(-500);
    expect(metadataDnOffset(s2, undefined)).toBe(0);
    expect(metadataDnOffset(satellites().get('landsat-c2-l1'), '05.00')).toBe(0);
  });
});
