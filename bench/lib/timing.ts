/** Timing helpers shared by the benchmarks. */
import type { Session } from '../../model/runtimes/index.js';

/** The middle value (the upper one of the two middles for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Seconds of each of `reps` runs of a session on one input, after one untimed warm-up run. */
export async function sessionRunSeconds(session: Session, x: Float32Array, batch: number, height: number, width: number, reps: number): Promise<number[]> {
  await session.run(x, batch, height, width);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await session.run(x, batch, height, width);
    times.push((performance.now() - t0) / 1000);
  }
  return times;
}
