/**
 * Configuration of `sharpstream run`: embedded defaults, then a JSON config file, then environment
 * variables (`SHARPSTREAM_*`), then command-line flags, each overriding the one before.
 *
 * Defaults: watch `./inbox`, write to `./results`, publish into the embedded catalogue
 * `./results/catalogue.sqlite`, one scene at a time, the shipped models (bicubic where a satellite
 * has none), quicklook pairs on, no HTTP server.
 */
import { readFileSync } from 'node:fs';

/** One source of scene events. */
export type SourceConfig =
  | { readonly kind: 'inbox'; readonly dir: string; readonly pollMs?: number; readonly stableMs?: number }
  | { readonly kind: 'bus' }
  | {
      readonly kind: 'kafka';
      readonly brokers: readonly string[];
      readonly topic: string;
      readonly group: string;
      readonly maxAttempts?: number;
      /** A group without committed offsets starts at this time (replay of a topic's history). */
      readonly fromTimestamp?: string;
    }
  | {
      readonly kind: 'stac';
      readonly url: string;
      readonly collections: readonly string[];
      readonly checkpoint?: string;
      readonly intervalMs?: number;
      readonly bbox?: readonly [number, number, number, number];
      readonly datetime?: string;
      readonly maxCloudCover?: number;
    };

/** Everything `startRun` needs. */
export interface RunConfig {
  readonly sources: readonly SourceConfig[];
  /** Output store: a folder, `file:` URL or `s3://bucket/prefix?...`. */
  readonly out: string;
  /** The embedded catalogue's SQLite file, or null for none. */
  readonly catalogue: string | null;
  /** Further publishers (`http(s)://` STAC APIs, `file:/dir` static catalogues). */
  readonly publishers: readonly string[];
  /** Kafka output topic for the output STAC items (with a kafka source's brokers), or none. */
  readonly outputTopic?: string;
  /** Serve the STAC API, DEEPaaS API and pages on this port (0: any free port), or null. */
  readonly serve: { readonly port: number; readonly host: string } | null;
  readonly apiKey?: string;
  /** Deliver what is in the inbox, process it and exit. */
  readonly once: boolean;
  readonly concurrency: number;
  readonly runtime: string;
  readonly threads?: number;
  readonly batch: number;
  /** Model refs for events that name none (default: the shipped models). */
  readonly models?: readonly string[];
  /** Used for a satellite without shipped models (null: such scenes fail). */
  readonly fallbackModel: string | null;
  readonly previews: boolean;
  readonly workDir?: string;
}

/** The embedded defaults. */
export const DEFAULT_CONFIG: RunConfig = {
  sources: [{ kind: 'inbox', dir: './inbox' }],
  out: './results',
  catalogue: './results/catalogue.sqlite',
  publishers: [],
  serve: null,
  once: false,
  concurrency: 1,
  runtime: 'auto',
  batch: 8,
  fallbackModel: 'bicubic',
  previews: true,
};

/** A configuration mistake, naming where it came from. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Partial settings from one layer (file, environment or flags). */
export type ConfigLayer = { -readonly [K in keyof RunConfig]?: RunConfig[K] };

function positiveInt(v: unknown, what: string): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

function list(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Reads a JSON config file (any RunConfig fields); throws naming the file and the problem. */
export function readConfigFile(path: string): ConfigLayer {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`config file ${path}: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`config file ${path}: must be a JSON object`);
  const known = new Set(Object.keys(DEFAULT_CONFIG).concat(['apiKey', 'threads', 'models', 'workDir', 'outputTopic']));
  const unknown = Object.keys(v).filter((k) => !known.has(k));
  if (unknown.length) throw new ConfigError(`config file ${path}: unknown setting${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${[...known].sort().join(', ')})`);
  const layer = v as ConfigLayer;
  if (layer.sources !== undefined) {
    if (!Array.isArray(layer.sources)) throw new ConfigError(`config file ${path}: "sources" must be an array`);
    for (const s of layer.sources) {
      if (!s || !['inbox', 'bus', 'kafka', 'stac'].includes((s as { kind?: string }).kind ?? '')) {
        throw new ConfigError(`config file ${path}: each source needs "kind": inbox, bus, kafka or stac, got ${JSON.stringify(s)}`);
      }
    }
  }
  return layer;
}

/** Settings from `SHARPSTREAM_*` environment variables. */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): ConfigLayer {
  const out: ConfigLayer = {};
  const e = (k: string) => {
    const v = env[`SHARPSTREAM_${k}`];
    return v === undefined || v === '' ? undefined : v;
  };
  const inbox = e('INBOX');
  if (inbox) out.sources = [{ kind: 'inbox', dir: inbox }];
  const brokers = e('KAFKA_BROKERS');
  const topic = e('KAFKA_TOPIC');
  if (brokers || topic) {
    if (!brokers || !topic) throw new ConfigError('SHARPSTREAM_KAFKA_BROKERS and SHARPSTREAM_KAFKA_TOPIC go together');
    out.sources = [...(out.sources ?? []), { kind: 'kafka', brokers: list(brokers), topic, group: e('KAFKA_GROUP') ?? 'sharpstream' }];
  }
  const outTopic = e('KAFKA_OUTPUT_TOPIC');
  if (outTopic) out.outputTopic = outTopic;
  const out_ = e('OUT');
  if (out_) out.out = out_;
  const cat = e('CATALOGUE');
  if (cat) out.catalogue = cat === 'none' ? null : cat;
  const pubs = e('PUBLISHERS');
  if (pubs) out.publishers = list(pubs);
  const conc = e('CONCURRENCY');
  if (conc) out.concurrency = positiveInt(conc, 'SHARPSTREAM_CONCURRENCY');
  const rt = e('RUNTIME');
  if (rt) out.runtime = rt;
  const models = e('MODEL');
  if (models) out.models = list(models);
  const key = e('API_KEY');
  if (key) out.apiKey = key;
  const work = e('WORK_DIR');
  if (work) out.workDir = work;
  return out;
}

/** Merges layers over the defaults (later layers win; `sources` is replaced as a whole). */
export function resolveConfig(...layers: readonly ConfigLayer[]): RunConfig {
  const merged: ConfigLayer = { ...DEFAULT_CONFIG };
  for (const l of layers) for (const [k, v] of Object.entries(l)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  const c = merged as RunConfig;
  positiveInt(c.concurrency, 'concurrency');
  positiveInt(c.batch, 'batch');
  if (c.sources.length === 0) throw new ConfigError('no source of scene events configured (inbox, bus, kafka or stac)');
  if (c.once && !c.sources.every((s) => s.kind === 'inbox')) throw new ConfigError('--once processes what is in the inbox and exits: it works with inbox sources only');
  return c;
}
