/**
 * Publishes into the embedded catalogue (stac/catalogue, SQLite): collections are stored with the
 * union of the stored and the new extent, items are upserted, and each item widens its collection's
 * extent in the same transaction, so the catalogue's extents always cover its items.
 */
import type { Catalogue } from '../../stac/catalogue/catalogue.js';
import { mergeCollectionExtent, widenExtent } from '../../stac/collection.js';
import type { StacItem } from '../../stac/item.js';
import type { Publisher, StacCollection } from './publisher.js';

/** Options of the embedded publisher. */
export interface CataloguePublisherOptions {
  /** Close the catalogue when the publisher closes (default false: the owner closes it). */
  readonly closeCatalogue?: boolean;
}

/** Names the publisher in an error from the catalogue (whose message already says what was wrong). */
function wrap(what: string, e: unknown): Error {
  const status = (e as { status?: number }).status;
  return new Error(`embedded catalogue: ${what}: ${(e as Error).message ?? String(e)}${status ? ` (HTTP ${status})` : ''}`, { cause: e });
}

/** A publisher into an in-process Catalogue. */
export class CataloguePublisher implements Publisher {
  readonly name = 'embedded';

  /** Publishes into `catalogue`. */
  constructor(
    readonly catalogue: Catalogue,
    private readonly options: CataloguePublisherOptions = {},
  ) {}

  /** Creates or replaces the collection, keeping the union of the stored and the new extent. */
  async upsertCollection(collection: StacCollection): Promise<void> {
    try {
      this.catalogue.db.transaction(() => {
        this.catalogue.upsertCollection(mergeCollectionExtent(collection, this.catalogue.getCollection(collection.id)));
      })();
    } catch (e) {
      throw wrap(`collection ${collection.id}`, e);
    }
  }

  /** Creates or replaces the item and widens its collection's extent, in one transaction. */
  async upsertItem(item: StacItem): Promise<void> {
    const cid = item.collection;
    if (typeof cid !== 'string' || cid.length === 0) throw new Error(`embedded catalogue: item ${item.id} has no collection`);
    try {
      this.catalogue.db.transaction(() => {
        const col = this.catalogue.getCollection(cid);
        if (!col) throw new Error(`collection ${cid} does not exist (upsertCollection first)`);
        this.catalogue.upsertItem(item);
        const widened = widenExtent(col, item);
        if (JSON.stringify(widened.extent) !== JSON.stringify(col.extent)) this.catalogue.upsertCollection(widened);
      })();
    } catch (e) {
      throw wrap(`item ${item.id} in ${cid}`, e);
    }
  }

  /** Closes the catalogue when the publisher owns it. */
  async close(): Promise<void> {
    if (this.options.closeCatalogue) this.catalogue.close();
  }
}
