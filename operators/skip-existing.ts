/**
 * skipExisting: a scene whose output item is already in the store (its keys come from the input id,
 * version and model versions) is not processed again: it yields a `done` outcome with `skipped: true`
 * and the stored item; every other job goes through `process`.
 */
import { from, mergeMap, of, type ObservableInput, type OperatorFunction } from 'rxjs';
import type { OutputStore } from '../connectors/storage/store.js';
import type { SceneOutcome } from '../pipeline/types.js';
import type { StacItem } from '../stac/item.js';
import { stageOperator, type SceneJob, type StageOptions } from './job.js';

/** Options of skipExisting. */
export interface SkipExistingOptions<J extends SceneJob> extends StageOptions<J, { job: J; existing: SceneOutcome | null }> {
  readonly store: OutputStore;
  /** What happens to jobs whose output does not exist yet. */
  readonly process: OperatorFunction<J, SceneOutcome>;
}

/** The stored outcome of a job whose output exists, or null. */
export async function existingOutcome(job: SceneJob, store: OutputStore): Promise<SceneOutcome | null> {
  const key = job.key;
  if (!key) throw new Error(`scene ${job.event.id} has no output key`);
  if (!(await store.exists(key.item))) return null;
  const bytes = await store.getBytes(key.item);
  if (!bytes) return null;
  let item: StacItem;
  try {
    item = JSON.parse(Buffer.from(bytes).toString('utf8')) as StacItem;
  } catch (e) {
    throw new Error(`stored item ${store.href(key.item)} is not valid JSON: ${(e as Error).message}`);
  }
  return { kind: 'done', event: job.event, item, cogHref: store.href(key.cog), itemHref: store.href(key.item), skipped: true, seconds: (Date.now() - job.startedMs) / 1000 };
}

/** Operator: skipped outcomes for existing outputs, `process` for the rest (stage `skipExisting`). */
export function skipExisting<J extends SceneJob>(options: SkipExistingOptions<J>): OperatorFunction<J, SceneOutcome> {
  const check = stageOperator<J, { job: J; existing: SceneOutcome | null }>(
    'skipExisting',
    async (job) => ({ job, existing: await existingOutcome(job, options.store) }),
    options,
  );
  return (source) =>
    source.pipe(
      check,
      mergeMap(({ job, existing }): ObservableInput<SceneOutcome> => (existing ? of(existing) : from([job]).pipe(options.process))),
    );
}
