/**
 * The Kafka source, DLQ and sink against the real broker (scripts/kafka), with real pipeline workers
 * as child processes super-resolving small synthetic Sentinel-2 scenes (bicubic baseline):
 * (a) two workers in one group share the partitions and every scene is processed exactly once;
 * (b) a worker killed with SIGKILL mid-scene loses nothing: the other worker redoes its scene, once;
 * (c) a malformed event and a scene that keeps failing land in the DLQ with error headers while the
 *     scenes after them are processed and every offset is committed.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDeadLetter } from '../../connectors/kafka/dlq.js';
import { OUTPUT_HEADERS } from '../../connectors/kafka/sink.js';
import { committedOffsets, createTopic, deleteTopics, kafkaBrokers, kafkaClient, kafkaProducer, startBroker, uniqueTopic, waitForKafka } from '../helpers/kafka.js';
import { syntheticSceneName, writeSyntheticScene } from '../helpers/kafka-scenes.js';
import { readTopic, startWorker, type TestWorker } from '../helpers/kafka-stream.js';
import { until } from '../helpers/wait.js';

const brokers = kafkaBrokers();

/** The scene names of the output STAC items (`<scene>_sr.json`) under a worker output dir, sorted. */
async function outputFolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /_sr\.json$/.test(e.name) && !e.parentPath.split('/').some((p) => p.startsWith('.')))
    .map((e) => e.name.replace(/\.json$/, ''))
    .sort();
}

/** The scene an output item id belongs to, as `<scene>_sr` (item ids may carry a `-<hash>` of input and model versions). */
/** The group's committed offsets on a topic, summed over partitions (none counts as 0). */
const committedTotal = async (groupId: string, topic: string): Promise<number> =>
  (await committedOffsets(groupId, topic, brokers)).reduce((s, o) => s + Math.max(0, o), 0);

const sceneOf = (key: string | null): string => (key ?? '').replace(/_sr-[0-9a-z]+$/i, '_sr');



describe('Kafka stream: source, DLQ and sink with pipeline workers', () => {
  let dir = '';
  const scenes: string[] = [];
  const topics: string[] = [];
  const workers: TestWorker[] = [];

  beforeAll(async () => {
    await startBroker();
    await waitForKafka(30_000, brokers);
    dir = await mkdtemp(join(tmpdir(), 'sharpstream-kafka-stream-'));
    for (let n = 0; n < 10; n++) scenes.push(await writeSyntheticScene(join(dir, 'scenes'), n));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await deleteTopics(topics, brokers).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A fresh input topic (+ DLQ) and output topic. */
  async function freshTopics(partitions: number): Promise<{ topic: string; output: string; groupId: string }> {
    const topic = uniqueTopic('scenes');
    const output = `${topic}.items`;
    topics.push(topic, `${topic}.dlq`, output);
    await createTopic(topic, partitions, brokers);
    await createTopic(`${topic}.dlq`, 1, brokers);
    await createTopic(output, 1, brokers);
    return { topic, output, groupId: uniqueTopic('workers') };
  }

  function worker(name: string, t: { topic: string; output: string; groupId: string }, outDir: string, extra: { delayMs?: number } = {}): TestWorker {
    const w = startWorker({ name, brokers, topic: t.topic, groupId: t.groupId, outDir, outputTopic: t.output, ...extra });
    workers.push(w);
    return w;
  }

  async function produce(topic: string, messages: { value: string; partition?: number; key?: string }[]): Promise<void> {
    const producer = kafkaProducer(kafkaClient({ brokers }));
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages });
    } finally {
      await producer.disconnect();
    }
  }

  it('(a) two workers in one group share the partitions; every scene is processed exactly once', async () => {
    const t = await freshTopics(3);
    const outDir = join(dir, 'out-a');
    const a = worker('a1', t, outDir);
    const b = worker('a2', t, outDir);
    await until('both workers to share the 3 partitions', () => {
      const pa = a.assigned();
      const pb = b.assigned();
      return pa.length > 0 && pb.length > 0 && pa.length + pb.length === 3 && new Set([...pa, ...pb]).size === 3;
    });
    const n = 8;
    await produce(t.topic, scenes.slice(0, n).map((href, i) => ({ value: JSON.stringify({ href }), partition: i % 3 })));

    const records = await readTopic(t.output, n, brokers, 90_000, 1500);
    await until('every offset committed', async () => (await committedTotal(t.groupId, t.topic)) === n);

    const expected = scenes.slice(0, n).map((_, i) => `${syntheticSceneName(i)}_sr`).sort();
    expect(records.map((r) => sceneOf(r.key)).sort()).toEqual(expected);
    expect(await outputFolders(outDir)).toEqual(expected);
    // each record is the output STAC item of its key
    for (const r of records) {
      const item = JSON.parse(r.value!) as { id: string; type: string };
      expect(item.type).toBe('Feature');
      expect(item.id).toBe(r.key);
      expect(String(r.headers[OUTPUT_HEADERS.skipped])).toBe('false');
    }
    // both workers did part of the work, each scene once
    const done = [...a.lines, ...b.lines].filter((l) => l.type === 'done');
    expect(done).toHaveLength(n);
    expect(a.lines.some((l) => l.type === 'done')).toBe(true);
    expect(b.lines.some((l) => l.type === 'done')).toBe(true);
    await Promise.all([a.stop(), b.stop()]);
  }, 180_000);

  it('(b) a worker killed mid-scene: the other worker finishes its scenes, nothing lost or duplicated', async () => {
    const t = await freshTopics(2);
    const outDir = join(dir, 'out-b');
    // the victim holds each scene for a long time, so it is surely mid-scene when killed
    const victim = worker('b-victim', t, outDir, { delayMs: 120_000 });
    await victim.waitFor('the victim to be assigned both partitions', (l) => l.type === 'source:assigned' && (l.partitions as number[]).length === 2);
    const n = 6;
    await produce(t.topic, scenes.slice(0, n).map((href, i) => ({ value: JSON.stringify({ href }), partition: i % 2 })));
    const survivor = worker('b-survivor', t, outDir);
    await until('the two workers to share the partitions', () => victim.assigned().length === 1 && survivor.assigned().length === 1);
    await until('the victim to be mid-scene', () => victim.lines.some((l) => l.type === 'start'));
    const victimScene = victim.lines.find((l) => l.type === 'start')!.id as string;
    await victim.kill();

    const records = await readTopic(t.output, n, brokers, 120_000, 1500);
    const expected = scenes.slice(0, n).map((_, i) => `${syntheticSceneName(i)}_sr`).sort();
    expect(records.map((r) => sceneOf(r.key)).sort()).toEqual(expected);
    expect(await outputFolders(outDir)).toEqual(expected);
    // the survivor took over the victim's partition and did its scene
    expect(survivor.assigned()).toEqual([0, 1]);
    expect(survivor.lines.filter((l) => l.type === 'done').map((l) => l.id)).toContain(victimScene);
    expect(victim.lines.filter((l) => l.type === 'done')).toHaveLength(0);
    await until('every offset committed', async () => (await committedTotal(t.groupId, t.topic)) === n);
    await survivor.stop();
  }, 180_000);

  it('(c) a malformed event and a failing scene go to the DLQ with error headers; processing goes on', async () => {
    const t = await freshTopics(1);
    const outDir = join(dir, 'out-c');
    const w = worker('c1', t, outDir);
    await w.waitFor('the worker to be assigned', (l) => l.type === 'source:assigned' && (l.partitions as number[]).length === 1);
    const missing = join(dir, 'no-such-scene');
    await produce(t.topic, [
      { value: JSON.stringify({ href: scenes[0] }) },
      { value: '{"href": not json', key: 'bad' },
      { value: JSON.stringify({ href: missing, id: 'missing-scene' }) },
      { value: JSON.stringify({ href: scenes[1] }) },
    ]);
    const dead = await readTopic(`${t.topic}.dlq`, 2, brokers, 90_000, 1000);
    expect(dead).toHaveLength(2);
    const [malformed, failing] = dead.sort((x, y) => Number(readDeadLetter(x.headers)!.offset) - Number(readDeadLetter(y.headers)!.offset));
    // the message is copied unchanged, with the reasons in headers
    expect(malformed!.value).toBe('{"href": not json');
    expect(malformed!.key).toBe('bad');
    const m = readDeadLetter(malformed!.headers)!;
    expect(m).toMatchObject({ stage: 'parse', attempts: 1, topic: t.topic, partition: 0, offset: '1', errorName: 'SceneEventError' });
    expect(m.error).toMatch(/not valid JSON/);
    expect(Number.isNaN(Date.parse(m.failedAt))).toBe(false);
    const f = readDeadLetter(failing!.headers)!;
    expect(f).toMatchObject({ attempts: 3, topic: t.topic, partition: 0, offset: '2' });
    // the stage comes from the error the pipeline nacks with: the scene cannot be read
    expect(f.stage).toBe('read');
    expect(f.error).toContain('no-such-scene');
    // three attempts were made, then it was given up
    expect(w.lines.filter((l) => l.type === 'start' && l.id === 'missing-scene').map((l) => l.attempt)).toEqual([1, 2, 3]);

    // the scenes around them were processed, and all four offsets are committed
    const records = await readTopic(t.output, 2, brokers, 60_000, 500);
    expect(records.map((r) => sceneOf(r.key)).sort()).toEqual([`${syntheticSceneName(0)}_sr`, `${syntheticSceneName(1)}_sr`]);
    await until('all four offsets committed', async () => (await committedTotal(t.groupId, t.topic)) === 4);
    await w.stop();
  }, 180_000);
});
