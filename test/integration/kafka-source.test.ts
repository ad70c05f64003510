/**
 * kafkaSceneSource in process against the real broker: a scene that runs longer than the group's
 * session timeout neither loses the membership nor lets a later offset be committed over it; replay
 * under a new group from a timestamp; and (on a private broker, restarted with the project's scripts)
 * a worker process that carries on after the broker restarts.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaSceneSource, type KafkaSourceEvent } from '../../connectors/kafka/source.js';
import type { Delivery, SceneEvent } from '../../pipeline/types.js';
import {
  committedOffsets,
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
import { syntheticSceneName, writeSyntheticScene } from '../helpers/kafka-scenes.js';
import { readTopic, startWorker, type TestWorker } from '../helpers/kafka-stream.js';
import { sleep, until } from '../helpers/wait.js';




async function produce(brokers: string[], topic: string, values: string[]): Promise<void> {
  const producer = kafkaProducer(kafkaClient({ brokers }));
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value })) });
  } finally {
    await producer.disconnect();
  }
}

describe('kafkaSceneSource (shared broker)', () => {
  const brokers = kafkaBrokers();
  const topics: string[] = [];

  beforeAll(async () => {
    await startBroker();
    await waitForKafka(30_000, brokers);
  }, 120_000);
  afterAll(async () => {
    await deleteTopics(topics, brokers).catch(() => undefined);
  });

  it('a scene longer than the session timeout keeps the membership; commits wait for it, in order', async () => {
    const topic = uniqueTopic('long-scene');
    topics.push(topic, `${topic}.dlq`);
    await createTopic(topic, 1, brokers);
    const groupId = uniqueTopic('g');
    const events: KafkaSourceEvent[] = [];
    // a stall timeout well under the scene's 8 s: a paused consumer still fetches, so it is never taken for stalled
    const source = kafkaSceneSource({ brokers, topic, groupId, maxInFlight: 2, sessionTimeout: 6000, heartbeatInterval: 500, stallTimeoutMs: 4000, onEvent: (e) => events.push(e) });
    const got: Delivery<SceneEvent>[] = [];
    const sub = source.deliveries().subscribe((d) => got.push(d));
    try {
      await until('the assignment', () => events.some((e) => e.type === 'assigned'));
      await produce(brokers, topic, ['/scenes/a', '/scenes/b', '/scenes/c'].map((href) => JSON.stringify({ href })));
      await until('two deliveries', () => got.length === 2);
      expect(got.map((d) => d.value.id)).toEqual(['a', 'b']);
      expect(events.some((e) => e.type === 'paused')).toBe(true);
      await got[1]!.ack(); // b is done, a still runs: nothing may be committed
      await until('the third delivery once b freed a slot', () => got.length === 3);
      expect(got[2]!.value.id).toBe('c');
      expect(await committedOffsets(groupId, topic, brokers)).toEqual([-1]);
      // a runs for longer than the 6 s session timeout
      await sleep(8000);
      expect(await committedOffsets(groupId, topic, brokers)).toEqual([-1]);
      await got[0]!.ack(); // a and b are done, c still runs
      expect(await committedOffsets(groupId, topic, brokers)).toEqual([2]);
      await got[2]!.ack();
      expect(await committedOffsets(groupId, topic, brokers)).toEqual([3]);
      expect(got).toHaveLength(3);
      // one assignment only: the member was never thrown out of the group, and nothing came twice
      expect(events.filter((e) => e.type === 'assigned')).toHaveLength(1);
      expect(events.filter((e) => e.type === 'duplicate')).toHaveLength(0);
      expect(events.filter((e) => e.type === 'consumer-restart')).toEqual([]);
      await expect(got[2]!.ack()).rejects.toThrow(/already settled/);
    } finally {
      sub.unsubscribe();
      await source.close();
    }
  }, 60_000);

  it('fromTimestamp replays a topic from a time under a new group, leaving the live group alone', async () => {
    const topic = uniqueTopic('replay');
    topics.push(topic, `${topic}.dlq`);
    await createTopic(topic, 2, brokers);
    const live = uniqueTopic('live');
    // the live group consumes everything
    await produce(brokers, topic, ['old-1', 'old-2', 'old-3'].map((id) => JSON.stringify({ href: `/s/${id}` })));
    await sleep(1500);
    const from = new Date();
    await sleep(1500);
    await produce(brokers, topic, ['new-1', 'new-2'].map((id) => JSON.stringify({ href: `/s/${id}` })));
    const liveSource = kafkaSceneSource({ brokers, topic, groupId: live, heartbeatInterval: 500 });
    const liveIds: string[] = [];
    const liveSub = liveSource.deliveries().subscribe((d) => {
      liveIds.push(d.value.id);
      void d.ack();
    });
    await until('the live group to commit all 5', async () => (await committedOffsets(live, topic, brokers)).reduce((a, b) => a + Math.max(0, b), 0) === 5);
    liveSub.unsubscribe();
    await liveSource.close();
    const liveOffsets = await committedOffsets(live, topic, brokers);

    const events: KafkaSourceEvent[] = [];
    const replay = kafkaSceneSource({ brokers, topic, groupId: uniqueTopic('replay'), fromTimestamp: from.toISOString(), heartbeatInterval: 500, onEvent: (e) => events.push(e) });
    const ids: string[] = [];
    const sub = replay.deliveries().subscribe((d) => {
      ids.push(d.value.id);
      void d.ack();
    });
    try {
      await until('the two new events', () => ids.length >= 2);
      await sleep(1500);
      expect(ids.sort()).toEqual(['new-1', 'new-2']);
      expect(events.some((e) => e.type === 'offsets-from-timestamp')).toBe(true);
      expect(await committedOffsets(live, topic, brokers)).toEqual(liveOffsets);
      expect(liveIds.sort()).toEqual(['new-1', 'new-2', 'old-1', 'old-2', 'old-3']);
    } finally {
      sub.unsubscribe();
      await replay.close();
    }
  }, 60_000);
});

describe('a worker across a broker restart (private broker)', () => {
  let port = 0;
  let dir = '';
  let options: { port: number; dataDir: string; runDir: string };
  let worker: TestWorker | null = null;

  beforeAll(async () => {
    port = await freeBrokerPort();
    dir = await mkdtemp(join(tmpdir(), 'sharpstream-kafka-restart-'));
    options = { port, dataDir: join(dir, 'data'), runDir: dir };
    await startBroker(options);
  }, 180_000);

  afterAll(async () => {
    await worker?.kill();
    if (port) await stopBroker(options).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('(d) the pipeline reconnects after the broker restarts and carries on; every scene once', async () => {
    const brokers = [`127.0.0.1:${port}`];
    const topic = uniqueTopic('restart');
    const output = `${topic}.items`;
    await createTopic(topic, 2, brokers);
    await createTopic(`${topic}.dlq`, 1, brokers);
    await createTopic(output, 1, brokers);
    const scenes = await Promise.all([0, 1, 2, 3].map((n) => writeSyntheticScene(join(dir, 'scenes'), n)));
    const outDir = join(dir, 'out');
    const groupId = uniqueTopic('g');
    worker = startWorker({ name: 'd1', brokers, topic, groupId, outDir, outputTopic: output });
    await worker.waitFor('the assignment', (l) => l.type === 'source:assigned' && (l.partitions as number[]).length === 2);
    await produce(brokers, topic, scenes.slice(0, 2).map((href) => JSON.stringify({ href })));
    await until('the first two scenes', () => worker!.lines.filter((l) => l.type === 'done').length === 2);
    await until('their commits', async () => (await committedOffsets(groupId, topic, brokers)).reduce((a, b) => a + Math.max(0, b), 0) === 2);

    await restartBroker(options);

    await produce(brokers, topic, scenes.slice(2).map((href) => JSON.stringify({ href })));
    await until('the last two scenes after the restart', () => worker!.lines.filter((l) => l.type === 'done').length >= 4, 240_000).catch((e: Error) => {
      // what the worker last said, so that a timeout can be diagnosed from the CI log
      const tail = worker!.lines.slice(-40).map((l) => JSON.stringify(l)).join('\n');
      throw new Error(`${e.message}\nworker's last lines:\n${tail}\nworker's stderr:\n${worker!.stderr().slice(-3000)}`);
    });
    const records = await readTopic(output, 4, brokers, 60_000, 1000);
    const expected = [0, 1, 2, 3].map((n) => `${syntheticSceneName(n)}_sr`);
    // item ids may carry a -<hash> of input and model versions
    expect(records.map((r) => (r.key ?? '').replace(/_sr-[0-9a-z]+$/i, '_sr')).sort()).toEqual(expected);
    const items = (await readdir(outDir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && /_sr\.json$/.test(e.name) && !e.parentPath.split('/').some((p) => p.startsWith('.')))
      .map((e) => e.name.replace(/\.json$/, ''));
    expect(items.sort()).toEqual(expected);
    expect(worker.lines.filter((l) => l.type === 'source-error')).toEqual([]);
    await until('all four offsets committed', async () => (await committedOffsets(groupId, topic, brokers)).reduce((a, b) => a + Math.max(0, b), 0) === 4);
    await worker.stop();
  }, 420_000);
});
