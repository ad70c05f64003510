/**
 * STAC 1.1 collections of super-resolved products: one per satellite product (`sentinel-2-l1c-sr`,
 * `landsat-c2-l2-sr`, ...), describing what its items hold (platforms, instruments, GSD, the bands of
 * the COG, the two quicklooks) and an extent that grows as items are published. Pure functions.
 *
 * A collection made before its first item has the placeholder extent: the whole world and the open
 * interval [null, null]. widenExtent replaces that placeholder with the first item's extent.
 */
import type { StacCollection } from '../connectors/publishers/publisher.js';
import { finestResolution, type SatelliteSpec } from '../satellites/spec.js';
import { STAC_EXTENSIONS, type StacItem } from './item.js';

/** A bounding box in WGS84: [west, south, east, north] (west > east when it crosses the antimeridian). */
export type Bbox = [number, number, number, number];
/** A time interval; null is open-ended. */
export type Interval = [string | null, string | null];

/** The extent of a collection. */
export interface CollectionExtent {
  spatial: { bbox: number[][] };
  temporal: { interval: (string | null)[][] };
}

/** Options of productCollection. */
export interface ProductCollectionOptions {
  /** Collection id (default `<satellite id>-sr`). */
  readonly id?: string;
  readonly title?: string;
  readonly description?: string;
  /** SPDX license id or `other` (default `other`: outputs carry the license of their source data). */
  readonly license?: string;
  /** Link to the license text (rel `license`). */
  readonly licenseHref?: string;
  /** The first item: the initial extent (default: the placeholder extent). */
  readonly item?: StacItem;
  /** sharpstream's version, for the provider description. */
  readonly softwareVersion?: string;
  /** Providers to list before sharpstream (e.g. the producer of the source data). */
  readonly providers?: readonly Record<string, unknown>[];
  readonly keywords?: readonly string[];
  /** Extra links. */
  readonly links?: readonly Record<string, unknown>[];
}

/** Extensions a product collection declares: the same schemas its items use (eo and raster fields appear in summaries and item_assets). */
export const COLLECTION_EXTENSIONS: readonly string[] = [STAC_EXTENSIONS.eo, STAC_EXTENSIONS.raster, STAC_EXTENSIONS.projection, STAC_EXTENSIONS.processing];

/** The id of a satellite's super-resolved product collection: `<satellite id>-sr`. */
export function productCollectionId(satellite: SatelliteSpec): string {
  return `${satellite.id}-sr`;
}

/** The placeholder extent of a collection without items. */
export function emptyExtent(): CollectionExtent {
  return { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[null, null]] } };
}

/** Whether an extent is the placeholder of a collection without items (open interval at both ends). */
export function isEmptyExtent(extent: CollectionExtent): boolean {
  const i = extent.temporal?.interval?.[0];
  return !i || (i[0] === null && i[1] === null);
}

/** The 2D bbox and time interval an item covers; throws naming the item when it has no bbox or no time. */
export function itemExtent(item: StacItem): { bbox: Bbox; interval: [string, string] } {
  const b = item.bbox as unknown;
  let bbox: Bbox;
  if (Array.isArray(b) && (b.length === 4 || b.length === 6) && b.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    const n = b as number[];
    bbox = n.length === 4 ? [n[0], n[1], n[2], n[3]] : [n[0], n[1], n[3], n[4]];
  } else {
    throw new Error(`item ${item.id}: needs a bbox of 4 (or 6) numbers to widen a collection's extent`);
  }
  const p = item.properties ?? {};
  const dt = typeof p.datetime === 'string' ? p.datetime : null;
  const start = typeof p.start_datetime === 'string' ? p.start_datetime : dt;
  const end = typeof p.end_datetime === 'string' ? p.end_datetime : dt;
  if (!start || !end) throw new Error(`item ${item.id}: needs properties.datetime or start_datetime/end_datetime to widen a collection's extent`);
  return { bbox, interval: [utc(start, item.id), utc(end, item.id)] };
}

/** An RFC 3339 instant in UTC (collection extents must be UTC): kept when it is, else converted. */
function utc(t: string, itemId: string): string {
  const v = Date.parse(t);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(t) || Number.isNaN(v)) {
    throw new Error(`item ${itemId}: "${t}" is not an RFC 3339 date-time`);
  }
  return /(Z|\+00:00)$/i.test(t) ? t : new Date(v).toISOString();
}

/** Milliseconds of an RFC 3339 instant, for ordering (string order would miss offsets). */
function ms(t: string): number {
  const v = Date.parse(t);
  if (Number.isNaN(v)) throw new Error(`"${t}" is not an RFC 3339 date-time`);
  return v;
}

/** The union of two bboxes; a box across the antimeridian widens to all longitudes. */
export function unionBbox(a: Bbox, b: Bbox): Bbox {
  const s = Math.min(a[1], b[1]);
  const n = Math.max(a[3], b[3]);
  if (a[0] > a[2] || b[0] > b[2]) return [-180, s, 180, n];
  return [Math.min(a[0], b[0]), s, Math.max(a[2], b[2]), n];
}

/** The union of two intervals (null stays open). */
export function unionInterval(a: Interval, b: Interval): Interval {
  const start = a[0] === null || b[0] === null ? null : ms(a[0]) <= ms(b[0]) ? a[0] : b[0];
  const end = a[1] === null || b[1] === null ? null : ms(a[1]) >= ms(b[1]) ? a[1] : b[1];
  return [start, end];
}

function firstBbox(extent: CollectionExtent): Bbox {
  const b = extent.spatial?.bbox?.[0];
  if (!Array.isArray(b) || (b.length !== 4 && b.length !== 6)) throw new Error('collection extent.spatial.bbox[0] must have 4 or 6 numbers');
  return b.length === 4 ? [b[0], b[1], b[2], b[3]] : [b[0], b[1], b[3], b[4]];
}

function firstInterval(extent: CollectionExtent): Interval {
  const i = extent.temporal?.interval?.[0];
  if (!Array.isArray(i) || i.length !== 2) throw new Error('collection extent.temporal.interval[0] must have 2 entries');
  return [i[0] ?? null, i[1] ?? null];
}

/** The union of two extents (the overall box and interval; the placeholder extent counts as nothing). */
export function unionExtent(a: CollectionExtent, b: CollectionExtent): CollectionExtent {
  if (isEmptyExtent(a)) return structuredClone(b);
  if (isEmptyExtent(b)) return structuredClone(a);
  return { spatial: { bbox: [unionBbox(firstBbox(a), firstBbox(b))] }, temporal: { interval: [unionInterval(firstInterval(a), firstInterval(b))] } };
}

/** A new collection whose extent also covers the item (the input is not changed). */
export function widenExtent(collection: StacCollection, item: StacItem): StacCollection {
  const { bbox, interval } = itemExtent(item);
  const current = (collection.extent as CollectionExtent | undefined) ?? emptyExtent();
  const extent = unionExtent(current, { spatial: { bbox: [bbox] }, temporal: { interval: [interval] } });
  return { ...structuredClone(collection), extent };
}

/** A new collection whose extent covers both collections' extents: what a publisher stores when it upserts over an existing one. */
export function mergeCollectionExtent(incoming: StacCollection, existing: Record<string, unknown> | null | undefined): StacCollection {
  if (!existing || typeof existing.extent !== 'object' || existing.extent === null) return incoming;
  const a = incoming.extent as CollectionExtent | undefined;
  if (!a) return { ...incoming, extent: structuredClone(existing.extent as CollectionExtent) };
  try {
    return { ...incoming, extent: unionExtent(existing.extent as CollectionExtent, a) };
  } catch {
    return incoming;
  }
}

/** The eo/raster description of each band of the product's COG (all bands at the finest resolution). */
function bandSummaries(satellite: SatelliteSpec): Record<string, unknown>[] {
  const res = finestResolution(satellite);
  return satellite.bands.map((b) => ({
    name: b.id,
    description: `${b.description ?? b.id}${b.resolution > res ? ` (super-resolved from ${b.resolution} m to ${res} m)` : ''}`,
    ...(b.commonName ? { 'eo:common_name': b.commonName } : {}),
    ...(b.centerWavelength ? { 'eo:center_wavelength': b.centerWavelength } : {}),
    ...(b.fullWidthHalfMax ? { 'eo:full_width_half_max': b.fullWidthHalfMax } : {}),
  }));
}

/** The STAC collection of a satellite's super-resolved product. */
export function productCollection(satellite: SatelliteSpec, options: ProductCollectionOptions = {}): StacCollection {
  const id = options.id ?? productCollectionId(satellite);
  const res = finestResolution(satellite);
  const coarse = [...new Set(satellite.bands.filter((b) => b.resolution > res).map((b) => b.resolution))].sort((a, b) => a - b);
  const bands = bandSummaries(satellite);
  const r = satellite.radiometry;
  const extent = options.item ? widenExtent({ type: 'Collection', id, extent: emptyExtent() }, options.item).extent : emptyExtent();
  const links: Record<string, unknown>[] = [...(options.links ?? []).map((l) => ({ ...l }))];
  if (options.licenseHref) links.push({ rel: 'license', href: options.licenseHref, title: 'License' });
  return {
    type: 'Collection',
    stac_version: '1.1.0',
    stac_extensions: [...COLLECTION_EXTENSIONS],
    id,
    title: options.title ?? `${satellite.title}, super-resolved to ${res} m`,
    description:
      options.description ??
      `${satellite.title} with every coarse band (${coarse.map((c) => `${c} m`).join(', ') || 'none'}) super-resolved to ${res} m by DSen2-style convolutional networks (sharpstream). ` +
        'Each item is one Cloud-Optimized GeoTIFF with all bands on the finest grid, and two quicklooks of the same bands and stretch: the super-resolved one and a bicubic upsampling for comparison. ' +
        'Values keep the source digital numbers (see raster:scale and raster:offset); the outputs carry the license of their source data.',
    keywords: [...(options.keywords ?? [satellite.constellation, ...satellite.instruments, 'super-resolution', 'dsen2', 'cog'])],
    license: options.license ?? 'other',
    providers: [
      ...(options.providers ?? []).map((p) => ({ ...p })),
      {
        name: 'sharpstream',
        description: `Super-resolution of the source bands${options.softwareVersion ? ` (sharpstream ${options.softwareVersion})` : ''}`,
        roles: ['processor'],
      },
    ],
    extent,
    summaries: {
      constellation: [satellite.constellation],
      platform: [...satellite.platforms],
      instruments: [...satellite.instruments],
      gsd: [res],
      'processing:level': [`${satellite.processingLevel}-SR`],
      bands,
    },
    item_assets: {
      data: {
        type: 'image/tiff; application=geotiff; profile=cloud-optimized',
        roles: ['data'],
        title: `${satellite.title}, super-resolved to ${res} m`,
        bands: bands.map((b) => ({
          ...b,
          ...(r.nodata !== null ? { nodata: r.nodata } : {}),
          'raster:spatial_resolution': res,
          'raster:scale': r.scale,
          'raster:offset': r.offset,
        })),
      },
      thumbnail: { type: 'image/png', roles: ['thumbnail'], title: 'Quicklook, super-resolved' },
      'thumbnail-bicubic': { type: 'image/png', roles: ['thumbnail'], title: 'Quicklook, bicubic upsampling (same bands and stretch)' },
    },
    links,
  };
}
