/**
 * The per-scene job that flows through the operators: readScene -> toPatches -> superResolve ->
 * stitch -> writeCog -> toStacItem -> publish. Each stage adds fields (a new, wider job type); the
 * heavy data (patches, rows, strips) stays lazy (async iterables pulled by writeCog), so a job object
 * is small whatever the scene size. Resources a stage opens (the scene, model sessions, the work
 * folder) are registered on the job and released once the scene is finished, failed or not.
 */
import { defer, from, mergeMap, type ObservableInput, type OperatorFunction } from 'rxjs';
import { catchError } from 'rxjs';
import type { OutputKey } from '../pipeline/output-key.js';
import type { SceneEvent } from '../pipeline/types.js';

/** Progress of one scene through the stages, for logs and progress lines. */
export interface StageProgress {
  readonly id: string;
  /** Stage name: read, toPatches, superResolve, stitch, writeCog, toStacItem, publish, ... */
  readonly stage: string;
  /** Units done and total in this stage (rows, patches), when the stage counts them. */
  readonly done?: number;
  readonly total?: number;
  readonly unit?: string;
}

/** Cleanup callbacks of one job, run in reverse order of registration. */
export class JobResources {
  private readonly cleanups: (() => Promise<unknown> | unknown)[] = [];
  private released = false;

  /** Registers a cleanup; it runs at release (immediately when already released). */
  defer(cleanup: () => Promise<unknown> | unknown): void {
    if (this.released) void Promise.resolve().then(cleanup).catch(() => undefined);
    else this.cleanups.push(cleanup);
  }

  /** True when nothing is left to release. */
  get isEmpty(): boolean {
    return this.cleanups.length === 0;
  }

  /** Runs every cleanup once (errors ignored: cleanup must not hide the scene's own outcome). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    while (this.cleanups.length) {
      const c = this.cleanups.pop()!;
      try {
        await c();
      } catch {
        /* best effort */
      }
    }
  }
}

/** What every stage sees: the event, where to work, how to report. */
export interface SceneJob {
  readonly event: SceneEvent;
  /** A private folder for this scene's temporary files (extraction, COG before it is stored). */
  readonly workDir: string;
  /** When the job started (ms since the epoch). */
  readonly startedMs: number;
  readonly resources: JobResources;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: StageProgress) => void;
  /** Where the outputs go in the output store (set once the models are known; see pipeline/output-key.ts). */
  readonly key?: OutputKey;
}

/** A stage failure: names the stage so the outcome (and the dead letter) can say where it failed. */
export class StageError extends Error {
  override readonly name = 'StageError';
  constructor(
    readonly stage: string,
    readonly sceneId: string,
    override readonly cause: Error,
  ) {
    super(`${stage} failed for scene ${sceneId}: ${cause.message}`, { cause });
  }
}

/** Wraps anything thrown by a stage into a StageError naming the stage (a StageError passes through). */
export function stageError(stage: string, sceneId: string, e: unknown): StageError {
  if (e instanceof StageError) return e;
  return new StageError(stage, sceneId, e instanceof Error ? e : new Error(String(e)));
}

/** Options every stage operator takes. */
export interface StageOptions<In, Out> {
  /** Scenes in this stage at once (default 1). */
  readonly concurrency?: number;
  /**
   * Replaces the stage's work with another function of the job (tests drive operators with cold
   * observables on a TestScheduler; instrumentation can wrap the real stage).
   */
  readonly run?: (job: In) => ObservableInput<Out>;
}

/**
 * Builds a scene-level operator from a stage function: at most `concurrency` jobs in the stage at
 * once (mergeMap), outputs in completion order, and any error turned into a StageError naming the
 * stage, so catchScene can report where the scene failed.
 */
export function stageOperator<In extends { readonly event: SceneEvent }, Out>(
  stage: string,
  work: (job: In) => ObservableInput<Out>,
  options: StageOptions<In, Out> = {},
): OperatorFunction<In, Out> {
  const concurrency = options.concurrency ?? 1;
  if (!(concurrency === Infinity || (Number.isInteger(concurrency) && concurrency > 0))) {
    throw new Error(`${stage}: concurrency must be a positive integer, got ${concurrency}`);
  }
  const fn = options.run ?? work;
  return mergeMap(
    (job: In) =>
      defer(() => from(fn(job))).pipe(
        catchError((e: unknown) => {
          throw stageError(stage, job.event.id, e);
        }),
      ),
    concurrency,
  );
}
