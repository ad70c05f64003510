import { describe, expect, it } from 'vitest';
import { defaultQuicklookBands, pickGeoTiffSamples, quicklookFormat, quicklookSize } from '../../cog/quicklook.js';
import { satellites } from '../../satellites/registry.js';

const reg = satellites();

describe('quicklookSize', () => {
  it('limits the long side and keeps the aspect ratio', () => {
    expect(quicklookSize(1536, 768, 512)).toEqual({ width: 512, height: 256 });
    expect(quicklookSize(200, 300, 100)).toEqual({ width: 67, height: 100 });
    expect(quicklookSize(10980, 10980, 1024)).toEqual({ width: 1024, height: 1024 });
  });

  it('never enlarges and never collapses a side to zero', () => {
    expect(quicklookSize(120, 120, 1024)).toEqual({ width: 120, height: 120 });
    expect(quicklookSize(5000, 2, 100)).toEqual({ width: 100, height: 1 });
  });

  it('rejects sizes that are not positive integers', () => {
    expect(() => quicklookSize(10, 10, 0)).toThrow(/positive integer/);
    expect(() => quicklookSize(10, 10, 2.5)).toThrow(/positive integer/);
  });
});

describe('quicklookFormat', () => {
  it('picks the format from the extension, case-insensitively', () => {
    expect(quicklookFormat('a/b.png')).toBe('png');
    expect(quicklookFormat('x.JPG')).toBe('jpeg');
    expect(quicklookFormat('x.jpeg')).toBe('jpeg');
    expect(() => quicklookFormat('x.tif')).toThrow(/x\.tif must end in \.png, \.jpg or \.jpeg/);
  });
});

describe('defaultQuicklookBands', () => {
  it('uses the red, green and blue common names of each satellite', () => {
    const s2 = reg.get('sentinel-2-l2a');
    expect(defaultQuicklookBands(s2, s2.bands.map((b) => b.id))).toEqual(['B04', 'B03', 'B02']);
    const l8 = reg.get('landsat-c2-l1');
    expect(defaultQuicklookBands(l8, l8.bands.map((b) => b.id))).toEqual(['B4', 'B3', 'B2']);
    const l2 = reg.get('landsat-c2-l2');
    expect(defaultQuicklookBands(l2, l2.bands.map((b) => b.id))).toEqual(['SR_B4', 'SR_B3', 'SR_B2']);
  });

  it('falls back to the pan band in grey when a colour band is missing', () => {
    const l8 = reg.get('landsat-c2-l1');
    expect(defaultQuicklookBands(l8, ['B8'])).toEqual(['B8']);
    expect(defaultQuicklookBands(l8, ['B2', 'B3', 'B8'])).toEqual(['B8']);
  });

  it('names the bands present when it cannot draw anything', () => {
    const s2 = reg.get('sentinel-2-l1c');
    expect(() => defaultQuicklookBands(s2, ['B05', 'B8A'])).toThrow(/no red, green and blue bands .* among B05, B8A; choose bands with --bands/);
  });
});

describe('pickGeoTiffSamples', () => {
  const specs = reg.list();

  it('orders red, green, blue from band descriptions of any known satellite', () => {
    expect(pickGeoTiffSamples(['B02', 'B03', 'B04', 'B08'], undefined, specs, 'x.tif')).toEqual([2, 1, 0]);
    expect(pickGeoTiffSamples(['B2', 'B3', 'B4', 'B8'], undefined, specs, 'x.tif')).toEqual([2, 1, 0]);
    expect(pickGeoTiffSamples(['Blue', 'Green', 'Red'], undefined, specs, 'x.tif')).toEqual([2, 1, 0]);
  });

  it('falls back to the first three samples, or the first alone', () => {
    expect(pickGeoTiffSamples([null, null, null, null], undefined, specs, 'x.tif')).toEqual([0, 1, 2]);
    expect(pickGeoTiffSamples(['B05', 'B06'], undefined, specs, 'x.tif')).toEqual([0]);
  });

  it('takes requested bands by description or by number from 1', () => {
    expect(pickGeoTiffSamples(['B02', 'B03', 'B04', 'B08'], ['b08', '3', 'B02'], specs, 'x.tif')).toEqual([3, 2, 0]);
    expect(() => pickGeoTiffSamples(['B02', null], ['B12'], specs, 'out.tif')).toThrow(/out\.tif: has no band "B12" \(bands: 1 \(B02\), 2\)/);
    expect(() => pickGeoTiffSamples(['B02'], ['2'], specs, 'out.tif')).toThrow(/has no band "2"/);
  });
});
