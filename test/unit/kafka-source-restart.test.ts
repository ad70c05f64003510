/**
 * kafkaSceneSource replaces a kafkajs consumer that stalls or that crashes without a kafkajs restart,
 * with a fake kafkajs client (the real broker paths are in test/integration/kafka-source.test.ts).
 */
import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaSceneSource, type KafkaSourceEvent } from '../../connectors/kafka/source.js';
import type { Delivery, SceneEvent } from '../../pipeline/types.js';
import { until } from '../helpers/wait.js';

const EVENTS = { HEARTBEAT: 'heartbeat', FETCH: 'fetch', GROUP_JOIN: 'group_join', CRASH: 'crash' } as const;

/** A stand-in for a kafkajs consumer: the test drives its events and messages. */
class FakeConsumer {
  readonly events = EVENTS;
  readonly listeners = new Map<string, ((e: { payload: unknown }) => void)[]>();
  eachMessage: ((p: unknown) => Promise<void>) | null = null;
  disconnected = false;
  readonly commits: { partition: number; offset: string }[] = [];
  constructor(private readonly hangOnDisconnect: boolean) {}
  on(name: string, fn: (e: { payload: unknown }) => void): void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), fn]);
  }
  fire(name: string, payload: unknown): void {
    for (const fn of this.listeners.get(name) ?? []) fn({ payload });
  }
  join(partitions: number[]): void {
    this.fire(EVENTS.GROUP_JOIN, { memberAssignment: { scenes: partitions } });
  }
  async deliver(partition: number, offset: string, href: string): Promise<void> {
    await this.eachMessage!({ topic: 'scenes', partition, message: { offset, key: null, value: Buffer.from(JSON.stringify({ href })), headers: {} } });
  }
  async connect(): Promise<void> {}
  async subscribe(): Promise<void> {}
  async run(o: { eachMessage: (p: unknown) => Promise<void> }): Promise<void> {
    this.eachMessage = o.eachMessage;
  }
  pause(): void {}
  resume(): void {}
  async commitOffsets(offsets: { partition: number; offset: string }[]): Promise<void> {
    this.commits.push(...offsets.map(({ partition, offset }) => ({ partition, offset })));
  }
  disconnect(): Promise<void> {
    this.disconnected = true;
    return this.hangOnDisconnect ? new Promise(() => undefined) : Promise.resolve();
  }
}

/** A fake kafkajs client whose consumers the test can reach, in creation order. */
function fakeKafka(hangOnDisconnect = false): { kafka: Kafka; consumers: FakeConsumer[] } {
  const consumers: FakeConsumer[] = [];
  const fake = {
    consumer: () => {
      const c = new FakeConsumer(hangOnDisconnect);
      consumers.push(c);
      return c;
    },
    producer: () => ({ connect: async () => undefined, disconnect: async () => undefined, send: async () => [] }),
  };
  return { kafka: fake as unknown as Kafka, consumers };
}

describe('kafkaSceneSource consumer replacement', () => {
  it('replaces a consumer that neither fetches nor heartbeats, even one that never finishes disconnecting', async () => {
    const { kafka, consumers } = fakeKafka(true);
    const events: KafkaSourceEvent[] = [];
    const source = kafkaSceneSource({ kafka, topic: 'scenes', groupId: 'g', createTopics: false, stallTimeoutMs: 300, onEvent: (e) => events.push(e) });
    const sub = source.deliveries().subscribe();
    try {
      await until('the first consumer', () => consumers.length === 1 && consumers[0]!.eachMessage !== null, 5000);
      // the first consumer stays alive while it fetches
      for (let i = 0; i < 6; i++) {
        consumers[0]!.fire(EVENTS.FETCH, {});
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(consumers).toHaveLength(1);
      // then it goes quiet
      await until('a second consumer', () => consumers.length === 2 && consumers[1]!.eachMessage !== null, 15_000);
      expect(consumers[0]!.disconnected).toBe(true);
      const restart = events.find((e) => e.type === 'consumer-restart');
      expect(restart).toMatchObject({ type: 'consumer-restart', attempt: 1 });
      expect((restart as { reason: string }).reason).toMatch(/no fetch or heartbeat for \d+ s/);
    } finally {
      sub.unsubscribe();
      await source.close();
    }
  }, 30_000);

  it('replaces a consumer that kafkajs will not restart; work in flight goes on and commits through the new one', async () => {
    const { kafka, consumers } = fakeKafka();
    const events: KafkaSourceEvent[] = [];
    const source = kafkaSceneSource({ kafka, topic: 'scenes', groupId: 'g', createTopics: false, stallTimeoutMs: 0, maxInFlight: 4, onEvent: (e) => events.push(e) });
    const got: Delivery<SceneEvent>[] = [];
    const errors: Error[] = [];
    const sub = source.deliveries().subscribe({ next: (d) => got.push(d), error: (e: Error) => errors.push(e) });
    try {
      await until('the first consumer', () => consumers[0]?.eachMessage != null, 5000);
      const first = consumers[0]!;
      first.join([0]);
      await first.deliver(0, '0', '/s/a');
      expect(got.map((d) => d.value.id)).toEqual(['a']);
      first.fire(EVENTS.CRASH, { error: new Error('Cannot read properties of undefined'), restart: false });
      await until('a second consumer', () => consumers[1]?.eachMessage != null, 10_000);
      const second = consumers[1]!;
      expect(first.disconnected).toBe(true);
      // events of the replaced consumer are ignored
      first.join([]);
      await first.deliver(0, '5', '/s/stale');
      second.join([0]);
      // the scene in flight is redelivered by the new consumer: dropped as a duplicate; the next one is new
      await second.deliver(0, '0', '/s/a');
      await second.deliver(0, '1', '/s/b');
      expect(got.map((d) => d.value.id)).toEqual(['a', 'b']);
      expect(events.some((e) => e.type === 'duplicate' && e.offset === '0')).toBe(true);
      await got[0]!.ack();
      await got[1]!.ack();
      expect(second.commits).toEqual([
        { partition: 0, offset: '1' },
        { partition: 0, offset: '2' },
      ]);
      expect(first.commits).toEqual([]);
      expect(events.filter((e) => e.type === 'consumer-restart')).toHaveLength(1);
      expect(errors).toEqual([]);
    } finally {
      sub.unsubscribe();
      await source.close();
    }
  }, 30_000);

  it('fails the stream, naming the cause, after maxConsumerRestarts replacements without a fetch', async () => {
    const { kafka, consumers } = fakeKafka();
    const source = kafkaSceneSource({ kafka, topic: 'scenes', groupId: 'g', createTopics: false, stallTimeoutMs: 200, maxConsumerRestarts: 1 });
    let error: Error | null = null;
    const sub = source.deliveries().subscribe({ error: (e: Error) => (error = e) });
    try {
      await until('the stream to fail', () => error !== null, 15_000);
      expect(consumers).toHaveLength(2);
      expect(error!.message).toMatch(/stopped working 1 times in a row; last: no fetch or heartbeat/);
      expect(consumers.every((c) => c.disconnected)).toBe(true);
    } finally {
      sub.unsubscribe();
      await source.close();
    }
  }, 30_000);
});
