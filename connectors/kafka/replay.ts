/**
 * Replays: historic scenes from a STAC API produced into a scene topic (each item is the scene
 * event, keyed by item id), and a consumer group's offsets set to a point in time so that the group
 * re-processes a topic's history without touching the live group's offsets.
 */
import type { Kafka } from 'kafkajs';
import { searchItems, type StacSearchOptions } from '../stac-watcher.js';
import { connectKafka, ensureTopic, type KafkaConnection } from './client.js';

/** Options of replayStacToTopic. */
export interface StacReplayOptions extends StacSearchOptions, KafkaConnection {
  readonly topic: string;
  /** Stop after this many items. */
  readonly maxItems?: number;
  /** Partitions of the topic when it has to be created (default 1). */
  readonly partitions?: number;
  /** Called after each item is produced, with the running count and the item id. */
  readonly onProgress?: (count: number, id: string) => void;
}

/** Searches the STAC API and produces each matching item to the topic; resolves to the count produced. */
export async function replayStacToTopic(o: StacReplayOptions): Promise<number> {
  const kafka = connectKafka(o);
  await ensureTopic(kafka, o.topic, o.partitions ?? 1);
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  let count = 0;
  try {
    const base = o.url.replace(/\/+$/, '');
    for await (const item of searchItems(o)) {
      if (o.maxItems !== undefined && count >= o.maxItems) break;
      const links = Array.isArray(item.links) ? item.links : [];
      const hasSelf = links.some((l) => (l as { rel?: string }).rel === 'self');
      const withSelf =
        hasSelf || typeof item.collection !== 'string'
          ? item
          : { ...item, links: [...links, { rel: 'self', href: `${base}/collections/${encodeURIComponent(item.collection)}/items/${encodeURIComponent(item.id)}`, type: 'application/geo+json' }] };
      await producer.send({ topic: o.topic, acks: -1, messages: [{ key: item.id, value: JSON.stringify(withSelf) }] });
      count++;
      o.onProgress?.(count, item.id);
    }
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
  return count;
}

/** Where each partition of a topic was set for a group. */
export interface PartitionOffset {
  readonly partition: number;
  readonly offset: string;
}

/**
 * Sets a consumer group's offsets on a topic to the first message at or after `ms` (epoch ms; the
 * end of a partition with nothing newer). With `onlyIfNew`, a group that already has committed
 * offsets on the topic is left alone and null is returned. The group must have no running members
 * (Kafka refuses otherwise): use a group of its own, not the live one.
 */
export async function seekGroupToTimestamp(kafka: Kafka, groupId: string, topic: string, ms: number, onlyIfNew = false): Promise<PartitionOffset[] | null> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (onlyIfNew) {
      const [current] = await admin.fetchOffsets({ groupId, topics: [topic] });
      if ((current?.partitions ?? []).some((p) => Number(p.offset) >= 0)) return null;
    }
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) throw new Error(`Kafka topic "${topic}" does not exist`);
    const offsets = (await admin.fetchTopicOffsetsByTimestamp(topic, ms)).map((p) => ({ partition: p.partition, offset: p.offset }));
    try {
      await admin.setOffsets({ groupId, topic, partitions: offsets });
    } catch (err) {
      const msg = (err as Error).message;
      if (/running|active|member|not empty/i.test(msg) || (err as { type?: string }).type === 'UNKNOWN_MEMBER_ID') {
        throw new Error(`cannot set the offsets of consumer group "${groupId}": it has running members (${msg}); replay under a group of its own`);
      }
      throw err;
    }
    return offsets;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
