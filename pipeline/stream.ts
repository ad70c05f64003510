/**
 * The stream: scene deliveries in, one outcome per scene out.
 *
 *   delivery -> readScene -> output key -> skipExisting? -> toPatches -> superResolve -> stitch
 *            -> writeCog -> toStacItem -> publish (store + publishers) -> sinks -> ack
 *
 * At most `concurrency` scenes are in flight; each works in its own temporary folder, removed when it
 * is finished. A delivery is acknowledged only once its COG, quicklooks and item are in the output
 * store, published and reported to every sink; on any failure the delivery is nacked (the source
 * retries or dead-letters it) and a `failed` outcome naming the stage is emitted. A failing scene
 * never ends the stream.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catchError, defer, finalize, from, map, mergeMap, of, type Observable, type OperatorFunction } from 'rxjs';
import type { Publisher } from '../connectors/publishers/publisher.js';
import type { OutputStore } from '../connectors/storage/store.js';
import { catchScene, failedOutcome } from '../operators/catch-scene.js';
import { JobResources, stageOperator, type SceneJob, type StageProgress } from '../operators/job.js';
import { collectionKey, doneOutcome, publish } from '../operators/publish.js';
import { readScene, type ReadJob } from '../operators/read-scene.js';
import { skipExisting } from '../operators/skip-existing.js';
import { stitch } from '../operators/stitch.js';
import { SessionPool, superResolve, type SessionProvider } from '../operators/super-resolve.js';
import { toPatches } from '../operators/to-patches.js';
import { toStacItem } from '../operators/to-stac-item.js';
import { writeCog } from '../operators/write-cog.js';
import type { SatelliteRegistry } from '../satellites/registry.js';
import { CollectionBook } from './collections.js';
import { outputKey } from './output-key.js';
import type { Delivery, OutcomeSink, SceneEvent, SceneOutcome } from './types.js';

/** What the stream needs. */
export interface StreamDeps {
  readonly store: OutputStore;
  readonly publishers: readonly Publisher[];
  readonly sinks?: readonly OutcomeSink[];
  /** Runtime name or 'auto' (default). */
  readonly runtime?: string;
  readonly threads?: number;
  /** Patches per inference call (default 8). */
  readonly batch?: number;
  /** Scenes in flight at once (default 1). */
  readonly concurrency?: number;
  /** Parent folder of the scenes' temporary work folders (default: the OS temp folder). */
  readonly workDir?: string;
  /** Model refs used when an event names none (default: the shipped models). */
  readonly models?: readonly string[];
  /** Model used when a satellite has no shipped model (e.g. `bicubic`); default none (the scene fails). */
  readonly fallbackModel?: string;
  readonly registry?: SatelliteRegistry;
  /** Quicklook pair per output (default true); a number sets the longest side. */
  readonly previews?: boolean | number;
  readonly tileSize?: number;
  /** Sessions shared across scenes (default: a pool owned by the stream, closed when it ends). */
  readonly sessions?: SessionProvider;
  readonly onProgress?: (p: StageProgress) => void;
  /** Remarks (fallback model used, a model skipped, an ack that failed). */
  readonly log?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** Reports an outcome to every sink, then acks (done) or nacks (failed); returns the final outcome. */
async function settle(delivery: Delivery<SceneEvent>, outcome: SceneOutcome, deps: StreamDeps): Promise<SceneOutcome> {
  let final = outcome;
  const sinks = deps.sinks ?? [];
  const results = await Promise.allSettled(sinks.map((s) => s.emit(outcome)));
  const bad = results.findIndex((r) => r.status === 'rejected');
  if (bad >= 0 && outcome.kind === 'done') {
    const reason = (results[bad] as PromiseRejectedResult).reason as unknown;
    final = { kind: 'failed', event: outcome.event, stage: 'sink', error: new Error(`outcome sink ${sinks[bad].name}: ${reason instanceof Error ? reason.message : String(reason)}`) };
  }
  try {
    if (final.kind === 'done') await delivery.ack();
    // The stage travels with the error, so that a dead letter says where the scene failed.
    else await delivery.nack(Object.assign(final.error, { stage: final.stage }));
  } catch (e) {
    deps.log?.(`${final.event.id}: ${final.kind === 'done' ? 'ack' : 'nack'} to ${delivery.source} failed: ${(e as Error).message}`);
  }
  return final;
}

/** The operator: each delivery super-resolved, stored, published, reported and acknowledged. */
export function superResolveScenes(deps: StreamDeps): OperatorFunction<Delivery<SceneEvent>, SceneOutcome> {
  const concurrency = deps.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency > 0)) throw new Error(`stream concurrency must be a positive integer, got ${concurrency}`);
  return (deliveries: Observable<Delivery<SceneEvent>>) =>
    defer(() => {
      const ownPool = deps.sessions ? null : new SessionPool(deps.runtime ?? 'auto', deps.threads);
      const sessions = deps.sessions ?? ownPool!;
      const collections = new CollectionBook();
      const workRoot = deps.workDir ?? tmpdir();

      const keyed = stageOperator<ReadJob, ReadJob>('read', async (job) => {
        for (const n of job.notes) deps.log?.(`${job.event.id}: ${n}`);
        const collection = await collections.forSatellite(job.plan.scene.satellite);
        const key = outputKey({
          sceneId: job.event.id,
          ...(job.event.version ? { version: job.event.version } : {}),
          models: job.plan.models.map((m) => ({ id: m.manifest.id, version: m.manifest.version, ...(m.manifest.weights.sha256 ? { weights: m.manifest.weights.sha256 } : {}) })),
          ...(job.event.window ? { window: job.event.window } : {}),
          collection: collection.id,
        });
        return { ...job, key };
      });

      const produce: OperatorFunction<ReadJob, SceneOutcome> = (jobs) =>
        jobs.pipe(
          toPatches(),
          superResolve({ sessions, ...(deps.batch ? { batch: deps.batch } : {}) }),
          stitch(),
          writeCog({ fileName: (job) => `${job.key!.stem}.tif` }),
          toStacItem({
            previews: deps.previews ?? true,
            naming: (job) => {
              const key = job.key!;
              return {
                itemId: key.outputId,
                collection: key.collection,
                href: (file) => deps.store.href(`${key.prefix}/${file}`),
                selfHref: deps.store.href(key.item),
                collectionHref: deps.store.href(collectionKey(key.collection)),
              };
            },
          }),
          publish({ store: deps.store, publishers: deps.publishers, collections }),
          map(doneOutcome),
        );

      const scenePipeline: OperatorFunction<SceneJob, SceneOutcome> = (jobs) =>
        jobs.pipe(
          readScene({
            ...(deps.registry ? { registry: deps.registry } : {}),
            ...(deps.models ? { models: deps.models } : {}),
            ...(deps.fallbackModel ? { fallbackModel: deps.fallbackModel } : {}),
            ...(deps.tileSize ? { tileSize: deps.tileSize } : {}),
          }),
          keyed,
          skipExisting({ store: deps.store, process: produce }),
        );

      const handle = (delivery: Delivery<SceneEvent>): Observable<SceneOutcome> => {
        const event = delivery.value;
        const resources = new JobResources();
        return defer(async () => {
          await mkdir(workRoot, { recursive: true });
          const workDir = await mkdtemp(join(workRoot, 'sharpstream-scene-'));
          resources.defer(() => rm(workDir, { recursive: true, force: true }));
          const job: SceneJob = {
            event,
            workDir,
            startedMs: Date.now(),
            resources,
            ...(deps.signal ? { signal: deps.signal } : {}),
            ...(deps.onProgress ? { onProgress: deps.onProgress } : {}),
          };
          return job;
        }).pipe(
          mergeMap((job) => of(job).pipe(catchScene(scenePipeline))),
          catchError((e: unknown) => {
            void resources.release();
            return of(failedOutcome({ event }, e, 'setup'));
          }),
          mergeMap((outcome) => from(settle(delivery, outcome, deps))),
        );
      };

      return deliveries.pipe(
        mergeMap(handle, concurrency),
        finalize(() => {
          void ownPool?.close();
        }),
      );
    });
}
