/**
 * publish: makes an output durable and queryable. Stores the COG and quicklooks, then the item (last:
 * its presence marks the output complete, which skipExisting relies on), then upserts the product
 * collection (extent widened) and the item into every publisher. Publishing is idempotent, so a
 * redelivered scene publishes the same item again without duplicating it.
 */
import type { OperatorFunction } from 'rxjs';
import type { Publisher } from '../connectors/publishers/publisher.js';
import type { OutputStore } from '../connectors/storage/store.js';
import type { CollectionBook } from '../pipeline/collections.js';
import type { SceneOutcome } from '../pipeline/types.js';
import { stageOperator, type StageOptions } from './job.js';
import type { ItemJob } from './to-stac-item.js';

/** A job whose outputs are stored and published. */
export interface PublishedJob extends ItemJob {
  readonly cogHref: string;
  readonly itemHref: string;
}

/** Options of publish. */
export interface PublishOptions {
  readonly store: OutputStore;
  readonly publishers: readonly Publisher[];
  /** Collections of the stream (widened per item); without it, publishers get items only. */
  readonly collections?: CollectionBook;
}

/** The store key of a collection's document. */
export function collectionKey(collectionId: string): string {
  return `${collectionId}/collection.json`;
}

/** The publish stage. */
export async function publishStage(job: ItemJob, options: PublishOptions): Promise<PublishedJob> {
  const key = job.key;
  if (!key) throw new Error(`scene ${job.event.id} has no output key (the stream sets it after readScene)`);
  const { store } = options;
  job.onProgress?.({ id: job.event.id, stage: 'publish', done: 0, total: 1 + options.publishers.length, unit: 'steps' });
  const cogHref = await store.putFile(key.cog, job.files.cog, 'image/tiff; application=geotiff; profile=cloud-optimized');
  if (job.files.thumbnail) await store.putFile(key.thumbnail, job.files.thumbnail, 'image/png');
  if (job.files.thumbnailBicubic) await store.putFile(key.thumbnailBicubic, job.files.thumbnailBicubic, 'image/png');
  const itemHref = await store.putBytes(key.item, Buffer.from(`${JSON.stringify(job.item, null, 2)}\n`), 'application/geo+json');
  let done = 1;
  const collection = options.collections && job.item.collection ? await options.collections.widen(job.item.collection as string, job.item) : null;
  if (collection) await store.putBytes(collectionKey(collection.id), Buffer.from(`${JSON.stringify(collection, null, 2)}\n`), 'application/json');
  for (const p of options.publishers) {
    try {
      if (collection) await p.upsertCollection(collection);
      await p.upsertItem(job.item);
    } catch (e) {
      throw new Error(`publisher ${p.name}: ${(e as Error).message}`, { cause: e });
    }
    job.onProgress?.({ id: job.event.id, stage: 'publish', done: ++done, total: 1 + options.publishers.length, unit: 'steps' });
  }
  return { ...job, cogHref, itemHref };
}

/** Operator: stores and publishes each job's outputs (stage `publish`). */
export function publish(options: PublishOptions & StageOptions<ItemJob, PublishedJob>): OperatorFunction<ItemJob, PublishedJob> {
  return stageOperator('publish', (job) => publishStage(job, options), options);
}

/** The `done` outcome of a published job. */
export function doneOutcome(job: PublishedJob): SceneOutcome {
  return { kind: 'done', event: job.event, item: job.item, cogHref: job.cogHref, itemHref: job.itemHref, skipped: false, seconds: (Date.now() - job.startedMs) / 1000 };
}
