/**
 * superResolve: runs every group's model over its patch grid, batched (`batch` patches per inference
 * call) on whatever runtime was chosen (onnxruntime CPU/CUDA, TensorFlow.js). Produces one lazy
 * stream of finished output rows per group (patches -> model -> cores pasted without seams, DSen2's
 * way, in patches/sharpen.ts); nothing runs until the stitcher pulls rows, so memory holds one patch
 * row per group whatever the scene size.
 */
import type { OperatorFunction } from 'rxjs';
import type { ModelPackage } from '../model/package.js';
import { pickRuntime, type Session } from '../model/runtimes/index.js';
import { ensembleIfAsked, ensembleLabel } from '../model/runtimes/self-ensemble.js';
import { sharpenGroup, type RowBlock } from '../patches/sharpen.js';
import { stageError, stageOperator, type StageOptions } from './job.js';
import type { PatchJob } from './to-patches.js';

/** Where sessions come from: loaded per scene, or shared by a pool across scenes. */
export interface SessionProvider {
  /** Runtime name as chosen ('auto' resolved). */
  runtimeName(): Promise<string>;
  /** A session for the model; `release` is called when the scene no longer needs it. */
  acquire(model: ModelPackage): Promise<{ session: Session; release: () => Promise<void> }>;
}

/** Loads a fresh session per scene and disposes it when the scene is done; `ensemble` runs each as a geometric self-ensemble. */
export function perSceneSessions(runtime = 'auto', threads?: number, ensemble = false): SessionProvider {
  const rt = () => pickRuntime(runtime);
  return {
    runtimeName: async () => (ensemble ? ensembleLabel((await rt()).name) : (await rt()).name),
    async acquire(model) {
      const session = ensembleIfAsked(await (await rt()).load(model, threads ? { threads } : {}), model.manifest, ensemble);
      return { session, release: () => session.dispose() };
    },
  };
}

/** Keeps one session per model (id and version) for the life of a stream; `close()` disposes them. */
export class SessionPool implements SessionProvider {
  private readonly sessions = new Map<string, Promise<Session>>();
  constructor(
    private readonly runtime = 'auto',
    private readonly threads?: number,
  ) {}

  /** The runtime the pool loads on. */
  async runtimeName(): Promise<string> {
    return (await pickRuntime(this.runtime)).name;
  }

  /** The pooled session of a model, loaded on first use. */
  async acquire(model: ModelPackage): Promise<{ session: Session; release: () => Promise<void> }> {
    const key = `${model.manifest.id}@${model.manifest.version}#${model.manifest.weights.sha256}@${model.dir ?? 'memory'}`;
    let s = this.sessions.get(key);
    // A session whose worker died (out of memory, a native crash) fails one scene, not every later one.
    if (s && (await s.catch(() => null))?.broken?.()) {
      this.sessions.delete(key);
      s = undefined;
    }
    if (!s) {
      s = pickRuntime(this.runtime).then((rt) => rt.load(model, this.threads ? { threads: this.threads } : {}));
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return { session: await s, release: async () => undefined };
  }

  /** Disposes every pooled session. */
  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.allSettled(all.map(async (s) => (await s).dispose()));
  }
}

/** Passes a lazy stream through, turning its errors into StageErrors naming the stage that made it. */
export async function* tagErrors<T>(stage: string, sceneId: string, it: AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    for (;;) {
      let r: IteratorResult<T>;
      try {
        r = await it.next();
      } catch (e) {
        throw stageError(stage, sceneId, e);
      }
      if (r.done) return;
      yield r.value;
    }
  } finally {
    await it.return(undefined).catch(() => undefined);
  }
}

/** Options of superResolve. */
export interface SuperResolveOptions {
  /** Default: a fresh session per scene on the 'auto' runtime. */
  readonly sessions?: SessionProvider;
  /** Patches per inference call (default 8). */
  readonly batch?: number;
}

/** A job with one lazy stream of finished rows per group. */
export interface SuperResolvedJob extends PatchJob {
  readonly runtime: string;
  /** Per group (same order as plan.models): finished rows in order, pulled on demand. */
  readonly rows: readonly AsyncGenerator<RowBlock>[];
}

/** The superResolve stage: acquires sessions and sets up the lazy row streams. */
export async function superResolveStage(job: PatchJob, options: SuperResolveOptions = {}): Promise<SuperResolvedJob> {
  const provider = options.sessions ?? perSceneSessions();
  const runtime = await provider.runtimeName();
  const total = job.grids.reduce((s, g) => s + g.patches, 0);
  let done = 0;
  const rows: AsyncGenerator<RowBlock>[] = [];
  for (const grid of job.grids) {
    const { session, release } = await provider.acquire(grid.model);
    job.resources.defer(release);
    // Count patches as they go through the model, for progress.
    const counted: Session = {
      runtime: session.runtime,
      device: session.device,
      run: async (input, batch, h, w) => {
        const out = await session.run(input, batch, h, w);
        done += batch;
        job.onProgress?.({ id: job.event.id, stage: 'superResolve', done, total, unit: 'patches' });
        return out;
      },
      dispose: () => session.dispose(),
    };
    rows.push(
      tagErrors('superResolve', job.event.id, sharpenGroup({
        scene: job.plan.scene,
        roi: job.plan.roi,
        model: grid.model.manifest,
        session: counted,
        ...(options.batch ? { batch: options.batch } : {}),
        ...(job.signal ? { signal: job.signal } : {}),
      })),
    );
  }
  return { ...job, runtime, rows };
}

/** Operator: sets up each job's super-resolution (stage `superResolve`). */
export function superResolve(options: SuperResolveOptions & StageOptions<PatchJob, SuperResolvedJob> = {}): OperatorFunction<PatchJob, SuperResolvedJob> {
  return stageOperator('superResolve', (job) => superResolveStage(job, options), options);
}
