/**
 * Output STAC items to a Kafka topic: each done outcome becomes one record keyed by the output item's
 * id (so a compacted topic keeps the latest version of each item, and redeliveries overwrite rather
 * than add), produced by an idempotent producer and acknowledged by all in-sync replicas before
 * emit() resolves. Failed outcomes are not written here (their events go to the input's DLQ).
 */
import type { Producer } from 'kafkajs';
import type { OutcomeSink, SceneOutcome } from '../../pipeline/types.js';
import { connectKafka, ensureTopic, RETRY, type KafkaConnection } from './client.js';

/** Header names of an output record. */
export const OUTPUT_HEADERS = {
  sceneId: 'sharpstream-scene-id',
  cogHref: 'sharpstream-cog-href',
  itemHref: 'sharpstream-item-href',
  skipped: 'sharpstream-skipped',
} as const;

/** Options of kafkaOutcomeSink. */
export interface KafkaSinkOptions extends KafkaConnection {
  /** Output topic of STAC items. */
  readonly topic: string;
  /** Also write outcomes whose output already existed (default true: at least once, keyed, so harmless). */
  readonly emitSkipped?: boolean;
  /** Create the topic when missing, with this many partitions (default: create, 1). */
  readonly createTopic?: false | { readonly partitions?: number };
}

class KafkaOutcomeSink implements OutcomeSink {
  readonly name: string;
  private producer: Producer | null = null;
  private ready: Promise<Producer> | null = null;
  private closed = false;

  constructor(private readonly options: KafkaSinkOptions) {
    if (!options.topic) throw new Error('Kafka sink: an output topic is required');
    this.name = `kafka-out:${options.topic}`;
  }

  private connect(): Promise<Producer> {
    if (!this.ready) {
      this.ready = (async () => {
        const kafka = connectKafka(this.options);
        if (this.options.createTopic !== false) await ensureTopic(kafka, this.options.topic, this.options.createTopic?.partitions ?? 1);
        // idempotent: a retried send after a lost acknowledgement does not write the record twice
        const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: RETRY });
        await producer.connect();
        this.producer = producer;
        return producer;
      })();
      this.ready.catch(() => {
        this.ready = null; // try again on the next emit
      });
    }
    return this.ready;
  }

  async emit(outcome: SceneOutcome): Promise<void> {
    if (this.closed) throw new Error(`${this.name}: emit after close`);
    if (outcome.kind !== 'done') return;
    if (outcome.skipped && this.options.emitSkipped === false) return;
    const producer = await this.connect();
    await producer.send({
      topic: this.options.topic,
      acks: -1,
      messages: [
        {
          key: outcome.item.id,
          value: JSON.stringify(outcome.item),
          headers: {
            [OUTPUT_HEADERS.sceneId]: outcome.event.id,
            [OUTPUT_HEADERS.cogHref]: outcome.cogHref,
            [OUTPUT_HEADERS.itemHref]: outcome.itemHref,
            [OUTPUT_HEADERS.skipped]: String(outcome.skipped),
          },
        },
      ],
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.ready;
    this.ready = null;
    if (pending) await pending.then((p) => p.disconnect()).catch(() => undefined);
    this.producer = null;
  }
}

/** An outcome sink producing output STAC items to a Kafka topic, keyed by item id. */
export function kafkaOutcomeSink(options: KafkaSinkOptions): OutcomeSink {
  return new KafkaOutcomeSink(options);
}
