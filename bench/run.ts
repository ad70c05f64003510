/**
 * `npm run bench [name ...]`: runs every `bench/*.bench.ts` (or those whose names contain one of the
 * arguments) in sequence and prints ONE JSON document on stdout:
 * `{date, quick, machine: {cpu, cores, memoryBytes, node, os}, results: {name: result | {error}}}`.
 * Progress and anything the benchmarks log go to stderr. Each benchmark module's default export is
 * `async () => Record<string, unknown>`. BENCH_QUICK=1 asks benchmarks for a short run.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { arch, availableParallelism, cpus, release, totalmem, type } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** What the runner records about the machine. */
export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  readonly os: string;
}

/** One benchmark module's default export. */
export type Benchmark = () => Promise<Record<string, unknown>>;

/** The CPU model from /proc/cpuinfo (falling back to Node's report). */
function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    /* not Linux */
  }
  return cpus()[0]?.model ?? 'unknown';
}

function osName(): string {
  let distro = '';
  try {
    distro = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    /* not Linux */
  }
  return `${type()} ${release()} ${arch()}${distro ? ` (${distro})` : ''}`;
}

/** The machine the benchmarks run on. */
export function machineInfo(): MachineInfo {
  return { cpu: cpuModel(), cores: availableParallelism(), memoryBytes: totalmem(), node: process.version, os: osName() };
}

/** The benchmark names (file names without `.bench.ts`) in a folder, sorted. */
export function benchmarkNames(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => f.slice(0, -'.bench.ts'.length))
    .sort();
}

/** Runs the selected benchmarks and returns the JSON document (without printing it). */
export async function runBenchmarks(dir: string, filters: readonly string[], log: (line: string) => void): Promise<Record<string, unknown>> {
  const names = benchmarkNames(dir).filter((n) => filters.length === 0 || filters.some((f) => n.includes(f)));
  const results: Record<string, unknown> = {};
  for (const name of names) {
    log(`bench ${name}: running`);
    const t0 = performance.now();
    try {
      const mod = (await import(pathToFileURL(join(dir, `${name}.bench.ts`)).href)) as { default?: unknown };
      if (typeof mod.default !== 'function') throw new Error(`${name}.bench.ts has no default export function`);
      results[name] = await (mod.default as Benchmark)();
      log(`bench ${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      results[name] = { error: e instanceof Error ? e.message : String(e) };
      log(`bench ${name}: failed after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }
  return { date: new Date().toISOString(), quick: process.env.BENCH_QUICK === '1', machine: machineInfo(), results };
}

async function cli(): Promise<void> {
  const dir = dirname(fileURLToPath(import.meta.url));
  const filters = process.argv.slice(2);
  const all = benchmarkNames(dir);
  const unknown = filters.filter((f) => !all.some((n) => n.includes(f)));
  if (unknown.length) {
    process.stderr.write(`bench: no benchmark matches ${unknown.map((u) => `"${u}"`).join(', ')} (benchmarks: ${all.join(', ')})\n`);
    process.exitCode = 2;
    return;
  }
  // Keep stdout for the one JSON document: whatever benchmarks print goes to stderr.
  const toStderr = (...args: unknown[]) => process.stderr.write(`${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}\n`);
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
  const doc = await runBenchmarks(dir, filters, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  const failed = Object.values(doc.results as Record<string, unknown>).some((r) => typeof r === 'object' && r !== null && 'error' in r);
  process.exitCode = failed ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await cli();
}
