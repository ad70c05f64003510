/**
 * `startRun(config)`: wires a whole sharpstream deployment from a RunConfig: the sources (inbox folder,
 * in-process bus, Kafka topic, STAC API watcher), the stream, the output store, the publishers (the
 * embedded catalogue by default) and, with `serve`, the HTTP server (STAC API, DEEPaaS, pages). Kafka,
 * the STAC watcher, publishers and the server are imported only when configured.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { merge, type Subscription } from 'rxjs';
import { createBus, type SceneBus } from '../connectors/bus.js';
import { inboxSource } from '../connectors/inbox.js';
import type { Publisher, StacCollection } from '../connectors/publishers/publisher.js';
import type { StageProgress } from '../operators/job.js';
import type { Catalogue } from '../stac/catalogue/catalogue.js';
import type { StacItem } from '../stac/item.js';
import type { RunConfig, SourceConfig } from './config.js';
import { superResolveScenes } from './stream.js';
import type { OutcomeSink, SceneOutcome, SceneSource } from './types.js';

/** Counts of a run. */
export interface RunSummary {
  readonly done: number;
  readonly skipped: number;
  readonly failed: number;
  readonly seconds: number;
}

/** A running deployment. */
export interface RunHandle {
  /** The in-process bus when a `bus` source is configured. */
  readonly bus: SceneBus | null;
  /** Base URL of the HTTP server when serving. */
  readonly url: string | null;
  readonly catalogue: Catalogue | null;
  /** Settles when the sources are exhausted (`--once`) or stopped, and every scene is finished. */
  readonly done: Promise<RunSummary>;
  /** Stops the sources, waits for scenes in flight, releases everything. */
  stop(): Promise<RunSummary>;
}

/** Where a run reports. */
export interface RunReporter {
  /** One line of progress or a remark. */
  line(text: string): void;
  /** Each scene's outcome. */
  outcome?(o: SceneOutcome): void;
  /** Stage progress of a scene. */
  progress?(p: StageProgress): void;
}

/** Imports a module that another part of sharpstream provides, with a clear error when it is absent. */
async function optionalModule<T>(path: string, what: string): Promise<T> {
  try {
    return (await import(path)) as T;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(path.replace(/^\.\.\//, '').replace(/\.js$/, ''))) {
      throw new Error(`${what} is not available in this build of sharpstream (${path} is missing)`);
    }
    throw e;
  }
}

/** Opens one source of scene events. */
async function openSource(s: SourceConfig, bus: SceneBus | null, once: boolean): Promise<SceneSource> {
  switch (s.kind) {
    case 'inbox':
      await mkdir(s.dir, { recursive: true });
      return inboxSource({ dir: s.dir, once, ...(s.pollMs ? { pollMs: s.pollMs } : {}), ...(s.stableMs !== undefined ? { stableMs: s.stableMs } : {}) });
    case 'bus':
      return bus!;
    case 'kafka': {
      const m = await optionalModule<{ kafkaSceneSource(o: Record<string, unknown>): SceneSource }>('../connectors/kafka/source.js', 'the Kafka source');
      return m.kafkaSceneSource({ brokers: s.brokers, topic: s.topic, groupId: s.group, ...(s.maxAttempts ? { maxAttempts: s.maxAttempts } : {}) });
    }
    case 'stac': {
      const m = await optionalModule<{ stacWatcher(o: Record<string, unknown>): SceneSource }>('../connectors/stac-watcher.js', 'the STAC API watcher');
      return m.stacWatcher({ url: s.url, collections: s.collections, ...(s.checkpoint ? { checkpoint: s.checkpoint } : {}), ...(s.intervalMs ? { intervalMs: s.intervalMs } : {}) });
    }
  }
}

/** The embedded catalogue as a publisher: H2's adapter when present, else a direct one. */
async function cataloguePublisher(catalogue: Catalogue): Promise<Publisher> {
  try {
    const m = (await import('../connectors/publishers/catalogue.js' as string)) as Record<string, unknown>;
    for (const [name, v] of Object.entries(m)) {
      if (typeof v !== 'function') continue;
      if (/^[A-Z]/.test(name) && /Publisher$/.test(name)) return new (v as new (c: Catalogue) => Publisher)(catalogue);
      if (/publisher/i.test(name)) return (v as (c: Catalogue) => Publisher)(catalogue);
    }
  } catch {
    /* fall through to the direct adapter */
  }
  return {
    name: 'embedded',
    upsertCollection: async (c: StacCollection) => void catalogue.upsertCollection(c as never),
    upsertItem: async (item: StacItem) => void catalogue.upsertItem(item as never),
    close: async () => undefined,
  };
}

/** Starts a run: sources -> stream -> store, publishers, sinks; optionally the server. */
export async function startRun(config: RunConfig, reporter: RunReporter, extra: { sinks?: readonly OutcomeSink[] } = {}): Promise<RunHandle> {
  const t0 = Date.now();
  const cleanups: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => reporter.line(`warning: ${(e as Error).message}`));
    cleanups.length = 0;
  };
  try {
    const { openStore } = await import('../connectors/storage/index.js');
    const store = openStore(config.out);

    let catalogue: Catalogue | null = null;
    const publishers: Publisher[] = [];
    if (config.catalogue) {
      const path = resolve(config.catalogue);
      await mkdir(dirname(path), { recursive: true });
      const { Catalogue: Cat } = await optionalModule<typeof import('../stac/catalogue/catalogue.js')>('../stac/catalogue/catalogue.js', 'the embedded catalogue');
      catalogue = Cat.open(path);
      const cat = catalogue;
      cleanups.push(async () => cat.close());
      publishers.push(await cataloguePublisher(cat));
    }
    if (config.publishers.length) {
      const m = await optionalModule<{ openPublisher(uri: string, deps: Record<string, unknown>): Publisher | Promise<Publisher> }>('../connectors/publishers/index.js', 'publishing to STAC APIs and static catalogues');
      for (const uri of config.publishers) publishers.push(await m.openPublisher(uri, { ...(catalogue ? { catalogue } : {}) }));
    }
    cleanups.push(async () => Promise.allSettled(publishers.map((p) => p.close())));

    const bus = config.sources.some((s) => s.kind === 'bus') ? createBus() : null;
    const sources: SceneSource[] = [];
    for (const s of config.sources) sources.push(await openSource(s, bus, config.once));

    let url: string | null = null;
    if (config.serve) {
      if (!catalogue) throw new Error('--serve needs the embedded catalogue (do not set catalogue to none)');
      const { buildServer } = await optionalModule<typeof import('../server/app.js')>('../server/app.js', 'the HTTP server');
      const app = await buildServer({ catalogue, ...(config.apiKey ? { apiKey: config.apiKey } : { allowAnonymousWrites: true }) });
      url = await app.listen({ port: config.serve.port, host: config.serve.host });
      cleanups.push(async () => app.close());
    }

    const counts = { done: 0, skipped: 0, failed: 0 };
    let sub: Subscription | null = null;
    const done = new Promise<RunSummary>((res, rej) => {
      sub = merge(...sources.map((s) => s.deliveries()))
        .pipe(
          superResolveScenes({
            store,
            publishers,
            sinks: extra.sinks ?? [],
            runtime: config.runtime,
            ...(config.threads ? { threads: config.threads } : {}),
            batch: config.batch,
            concurrency: config.concurrency,
            ...(config.workDir ? { workDir: config.workDir } : {}),
            ...(config.models ? { models: config.models } : {}),
            ...(config.fallbackModel ? { fallbackModel: config.fallbackModel } : {}),
            previews: config.previews,
            log: (l) => reporter.line(l),
            ...(reporter.progress ? { onProgress: (p: StageProgress) => reporter.progress!(p) } : {}),
          }),
        )
        .subscribe({
          next: (o) => {
            if (o.kind === 'failed') counts.failed++;
            else if (o.skipped) counts.skipped++;
            else counts.done++;
            reporter.outcome?.(o);
          },
          error: (e: unknown) => rej(e instanceof Error ? e : new Error(String(e))),
          complete: () => res({ ...counts, seconds: (Date.now() - t0) / 1000 }),
        });
    });
    let stopping: Promise<RunSummary> | null = null;
    const finished = done.finally(closeAll);
    return {
      bus,
      url,
      catalogue,
      done: finished,
      stop: () => {
        stopping ??= (async () => {
          await Promise.allSettled(sources.map((s) => s.close()));
          return finished;
        })();
        void sub;
        return stopping;
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
