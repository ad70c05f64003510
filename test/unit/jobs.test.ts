/** The jobs table (on a real SQLite database, as the catalogue opens it) and the bounded worker pools. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PoolFullError, WorkPool } from '../../jobs/pool.js';
import { JobStore } from '../../jobs/store.js';
import { openDatabase } from '../../stac/catalogue/database.js';

const dir = mkdtempSync(join(tmpdir(), 'sharpstream-jobs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('JobStore', () => {
  it('creates, lists, updates and finishes jobs, and keeps them across reopening the file', () => {
    const path = join(dir, 'cat.sqlite');
    const db = openDatabase(path);
    const store = new JobStore(db);
    const a = store.create('train', 'dsen2', { scenes: ['a'], epochs: 2 });
    const b = store.create('train', 'other', {});
    store.create('predict', 'dsen2', {});
    expect(a).toMatchObject({ kind: 'train', model: 'dsen2', status: 'queued', args: { scenes: ['a'], epochs: 2 }, progress: null, attempts: 0 });
    expect(store.list('train').map((j) => j.id)).toEqual([a.id, b.id]);
    expect(store.list('train', 'dsen2').map((j) => j.id)).toEqual([a.id]);
    store.update(a.id, { status: 'running', started: '2026-01-01T00:00:00Z', attempts: 1, progress: { epoch: 1, loss: 0.5 } });
    expect(store.withStatus('train', ['running']).map((j) => j.id)).toEqual([a.id]);
    expect(store.finish(a.id, 'cancelled', { message: 'by request' })).toBe(true);
    // A final status is final: a late "done" does not overwrite the cancel.
    expect(store.finish(a.id, 'done', { result: { x: 1 } })).toBe(false);
    db.close();

    const again = new JobStore(openDatabase(path));
    const got = again.get(a.id)!;
    expect(got).toMatchObject({ status: 'cancelled', message: 'by request', progress: { epoch: 1, loss: 0.5 }, result: null, attempts: 1 });
    expect(got.finished).toMatch(/^\d{4}-/);
    expect(again.get('nope')).toBeNull();
    expect(again.withStatus('train', ['queued', 'running']).map((j) => j.id)).toEqual([b.id]);
    again.db.close();
  });
});

describe('WorkPool', () => {
  const deferred = () => {
    let resolve!: () => void;
    const p = new Promise<void>((r) => (resolve = r));
    return { p, resolve };
  };

  it('runs at most `concurrency` tasks, queues up to maxQueue and refuses beyond', async () => {
    const pool = new WorkPool({ name: 'test', concurrency: 2, maxQueue: 1 });
    let running = 0;
    let peak = 0;
    const gates = [deferred(), deferred(), deferred()];
    const task = (i: number) => async () => {
      running++;
      peak = Math.max(peak, running);
      await gates[i].p;
      running--;
      return i;
    };
    const r = [pool.run(task(0)), pool.run(task(1)), pool.run(task(2))];
    expect(pool.size).toBe(2);
    expect(pool.pending).toBe(1);
    await expect(pool.run(async () => 9)).rejects.toBeInstanceOf(PoolFullError);
    gates[0].resolve();
    expect(await r[0]).toBe(0);
    gates[1].resolve();
    gates[2].resolve();
    expect(await Promise.all(r)).toEqual([0, 1, 2]);
    expect(peak).toBe(2);
    expect(pool.size).toBe(0);
  });

  it('keeps separate pools independent: a busy one does not delay another', async () => {
    const training = new WorkPool({ name: 'training', concurrency: 1 });
    const prediction = new WorkPool({ name: 'prediction', concurrency: 1 });
    const gate = deferred();
    const long = training.run(() => gate.p);
    const queuedTraining = training.run(async () => 'second training');
    expect(await prediction.run(async () => 'predicted')).toBe('predicted');
    expect(training.pending).toBe(1);
    gate.resolve();
    await long;
    expect(await queuedTraining).toBe('second training');
  });

  it('rejects a waiting task whose signal aborts, and aborts running tasks on close', async () => {
    const pool = new WorkPool({ name: 'test', concurrency: 1 });
    let sawAbort = false;
    const running = pool.run(
      (signal) =>
        new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => {
            sawAbort = true;
            resolve();
          }),
        ),
    );
    const c = new AbortController();
    const waiting = pool.run(async () => 'never', c.signal);
    c.abort(new Error('timed out'));
    await expect(waiting).rejects.toThrow('timed out');
    expect(pool.pending).toBe(0);
    const queuedAtClose = pool.run(async () => 'never');
    await pool.close();
    await running;
    expect(sawAbort).toBe(true);
    await expect(queuedAtClose).rejects.toBeInstanceOf(PoolFullError);
    await expect(pool.run(async () => 1)).rejects.toThrow(/closed/);
  });
});
