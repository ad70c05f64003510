/**
 * The real Kafka broker for tests: clients with quiet logging, topics that are ready to use, and the
 * broker's lifecycle through the project's own scripts (scripts/kafka/start.sh and stop.sh, which
 * fetch Kafka from Maven Central on first use and run a single KRaft node on 127.0.0.1:9092).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, Partitioners, logLevel, type Admin, type KafkaConfig, type Producer, type ProducerConfig } from 'kafkajs';
import { REPO_ROOT } from './data.js';

const run = promisify(execFile);
const START_SCRIPT = join(REPO_ROOT, 'scripts/kafka/start.sh');
const STOP_SCRIPT = join(REPO_ROOT, 'scripts/kafka/stop.sh');
const DEFAULT_BROKERS = '127.0.0.1:9092';

/** The brokers tests talk to: `$KAFKA_BROKERS` (comma-separated host:port), default 127.0.0.1:9092. */
export function kafkaBrokers(): string[] {
  const list = (process.env.KAFKA_BROKERS ?? DEFAULT_BROKERS)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const b of list) {
    if (!/^[^:\s]+:\d+$/.test(b)) throw new Error(`KAFKA_BROKERS: "${b}" is not host:port`);
  }
  if (list.length === 0) throw new Error('KAFKA_BROKERS is empty');
  return list;
}

/** A kafkajs client for the test brokers (or `brokers`), logging nothing below ERROR unless KAFKAJS_LOG_LEVEL says so. */
export function kafkaClient(options: Partial<KafkaConfig> & { brokers?: string[] } = {}): Kafka {
  const levels: Record<string, logLevel> = {
    nothing: logLevel.NOTHING,
    error: logLevel.ERROR,
    warn: logLevel.WARN,
    info: logLevel.INFO,
    debug: logLevel.DEBUG,
  };
  const wanted = levels[process.env.KAFKAJS_LOG_LEVEL?.toLowerCase() ?? 'nothing'];
  return new Kafka({
    clientId: 'sharpstream-test',
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    logLevel: wanted ?? logLevel.NOTHING,
    ...options,
    brokers: options.brokers ?? kafkaBrokers(),
  });
}

/** A producer with kafkajs's default (Java-compatible murmur2) partitioner, named explicitly so kafkajs does not warn. */
export function kafkaProducer(kafka: Kafka, config: ProducerConfig = {}): Producer {
  return kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...config });
}

/** Runs `fn` with a connected admin client and always disconnects it. */
async function withAdmin<T>(brokers: string[] | undefined, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafkaClient({ brokers, retry: { retries: 3, initialRetryTime: 200 } }).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until the brokers answer a metadata request; throws naming the brokers and the last error after `timeoutMs`. */
export async function waitForKafka(timeoutMs = 30_000, brokers: string[] = kafkaBrokers()): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    const admin = kafkaClient({ brokers, retry: { retries: 0 }, connectionTimeout: 1000 }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0) return;
      last = new Error('metadata lists no brokers');
    } catch (err) {
      last = err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? last.message : String(last);
      throw new Error(`Kafka at ${brokers.join(',')} not ready within ${timeoutMs} ms: ${why} (start it with npm run kafka:start)`);
    }
    await sleep(250);
  }
}

/** A topic name that no other test run uses: `<prefix>-<time>-<random>`, legal for Kafka. */
export function uniqueTopic(prefix = 'test'): string {
  const safe = prefix.replace(/[^a-zA-Z0-9._-]/g, '-');
  return `${safe}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/**
 * Creates a topic (replication factor 1) and waits until every one of its `partitions` has a leader,
 * so producers and consumers can use it at once. An existing topic with that name is an error.
 */
export async function createTopic(name: string, partitions = 1, brokers?: string[], timeoutMs = 30_000): Promise<void> {
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`createTopic ${name}: partitions must be a positive integer, got ${partitions}`);
  await withAdmin(brokers, async (admin) => {
    const created = await admin.createTopics({
      topics: [{ topic: name, numPartitions: partitions, replicationFactor: 1 }],
      waitForLeaders: true,
      timeout: timeoutMs,
    });
    if (!created) throw new Error(`createTopic ${name}: the topic already exists`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { topics } = await admin.fetchTopicMetadata({ topics: [name] });
      const parts = topics[0]?.partitions ?? [];
      if (parts.length === partitions && parts.every((p) => p.leader >= 0)) return;
      if (Date.now() >= deadline) {
        throw new Error(`createTopic ${name}: ${parts.filter((p) => p.leader >= 0).length} of ${partitions} partitions have a leader after ${timeoutMs} ms`);
      }
      await sleep(100);
    }
  });
}

/** Deletes topics (those that do not exist are ignored). */
export async function deleteTopics(names: string[], brokers?: string[]): Promise<void> {
  if (names.length === 0) return;
  await withAdmin(brokers, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const topics = names.filter((n) => existing.has(n));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
  });
}

/** Where the broker scripts act: a port, and optionally private data and run (pid, log) folders. */
export interface BrokerScriptOptions {
  /** Client port; default the port of the first of kafkaBrokers(). The controller uses port + 1. */
  readonly port?: number;
  /** The broker's data folder (KAFKA_DATA_DIR); default .cache/kafka/data-<port>. */
  readonly dataDir?: string;
  /** Pid file, logs and generated config (KAFKA_RUN_DIR); default .cache/kafka. */
  readonly runDir?: string;
}

function scriptEnv(options: BrokerScriptOptions): NodeJS.ProcessEnv {
  const port = options.port ?? Number(kafkaBrokers()[0]!.split(':')[1]);
  const env: NodeJS.ProcessEnv = { ...process.env, KAFKA_PORT: String(port) };
  delete env.KAFKA_CONTROLLER_PORT;
  if (options.dataDir) env.KAFKA_DATA_DIR = options.dataDir;
  else delete env.KAFKA_DATA_DIR;
  if (options.runDir) env.KAFKA_RUN_DIR = options.runDir;
  else delete env.KAFKA_RUN_DIR;
  return env;
}

async function runScript(script: string, options: BrokerScriptOptions): Promise<string> {
  try {
    const { stdout } = await run('bash', [script], { env: scriptEnv(options), timeout: 240_000, maxBuffer: 1 << 22 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message?: string };
    throw new Error(`${script} failed: ${e.message ?? String(err)}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Whether a broker answers on the port (a single quick metadata probe). */
export async function brokerAnswers(port: number, host = '127.0.0.1'): Promise<boolean> {
  try {
    await waitForKafka(0, [`${host}:${port}`]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the broker with scripts/kafka/start.sh unless one already answers, and reports whether this
 * call started it (so that a test stops only a broker it started). Returns once the broker is ready.
 */
export async function startBroker(options: BrokerScriptOptions = {}): Promise<{ startedHere: boolean; output: string }> {
  const port = options.port ?? Number(kafkaBrokers()[0]!.split(':')[1]);
  if (await brokerAnswers(port)) return { startedHere: false, output: `a broker already answers on port ${port}` };
  const output = await runScript(START_SCRIPT, options);
  return { startedHere: !/already (running|answers)/.test(output), output };
}

/** Stops a broker that scripts/kafka/start.sh started (SIGTERM, then SIGKILL after a timeout). */
export async function stopBroker(options: BrokerScriptOptions = {}): Promise<string> {
  return runScript(STOP_SCRIPT, options);
}

/**
 * Restarts the broker (stop.sh, then start.sh), for failure tests; its topics and committed offsets
 * survive. Restarting the shared broker disturbs every test using it at that moment: failure tests
 * should restart a broker of their own (a free port from freeBrokerPort(), private data and run folders).
 */
export async function restartBroker(options: BrokerScriptOptions = {}): Promise<void> {
  await stopBroker(options);
  await runScript(START_SCRIPT, options);
}

/** Resolves whether nothing listens on 127.0.0.1:port. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A free loopback port whose successor (the controller port) is free as well, for a private broker. */
export async function freeBrokerPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await portFree(port)) && (await portFree(port + 1))) return port;
  }
  throw new Error('freeBrokerPort: no free pair of loopback ports found in 50 attempts');
}

/** A consumer group's committed offsets on a topic, by partition (-1 where none is committed). */
export async function committedOffsets(groupId: string, topic: string, brokers: string[] = kafkaBrokers()): Promise<number[]> {
  const admin = kafkaClient({ brokers }).admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return (t?.partitions ?? []).sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset));
  } finally {
    await admin.disconnect();
  }
}
