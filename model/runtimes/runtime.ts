/**
 * The runtime plug-in family: every runtime executes a model package's layer graph on NCHW float32
 * batches. Runtimes register here; `pickRuntime` chooses the fastest available one or the one asked for.
 */
import type { ModelPackage } from '../package.js';

/** A loaded network on one runtime. */
export interface Session {
  /** Runtime name, with the device it ended up on. */
  readonly runtime: string;
  readonly device: 'cpu' | 'gpu';
  /** Runs the network: input NCHW [batch, inputs, height, width] -> output NCHW [batch, outputs, height, width]. */
  run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array>;
  /** Frees the session's memory. */
  dispose(): Promise<void>;
  /** True once the session can no longer run (its worker died, or it was disposed): load a new one. */
  broken?(): boolean;
}

/** Options for loading a session. */
export interface SessionOptions {
  /** CPU threads to use (default: all cores). */
  readonly threads?: number;
}

/** One way of running models. */
export interface Runtime {
  readonly name: string;
  readonly description: string;
  /** Whether this runtime can run here, and why not. Never throws. */
  available(): Promise<{ readonly ok: boolean; readonly reason?: string }>;
  /** Loads a model package. */
  load(pkg: ModelPackage, options?: SessionOptions): Promise<Session>;
}

const runtimes: Runtime[] = [];

/** Adds a runtime; the order of registration is the order of preference for `auto`. */
export function registerRuntime(r: Runtime): void {
  if (!runtimes.some((x) => x.name === r.name)) runtimes.push(r);
}

/** Registered runtimes in preference order. */
export function registeredRuntimes(): readonly Runtime[] {
  return runtimes;
}

/** The runtime asked for (by name) or the first available one ('auto'); throws naming the choices. */
export async function pickRuntime(name = 'auto'): Promise<Runtime> {
  if (name === 'auto') {
    const reasons: string[] = [];
    for (const r of runtimes) {
      const a = await r.available();
      if (a.ok) return r;
      reasons.push(`${r.name}: ${a.reason ?? 'unavailable'}`);
    }
    throw new Error(`no model runtime is available (${reasons.join('; ')})`);
  }
  const r = runtimes.find((x) => x.name === name);
  if (!r) throw new Error(`unknown runtime "${name}" (runtimes: auto, ${runtimes.map((x) => x.name).join(', ')})`);
  const a = await r.available();
  if (!a.ok) throw new Error(`runtime "${name}" is not available here: ${a.reason ?? 'unknown reason'}`);
  return r;
}
