/**
 * TRAIN over the DEEPaaS v2 API on a live server, with a tiny network on two real 120 x 120 px
 * BigEarthNet patches: arguments checked (API key, trainable model, scenes that exist), one job
 * cancelled while running, one finished and published as a new model, and one interrupted by a
 * server restart (the fastify instance and its pools closed, a new server opened on the same SQLite
 * file) that resumes from its checkpoint and finishes.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobStore } from '../../jobs/store.js';
import { dataPath, missingData } from '../helpers/data.js';
import { startTestServer, type TestServer } from './deepaas-server.js';

const BEN_A = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'];
const BEN_B = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_4_55'];
const missing = missingData(BEN_A, BEN_B);

type Json = Record<string, unknown>;
type Training = Json & { uuid: string; status: string; progress: Json | null; result: Json | null; attempts: number; message: string | null };

const KEY = 'train-key';
const headers = { 'content-type': 'application/json', 'x-api-key': KEY };

/** Polls a training until `done(t)` holds (or it reaches a final status), failing after `seconds`. */
async function waitFor(url: string, done: (t: Training) => boolean, what: string, seconds = 240): Promise<Training> {
  const end = Date.now() + seconds * 1000;
  let last: Training | null = null;
  while (Date.now() < end) {
    const r = await fetch(url);
    last = (await r.json()) as Training;
    if (done(last)) return last;
    if (['done', 'error', 'cancelled'].includes(last.status)) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`${what}: not reached; last state ${JSON.stringify(last)}`);
}

describe.skipIf(missing)('DEEPaaS v2 API: training jobs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sharpstream-deepaas-train-'));
  const modelsDir = join(dir, 'models');
  const options = { apiKey: KEY, deepaas: { modelsDir, shutdownGraceSeconds: 60 } };
  let server: TestServer;
  const base = {
    scenes: [dataPath(...BEN_A)],
    val_scenes: [dataPath(...BEN_B)],
    size: 'dsen2-tiny',
    batch: 8,
    patches_per_scene: 80,
    val_patches: 16,
    lr: 1e-3,
    seed: 3,
  };

  beforeAll(async () => {
    server = await startTestServer(dir, options);
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('checks the API key and the arguments', async () => {
    const url = `${server.url}/v2/models/dsen2/train/`;
    const noKey = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(base) });
    expect(noKey.status).toBe(401);
    const wrongKey = await fetch(url, { method: 'POST', headers: { ...headers, 'x-api-key': 'nope' }, body: JSON.stringify(base) });
    expect(wrongKey.status).toBe(403);
    const bicubic = await fetch(`${server.url}/v2/models/bicubic/train/`, { method: 'POST', headers, body: JSON.stringify(base) });
    expect(bicubic.status).toBe(409);
    expect(((await bicubic.json()) as Json).description).toMatch(/not trainable/);
    const noScene = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ ...base, scenes: [join(dir, 'missing.SAFE')] }) });
    expect(noScene.status).toBe(400);
    expect(((await noScene.json()) as Json).description).toMatch(/missing\.SAFE: no such file or folder/);
    const badEpochs = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ ...base, epochs: 0 }) });
    expect(badEpochs.status).toBe(400);
    const badThreads = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ ...base, threads: 0 }) });
    expect(badThreads.status).toBe(400);
    const unknown = await fetch(`${server.url}/v2/models/dsen2/train/00000000-0000-0000-0000-000000000000`);
    expect(unknown.status).toBe(404);
    expect(await (await fetch(url)).json()).toEqual([]);
  });

  it('cancels a running training', async () => {
    const res = await fetch(`${server.url}/v2/models/dsen2/train/`, { method: 'POST', headers, body: JSON.stringify({ ...base, epochs: 500, id: 'cancelled-model' }) });
    const job = (await res.json()) as Training;
    expect(res.status, JSON.stringify(job)).toBe(201);
    expect(res.headers.get('location')).toBe(`${server.url}/v2/models/dsen2/train/${job.uuid}`);
    expect(['queued', 'running']).toContain(job.status);
    expect(job.args).toMatchObject({ epochs: 500, size: 'dsen2-tiny' });
    const url = `${server.url}/v2/models/dsen2/train/${job.uuid}`;
    const running = await waitFor(url, (t) => t.status === 'running' && typeof t.progress?.step === 'number' && Number(t.progress.step) > 0, 'a training step');
    expect(running.progress).toMatchObject({ epochs: 500, stepsPerEpoch: 10, runtime: 'tfjs-wasm' });
    expect(typeof running.progress!.loss).toBe('number');

    const noKey = await fetch(url, { method: 'DELETE' });
    expect(noKey.status).toBe(401);
    const del = await fetch(url, { method: 'DELETE', headers: { 'x-api-key': KEY } });
    const after = (await del.json()) as Training;
    expect(del.status).toBe(200);
    expect(after.status).toBe('cancelled');
    const listed = (await (await fetch(`${server.url}/v2/models/dsen2/train/`)).json()) as Training[];
    expect(listed.find((t) => t.uuid === job.uuid)?.status).toBe('cancelled');
    expect(existsSync(join(modelsDir, 'cancelled-model'))).toBe(false);
  });

  it('finishes a training and publishes the model, which the models route then lists', async () => {
    const res = await fetch(`${server.url}/v2/models/dsen2/train/`, { method: 'POST', headers, body: JSON.stringify({ ...base, epochs: 2, id: 'ben-tiny', augment: true, threads: 2 }) });
    const job = (await res.json()) as Training;
    expect(res.status, JSON.stringify(job)).toBe(201);
    const done = await waitFor(`${server.url}/v2/models/dsen2/train/${job.uuid}`, (t) => t.status === 'done', 'a finished training');
    expect(done.result).toMatchObject({ status: 'finished', modelId: 'ben-tiny', epochs: 2, steps: 20 });
    expect(done.progress).toMatchObject({ epochsDone: 2, threads: 2 });
    expect(typeof done.progress!.valLoss).toBe('number');
    expect(done.links).toContainEqual(expect.objectContaining({ rel: 'model', href: `${server.url}/v2/models/ben-tiny/` }));
    const manifest = JSON.parse(readFileSync(join(modelsDir, 'ben-tiny', 'model.json'), 'utf8')) as Json & { training: Json };
    expect(manifest).toMatchObject({ id: 'ben-tiny', satellite: 'sentinel-2-l2a', group: '20m' });
    expect(manifest.training).toMatchObject({ status: 'finished', epochs: 2, augment: true, threads: 2 });
    expect(done.args).toMatchObject({ threads: 2 });
    expect(done.args).toMatchObject({ augment: true });
    const meta = await fetch(`${server.url}/v2/models/ben-tiny/`);
    expect(meta.status).toBe(200);
    expect(await meta.json()).toMatchObject({ name: 'ben-tiny', satellite: 'sentinel-2-l2a', trainable: true });
    // The id is taken now.
    const again = await fetch(`${server.url}/v2/models/dsen2/train/`, { method: 'POST', headers, body: JSON.stringify({ ...base, epochs: 2, id: 'ben-tiny', augment: true }) });
    expect(again.status).toBe(409);
  });

  it('resumes a training from its checkpoint after a server restart', async () => {
    const res = await fetch(`${server.url}/v2/models/dsen2/train/`, { method: 'POST', headers, body: JSON.stringify({ ...base, epochs: 3, id: 'ben-resumed' }) });
    const job = (await res.json()) as Training;
    expect(res.status).toBe(201);
    const url = (s: TestServer) => `${s.url}/v2/models/dsen2/train/${job.uuid}`;
    const mid = await waitFor(url(server), (t) => Number((t.progress?.checkpoint as Json | undefined)?.epoch ?? 0) >= 1 && Number(t.progress?.epoch ?? 0) >= 2, 'the first epoch checkpoint');
    expect(mid.status).toBe('running');

    // Stop the server mid-training: the worker saves a checkpoint and the job stays "running".
    await server.close();
    {
      const { openDatabase } = await import('../../stac/catalogue/database.js');
      const db = openDatabase(join(dir, 'catalogue.sqlite'));
      const row = new JobStore(db).get(job.uuid)!;
      db.close();
      expect(row.status).toBe('running');
      expect(row.attempts).toBe(1);
    }

    server = await startTestServer(dir, options);
    const done = await waitFor(url(server), (t) => t.status === 'done', 'the resumed training');
    expect(done.attempts).toBe(2);
    expect(String(done.progress?.resumedFrom)).toContain(join('jobs', job.uuid, 'model'));
    expect(done.result).toMatchObject({ status: 'finished', modelId: 'ben-resumed', epochs: 3, steps: 30 });
    const manifest = JSON.parse(readFileSync(join(modelsDir, 'ben-resumed', 'model.json'), 'utf8')) as { training: { sessions: unknown[]; epochs: number } };
    expect(manifest.training.epochs).toBe(3);
    expect(manifest.training.sessions.length).toBe(2);
  });
});
