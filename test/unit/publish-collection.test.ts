import { describe, expect, it } from 'vitest';
import { satellites } from '../../satellites/registry.js';
import type { StacItem } from '../../stac/item.js';
import {
  emptyExtent,
  isEmptyExtent,
  mergeCollectionExtent,
  productCollection,
  productCollectionId,
  unionBbox,
  unionInterval,
  widenExtent,
} from '../../stac/collection.js';
import { stacErrors } from '../helpers/stac-schemas.js';

function item(id: string, bbox: number[], datetime: string | null, extra: Record<string, unknown> = {}): StacItem {
  const [w, s, e, n] = bbox;
  return {
    type: 'Feature',
    stac_version: '1.1.0',
    id,
    collection: 'sentinel-2-l1c-sr',
    geometry: { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] },
    bbox,
    properties: { datetime, ...extra },
    links: [],
    assets: {},
  };
}

describe('productCollection', () => {
  const s2 = satellites().get('sentinel-2-l1c');

  it('describes a product as a schema-valid STAC 1.1 collection with summaries and item_assets', () => {
    const c = productCollection(s2, { softwareVersion: '0.1.0' });
    expect(c.id).toBe('sentinel-2-l1c-sr');
    expect(productCollectionId(s2)).toBe('sentinel-2-l1c-sr');
    expect(stacErrors(c)).toEqual([]);
    const summaries = c.summaries as Record<string, unknown[]>;
    expect(summaries.platform).toEqual(['sentinel-2a', 'sentinel-2b', 'sentinel-2c']);
    expect(summaries.instruments).toEqual(['msi']);
    expect(summaries.gsd).toEqual([10]);
    expect((summaries.bands as { name: string }[]).map((b) => b.name)).toEqual(s2.bands.map((b) => b.id));
    const assets = c.item_assets as Record<string, { roles: string[]; bands?: Record<string, unknown>[] }>;
    expect(Object.keys(assets).sort()).toEqual(['data', 'thumbnail', 'thumbnail-bicubic']);
    expect(assets.data.bands?.find((b) => b.name === 'B05')).toMatchObject({ 'eo:common_name': 'rededge', 'raster:spatial_resolution': 10 });
    expect(String(assets.data.bands?.find((b) => b.name === 'B05')?.description)).toMatch(/from 20 m to 10 m/);
    const providers = c.providers as { name: string; roles: string[] }[];
    expect(providers.at(-1)).toMatchObject({ name: 'sharpstream', roles: ['processor'] });
    expect(isEmptyExtent(c.extent as never)).toBe(true);
  });

  it('is valid for every shipped satellite, with an extent from the first item when given', () => {
    for (const sat of satellites().list()) {
      const first = item('a', [10, 45, 11, 46], '2024-05-01T10:00:00Z');
      const c = productCollection(sat, { item: first, licenseHref: 'https://example.org/terms', providers: [{ name: 'Source agency', roles: ['producer', 'licensor'] }] });
      expect(stacErrors(c), sat.id).toEqual([]);
      expect(c.id).toBe(`${sat.id}-sr`);
      expect(c.extent).toEqual({ spatial: { bbox: [[10, 45, 11, 46]] }, temporal: { interval: [['2024-05-01T10:00:00Z', '2024-05-01T10:00:00Z']] } });
      expect((c.links as { rel: string }[]).map((l) => l.rel)).toEqual(['license']);
      expect((c.providers as unknown[]).length).toBe(2);
    }
  });
});

describe('widenExtent', () => {
  const s2 = satellites().get('sentinel-2-l1c');

  it('replaces the placeholder with the first item, then grows with each item and never shrinks', () => {
    const c0 = productCollection(s2);
    const c1 = widenExtent(c0, item('a', [10, 45, 11, 46], '2024-05-01T10:00:00Z'));
    expect(c1.extent).toEqual({ spatial: { bbox: [[10, 45, 11, 46]] }, temporal: { interval: [['2024-05-01T10:00:00Z', '2024-05-01T10:00:00Z']] } });
    expect(isEmptyExtent(c0.extent as never)).toBe(true); // input unchanged
    const c2 = widenExtent(c1, item('b', [9.5, 45.5, 10.5, 47], null, { start_datetime: '2024-04-30T00:00:00Z', end_datetime: '2024-05-02T00:00:00+02:00' }));
    expect(c2.extent).toEqual({ spatial: { bbox: [[9.5, 45, 11, 47]] }, temporal: { interval: [['2024-04-30T00:00:00Z', '2024-05-01T22:00:00.000Z']] } });
    const c3 = widenExtent(c2, item('c', [10.2, 45.2, 10.3, 45.3], '2024-05-01T12:00:00Z'));
    expect(c3.extent).toEqual(c2.extent);
    expect(stacErrors(c3)).toEqual([]);
  });

  it('compares instants, not strings, and handles 3D boxes and the antimeridian', () => {
    expect(unionInterval(['2024-05-01T10:00:00+02:00', '2024-05-01T10:00:00+02:00'], ['2024-05-01T09:00:00Z', '2024-05-01T09:00:00Z'])).toEqual([
      '2024-05-01T10:00:00+02:00',
      '2024-05-01T09:00:00Z',
    ]);
    expect(unionInterval(['2024-01-01T00:00:00Z', null], ['2025-01-01T00:00:00Z', '2025-02-01T00:00:00Z'])).toEqual(['2024-01-01T00:00:00Z', null]);
    expect(unionBbox([170, -10, -170, 10], [0, 0, 1, 20])).toEqual([-180, -10, 180, 20]);
    const c = widenExtent(productCollection(s2), item('z', [1, 2, 0, 3, 4, 100], '2024-01-01T00:00:00Z'));
    expect((c.extent as { spatial: { bbox: number[][] } }).spatial.bbox).toEqual([[1, 2, 3, 4]]);
  });

  it('refuses items without a bbox or a time, naming the item', () => {
    const c = productCollection(s2);
    expect(() => widenExtent(c, { ...item('nb', [0, 0, 1, 1], '2024-01-01T00:00:00Z'), bbox: undefined })).toThrow(/item nb: needs a bbox/);
    expect(() => widenExtent(c, item('nt', [0, 0, 1, 1], null))).toThrow(/item nt: needs properties.datetime/);
    expect(() => widenExtent(c, item('bad', [0, 0, 1, 1], 'yesterday'))).toThrow(/item bad: "yesterday" is not an RFC 3339/);
    expect(() => widenExtent(c, item('bad', [0, 0, 1, 1], '2024-13-45T00:00:00Z'))).toThrow(/item bad/);
  });

  it('merges an incoming collection with a stored one so that publishing from a fresh run never narrows the extent', () => {
    const stored = widenExtent(productCollection(s2), item('old', [0, 40, 2, 42], '2023-01-01T00:00:00Z'));
    const fresh = widenExtent(productCollection(s2), item('new', [5, 45, 6, 46], '2024-01-01T00:00:00Z'));
    const merged = mergeCollectionExtent(fresh, stored);
    expect(merged.extent).toEqual({ spatial: { bbox: [[0, 40, 6, 46]] }, temporal: { interval: [['2023-01-01T00:00:00Z', '2024-01-01T00:00:00Z']] } });
    expect(mergeCollectionExtent(productCollection(s2), stored).extent).toEqual(stored.extent);
    expect(mergeCollectionExtent(fresh, null)).toBe(fresh);
    expect(emptyExtent()).toEqual({ spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[null, null]] } });
  });
});
