/**
 * `sharpstream run --kafka` end to end, as a user starts it, against the real broker: scene events
 * become COGs and output items on the output topic, a malformed event goes to the DLQ and the run says
 * so, offsets are committed, and SIGTERM stops the worker with its summary; with no broker answering it
 * says so at once and still stops on SIGTERM (kafkajs would retry for minutes).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/data.js';
import { committedOffsets, createTopic, deleteTopics, freeBrokerPort, kafkaBrokers, kafkaClient, kafkaProducer, uniqueTopic, waitForKafka } from '../helpers/kafka.js';
import { syntheticSceneName, writeSyntheticScene } from '../helpers/kafka-scenes.js';
import { readTopic } from '../helpers/kafka-stream.js';
import { until } from '../helpers/wait.js';

/** `sharpstream run <args>` as a child process, its output collected. */
function startCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'cli/main.ts'), 'run', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const o = { out: '', err: '' };
  child.stdout.on('data', (d: Buffer) => (o.out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (o.err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    output: o,
    /** SIGTERM; resolves with the exit code, or 'hung' (and SIGKILL) after waitMs. */
    stop: async (waitMs: number): Promise<number | null | 'hung'> => {
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), waitMs))]);
      if (code === 'hung') child.kill('SIGKILL');
      return code;
    },
  };
}

describe('sharpstream run --kafka (real broker)', () => {
  const brokers = kafkaBrokers();
  const topic = uniqueTopic('run');
  let dir = '';

  beforeAll(async () => {
    await waitForKafka(60_000, brokers);
    await createTopic(topic, 1, brokers);
    await createTopic(`${topic}.dlq`, 1, brokers);
    await createTopic(`${topic}.items`, 1, brokers);
    dir = await mkdtemp(join(tmpdir(), 'sharpstream-run-kafka-'));
  }, 120_000);

  afterAll(async () => {
    await deleteTopics([topic, `${topic}.dlq`, `${topic}.items`], brokers).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('processes scene events, dead-letters a malformed one and says so, commits, and stops on SIGTERM', async () => {
    const scenes = await Promise.all([0, 1].map((n) => writeSyntheticScene(join(dir, 'scenes'), n)));
    const group = uniqueTopic('g');
    const run = startCli(
      ['--kafka', brokers.join(','), '--topic', topic, '--group', group, '--output-topic', `${topic}.items`, '--model', 'bicubic', '--no-previews', '--out', join(dir, 'results')],
      { SHARPSTREAM_WORK_DIR: join(dir, 'work') },
    );
    const o = run.output;
    let code: number | null | 'hung' = null;
    try {
      await until('the worker to join its group', () => /partitions of \S+ assigned to this worker: 0/.test(o.err), 60_000).catch((e: Error) => {
        throw new Error(`${e.message}\nstderr: ${o.err}\nstdout: ${o.out}`);
      });
      const producer = kafkaProducer(kafkaClient({ brokers }));
      await producer.connect();
      await producer.send({
        topic,
        acks: -1,
        messages: [{ value: JSON.stringify({ href: scenes[0] }) }, { value: '{"href": ' }, { value: JSON.stringify({ href: scenes[1] }) }],
      });
      await producer.disconnect();

      const items = await readTopic(`${topic}.items`, 2, brokers, 120_000);
      expect(items.map((r) => (r.key ?? '').replace(/_sr-[0-9a-f]+$/, '_sr')).sort()).toEqual([0, 1].map((n) => `${syntheticSceneName(n)}_sr`));
      const dead = await readTopic(`${topic}.dlq`, 1, brokers, 60_000);
      expect(dead.map((r) => r.value)).toEqual(['{"href": ']);
      await until('the dead letter reported', () => /kafka: \S+\/0@1 dead-lettered after failing at parse: /.test(o.err), 30_000);
      await until('all three offsets committed', async () => (await committedOffsets(group, topic, brokers))[0] === 3, 60_000);
      expect(o.out).toMatch(new RegExp(`done in [\\d.]+ s ${syntheticSceneName(0)} -> `));
      expect(o.out).toMatch(new RegExp(`done in [\\d.]+ s ${syntheticSceneName(1)} -> `));
    } finally {
      code = await run.stop(30_000);
    }
    expect(code, `stderr: ${o.err}`).toBe(0);
    expect(o.out).toMatch(/2 done, 0 skipped, 0 failed in /);
  }, 240_000);

  it('with no broker answering, says so at once and still stops on SIGTERM', async () => {
    const port = await freeBrokerPort(); // nothing listens there
    const run = startCli(['--kafka', `127.0.0.1:${port}`, '--topic', topic, '--out', join(dir, 'nobroker')]);
    const o = run.output;
    let code: number | null | 'hung' = null;
    try {
      await until('the connection error reported', () => new RegExp(`kafka: .*ECONNREFUSED 127\\.0\\.0\\.1:${port}`).test(o.err), 60_000);
    } finally {
      // kafkajs keeps retrying the connection for about five minutes; the stopped worker does not wait for it
      code = await run.stop(60_000);
    }
    expect(code, `stderr: ${o.err}`).toBe(0);
    expect(o.out).toMatch(/0 done, 0 skipped, 0 failed in /);
  }, 180_000);
});
