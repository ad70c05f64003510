/**
 * A pipeline worker for the Kafka stream tests, run as a child process (`node --import tsx
 * test/helpers/kafka-worker.ts`) with its settings as JSON in `SHARPSTREAM_TEST_WORKER`. It consumes
 * scene events with kafkaSceneSource and super-resolves each scene with the bicubic baseline through
 * the pipeline's stream (superResolveScenes into a local output store, idempotent output keys; the
 * item goes to the output topic with kafkaOutcomeSink before the ack). Mode `predict` does the same
 * with predictScene directly, moving outputs into `<outDir>/<scene id>_sr/` atomically.
 * It prints one JSON object per line on stdout: source events, `start`, `done`, `failed`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { mergeMap } from 'rxjs';
import { kafkaOutcomeSink } from '../../connectors/kafka/sink.js';
import { kafkaSceneSource } from '../../connectors/kafka/source.js';
import { resolveModels } from '../../model/catalog.js';
import { predictScene } from '../../pipeline/predict.js';
import type { Delivery, SceneEvent } from '../../pipeline/types.js';
import { satellites } from '../../satellites/registry.js';
import { openScene } from '../../scene/open.js';

/** Settings of a test worker. */
export interface TestWorkerConfig {
  readonly name: string;
  readonly brokers: string[];
  readonly topic: string;
  readonly groupId: string;
  readonly outDir: string;
  readonly outputTopic: string;
  /** Holds every scene this long before working on it (a long scene). */
  readonly delayMs?: number;
  readonly maxInFlight?: number;
  readonly maxAttempts?: number;
  readonly retryDelayMs?: number;
  readonly sessionTimeout?: number;
  /** `stream` (default): pipeline/stream.ts superResolveScenes into a local output store; `predict`: predictScene directly. */
  readonly mode?: 'stream' | 'predict';
}

const say = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ worker: config.name, at: new Date().toISOString(), ...o })}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

function staged(error: unknown, stage: string): Error {
  const e = error instanceof Error ? error : new Error(String(error));
  if (!(e as Error & { stage?: string }).stage) Object.assign(e, { stage });
  return e;
}

async function processScene(d: Delivery<SceneEvent>): Promise<void> {
  const ev = d.value;
  const t0 = Date.now();
  say({ type: 'start', id: ev.id, source: d.source, attempt: d.attempt });
  try {
    if (config.delayMs) await sleep(config.delayMs);
    const finalDir = join(config.outDir, `${ev.id}_sr`);
    const itemFile = `${ev.id}_sr.json`;
    let skipped = await exists(join(finalDir, itemFile));
    if (!skipped) {
      let scene;
      try {
        scene = await openScene(ev.href, ev.satellite ? { satellite: ev.satellite } : {});
      } catch (e) {
        throw staged(e, 'read');
      }
      const tmp = join(config.outDir, `.tmp-${ev.id}-${process.pid}-${randomBytes(3).toString('hex')}`);
      try {
        const models = await resolveModels('bicubic', scene.satellite, satellites());
        await predictScene({ scene, models, outDir: tmp, threads: 1 });
      } catch (e) {
        throw staged(e, 'superResolve');
      } finally {
        await scene.close();
      }
      try {
        await rename(tmp, finalDir);
      } catch (e) {
        // another worker finished the same scene first: its outputs stand
        if (!['ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? '')) throw staged(e, 'store');
        skipped = true;
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    }
    const { readFile } = await import('node:fs/promises');
    const item = JSON.parse(await readFile(join(finalDir, itemFile), 'utf8'));
    await sink.emit({ kind: 'done', event: ev, item, cogHref: join(finalDir, `${ev.id}_sr.tif`), itemHref: join(finalDir, itemFile), skipped, seconds: (Date.now() - t0) / 1000 });
    await d.ack();
    say({ type: 'done', id: ev.id, source: d.source, skipped });
  } catch (e) {
    const err = staged(e, 'process');
    say({ type: 'failed', id: ev.id, source: d.source, attempt: d.attempt, error: err.message });
    await d.nack(err);
  }
}

const config = JSON.parse(process.env.SHARPSTREAM_TEST_WORKER ?? '{}') as TestWorkerConfig;
await mkdir(config.outDir, { recursive: true });
// kafkajs warnings and errors go to stderr, which a failing test prints
const log = (level: string, message: string): void => void process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
const sink = kafkaOutcomeSink({ brokers: config.brokers, topic: config.outputTopic, clientId: `test-worker-${config.name}`, log });
const source = kafkaSceneSource({
  brokers: config.brokers,
  clientId: `test-worker-${config.name}`,
  topic: config.topic,
  groupId: config.groupId,
  maxInFlight: config.maxInFlight ?? 1,
  maxAttempts: config.maxAttempts ?? 3,
  retryDelayMs: config.retryDelayMs ?? 200,
  sessionTimeout: config.sessionTimeout ?? 6000,
  heartbeatInterval: 500,
  // a consumer that goes quiet is replaced well within the tests' waits
  stallTimeoutMs: 20_000,
  createTopics: false,
  log,
  onEvent: (e) => say({ ...e, type: `source:${e.type}` }),
});
/** A delivery that reports its start (and holds `delayMs`, a long scene) before the stream works on it. */
async function announced(d: Delivery<SceneEvent>): Promise<Delivery<SceneEvent>> {
  say({ type: 'start', id: d.value.id, source: d.source, attempt: d.attempt });
  if (config.delayMs) await sleep(config.delayMs);
  return d;
}

if ((config.mode ?? 'stream') === 'stream') {
  const [{ superResolveScenes }, { openStore }] = await Promise.all([import('../../pipeline/stream.js'), import('../../connectors/storage/index.js')]);
  source
    .deliveries()
    .pipe(
      mergeMap((d) => announced(d), config.maxInFlight ?? 1),
      superResolveScenes({ store: openStore(config.outDir), publishers: [], sinks: [sink], models: ['bicubic'], fallbackModel: 'bicubic', previews: false, concurrency: config.maxInFlight ?? 1, threads: 1 }),
    )
    .subscribe({
      next: (o) => say(o.kind === 'done' ? { type: 'done', id: o.event.id, skipped: o.skipped } : { type: 'failed', id: o.event.id, stage: o.stage, error: o.error.message }),
      error: (e: Error) => say({ type: 'source-error', error: e.message }),
    });
} else {
  source
    .deliveries()
    .pipe(mergeMap((d) => processScene(d), config.maxInFlight ?? 1))
    .subscribe({ error: (e: Error) => say({ type: 'source-error', error: e.message }) });
}
say({ type: 'ready', pid: process.pid });

const stop = async (): Promise<void> => {
  await source.close();
  await sink.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
