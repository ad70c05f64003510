/**
 * `sharpstream replay` against the real broker: STAC search results produced to a topic as scene
 * events (through an in-test STAC API), and a replay group set to a topic's messages from a time
 * while the live group's offsets stay where they were; usage errors exit 2 with a clear message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { kafkaSceneSource } from '../../connectors/kafka/source.js';
import { parseSceneEvent } from '../../pipeline/types.js';
import { committedOffsets, createTopic, deleteTopics, kafkaBrokers, kafkaClient, kafkaProducer, startBroker, uniqueTopic, waitForKafka } from '../helpers/kafka.js';
import { readTopic } from '../helpers/kafka-stream.js';
import { startStacApi, testItem, type StacApi } from '../helpers/stac-watcher-api.js';

const brokers = kafkaBrokers();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env: {} });
  return { code, stdout, stderr };
}


describe('sharpstream replay', () => {
  const topics: string[] = [];
  let api: StacApi;

  beforeAll(async () => {
    await startBroker();
    await waitForKafka(30_000, brokers);
    api = await startStacApi({ dialect: 'filter' });
    api.add(
      testItem('a', '2024-03-01T10:00:00Z', 5),
      testItem('cloudy', '2024-03-02T10:00:00Z', 50),
      testItem('b', '2024-03-02T10:00:00Z', 15),
      testItem('c', '2024-03-03T10:00:00Z', 10),
      testItem('elsewhere', '2024-03-02T10:00:00Z', 1, 's2', [100, 10, 101, 11]),
    );
  }, 120_000);

  afterAll(async () => {
    await api?.close();
    await deleteTopics(topics, brokers).catch(() => undefined);
  });

  it('--stac: produces the matching items as scene events keyed by id, paging through the search', async () => {
    const topic = uniqueTopic('replay-stac');
    topics.push(topic);
    const r = await cli('replay', '--stac', api.url, '--collections', 's2', '--datetime', '2024-01-01T00:00:00Z/..', '--bbox', '9,49,12,52', '--max-cloud', '20', '--topic', topic, '--brokers', brokers.join(','), '--partitions', '2');
    expect(r.stderr).toContain('replay: 3 ');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`produced 3 scene events to ${topic}\n`);
    const records = await readTopic(topic, 3, brokers, 30_000, 500);
    expect(records.map((x) => x.key).sort()).toEqual(['a', 'b', 'c']);
    expect(new Set(records.map((x) => x.partition)).size).toBeLessThanOrEqual(2);
    for (const rec of records) {
      const ev = parseSceneEvent(rec.value!);
      expect(ev.id).toBe(rec.key);
      expect(ev.href).toBe(`${api.url}/collections/s2/items/${rec.key}`);
      expect(ev.item?.properties?.datetime).toBeTypeOf('string');
    }

    const limited = uniqueTopic('replay-stac-max');
    topics.push(limited);
    const r2 = await cli('replay', '--stac', api.url, '--collections', 's2', '--max-items', '2', '--topic', limited, '--brokers', brokers.join(','), '--json');
    expect(r2.code).toBe(0);
    expect(JSON.parse(r2.stdout)).toEqual({ topic: limited, produced: 2 });
  }, 60_000);

  it('--from-timestamp: a replay group gets the topic from that time; the live group is untouched', async () => {
    const topic = uniqueTopic('replay-ts');
    topics.push(topic, `${topic}.dlq`);
    await createTopic(topic, 2, brokers);
    const producer = kafkaProducer(kafkaClient({ brokers }));
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: ['old-1', 'old-2', 'old-3'].map((id) => ({ value: JSON.stringify({ href: `/s/${id}` }) })) });
    await sleep(1500);
    const from = new Date().toISOString();
    await sleep(1500);
    await producer.send({ topic, acks: -1, messages: ['new-1', 'new-2', 'new-3'].map((id) => ({ value: JSON.stringify({ href: `/s/${id}` }) })) });
    await producer.disconnect();

    // the live group has consumed everything
    const live = uniqueTopic('live');
    const admin = kafkaClient({ brokers }).admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({ groupId: live, topic, partitions: ends.map((p) => ({ partition: p.partition, offset: p.offset })) });
    await admin.disconnect();
    const liveBefore = await committedOffsets(live, topic);
    expect(liveBefore.reduce((a, b) => a + b, 0)).toBe(6);

    const group = uniqueTopic('replay-group');
    const r = await cli('replay', '--topic', topic, '--from-timestamp', from, '--group', group, '--brokers', brokers.join(','), '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { offsets: { partition: number; offset: string }[] };
    expect(out.offsets).toHaveLength(2);
    // 3 old messages lie before the replay offsets
    expect((await committedOffsets(group, topic)).reduce((a, b) => a + b, 0)).toBe(3);
    expect(await committedOffsets(live, topic)).toEqual(liveBefore);

    // a source in the replay group gets exactly the newer events
    const source = kafkaSceneSource({ brokers, topic, groupId: group, heartbeatInterval: 500 });
    const ids: string[] = [];
    const sub = source.deliveries().subscribe((d) => {
      ids.push(d.value.id);
      void d.ack();
    });
    try {
      const deadline = Date.now() + 30_000;
      while (ids.length < 3 && Date.now() < deadline) await sleep(100);
      await sleep(1000);
      expect(ids.sort()).toEqual(['new-1', 'new-2', 'new-3']);
    } finally {
      sub.unsubscribe();
      await source.close();
    }
    expect(await committedOffsets(live, topic)).toEqual(liveBefore);
  }, 60_000);

  it('usage errors exit 2 and say what is wrong', async () => {
    const noTopic = await cli('replay', '--stac', api.url);
    expect(noTopic.code).toBe(2);
    expect(noTopic.stderr).toMatch(/--topic is required/);
    const both = await cli('replay', '--topic', 't', '--stac', api.url, '--from-timestamp', '2024-01-01T00:00:00Z');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/not both/);
    const bbox = await cli('replay', '--topic', 't', '--stac', api.url, '--bbox', '1,2,3');
    expect(bbox.code).toBe(2);
    expect(bbox.stderr).toMatch(/--bbox must be 4 comma-separated numbers/);
    const time = await cli('replay', '--topic', 't', '--from-timestamp', 'last tuesday', '--group', 'g');
    expect(time.code).toBe(2);
    expect(time.stderr).toMatch(/"last tuesday" is not a time/);
    const help = await cli('replay', '--help');
    expect(help.stdout).toMatch(/--from-timestamp/);
    expect(help.stdout).toMatch(/sharpstream run --kafka <brokers> --topic <topic> --group <that group>/);
  });
});
