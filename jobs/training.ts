/**
 * Training jobs out of the HTTP process: each job runs `jobs/train-worker` as a child process (a crash
 * or a heavy epoch never touches the server's event loop), in a bounded pool of its own, with a folder
 * per job (`<jobsDir>/<id>/model` holds the model and its checkpoint). Progress events are parsed line
 * by line into the job's row. When the server starts, jobs that were running resume from their last
 * checkpoint and queued ones start; cancelling kills the run and marks the job cancelled. A finished
 * model is published into the models folder under its id, where the model catalogue finds it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../model/catalog.js';
import { findCheckpoint } from '../train/checkpoint.js';
import type { TrainEvent } from '../train/trainer.js';
import { PoolFullError, WorkPool } from './pool.js';
import type { JobRecord, JobStore } from './store.js';
import type { WorkerOptions } from './train-worker.js';

/** The job kind of trainings in the jobs table. */
export const TRAIN_KIND = 'train';

/** What a training job is asked to do (validated by the HTTP layer). */
export interface TrainJobArgs {
  readonly scenes?: readonly string[];
  readonly valScenes?: readonly string[];
  readonly valFraction?: number;
  readonly satellite?: string;
  readonly group?: string;
  readonly size?: string;
  readonly epochs?: number;
  readonly patchesPerScene?: number;
  readonly stepsPerEpoch?: number;
  readonly valPatches?: number;
  readonly patchSize?: number;
  readonly augment?: boolean;
  readonly batch?: number;
  readonly lr?: number;
  readonly optimizer?: 'nadam' | 'adam';
  readonly seed?: number;
  readonly runtime?: string;
  /** Threads computing gradients on tfjs-wasm (default: all cores). */
  readonly threads?: number;
  /** Id of the model to publish (default: `<model>-<first 8 characters of the job id>`). */
  readonly id?: string;
  readonly title?: string;
  /** A model package folder to fine-tune (set by the HTTP layer when the model is not the blank network). */
  readonly base?: string;
}

/** Options of TrainingJobs. */
export interface TrainingJobsOptions {
  readonly store: JobStore;
  /** Folder holding one folder per job. */
  readonly jobsDir: string;
  /** Where finished models are published: the catalogue's user models folder (a function: $SHARPSTREAM_MODELS is read when a job finishes). */
  readonly modelsDir: string | (() => string);
  /** Trainings running at once (default 1). */
  readonly concurrency?: number;
  /** Trainings waiting at most (default 16). */
  readonly maxQueue?: number;
  /** Seconds a shutting-down worker gets to save its checkpoint before it is killed (default 60). */
  readonly shutdownGraceSeconds?: number;
}

/** A progress event reduced to what a status request shows. */
function progressFrom(prev: Readonly<Record<string, unknown>> | null, e: TrainEvent): Record<string, unknown> {
  const p: Record<string, unknown> = { ...(prev ?? {}), updated: new Date().toISOString() };
  switch (e.type) {
    case 'start':
      Object.assign(p, { epoch: e.epoch, epochs: e.epochs, step: e.step, stepsPerEpoch: e.stepsPerEpoch, batch: e.batch, patchSize: e.patchSize, parameters: e.parameters, runtime: e.runtime, threads: e.threads, resumedFrom: e.resumedFrom });
      break;
    case 'step':
      Object.assign(p, { epoch: e.epoch, step: e.step, stepsPerEpoch: e.stepsPerEpoch, globalStep: e.globalStep, loss: e.loss, epochLoss: e.epochLoss, lr: e.lr, patchesPerSecond: e.patchesPerSecond, elapsedSeconds: e.elapsedSeconds, etaSeconds: finite(e.etaSeconds) });
      break;
    case 'epoch':
      Object.assign(p, { epochsDone: e.epoch, lastEpochLoss: e.loss, valLoss: e.valLoss, valRmse: e.valRmse, lr: e.lr, improved: e.improved, etaSeconds: finite(e.etaSeconds) });
      break;
    case 'checkpoint':
      p.checkpoint = { epoch: e.epoch, step: e.step };
      break;
    case 'done':
      Object.assign(p, { bestEpoch: e.bestEpoch, bestValLoss: e.bestValLoss });
      break;
  }
  return p;
}

function finite(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

/** How to start the worker: compiled JavaScript from dist/, or the TypeScript source through tsx. */
function workerCommand(): { command: string; args: string[]; cwd: string } {
  const here = fileURLToPath(import.meta.url);
  const root = packageRoot();
  if (here.endsWith('.ts')) return { command: process.execPath, args: ['--import', 'tsx', join(root, 'jobs', 'train-worker.ts')], cwd: root };
  return { command: process.execPath, args: [here.replace(/training\.js$/, 'train-worker.js')], cwd: root };
}

interface Running {
  readonly child: ChildProcess;
  cancelled: boolean;
}

/** Runs, tracks, cancels and resumes training jobs. */
export class TrainingJobs {
  readonly pool: WorkPool;
  private readonly running = new Map<string, Running>();
  private readonly tasks = new Set<Promise<unknown>>();
  private closing = false;

  constructor(readonly options: TrainingJobsOptions) {
    this.pool = new WorkPool({ name: 'training', concurrency: options.concurrency ?? 1, maxQueue: options.maxQueue ?? 16 });
  }

  /** The store the jobs live in. */
  get store(): JobStore {
    return this.options.store;
  }

  /** The folder of one job. */
  jobDir(id: string): string {
    return join(resolve(this.options.jobsDir), id);
  }

  /** The id a job's model is published under. */
  modelId(job: Pick<JobRecord, 'id' | 'model' | 'args'>): string {
    const id = (job.args as TrainJobArgs).id;
    return id ?? `${job.model}-${job.id.slice(0, 8)}`;
  }

  /** Records a queued job and starts it when the pool has room; throws PoolFullError when the queue is full. */
  submit(model: string, args: TrainJobArgs): JobRecord {
    if (this.closing) throw new PoolFullError('training', 'the server is shutting down');
    if (this.pool.pending >= (this.options.maxQueue ?? 16)) throw new PoolFullError('training', `training queue is full (${this.pool.pending} waiting); try again later`);
    const job = this.store.create(TRAIN_KIND, model, args as Record<string, unknown>);
    this.schedule(job.id);
    return job;
  }

  /** Resumes jobs left running by a previous server (from their checkpoints) and starts queued ones. */
  recover(): JobRecord[] {
    const jobs = this.store.withStatus(TRAIN_KIND, ['running', 'queued']);
    for (const j of jobs) this.schedule(j.id);
    return jobs;
  }

  /** Cancels a queued or running job (kills its worker); returns the job, or null when unknown. */
  cancel(id: string): JobRecord | null {
    const job = this.store.get(id);
    if (!job || job.kind !== TRAIN_KIND) return null;
    if (job.status === 'queued' || job.status === 'running') {
      this.store.finish(id, 'cancelled', { message: 'cancelled by request' });
      const r = this.running.get(id);
      if (r) {
        r.cancelled = true;
        r.child.kill('SIGKILL');
      }
    }
    return this.store.get(id);
  }

  /** Stops taking jobs and interrupts running workers (each saves a checkpoint); their jobs stay "running" to resume on the next start. */
  async close(): Promise<void> {
    this.closing = true;
    await this.pool.close();
    await Promise.allSettled([...this.tasks]);
  }

  private schedule(id: string): void {
    const t = this.pool
      .run((signal) => this.execute(id, signal))
      .catch(() => {
        /* pool closed while waiting: the job stays queued for the next start */
      });
    this.tasks.add(t);
    void t.finally(() => this.tasks.delete(t));
  }

  private async execute(id: string, signal: AbortSignal): Promise<void> {
    const job = this.store.get(id);
    if (!job || (job.status !== 'queued' && job.status !== 'running') || signal.aborted) return;
    const dir = this.jobDir(id);
    const out = join(dir, 'model');
    await mkdir(dir, { recursive: true });
    const a = job.args as TrainJobArgs;
    const modelId = this.modelId(job);
    const resuming = findCheckpoint(out) !== null;
    const opts: WorkerOptions = resuming
      ? { out, resume: out, ...(a.runtime ? { runtime: a.runtime } : {}), command: `deepaas train ${id} (resumed)` }
      : {
          out,
          id: modelId,
          ...(a.title ? { title: a.title } : {}),
          ...(a.base ? { resume: a.base } : {}),
          ...(a.satellite ? { satellite: a.satellite } : {}),
          ...(a.group ? { group: a.group } : {}),
          ...(a.scenes?.length ? { scenes: a.scenes } : {}),
          ...(a.valScenes?.length ? { valScenes: a.valScenes } : {}),
          ...(a.valFraction !== undefined ? { valFraction: a.valFraction } : {}),
          ...(a.size ? { size: a.size } : {}),
          ...(a.epochs !== undefined ? { epochs: a.epochs } : {}),
          ...(a.patchesPerScene !== undefined ? { patchesPerScene: a.patchesPerScene } : {}),
          ...(a.stepsPerEpoch !== undefined ? { stepsPerEpoch: a.stepsPerEpoch } : {}),
          ...(a.valPatches !== undefined ? { valPatches: a.valPatches } : {}),
          ...(a.patchSize !== undefined ? { patchSize: a.patchSize } : {}),
          ...(a.augment !== undefined ? { augment: a.augment } : {}),
          ...(a.batch !== undefined ? { batch: a.batch } : {}),
          ...(a.lr !== undefined ? { lr: a.lr } : {}),
          ...(a.optimizer ? { optimizer: a.optimizer } : {}),
          ...(a.seed !== undefined ? { seed: a.seed } : {}),
          ...(a.runtime ? { runtime: a.runtime } : {}),
          command: `deepaas train ${id}`,
        };
    if (!resuming) await rm(out, { recursive: true, force: true });
    const optionsPath = join(dir, 'worker-options.json');
    await writeFile(optionsPath, `${JSON.stringify(opts, null, 2)}\n`);
    this.store.update(id, { status: 'running', started: job.started ?? new Date().toISOString(), attempts: job.attempts + 1 });

    const w = workerCommand();
    const child = spawn(w.command, [...w.args, optionsPath], { cwd: w.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    const entry: Running = { child, cancelled: false };
    this.running.set(id, entry);
    let stderrTail = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderrTail = (stderrTail + d.toString()).slice(-4000);
    });
    let result: Record<string, unknown> | null = null;
    let error: string | null = null;
    let progress = this.store.get(id)?.progress ?? null;
    let lastWrite = 0;
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let msg: { event?: TrainEvent; result?: Record<string, unknown>; error?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return; // not ours (a library printing to stdout)
      }
      if (msg.event) {
        progress = progressFrom(progress, msg.event);
        const now = Date.now();
        // Steps are frequent: write them at most twice a second; every other event at once.
        if (msg.event.type !== 'step' || now - lastWrite > 500) {
          lastWrite = now;
          if (!entry.cancelled) this.store.update(id, { progress });
        }
      } else if (msg.result) result = msg.result;
      else if (typeof msg.error === 'string') error = msg.error;
    });
    const onAbort = (): void => {
      // The server is closing: let the worker save a checkpoint, then make sure it is gone.
      child.kill('SIGINT');
      const grace = setTimeout(() => child.kill('SIGKILL'), (this.options.shutdownGraceSeconds ?? 60) * 1000);
      grace.unref();
      child.once('exit', () => clearTimeout(grace));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort(); // closed while the worker was starting
    const exit = await new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((res) => {
      child.once('error', (e) => {
        error = `cannot start the training worker: ${e.message}`;
        res({ code: null, sig: null });
      });
      child.once('close', (code, sig) => res({ code, sig }));
    });
    signal.removeEventListener('abort', onAbort);
    this.running.delete(id);
    if (entry.cancelled || this.store.get(id)?.status === 'cancelled') return;
    if (progress && !entry.cancelled) this.store.update(id, { progress });
    const r = result as Record<string, unknown> | null;
    if (exit.code === 0 && r && r.status === 'finished') {
      try {
        const published = await this.publish(String(r.modelDir), modelId);
        this.store.finish(id, 'done', { result: { ...r, modelId, publishedDir: published, finish_date: new Date().toISOString() } });
      } catch (e) {
        this.store.finish(id, 'error', { message: `training finished but the model could not be published: ${(e as Error).message}` });
      }
      return;
    }
    if (signal.aborted) return; // interrupted by shutdown: stays "running", resumed on the next start
    const why = error ?? (exit.sig ? `worker killed by ${exit.sig}` : `worker exited with code ${exit.code}`);
    this.store.finish(id, 'error', { message: `${why}${stderrTail.trim() ? ` (stderr: ${stderrTail.trim().split('\n').slice(-3).join(' | ')})` : ''}` });
  }

  /** Copies a trained model package (model.json and weights) into the models folder under its id. */
  private async publish(modelDir: string, modelId: string): Promise<string> {
    const dir = typeof this.options.modelsDir === 'function' ? this.options.modelsDir() : this.options.modelsDir;
    const dest = join(resolve(dir), modelId);
    if (existsSync(join(dest, 'model.json'))) throw new Error(`a model named ${modelId} already exists in ${dir}`);
    await mkdir(resolve(dir), { recursive: true });
    const tmp = `${dest}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    await cp(join(modelDir, 'model.json'), join(tmp, 'model.json'));
    const manifest = JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8')) as { weights?: { file?: string } };
    const weights = manifest.weights?.file ?? 'weights.bin';
    await cp(join(modelDir, weights), join(tmp, weights));
    await rename(tmp, dest);
    return dest;
  }
}
