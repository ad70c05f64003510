/** Items and collections for the publisher tests: schema-valid STAC 1.1 built in code. */
import type { StacCollection } from '../../connectors/publishers/publisher.js';
import { satellites } from '../../satellites/registry.js';
import { productCollection } from '../../stac/collection.js';
import type { StacItem } from '../../stac/item.js';

/** A product collection (Sentinel-2 L1C) under a chosen id, with the placeholder extent. */
export function fixtureCollection(id = 'sentinel-2-l1c-sr'): StacCollection {
  return productCollection(satellites().get('sentinel-2-l1c'), { id });
}

/** A valid output item of collection `collection` over `bbox` at `datetime`, with COG and quicklook assets. */
export function fixtureItem(id: string, collection: string, bbox: [number, number, number, number], datetime: string, cloud = 12.5): StacItem {
  const [w, s, e, n] = bbox;
  return {
    type: 'Feature',
    stac_version: '1.1.0',
    stac_extensions: ['https://stac-extensions.github.io/eo/v2.0.0/schema.json'],
    id,
    collection,
    geometry: { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] },
    bbox: [w, s, e, n],
    properties: { datetime, platform: 'sentinel-2a', constellation: 'sentinel-2', instruments: ['msi'], gsd: 10, 'eo:cloud_cover': cloud },
    links: [{ rel: 'derived_from', href: `https://example.org/source/${id}.json`, type: 'application/geo+json' }],
    assets: {
      data: { href: `https://data.example.org/out/${collection}/${id}/${id}.tif`, type: 'image/tiff; application=geotiff; profile=cloud-optimized', roles: ['data'] },
      thumbnail: { href: `https://data.example.org/out/${collection}/${id}/${id}.png`, type: 'image/png', roles: ['thumbnail'] },
      'thumbnail-bicubic': { href: `https://data.example.org/out/${collection}/${id}/${id}_bicubic.png`, type: 'image/png', roles: ['thumbnail'] },
    },
  };
}
