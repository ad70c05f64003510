/**
 * Links of the embedded STAC API: item, collection and item-collection links relative to the base URL,
 * replacing whatever self/root/parent/collection links a stored document carries.
 */

/** A STAC link. */
export interface Link {
  rel: string;
  href: string;
  type?: string;
  title?: string;
  method?: string;
  body?: unknown;
  merge?: boolean;
}

/** Media types used in links and responses. */
export const GEOJSON = 'application/geo+json';
export const JSON_TYPE = 'application/json';
export const OPENAPI = 'application/vnd.oai.openapi+json;version=3.0';
/** The OGC queryables link relation. */
export const QUERYABLES_REL = 'http://www.opengis.net/def/rel/ogc/1.0/queryables';

const API_RELS = new Set(['self', 'root', 'parent', 'collection', 'items', 'queryables', QUERYABLES_REL]);

const enc = encodeURIComponent;

/** URL of a collection. */
export function collectionUrl(base: string, collectionId: string): string {
  return `${base}/collections/${enc(collectionId)}`;
}

/** URL of an item. */
export function itemUrl(base: string, collectionId: string, itemId: string): string {
  return `${collectionUrl(base, collectionId)}/items/${enc(itemId)}`;
}

function ownLinks(doc: Record<string, unknown>): Link[] {
  const links = Array.isArray(doc.links) ? (doc.links as Link[]) : [];
  return links.filter((l) => !API_RELS.has(l.rel));
}

/** An item with the API's self, parent, collection and root links. */
export function withItemLinks(item: Record<string, unknown>, base: string): Record<string, unknown> {
  const c = String(item.collection);
  const cu = collectionUrl(base, c);
  return {
    ...item,
    links: [
      ...ownLinks(item),
      { rel: 'self', href: itemUrl(base, c, String(item.id)), type: GEOJSON },
      { rel: 'parent', href: cu, type: JSON_TYPE },
      { rel: 'collection', href: cu, type: JSON_TYPE },
      { rel: 'root', href: `${base}/`, type: JSON_TYPE },
    ],
  };
}

/** A collection with the API's self, parent, root, items and queryables links. */
export function withCollectionLinks(collection: Record<string, unknown>, base: string): Record<string, unknown> {
  const cu = collectionUrl(base, String(collection.id));
  return {
    ...collection,
    links: [
      ...ownLinks(collection),
      { rel: 'self', href: cu, type: JSON_TYPE },
      { rel: 'parent', href: `${base}/`, type: JSON_TYPE },
      { rel: 'root', href: `${base}/`, type: JSON_TYPE },
      { rel: 'items', href: `${cu}/items`, type: GEOJSON },
      { rel: QUERYABLES_REL, href: `${cu}/queryables`, type: 'application/schema+json' },
    ],
  };
}
