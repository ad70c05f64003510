/**
 * Helpers of the Kafka stream tests: pipeline workers as child processes (test/helpers/kafka-worker.ts)
 * whose JSON-lines output is collected, and reading a topic's records from the beginning.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { IHeaders } from 'kafkajs';
import { REPO_ROOT } from './data.js';
import { kafkaClient, uniqueTopic } from './kafka.js';
import type { TestWorkerConfig } from './kafka-worker.js';

/** One JSON line a worker printed. */
export type WorkerLine = Record<string, unknown> & { type: string; worker: string };

/** A running test worker. */
export interface TestWorker {
  readonly child: ChildProcess;
  readonly lines: WorkerLine[];
  /** stderr so far (for failure messages). */
  stderr(): string;
  /** Resolves with the first line (past or future) matching; rejects after timeoutMs or when the worker exits. */
  waitFor(what: string, match: (l: WorkerLine) => boolean, timeoutMs?: number): Promise<WorkerLine>;
  /** Partitions of the latest assignment. */
  assigned(): number[];
  exited(): boolean;
  /** SIGTERM, then SIGKILL after 10 s; resolves when it has exited. */
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/** Starts a worker process with this configuration. */
export function startWorker(config: TestWorkerConfig): TestWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test/helpers/kafka-worker.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, SHARPSTREAM_TEST_WORKER: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: WorkerLine[] = [];
  let err = '';
  let buf = '';
  let exitedFlag = false;
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of [...listeners]) l();
  };
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as WorkerLine);
      } catch {
        err += `${line}\n`;
      }
    }
    notify();
  });
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exitedFlag = true;
      notify();
      resolve();
    }),
  );
  const waitFor = (what: string, match: (l: WorkerLine) => boolean, timeoutMs = 60_000): Promise<WorkerLine> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find(match);
        if (hit) return done(() => resolve(hit));
        if (exitedFlag) return done(() => reject(new Error(`worker ${config.name} exited before ${what}; stderr: ${err.slice(-2000)}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`worker ${config.name}: timed out waiting for ${what}; stderr: ${err.slice(-2000)}`))), timeoutMs);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        listeners.delete(check);
        f();
      };
      listeners.add(check);
      check();
    });
  return {
    child,
    lines,
    stderr: () => err,
    waitFor,
    assigned: () => {
      const last = [...lines].reverse().find((l) => l.type === 'source:assigned');
      return last ? [...(last.partitions as number[])] : [];
    },
    exited: () => exitedFlag,
    stop: async () => {
      if (exitedFlag) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(t);
    },
    kill: async () => {
      if (exitedFlag) return;
      child.kill('SIGKILL');
      await exit;
    },
  };
}

/** A record read back from a topic. */
export interface TopicRecord {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: IHeaders;
}

/**
 * Reads a topic from the beginning under a throw-away group until `count` records have arrived,
 * then `settleMs` more (so that a duplicate would show), and returns them.
 */
export async function readTopic(topic: string, count: number, brokers: string[], timeoutMs = 60_000, settleMs = 1000): Promise<TopicRecord[]> {
  const consumer = kafkaClient({ brokers }).consumer({ groupId: uniqueTopic('reader'), maxWaitTimeInMs: 200, sessionTimeout: 10_000, heartbeatInterval: 500 });
  const records: TopicRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        records.push({ partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers: message.headers ?? {} });
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (records.length < count) {
      if (Date.now() > deadline) throw new Error(`readTopic ${topic}: ${records.length} of ${count} records after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, settleMs));
    return records;
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}
