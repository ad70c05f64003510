/**
 * Scene events from a Kafka topic, consumed in a consumer group so that several workers share the
 * topic's partitions. At-least-once with in-order commits:
 *
 * - each message is parsed with parseSceneEvent; a malformed one goes to `<topic>.dlq` at once;
 * - a Delivery's ack() commits only once every earlier offset of its partition is acknowledged too
 *   (the committed offset is the first one not yet done), so a crash redoes unfinished scenes and
 *   never skips one; outputs are idempotent, so redoing is harmless;
 * - nack(err) retries the event in this process (attempt 2, 3, ... after a growing delay) and after
 *   `maxAttempts` produces it to the DLQ with error headers (connectors/kafka/dlq.ts), then commits;
 * - kafkajs only heartbeats between messages, so the handler never waits for a scene: it hands the
 *   event over and returns, and the source pauses the topic while `maxInFlight` scenes are running
 *   (a paused consumer keeps polling and heartbeating, so a long scene never costs the membership);
 * - on a rebalance, work on partitions taken away is not committed by this worker (their new owner
 *   redoes it); redeliveries of offsets still in flight here are dropped;
 * - broker restarts are ridden out by kafkajs's retries and consumer restart; where kafkajs gives up
 *   (a crash it will not restart) or goes quiet (no fetch or heartbeat for `stallTimeoutMs`), the source
 *   replaces the consumer with a new one in the same group, up to `maxConsumerRestarts` times in a row.
 *   Scenes in flight go on; their redeliveries to the new consumer are dropped as duplicates.
 *
 * `fromTimestamp` starts a new consumer group at the first offsets at or after a time (replaying a
 * topic's history under a group of its own, leaving the live group's offsets alone).
 */
import { Observable, type Subscriber } from 'rxjs';
import type { Consumer, EachMessagePayload, IHeaders, Kafka, Producer } from 'kafkajs';
import { parseSceneEvent, type Delivery, type SceneEvent, type SceneSource } from '../../pipeline/types.js';
import { connectKafka, ensureTopic, RETRY, type KafkaConnection } from './client.js';
import { dlqTopicOf, sendDeadLetter } from './dlq.js';
import { OffsetTracker } from './offsets.js';
import { seekGroupToTimestamp } from './replay.js';

/** What the source reports as it works (for logs, metrics and tests). */
export type KafkaSourceEvent =
  | { readonly type: 'assigned'; readonly partitions: readonly number[]; readonly dropped: readonly number[] }
  | { readonly type: 'committed'; readonly partition: number; readonly offset: string }
  | { readonly type: 'commit-failed'; readonly partition: number; readonly offset: string; readonly error: string }
  | { readonly type: 'retry'; readonly partition: number; readonly offset: string; readonly attempt: number; readonly error: string }
  | { readonly type: 'dead-letter'; readonly partition: number; readonly offset: string; readonly stage: string; readonly error: string }
  | { readonly type: 'duplicate'; readonly partition: number; readonly offset: string }
  | { readonly type: 'paused' | 'resumed'; readonly inFlight: number }
  | { readonly type: 'offsets-from-timestamp'; readonly timestamp: string; readonly offsets: readonly { partition: number; offset: string }[] }
  | { readonly type: 'crash'; readonly error: string; readonly restart: boolean }
  | { readonly type: 'consumer-restart'; readonly reason: string; readonly attempt: number };

/** One line for a person watching a worker, for the events worth their attention; null for routine ones. */
export function describeKafkaEvent(topic: string, e: KafkaSourceEvent): string | null {
  const at = (partition: number, offset: string): string => `${topic}/${partition}@${offset}`;
  switch (e.type) {
    case 'assigned':
      return `kafka: partitions of ${topic} assigned to this worker: ${e.partitions.join(', ') || 'none'}${e.dropped.length ? ` (taken away: ${e.dropped.join(', ')})` : ''}`;
    case 'retry':
      return `kafka: ${at(e.partition, e.offset)} failed (${e.error}); attempt ${e.attempt} follows`;
    case 'dead-letter':
      return `kafka: ${at(e.partition, e.offset)} dead-lettered after failing at ${e.stage}: ${e.error}`;
    case 'commit-failed':
      return `kafka: offset ${at(e.partition, e.offset)} not committed yet: ${e.error}`;
    case 'crash':
      return `kafka: the consumer crashed (${e.restart ? 'kafkajs restarts it' : 'kafkajs gave up'}): ${e.error}`;
    case 'consumer-restart':
      return `kafka: replacing the consumer (${e.attempt} in a row): ${e.reason}`;
    case 'offsets-from-timestamp':
      return `kafka: a new group starts at ${e.timestamp}: ${e.offsets.map((o) => `${topic}/${o.partition}@${o.offset}`).join(', ')}`;
    case 'committed':
    case 'duplicate':
    case 'paused':
    case 'resumed':
      return null;
  }
}

/** Options of kafkaSceneSource. */
export interface KafkaSourceOptions extends KafkaConnection {
  readonly topic: string;
  /** Consumer group; workers in one group share the partitions. */
  readonly groupId: string;
  /** Attempts per event before it is dead-lettered (default 3). */
  readonly maxAttempts?: number;
  /** Scenes handed out and not yet acknowledged before the consumer pauses (default 2). */
  readonly maxInFlight?: number;
  /** Delay before retry n is `retryDelayMs * (n - 1)` (default 1000). */
  readonly retryDelayMs?: number;
  /** Dead-letter topic (default `<topic>.dlq`). */
  readonly dlqTopic?: string;
  /** A new group starts at the topic's beginning (default true) or its end. */
  readonly fromBeginning?: boolean;
  /**
   * A new group (no committed offsets on the topic yet) starts at the first message at or after this
   * time (ISO 8601 text, a Date, or epoch milliseconds); a group with offsets resumes from them.
   */
  readonly fromTimestamp?: string | number | Date;
  /** Group session timeout in ms (default 30000; the broker's minimum is 6000). */
  readonly sessionTimeout?: number;
  /** Heartbeat interval in ms (default 3000). */
  readonly heartbeatInterval?: number;
  /**
   * A consumer that has neither fetched nor heartbeated for this long is replaced (default: the larger
   * of 90 s, longer than kafkajs's 60 s rebalance timeout, and three session timeouts; 0: never).
   */
  readonly stallTimeoutMs?: number;
  /** Consumers replaced in a row (stalled, or crashed without a kafkajs restart) before the stream fails (default 5). */
  readonly maxConsumerRestarts?: number;
  /** Create the input and DLQ topics when missing, with this many partitions for the input (default: create, 1). */
  readonly createTopics?: false | { readonly partitions?: number };
  /** Progress and problems, for logs and tests. */
  readonly onEvent?: (event: KafkaSourceEvent) => void;
}

/** Epoch milliseconds of a fromTimestamp value; throws naming the bad value. */
export function timestampMs(value: string | number | Date): number {
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(ms)) throw new Error(`Kafka source: "${String(value)}" is not a time (expected ISO 8601 such as 2024-05-01T00:00:00Z)`);
  return ms;
}

/** The stage a pipeline error names (an error with a string `stage` property), else "process". */
function stageOf(error: Error): string {
  const s = (error as Error & { stage?: unknown }).stage;
  return typeof s === 'string' && s ? s : 'process';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class KafkaSceneSource implements SceneSource {
  readonly name: string;
  private readonly kafka: Kafka;
  private readonly topic: string;
  private readonly dlqTopic: string;
  private readonly maxAttempts: number;
  private readonly maxInFlight: number;
  private readonly retryDelayMs: number;
  private readonly tracker = new OffsetTracker();
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  private subscriber: Subscriber<Delivery<SceneEvent>> | null = null;
  private running = false;
  private inFlight = 0;
  private paused = false;
  private assigned = new Set<number>();
  private commitChain: Promise<void> = Promise.resolve();
  /** When the consumer last fetched or heartbeated (the watchdog's clock). */
  private lastAlive = 0;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  /** Consumers replaced since the last one that fetched. */
  private restarts = 0;
  private restarting: Promise<void> | null = null;
  /** partition -> highest offset asked to be committed (committed ones are dropped). */
  private readonly wantCommit = new Map<number, bigint>();

  constructor(private readonly options: KafkaSourceOptions) {
    if (!options.topic) throw new Error('Kafka source: a topic is required');
    if (!options.groupId) throw new Error('Kafka source: a consumer group id is required');
    this.topic = options.topic;
    this.dlqTopic = options.dlqTopic ?? dlqTopicOf(options.topic);
    this.maxAttempts = options.maxAttempts ?? 3;
    this.maxInFlight = options.maxInFlight ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) throw new Error(`Kafka source: maxAttempts must be a positive integer, got ${options.maxAttempts}`);
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1) throw new Error(`Kafka source: maxInFlight must be a positive integer, got ${options.maxInFlight}`);
    if (options.fromTimestamp !== undefined) timestampMs(options.fromTimestamp);
    this.name = `kafka:${this.topic}[${options.groupId}]`;
    this.kafka = connectKafka(options);
  }

  private emit(event: KafkaSourceEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      /* a listener's failure is not the source's */
    }
  }

  deliveries(): Observable<Delivery<SceneEvent>> {
    return new Observable<Delivery<SceneEvent>>((subscriber) => {
      if (this.subscriber) {
        subscriber.error(new Error(`${this.name}: deliveries() already has a subscriber`));
        return undefined;
      }
      this.subscriber = subscriber;
      this.start().catch((err: unknown) => {
        void this.close();
        subscriber.error(err instanceof Error ? err : new Error(String(err)));
      });
      return () => {
        void this.close();
      };
    });
  }

  private async start(): Promise<void> {
    this.running = true;
    const o = this.options;
    if (o.createTopics !== false) {
      await ensureTopic(this.kafka, this.topic, o.createTopics?.partitions ?? 1);
      await ensureTopic(this.kafka, this.dlqTopic, 1);
    }
    // closed while connecting (kafkajs retries for minutes when no broker answers): stop here
    if (!this.running) return;
    if (o.fromTimestamp !== undefined) await this.seekGroupToTimestamp(timestampMs(o.fromTimestamp));
    if (!this.running) return;
    const producer = this.kafka.producer({ allowAutoTopicCreation: false });
    this.producer = producer;
    await producer.connect();
    if (!this.running) return;
    await this.startConsumer();
    if (!this.running) return;
    const stall = this.stallTimeoutMs();
    if (stall > 0) {
      this.watchdog = setInterval(() => this.checkAlive(stall), Math.min(5000, Math.max(250, stall / 4)));
      this.watchdog.unref?.();
    }
  }

  private stallTimeoutMs(): number {
    const o = this.options;
    return o.stallTimeoutMs ?? Math.max(90_000, 3 * (o.sessionTimeout ?? 30_000));
  }

  /** Creates, connects and runs a consumer in the group; events of a replaced consumer are ignored. */
  private async startConsumer(): Promise<void> {
    const o = this.options;
    const consumer = this.kafka.consumer({
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeout ?? 30_000,
      heartbeatInterval: o.heartbeatInterval ?? 3000,
      // short fetch waits: a paused consumer loops (and heartbeats) at least once a second
      maxWaitTimeInMs: 1000,
      allowAutoTopicCreation: false,
      retry: RETRY,
    });
    this.consumer = consumer;
    this.lastAlive = Date.now();
    const current = (): boolean => this.consumer === consumer;
    const alive = (): void => {
      if (current()) this.lastAlive = Date.now();
    };
    consumer.on(consumer.events.HEARTBEAT, alive);
    consumer.on(consumer.events.FETCH, () => {
      alive();
      if (current()) this.restarts = 0;
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      if (!current()) return;
      alive();
      const partitions = [...(e.payload.memberAssignment[this.topic] ?? [])].sort((a, b) => a - b);
      this.assigned = new Set(partitions);
      const dropped = this.tracker.retain(partitions);
      for (const p of dropped) this.wantCommit.delete(p);
      this.emit({ type: 'assigned', partitions, dropped });
      // commits that failed (broker away, rebalance) or waited for this consumer are retried now
      for (const [p, next] of this.wantCommit) if (this.assigned.has(p)) void this.commit(p, next);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (!current()) return;
      const restart = e.payload.restart;
      this.emit({ type: 'crash', error: e.payload.error.message, restart });
      if (!restart && this.running) void this.restartConsumer(`kafkajs stopped the consumer: ${e.payload.error.message}`);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topic], fromBeginning: this.options.fromBeginning ?? true });
    await consumer.run({ autoCommit: false, eachMessage: (payload) => (current() ? this.onMessage(payload) : Promise.resolve()) });
    // a new consumer starts unpaused: pause it again while the slots are full
    this.paused = false;
    if (this.inFlight >= this.maxInFlight) {
      this.paused = true;
      consumer.pause([{ topic: this.topic }]);
    }
  }

  private checkAlive(stallMs: number): void {
    if (!this.running || this.restarting || !this.consumer) return;
    const quiet = Date.now() - this.lastAlive;
    if (quiet > stallMs) void this.restartConsumer(`no fetch or heartbeat for ${Math.round(quiet / 1000)} s`);
  }

  /**
   * Replaces the consumer with a new one in the same group (after a growing pause); after
   * `maxConsumerRestarts` in a row without a fetch in between, fails the stream instead.
   */
  private restartConsumer(reason: string): Promise<void> {
    if (this.restarting) return this.restarting;
    const run = async (): Promise<void> => {
      const max = this.options.maxConsumerRestarts ?? 5;
      while (this.running) {
        this.restarts++;
        if (this.restarts > max) {
          const err = new Error(`${this.name}: the Kafka consumer stopped working ${max} times in a row; last: ${reason}`);
          this.subscriber?.error(err);
          this.subscriber = null;
          await this.close();
          return;
        }
        this.emit({ type: 'consumer-restart', reason, attempt: this.restarts });
        const old = this.consumer;
        this.consumer = null;
        // a stalled kafkajs consumer may never finish disconnecting: give it a few seconds, then drop it
        if (old) await Promise.race([old.disconnect().catch(() => undefined), sleep(5000)]);
        await sleep(Math.min(30_000, 1000 * 2 ** (this.restarts - 1)));
        if (!this.running) return;
        try {
          await this.startConsumer();
          return;
        } catch (err) {
          reason = `a new consumer did not start: ${(err as Error).message}`;
        }
      }
    };
    this.restarting = run().finally(() => {
      this.restarting = null;
    });
    return this.restarting;
  }

  /** For a group without committed offsets on the topic: sets them to the first message at or after `ms`. */
  private async seekGroupToTimestamp(ms: number): Promise<void> {
    const offsets = await seekGroupToTimestamp(this.kafka, this.options.groupId, this.topic, ms, true);
    if (offsets) this.emit({ type: 'offsets-from-timestamp', timestamp: new Date(ms).toISOString(), offsets });
  }

  private async onMessage({ partition, message }: EachMessagePayload): Promise<void> {
    if (!this.running) return;
    const offset = message.offset;
    const ticket = this.tracker.track(partition, offset);
    if (ticket === null) {
      this.emit({ type: 'duplicate', partition, offset });
      return;
    }
    this.inFlight++;
    if (this.inFlight >= this.maxInFlight && !this.paused) {
      this.paused = true;
      this.consumer?.pause([{ topic: this.topic }]);
      this.emit({ type: 'paused', inFlight: this.inFlight });
    }
    const raw = { key: message.key, value: message.value, headers: message.headers ?? ({} as IHeaders) };
    let event: SceneEvent;
    try {
      event = parseSceneEvent(message.value ?? new Uint8Array());
    } catch (err) {
      void this.deadLetter(partition, offset, ticket, raw, err as Error, 'parse', 1);
      return;
    }
    this.deliver(event, partition, offset, ticket, raw, 1);
  }

  private deliver(event: SceneEvent, partition: number, offset: string, ticket: number, raw: RawMessage, attempt: number): void {
    let settled = false;
    const once = (what: string): void => {
      if (settled) throw new Error(`${this.name}: delivery of ${event.id} (partition ${partition} offset ${offset}) was already settled; ${what} called twice`);
      settled = true;
    };
    const delivery: Delivery<SceneEvent> = {
      value: event,
      source: `kafka:${this.topic}/${partition}@${offset}`,
      attempt,
      ack: async () => {
        once('ack');
        await this.finish(partition, offset, ticket);
      },
      nack: async (error: Error) => {
        once('nack');
        if (attempt < this.maxAttempts) {
          this.emit({ type: 'retry', partition, offset, attempt: attempt + 1, error: error.message });
          void sleep(this.retryDelayMs * attempt).then(() => {
            // dropped meanwhile (partition revoked, source closed): the new owner redoes it
            if (!this.running || !this.tracker.has(partition, offset, ticket)) return this.release();
            this.deliver(event, partition, offset, ticket, raw, attempt + 1);
          });
          return;
        }
        await this.deadLetter(partition, offset, ticket, raw, error, stageOf(error), attempt);
      },
    };
    this.subscriber?.next(delivery);
  }

  /** Produces the message to the DLQ (retrying while the source runs), then acknowledges its offset. */
  private async deadLetter(partition: number, offset: string, ticket: number, raw: RawMessage, error: Error, stage: string, attempts: number): Promise<void> {
    for (let tries = 1; ; tries++) {
      if (!this.running || !this.producer) return this.release();
      try {
        await sendDeadLetter(this.producer, raw, { error, stage, attempts, topic: this.topic, partition, offset }, this.dlqTopic);
        break;
      } catch (err) {
        this.emit({ type: 'commit-failed', partition, offset, error: `dead letter not written (try ${tries}): ${(err as Error).message}` });
        await sleep(Math.min(10_000, 500 * tries));
      }
    }
    this.emit({ type: 'dead-letter', partition, offset, stage, error: error.message });
    await this.finish(partition, offset, ticket);
  }

  /** One scene is done with (acknowledged or dead-lettered): commits what is contiguous, frees a slot. */
  private async finish(partition: number, offset: string, ticket: number): Promise<void> {
    try {
      const next = this.tracker.ack(partition, offset, ticket);
      if (next !== null) await this.commit(partition, BigInt(next));
    } finally {
      this.release();
    }
  }

  private release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (this.paused && this.inFlight < this.maxInFlight && this.running) {
      this.paused = false;
      try {
        this.consumer?.resume([{ topic: this.topic }]);
      } catch {
        // between a crash and its restart kafkajs has no group to resume; the restarted one starts unpaused
      }
      this.emit({ type: 'resumed', inFlight: this.inFlight });
    }
  }

  /** Commits `next` as the partition's offset (in order, one commit at a time; failures retried with the next commit). */
  private commit(partition: number, next: bigint): Promise<void> {
    const prev = this.wantCommit.get(partition);
    if (prev === undefined || next > prev) this.wantCommit.set(partition, next);
    const run = async (): Promise<void> => {
      const want = this.wantCommit.get(partition);
      const consumer = this.consumer;
      if (want === undefined || !consumer || !this.running || !this.assigned.has(partition)) return;
      const offset = want.toString();
      try {
        await consumer.commitOffsets([{ topic: this.topic, partition, offset }]);
        if (this.wantCommit.get(partition) === want) this.wantCommit.delete(partition);
        this.emit({ type: 'committed', partition, offset });
      } catch (err) {
        // rebalancing or broker away: the offset is committed with the next one, or redone by the partition's next owner
        this.emit({ type: 'commit-failed', partition, offset, error: (err as Error).message });
      }
    };
    this.commitChain = this.commitChain.then(run, run);
    return this.commitChain;
  }

  async close(): Promise<void> {
    if (!this.running && !this.consumer && !this.producer) return;
    this.running = false;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    const consumer = this.consumer;
    const producer = this.producer;
    this.consumer = null;
    this.producer = null;
    const subscriber = this.subscriber;
    this.subscriber = null;
    subscriber?.complete();
    await Promise.allSettled([consumer?.disconnect(), producer?.disconnect()]);
  }
}

interface RawMessage {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: IHeaders;
}

/** A scene source reading scene events from a Kafka topic in a consumer group (see the module comment). */
export function kafkaSceneSource(options: KafkaSourceOptions): SceneSource {
  return new KafkaSceneSource(options);
}
