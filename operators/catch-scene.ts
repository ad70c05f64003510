/**
 * catchScene: runs each job through a scene pipeline in isolation, at most `concurrency` scenes at
 * once. A failure in any stage becomes a `failed` outcome naming the stage; it never ends the stream.
 * Whatever the job opened (scene, sessions, work folder) is released before its slot is freed.
 */
import { catchError, concat, defer, EMPTY, from, ignoreElements, mergeMap, of, type OperatorFunction } from 'rxjs';
import type { SceneOutcome } from '../pipeline/types.js';
import { StageError, type SceneJob } from './job.js';

/** Options of catchScene. */
export interface CatchSceneOptions {
  /** Scenes processed at once (default 1). */
  readonly concurrency?: number;
}

/** The `failed` outcome of a job: the stage from a StageError, else `fallbackStage`. */
export function failedOutcome(job: Pick<SceneJob, 'event'>, e: unknown, fallbackStage = 'unknown'): SceneOutcome {
  const error = e instanceof StageError ? e.cause : e instanceof Error ? e : new Error(String(e));
  const stage = e instanceof StageError ? e.stage : fallbackStage;
  return { kind: 'failed', event: job.event, stage, error };
}

/** Operator: the pipeline's outcome per job, or a `failed` outcome; releases the job's resources. */
export function catchScene<J extends SceneJob>(process: OperatorFunction<J, SceneOutcome>, options: CatchSceneOptions = {}): OperatorFunction<J, SceneOutcome> {
  const concurrency = options.concurrency ?? 1;
  return mergeMap(
    (job: J) =>
      concat(
        of(job).pipe(
          process,
          catchError((e: unknown) => of(failedOutcome(job, e))),
        ),
        // Released before the slot is freed (synchronously when there is nothing to release).
        defer(() => (job.resources.isEmpty ? EMPTY : from(job.resources.release()).pipe(ignoreElements()))),
      ),
    concurrency,
  );
}
