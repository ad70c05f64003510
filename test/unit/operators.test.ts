/** Marble tests of the stream operators: ordering, concurrency limits, error routing and completion, in virtual time. */
import { firstValueFrom, map, of, toArray, type ObservableInput, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { OutputStore } from '../../connectors/storage/store.js';
import { catchScene } from '../../operators/catch-scene.js';
import { JobResources, StageError, stageOperator, type SceneJob } from '../../operators/job.js';
import { publish } from '../../operators/publish.js';
import { readScene } from '../../operators/read-scene.js';
import { skipExisting } from '../../operators/skip-existing.js';
import { stitch } from '../../operators/stitch.js';
import { superResolve } from '../../operators/super-resolve.js';
import { toPatches } from '../../operators/to-patches.js';
import { toStacItem } from '../../operators/to-stac-item.js';
import { writeCog } from '../../operators/write-cog.js';
import type { SceneOutcome } from '../../pipeline/types.js';

const job = (id: string): SceneJob => ({ event: { id, href: `/scenes/${id}` }, workDir: '/tmp', startedMs: 0, resources: new JobResources() });
const jobs = { a: job('a'), b: job('b'), c: job('c') };
const tag = (suffix: string) => (j: SceneJob) => ({ ...j, event: { ...j.event, id: `${j.event.id}${suffix}` } });
const ids = { a: 'a', b: 'b', c: 'c' };

function scheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** Every named operator, built with a replaced stage so it runs in virtual time. */
type Factory = (opts: { concurrency?: number; run: (j: never) => ObservableInput<unknown> }) => OperatorFunction<never, unknown>;
const fakeStore = {} as OutputStore;
const operators: [string, Factory][] = [
  ['read', (o) => readScene(o as never) as never],
  ['toPatches', (o) => toPatches(o as never) as never],
  ['superResolve', (o) => superResolve(o as never) as never],
  ['stitch', (o) => stitch(o as never) as never],
  ['writeCog', (o) => writeCog(o as never) as never],
  ['toStacItem', (o) => toStacItem(o as never) as never],
  ['publish', (o) => publish({ store: fakeStore, publishers: [], ...(o as object) } as never) as never],
];

describe.each(operators)('operator %s', (stage, factory) => {
  it('keeps at most `concurrency` scenes in the stage and emits in completion order', () => {
    scheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-|', jobs);
      const inner = { a: cold('-----(x|)', { x: 'a' }), b: cold('-(x|)', { x: 'b' }), c: cold('--(x|)', { x: 'c' }) };
      const op = factory({ concurrency: 2, run: ((j: SceneJob) => inner[j.event.id as 'a']) as never });
      // a: 1..6, b: 3..4, c waits for b's slot: 5..7 (the source completes at 7, the last inner at 7).
      expectObservable(source.pipe(op as never)).toBe('----b-a(c|)', ids);
      expectSubscriptions(inner.a.subscriptions).toBe('-^----!');
      expectSubscriptions(inner.b.subscriptions).toBe('---^!');
      expectSubscriptions(inner.c.subscriptions).toBe('-----^-!');
    });
  });

  it('defaults to one scene at a time, in arrival order', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const source = hot('-ab|', jobs);
      const op = factory({ run: ((j: SceneJob) => cold('---(x|)', { x: j.event.id })) as never });
      expectObservable(source.pipe(op as never)).toBe('----a--(b|)', ids);
    });
  });

  it(`routes an error as a StageError naming "${stage}" and the scene`, () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const source = hot('-a-b|', jobs);
      const op = factory({ run: ((j: SceneJob) => (j.event.id === 'a' ? cold('--#', undefined, new Error('disk full')) : cold('-(x|)', { x: 'b' }))) as never });
      expectObservable(source.pipe(op as never)).toBe('---#', undefined, new StageError(stage, 'a', new Error('disk full')));
    });
  });

  it('completes only after the last scene has left the stage', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const source = hot('-a|', jobs);
      const op = factory({ run: (() => cold('----(x|)', { x: 'a' })) as never });
      expectObservable(source.pipe(op as never)).toBe('-----(a|)', ids);
    });
  });
});

describe('stageOperator', () => {
  it('refuses a concurrency that is not a positive integer', () => {
    expect(() => stageOperator('x', async (j: SceneJob) => j, { concurrency: 0 })).toThrow(/x: concurrency must be a positive integer, got 0/);
  });

  it('turns a thrown (not rejected) error into a StageError too', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const op = stageOperator(
        'writeCog',
        () => {
          throw new Error('no space');
        },
        {},
      );
      expectObservable(hot('-a|', jobs).pipe(op)).toBe('-#', undefined, new StageError('writeCog', 'a', new Error('no space')));
    });
  });
});

describe('catchScene', () => {
  type Cold = Parameters<Parameters<TestScheduler['run']>[0]>[0]['cold'];
  /** A one-stage pipeline whose scene `bad` fails after `duration`; the others are done after it. */
  const failing = (cold: Cold, stage: string, bad: string, duration = '--'): OperatorFunction<SceneJob, SceneOutcome> =>
    stageOperator<SceneJob, SceneOutcome>(stage, async () => ({}) as never, {
      run: (j) =>
        j.event.id === bad
          ? cold<SceneOutcome>(`${duration}#`, undefined, new Error(`bad ${j.event.id}`))
          : cold<SceneOutcome>(`${duration}(x|)`, { x: { kind: 'done', event: j.event } as SceneOutcome }),
    });

  it('turns a failing scene into a failed outcome naming the stage, and goes on with the others', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const source = hot('-a-b-c|', jobs);
      const out = source.pipe(
        catchScene(failing(cold, 'superResolve', 'b')),
        map((o) => (o.kind === 'done' ? `done ${o.event.id}` : `failed ${o.event.id} at ${o.stage}: ${o.error.message}`)),
      );
      expectObservable(out).toBe('---a-b-(c|)', { a: 'done a', b: 'failed b at superResolve: bad b', c: 'done c' });
    });
  });

  it('runs at most `concurrency` scenes, each through the whole pipeline in isolation', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const source = hot('-abc|', jobs);
      const pipeline: OperatorFunction<SceneJob, SceneOutcome> = (s) => s.pipe(stageOperator('read', async (j: SceneJob) => j, { run: (j) => cold('--(x|)', { x: j }) }), failing(cold, 'publish', 'none'));
      const out = source.pipe(
        catchScene(pipeline, { concurrency: 2 }),
        map((o) => o.event.id),
      );
      // a and b start at 1 and 2 and take 4 frames each; c gets a's slot at 5.
      expectObservable(out).toBe('-----ab--(c|)', ids);
    });
  });

  it('reports an error that is not a StageError under the stage "unknown"', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const boom: OperatorFunction<SceneJob, SceneOutcome> = map(() => {
        throw new Error('plain');
      });
      const out = hot('-a|', jobs).pipe(
        catchScene(boom),
        map((o) => (o.kind === 'failed' ? `${o.stage}: ${o.error.message}` : 'done')),
      );
      expectObservable(out).toBe('-a|', { a: 'unknown: plain' });
    });
  });

  it('releases a job’s resources after its outcome, failed or not', async () => {
    const released: string[] = [];
    const j = job('r');
    j.resources.defer(() => released.push('scene closed'));
    j.resources.defer(() => released.push('session released'));
    const outcomes = await firstValueFrom(
      of(j).pipe(
        catchScene(
          map(() => {
            throw new StageError('stitch', 'r', new Error('row missing'));
          }),
        ),
        toArray(),
      ),
    );
    expect(outcomes).toMatchObject([{ kind: 'failed', stage: 'stitch', error: { message: 'row missing' } }]);
    expect(released).toEqual(['session released', 'scene closed']);
  });
});

describe('skipExisting', () => {
  it('yields the stored outcome for existing outputs and sends the others through `process`', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const existing = (id: string): SceneOutcome => ({ kind: 'done', event: { id, href: id }, item: { id, type: 'Feature', properties: {}, assets: {} }, cogHref: '', itemHref: '', skipped: true, seconds: 0 });
      const process: OperatorFunction<SceneJob, SceneOutcome> = stageOperator('publish', async (j: SceneJob) => j as never, {
        run: (j) => cold('---(x|)', { x: { ...existing(j.event.id), skipped: false } }),
      });
      const out = hot('-a-b-c|', jobs).pipe(
        skipExisting({ store: fakeStore, process, concurrency: 3, run: (j) => cold('-(x|)', { x: { job: j, existing: j.event.id === 'b' ? existing('b') : null } }) }),
        map((o) => `${o.event.id}${o.kind === 'done' && o.skipped ? ' skipped' : ''}`),
      );
      expectObservable(out).toBe('----ba---(c|)', { a: 'a', b: 'b skipped', c: 'c' });
    });
  });

  it('routes a failing store check as a StageError of "skipExisting"', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const out = hot('-a|', jobs).pipe(skipExisting({ store: fakeStore, process: map(() => ({}) as never), run: () => cold('-#', undefined, new Error('403 Forbidden')) }));
      expectObservable(out).toBe('--#', undefined, new StageError('skipExisting', 'a', new Error('403 Forbidden')));
    });
  });
});

describe('operators keep job fields', () => {
  it('passes what earlier stages added through later ones', () => {
    scheduler().run(({ cold, hot, expectObservable }) => {
      const op = stageOperator('toPatches', async (j: SceneJob) => j, { run: (j) => cold('-(x|)', { x: tag('+patches')(j) }) });
      expectObservable(hot('-a|', jobs).pipe(op, map((j) => j.event.id))).toBe('--(a|)', { a: 'a+patches' });
    });
  });
});

describe('toStacItem preview bands', () => {
  it('draws a composite of sharpened bands per satellite: S2 B12/B8A/B05, Landsat natural colour, else the first bands', async () => {
    const { previewBands } = await import('../../cog/preview.js');
    const { satellites } = await import('../../satellites/registry.js');
    const reg = satellites();
    expect(previewBands(reg.get('sentinel-2-l1c'), ['B05', 'B06', 'B07', 'B8A', 'B11', 'B12', 'B01', 'B09'])).toEqual(['B12', 'B8A', 'B05']);
    expect(previewBands(reg.get('landsat-c2-l1'), ['B2', 'B3', 'B4', 'B5', 'B6', 'B7'])).toEqual(['B4', 'B3', 'B2']);
    expect(previewBands(reg.get('landsat-c2-l2'), ['SR_B2', 'SR_B3', 'SR_B4', 'SR_B5', 'SR_B6', 'SR_B7'])).toEqual(['SR_B4', 'SR_B3', 'SR_B2']);
    expect(previewBands(reg.get('sentinel-2-l1c'), ['B01', 'B09'])).toEqual(['B01']);
    expect(() => previewBands(reg.get('sentinel-2-l1c'), [])).toThrow(/no sharpened band/);
  });
});
