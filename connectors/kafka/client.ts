/**
 * The kafkajs client every connector uses: brokers from options or `KAFKA_BROKERS`, retries long
 * enough to ride out a broker restart, quiet logging routed to a callback, and a helper that creates
 * a topic when it is missing.
 */
import { Kafka, logLevel, type Admin, type KafkaConfig, type LogEntry } from 'kafkajs';

/** Connection settings shared by the Kafka source, sink and replay. */
export interface KafkaConnection {
  /** host:port of one or more brokers (default: `$KAFKA_BROKERS`, else 127.0.0.1:9092). */
  readonly brokers?: readonly string[];
  readonly clientId?: string;
  /** An existing client to use instead of building one from brokers/clientId. */
  readonly kafka?: Kafka;
  /** kafkajs log lines at or above `logLevel` (default: warnings and errors) go here; default: none. */
  readonly log?: (level: 'error' | 'warn' | 'info' | 'debug', message: string) => void;
  readonly logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

/** Parses a comma-separated broker list ("a:9092,b:9092"); throws naming the bad entry. */
export function parseBrokers(text: string): string[] {
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new Error('Kafka brokers: the list is empty (expected host:port[,host:port...])');
  for (const b of list) if (!/^[^:\s/]+:\d{1,5}$/.test(b)) throw new Error(`Kafka brokers: "${b}" is not host:port`);
  return list;
}

/** The brokers to use: the given list, else `$KAFKA_BROKERS`, else 127.0.0.1:9092. */
export function resolveBrokers(brokers?: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  if (brokers && brokers.length > 0) return parseBrokers(brokers.join(','));
  return parseBrokers(env.KAFKA_BROKERS ?? '127.0.0.1:9092');
}

const LEVELS = { error: logLevel.ERROR, warn: logLevel.WARN, info: logLevel.INFO, debug: logLevel.DEBUG } as const;
const NAMES: Record<number, 'error' | 'warn' | 'info' | 'debug'> = { [logLevel.ERROR]: 'error', [logLevel.WARN]: 'warn', [logLevel.INFO]: 'info', [logLevel.DEBUG]: 'debug' };

/**
 * Retries of every Kafka client, consumer and producer of the connectors: backoff from 0.3 s to 10 s,
 * about five minutes in all, so that a worker rides out a broker restart, even a slow one on a busy
 * machine, instead of failing its scenes; a cluster that stays away longer is reported.
 */
export const RETRY = { retries: 30, initialRetryTime: 300, maxRetryTime: 10_000 } as const;

/**
 * A `log` for KafkaConnection that passes kafkajs errors to `write`, each distinct message at most once
 * a minute (while a broker is away kafkajs repeats the same lines for minutes).
 */
export function errorLogOnce(write: (line: string) => void, everyMs = 60_000): NonNullable<KafkaConnection['log']> {
  const last = new Map<string, number>();
  return (level, message) => {
    if (level !== 'error') return;
    const now = Date.now();
    if (now - (last.get(message) ?? -Infinity) < everyMs) return;
    if (last.size >= 1000) last.clear();
    last.set(message, now);
    write(message);
  };
}

/** Builds (or returns the given) kafkajs client with retries that outlast a broker restart. */
export function connectKafka(c: KafkaConnection, extra: Partial<KafkaConfig> = {}): Kafka {
  if (c.kafka) return c.kafka;
  const log = c.log;
  return new Kafka({
    clientId: c.clientId ?? 'sharpstream',
    brokers: resolveBrokers(c.brokers),
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    // about five minutes of retries with backoff: a broker restart (or a slow one) is ridden out
    retry: RETRY,
    logLevel: log ? LEVELS[c.logLevel ?? 'warn'] : logLevel.NOTHING,
    logCreator: () => (entry: LogEntry) => {
      if (!log) return;
      const extraText = entry.log.error ? `: ${String(entry.log.error)}` : '';
      log(NAMES[entry.level] ?? 'info', `[kafkajs ${entry.namespace}] ${entry.log.message}${extraText}`);
    },
    ...extra,
  });
}

/** Creates the topic when it does not exist (replication factor: the broker's default); returns whether it created it. */
export async function ensureTopic(kafka: Kafka, topic: string, partitions = 1): Promise<boolean> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (existing.includes(topic)) return false;
    try {
      return await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }], waitForLeaders: true });
    } catch (err) {
      // another worker created it at the same moment
      if ((err as { type?: string }).type === 'TOPIC_ALREADY_EXISTS' || /already exists/i.test(String((err as Error).message))) return false;
      throw err;
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
