/**
 * The stream's own cost: scene events per second through the whole pipeline (bus -> read -> patches ->
 * bicubic model -> stitch -> COG -> quicklook pair -> item -> local store) on small synthetic
 * Sentinel-2 scenes; the time spent around the model as a fraction of the model's own time; and the
 * peak RSS of a synthetic full 10980 x 10980 Sentinel-2 tile through the stream (a child process, so
 * the figure is the stream's alone). BENCH_QUICK=1: a 10980 x 1032 strip instead of the full tile.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { lastValueFrom, toArray } from 'rxjs';
import { createBus } from '../connectors/bus.js';
import { LocalStore } from '../connectors/storage/local.js';
import type { Session } from '../model/runtimes/index.js';
import { SessionPool, type SessionProvider } from '../operators/super-resolve.js';
import { superResolveScenes } from '../pipeline/stream.js';
import { writeSyntheticS2 } from './lib/synthetic-scene.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

/** A session pool that adds up the time spent inside the model. */
function timedPool(pool: SessionPool, acc: { ms: number; patches: number }): SessionProvider {
  return {
    runtimeName: () => pool.runtimeName(),
    async acquire(model) {
      const { session, release } = await pool.acquire(model);
      const timed: Session = {
        runtime: session.runtime,
        device: session.device,
        run: async (input, batch, h, w) => {
          const t = performance.now();
          try {
            return await session.run(input, batch, h, w);
          } finally {
            acc.ms += performance.now() - t;
            acc.patches += batch;
          }
        },
        dispose: () => session.dispose(),
      };
      return { session: timed, release };
    },
  };
}

/** Runs the benchmark. */
export default async function bench(): Promise<Record<string, unknown>> {
  const quick = process.env.BENCH_QUICK === '1';
  const dir = mkdtempSync(join(tmpdir(), 'bench-stream-'));
  const results: Record<string, unknown> = {};
  try {
    // 1. Throughput and overhead on small scenes (240 x 240 at 10 m).
    const size = 240;
    const scene = await writeSyntheticS2(join(dir, 'small'), size, size);
    const n = quick ? 8 : 24;
    for (const previews of [true, false]) {
      const pool = new SessionPool('auto');
      const model = { ms: 0, patches: 0 };
      const bus = createBus();
      const out = join(dir, `out-${previews}`);
      const done = lastValueFrom(
        bus.deliveries().pipe(superResolveScenes({ store: new LocalStore(out), publishers: [], models: ['bicubic'], previews, sessions: timedPool(pool, model), workDir: join(dir, 'work') }), toArray()),
      );
      // Warm-up scene (runtime load, first session), not counted.
      await bus.publish({ href: scene, id: 'warmup' });
      model.ms = 0;
      model.patches = 0;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: n }, (_, i) => bus.publish({ href: scene, id: `scene-${i}` })));
      const seconds = (performance.now() - t0) / 1000;
      await bus.close();
      const outcomes = await done;
      await pool.close();
      const failed = outcomes.filter((o) => o.kind === 'failed');
      if (failed.length) throw new Error(`stream bench: ${failed.length} scenes failed`);
      results[previews ? 'small_with_previews' : 'small_without_previews'] = {
        scene: `${size} x ${size} synthetic Sentinel-2 L1C, bicubic (both groups)`,
        scenes: n,
        seconds: +seconds.toFixed(2),
        scenesPerSecond: +(n / seconds).toFixed(2),
        modelSeconds: +(model.ms / 1000).toFixed(2),
        patches: model.patches,
        overheadVsModel: +((seconds * 1000 - model.ms) / model.ms).toFixed(2),
      };
      process.stderr.write(`stream: ${JSON.stringify(results[previews ? 'small_with_previews' : 'small_without_previews'])}\n`);
    }

    // 2. Peak RSS of a full tile through the stream, in a child process.
    const h = quick ? 1032 : 10980;
    process.stderr.write(`stream: writing a synthetic 10980 x ${h} scene\n`);
    const big = await writeSyntheticS2(join(dir, 'big'), 10980, h);
    process.stderr.write('stream: full-width scene through the stream (bicubic, previews)\n');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(here, 'lib/stream-child.ts'), big, join(dir, 'big-out'), '1'], { maxBuffer: 1 << 24 });
    results[`synthetic_10980x${h}_bicubic`] = { ...(JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>), goalMaxRssMB: 2048 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
