/**
 * `startRun(config)`: wires a whole sharpstream deployment from a RunConfig: the sources (inbox folder,
 * in-process bus, Kafka topic, STAC API watcher), the stream, the output store, the publishers (the
 * embedded catalogue by default) and, with `serve`, the HTTP server (STAC API, DEEPaaS, pages). Kafka,
 * the STAC watcher, publishers and the server are imported only when configured.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { merge, type Subscription } from 'rxjs';
import { createBus, type SceneBus } from '../connectors/bus.js';
import { inboxSource } from '../connectors/inbox.js';
import type { Publisher } from '../connectors/publishers/publisher.js';
import type { StageProgress } from '../operators/job.js';
import { allowedHostsFromEnv } from '../scene/url-policy.js';
import type { Catalogue } from '../stac/catalogue/catalogue.js';
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

/** Opens one source of scene events. */
async function openSource(s: SourceConfig, bus: SceneBus | null, once: boolean, reporter: RunReporter): Promise<SceneSource> {
  switch (s.kind) {
    case 'inbox':
      await mkdir(s.dir, { recursive: true });
      return inboxSource({ dir: s.dir, once, ...(s.pollMs ? { pollMs: s.pollMs } : {}), ...(s.stableMs !== undefined ? { stableMs: s.stableMs } : {}) });
    case 'bus':
      return bus!;
    case 'kafka': {
      const [{ kafkaSceneSource, describeKafkaEvent }, { errorLogOnce }] = await Promise.all([import('../connectors/kafka/source.js'), import('../connectors/kafka/client.js')]);
      return kafkaSceneSource({
        brokers: s.brokers,
        topic: s.topic,
        groupId: s.group,
        // what needs a person's attention: retries, dead letters, crashes, rebalances, kafkajs errors
        onEvent: (e) => {
          const line = describeKafkaEvent(s.topic, e);
          if (line) reporter.line(line);
        },
        log: errorLogOnce((t) => reporter.line(`kafka: ${t}`)),
        ...(s.maxAttempts ? { maxAttempts: s.maxAttempts } : {}),
        ...(s.fromTimestamp ? { fromTimestamp: s.fromTimestamp } : {}),
      });
    }
    case 'stac': {
      const { stacWatcher } = await import('../connectors/stac-watcher.js');
      return stacWatcher({
        url: s.url,
        collections: s.collections,
        ...(s.checkpoint ? { statePath: s.checkpoint } : {}),
        ...(s.intervalMs ? { intervalMs: s.intervalMs } : {}),
        ...(s.bbox ? { bbox: s.bbox } : {}),
        ...(s.datetime ? { datetime: s.datetime } : {}),
        ...(s.maxCloudCover !== undefined ? { maxCloudCover: s.maxCloudCover } : {}),
      });
    }
  }
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
    // A runtime named explicitly (a GPU worker's, say) that cannot run here stops the run with its reason
    // before any scene is taken, rather than failing every scene into the dead-letter queue.
    if (config.runtime !== 'auto') {
      const { pickRuntime } = await import('../model/runtimes/index.js');
      await pickRuntime(config.runtime);
    }
    const { openStore } = await import('../connectors/storage/index.js');
    const store = openStore(config.out);

    let catalogue: Catalogue | null = null;
    const publishers: Publisher[] = [];
    if (config.catalogue) {
      const path = resolve(config.catalogue);
      await mkdir(dirname(path), { recursive: true });
      const [{ Catalogue: Cat }, { CataloguePublisher }] = await Promise.all([import('../stac/catalogue/catalogue.js'), import('../connectors/publishers/catalogue.js')]);
      catalogue = Cat.open(path);
      const cat = catalogue;
      cleanups.push(async () => cat.close());
      publishers.push(new CataloguePublisher(cat));
    }
    if (config.publishers.length) {
      const { openPublisher } = await import('../connectors/publishers/index.js');
      for (const uri of config.publishers) publishers.push(openPublisher(uri, { ...(catalogue ? { catalogue } : {}) }));
    }
    cleanups.push(async () => Promise.allSettled(publishers.map((p) => p.close())));

    const sinks: OutcomeSink[] = [...(extra.sinks ?? [])];
    if (config.outputTopic) {
      const kafka = config.sources.find((s) => s.kind === 'kafka');
      if (!kafka || kafka.kind !== 'kafka') throw new Error(`an output topic (${config.outputTopic}) needs a Kafka source, whose brokers it uses`);
      const { kafkaOutcomeSink } = await import('../connectors/kafka/sink.js');
      const sink = kafkaOutcomeSink({ brokers: kafka.brokers, topic: config.outputTopic });
      sinks.push(sink);
      cleanups.push(async () => sink.close());
    }
    const bus = config.sources.some((s) => s.kind === 'bus') ? createBus() : null;
    const sources: SceneSource[] = [];
    for (const s of config.sources) sources.push(await openSource(s, bus, config.once, reporter));

    let url: string | null = null;
    if (config.serve) {
      if (!catalogue) throw new Error('--serve needs the embedded catalogue (do not set catalogue to none)');
      const { buildServer } = await import('../server/app.js');
      const local = !/^[a-z][a-z0-9+.-]*:/i.test(config.out) || config.out.startsWith('file:');
      const app = await buildServer({
        catalogue,
        dataDir: join(dirname(resolve(config.catalogue!)), 'sharpstream-server'),
        ...(config.apiKey ? { apiKey: config.apiKey } : { allowAnonymousWrites: true }),
        ...(local ? { filesRoot: resolve(config.out.replace(/^file:(\/\/)?/, '')) } : {}),
        deepaas: { allowUrlHosts: allowedHostsFromEnv(process.env) },
      });
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
            sinks,
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
