/**
 * The training child process: `node jobs/train-worker.js <options.json>` runs one TrainingRun and
 * prints one JSON object per line on stdout: `{"event": TrainEvent}` for every progress event, then
 * `{"result": {...}}` at the end (or `{"error": "..."}`). SIGINT or SIGTERM saves a checkpoint at the
 * next step and exits 130, so the job can resume from it.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { TrainingRun, type TrainOptions } from '../train/trainer.js';

/** The JSON-serialisable subset of TrainOptions a job passes to its worker. */
export type WorkerOptions = Omit<TrainOptions, 'signal' | 'onEvent' | 'scenes' | 'valScenes' | 'satellite'> & {
  readonly satellite?: string;
  readonly scenes?: readonly string[];
  readonly valScenes?: readonly string[];
};

function emit(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** Runs the training the options file names and reports it as JSON lines; resolves with the exit code. */
export async function runWorker(optionsPath: string): Promise<number> {
  let opts: WorkerOptions;
  try {
    opts = JSON.parse(readFileSync(optionsPath, 'utf8')) as WorkerOptions;
  } catch (e) {
    emit({ error: `cannot read worker options ${optionsPath}: ${(e as Error).message}` });
    return 2;
  }
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const run = new TrainingRun({ threads: availableParallelism(), ...opts, signal: controller.signal, onEvent: (e) => emit({ event: e }) });
    const r = await run.run();
    emit({
      result: {
        status: r.status,
        modelDir: r.modelDir,
        checkpointDir: r.checkpointDir,
        modelId: r.manifest.id,
        epochs: r.epochsDone,
        steps: r.globalStep,
        seconds: r.seconds,
        patchesPerSecond: r.patchesPerSecond,
        metrics: r.manifest.metrics ?? {},
      },
    });
    return r.status === 'interrupted' ? 130 : 0;
  } catch (e) {
    emit({ error: (e as Error).message });
    return 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

const invoked = process.argv[1] ?? '';
if (/train-worker\.(ts|js)$/.test(invoked)) {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write('usage: train-worker <options.json>\n');
    process.exit(2);
  }
  runWorker(path).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
