/**
 * Publishers make output STAC items queryable: the embedded catalogue by default, any STAC API with
 * the transaction extension, a static catalogue folder. Publishing is idempotent (upsert), so a
 * redelivered scene publishes the same item again without duplicating it.
 */
import type { StacItem } from '../../stac/item.js';

/** A STAC collection document. */
export type StacCollection = Record<string, unknown> & { id: string; type: 'Collection' };

/** Something that makes output items and their collections queryable. */
export interface Publisher {
  /** Short name for logs, e.g. `embedded`, `stac-api:http://host/`, `static:/dir`. */
  readonly name: string;
  /** Creates or updates the collection (extent widened to cover the items published so far). */
  upsertCollection(collection: StacCollection): Promise<void>;
  /** Creates or replaces the item in its collection (item.collection must be set). */
  upsertItem(item: StacItem): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}
