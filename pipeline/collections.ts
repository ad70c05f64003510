/**
 * The product collections a stream publishes into: one per satellite product (e.g.
 * `sentinel-2-l1c-sr`), made by stac/collection.ts `productCollection` and widened by `widenExtent`
 * as items arrive. Loaded lazily, with a minimal built-in collection when that module is absent.
 */
import type { StacCollection } from '../connectors/publishers/publisher.js';
import type { SatelliteSpec } from '../satellites/spec.js';
import type { StacItem } from '../stac/item.js';

interface CollectionModule {
  productCollection(satellite: SatelliteSpec, options?: Record<string, unknown>): StacCollection;
  widenExtent(collection: StacCollection, item: StacItem): StacCollection | void;
}

let modulePromise: Promise<CollectionModule | null> | null = null;

/** stac/collection.ts when it is there (imported by a computed path so this builds without it). */
async function collectionModule(): Promise<CollectionModule | null> {
  modulePromise ??= (async () => {
    const path = '../stac/collection.js';
    try {
      const m = (await import(path)) as Partial<CollectionModule>;
      return typeof m.productCollection === 'function' && typeof m.widenExtent === 'function' ? (m as CollectionModule) : null;
    } catch {
      return null;
    }
  })();
  return modulePromise;
}

/** A minimal STAC collection for a satellite's super-resolved product. */
export function fallbackCollection(satellite: SatelliteSpec): StacCollection {
  return {
    type: 'Collection',
    stac_version: '1.1.0',
    id: `${satellite.id}-sr`,
    title: `${satellite.title}, super-resolved`,
    description: `Every coarse band of ${satellite.title} super-resolved to ${Math.min(...satellite.bands.map((b) => b.resolution))} m by sharpstream.`,
    license: 'other',
    extent: { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[null, null]] } },
    links: [],
  };
}

/** Widens a collection's extent to cover an item (bbox and datetime). */
export function fallbackWiden(collection: StacCollection, item: StacItem): StacCollection {
  const ext = collection.extent as { spatial: { bbox: number[][] }; temporal: { interval: (string | null)[][] } };
  const ib = item.bbox as number[] | undefined;
  const cur = ext.spatial.bbox[0];
  const fresh = cur[0] === -180 && cur[1] === -90 && cur[2] === 180 && cur[3] === 90;
  const bbox = ib ? (fresh ? [...ib] : [Math.min(cur[0], ib[0]), Math.min(cur[1], ib[1]), Math.max(cur[2], ib[2]), Math.max(cur[3], ib[3])]) : cur;
  const dt = (item.properties.datetime as string | null) ?? null;
  const [t0, t1] = ext.temporal.interval[0];
  const interval = dt ? [t0 === null || dt < t0 ? dt : t0, t1 === null || dt > t1 ? dt : t1] : [t0, t1];
  return { ...collection, extent: { spatial: { bbox: [bbox] }, temporal: { interval: [interval] } } };
}

/** Keeps the collections of one stream, widened item by item. */
export class CollectionBook {
  private readonly byId = new Map<string, StacCollection>();

  /** The collection for a satellite's outputs (created on first use). */
  async forSatellite(satellite: SatelliteSpec): Promise<StacCollection> {
    const mod = await collectionModule();
    const c = mod ? mod.productCollection(satellite, {}) : fallbackCollection(satellite);
    const known = this.byId.get(c.id);
    if (known) return known;
    this.byId.set(c.id, c);
    return c;
  }

  /** Widens the collection to cover the item and returns the widened collection. */
  async widen(collectionId: string, item: StacItem): Promise<StacCollection> {
    const c = this.byId.get(collectionId);
    if (!c) throw new Error(`collection ${collectionId} is unknown to this stream`);
    const mod = await collectionModule();
    let next: StacCollection;
    if (mod) {
      const r = mod.widenExtent(c, item);
      next = r ?? c;
    } else next = fallbackWiden(c, item);
    this.byId.set(collectionId, next);
    return next;
  }
}
