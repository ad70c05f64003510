/**
 * The Kafka broker the project's scripts run (scripts/kafka/start.sh, stop.sh), exercised with kafkajs:
 * a consumer group splitting a topic's partitions, and producers and consumers carrying on across a
 * broker restart. The shared broker (KAFKA_BROKERS, default 127.0.0.1:9092) is started when missing
 * and left running; the restart runs on a private broker on a free port so that it cannot disturb
 * other tests using the shared one.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Consumer, EachMessagePayload, Kafka } from 'kafkajs';
import {
  brokerAnswers,
  createTopic,
  deleteTopics,
  freeBrokerPort,
  kafkaBrokers,
  kafkaClient,
  kafkaProducer,
  restartBroker,
  startBroker,
  stopBroker,
  uniqueTopic,
  waitForKafka,
} from '../helpers/kafka.js';
import { sleep, until } from '../helpers/wait.js';



/** A consumer in `groupId` that records what it receives and the partitions assigned to it. */
function recordingConsumer(kafka: Kafka, groupId: string, topic: string) {
  const consumer: Consumer = kafka.consumer({
    groupId,
    heartbeatInterval: 300,
    sessionTimeout: 10_000,
    // kafkajs heartbeats between fetches: short fetch waits let members notice rebalances quickly
    maxWaitTimeInMs: 500,
    retry: { retries: 20, initialRetryTime: 200, maxRetryTime: 2000 },
  });
  const received: { key: string; value: string; partition: number; offset: string }[] = [];
  let assigned: number[] = [];
  const committed = new Map<number, number>();
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    assigned = [...(e.payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
  });
  consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
    for (const t of e.payload.topics) {
      if (t.topic !== topic) continue;
      for (const p of t.partitions) committed.set(p.partition, Number(p.offset));
    }
  });
  const start = async (): Promise<void> => {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }: EachMessagePayload) => {
        received.push({ key: message.key!.toString(), value: message.value!.toString(), partition, offset: message.offset });
      },
    });
  };
  /** Messages this consumer has committed (the sum of its committed offsets; partitions start at 0). */
  const committedCount = (): number => [...committed.values()].reduce((a, b) => a + b, 0);
  return { consumer, groupId, received, assigned: () => assigned, committedCount, start };
}

describe('Kafka broker (scripts/kafka)', () => {
  const brokers = kafkaBrokers();
  const topics: string[] = [];

  beforeAll(async () => {
    // starts the shared broker only when none answers; a broker that was already running stays as it is
    await startBroker();
    await waitForKafka(30_000, brokers);
  });

  afterAll(async () => {
    await deleteTopics(topics, brokers).catch(() => undefined);
  });

  it('start.sh is idempotent: a second start finds the running broker and exits 0', async () => {
    const again = await startBroker();
    expect(again.startedHere).toBe(false);
    expect(await brokerAnswers(Number(brokers[0]!.split(':')[1]))).toBe(true);
  });

  it('splits a 3-partition topic between two consumers of one group, each message delivered once', async () => {
    const topic = uniqueTopic('broker-group');
    topics.push(topic);
    await createTopic(topic, 3, brokers);

    const kafka = kafkaClient({ brokers });
    const groupId = uniqueTopic('group');
    const a = recordingConsumer(kafka, groupId, topic);
    const b = recordingConsumer(kafka, groupId, topic);
    const producer = kafkaProducer(kafka);
    try {
      await a.start();
      await b.start();
      // produce only once the group has settled with both members holding partitions
      await until('both consumers to share the 3 partitions', () => {
        const pa = a.assigned();
        const pb = b.assigned();
        return pa.length > 0 && pb.length > 0 && new Set([...pa, ...pb]).size === 3 && pa.length + pb.length === 3;
      });

      await producer.connect();
      const messages = Array.from({ length: 30 }, (_, i) => ({ key: `key-${i}`, value: `value-${i}` }));
      const acks = await producer.send({ topic, messages, acks: -1 });
      expect(new Set(acks.map((r) => r.partition))).toEqual(new Set([0, 1, 2]));

      await until('30 messages across the two consumers', () => a.received.length + b.received.length >= 30);
      await sleep(500); // a duplicate, if any, would show up now

      const all = [...a.received, ...b.received];
      expect(all).toHaveLength(30);
      expect(all.map((m) => m.key).sort()).toEqual(messages.map((m) => m.key).sort());
      for (const m of all) expect(m.value).toBe(`value-${m.key.slice('key-'.length)}`);

      // each consumer read only from its own partitions, and the two sets do not overlap
      const pa = new Set(a.received.map((m) => m.partition));
      const pb = new Set(b.received.map((m) => m.partition));
      expect(a.received.length).toBeGreaterThan(0);
      expect(b.received.length).toBeGreaterThan(0);
      expect([...pa].every((p) => a.assigned().includes(p))).toBe(true);
      expect([...pb].every((p) => b.assigned().includes(p))).toBe(true);
      expect([...pa].filter((p) => pb.has(p))).toEqual([]);
      // the same key always lands on the same partition
      const partitionOfKey = new Map(all.map((m) => [m.key, m.partition]));
      expect(partitionOfKey.size).toBe(30);
    } finally {
      await producer.disconnect().catch(() => undefined);
      await Promise.all([a.consumer.disconnect(), b.consumer.disconnect()]).catch(() => undefined);
    }
  });

  describe('restart (a private broker on a free port)', () => {
    let port = 0;
    let dir = '';
    let options: { port: number; dataDir: string; runDir: string };

    beforeAll(async () => {
      port = await freeBrokerPort();
      dir = await mkdtemp(join(tmpdir(), 'sharpstream-kafka-'));
      options = { port, dataDir: join(dir, 'data'), runDir: dir };
      const { startedHere } = await startBroker(options);
      expect(startedHere).toBe(true);
    });

    afterAll(async () => {
      if (port) await stopBroker(options).catch(() => undefined);
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('the same producer and consumer carry on after stop.sh + start.sh; topic and committed offsets survive', async () => {
      const brokersHere = [`127.0.0.1:${port}`];
      const topic = uniqueTopic('broker-restart');
      await createTopic(topic, 2, brokersHere);

      const kafka = kafkaClient({ brokers: brokersHere, retry: { retries: 20, initialRetryTime: 200, maxRetryTime: 2000 } });
      const producer = kafkaProducer(kafka);
      const c = recordingConsumer(kafka, uniqueTopic('group'), topic);
      try {
        await producer.connect();
        await c.start();
        await until('the consumer to be assigned both partitions', () => c.assigned().length === 2);

        const before = Array.from({ length: 10 }, (_, i) => ({ key: `k${i % 4}`, value: `before-${i}` }));
        await producer.send({ topic, messages: before, acks: -1 });
        await until('the 10 messages sent before the restart', () => c.received.length >= 10);
        await until('the consumer to commit the 10 offsets', () => c.committedCount() >= 10);

        await restartBroker(options);
        const pidFile = join(dir, `kafka-${port}.pid`);
        expect(Number(await readFile(pidFile, 'utf8'))).toBeGreaterThan(0);
        // the group's committed offsets survived the restart
        const admin = kafka.admin();
        await admin.connect();
        try {
          const offsets = await admin.fetchOffsets({ groupId: c.groupId, topics: [topic] });
          expect(offsets[0]!.partitions.reduce((sum, p) => sum + Number(p.offset), 0)).toBe(10);
        } finally {
          await admin.disconnect();
        }

        // the same producer and consumer objects, reconnecting on their own
        const after = Array.from({ length: 10 }, (_, i) => ({ key: `k${i % 4}`, value: `after-${i}` }));
        await producer.send({ topic, messages: after, acks: -1 });
        // Generous: on a loaded machine the consumer may need a few retries to rejoin its group after the restart.
        await until('the 10 messages sent after the restart', () => c.received.filter((m) => m.value.startsWith('after-')).length >= 10, 90_000);
        await sleep(500);

        // every message exactly once: the consumer resumed from its committed offsets, not from the beginning
        const values = c.received.map((m) => m.value);
        expect(values.slice().sort()).toEqual([...before, ...after].map((m) => m.value).sort());

        // the topic kept its partitions across the restart (data folder persisted)
        await admin.connect();
        try {
          const { topics: meta } = await admin.fetchTopicMetadata({ topics: [topic] });
          expect(meta[0]!.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1]);
        } finally {
          await admin.disconnect();
        }
      } finally {
        await producer.disconnect().catch(() => undefined);
        await c.consumer.disconnect().catch(() => undefined);
      }
    }, 240_000);

    it('stop.sh stops the broker and removes its pid file; a second stop is a no-op', async () => {
      await stopBroker(options);
      expect(await brokerAnswers(port)).toBe(false);
      await expect(readFile(join(dir, `kafka-${port}.pid`), 'utf8')).rejects.toThrow(/ENOENT/);
      expect(await stopBroker(options)).toMatch(/no broker running/);
    });
  });
});
