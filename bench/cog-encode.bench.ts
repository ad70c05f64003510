/**
 * COG encoding benchmark: our streaming writer against `gdal_translate -of COG` (DEFLATE + predictor,
 * average overviews) on the same synthetic 4-band uint16 pixels (smooth fields, texture and noise,
 * with a nodata corner). The pixels are written once as a raw ENVI file outside the timing; both
 * writers read it. Ours runs in a child process so its peak RSS can be reported.
 * BENCH_QUICK=1 uses 2048x2048; the default is a full Sentinel-2 tile, 10980x10980 (BENCH_COG_SIZE=N
 * sets another size).
 * Run directly: `node --import tsx bench/cog-encode.bench.ts`.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CogWriter, type CogResult } from '../cog/writer.js';

const execFileP = promisify(execFile);
const THIS_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(THIS_FILE), '..');
const BANDS = 4;
const TILE = 512;
const EPSG = 32633;
const X0 = 300000;
const Y0 = 5000040;
const RES = 10;

/** One band row of the synthetic scene: smooth fields + texture + noise, 0 (nodata) in the top-left corner. */
function fillRow(out: Uint16Array, width: number, y: number, band: number, colField: Float64Array, state: { seed: number }): void {
  const rowField = 900 * Math.sin(y / 731 + band) + 300 * Math.cos(y / 97 + 2 * band) + 120 * Math.sin(y / 13.7);
  const base = 1800 + 450 * band + rowField;
  const cut = Math.floor(width * 0.3) - y; // nodata triangle, like a swath edge
  let s = state.seed;
  for (let x = 0; x < width; x++) {
    if (x < cut) {
      out[x] = 0;
      continue;
    }
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const v = base + colField[x] * (1 + 0.15 * band) + ((s >>> 24) & 15) + ((s >>> 20) & 15) - 15;
    out[x] = v < 1 ? 1 : v > 65535 ? 65535 : v;
  }
  state.seed = s;
}

function columnField(width: number): Float64Array {
  const f = new Float64Array(width);
  for (let x = 0; x < width; x++) f[x] = 700 * Math.cos(x / 613) + 250 * Math.sin(x / 71) + 90 * Math.cos(x / 9.3);
  return f;
}

/** Writes the synthetic scene as a band-sequential raw file with an ENVI header. */
async function writeEnviInput(dir: string, size: number): Promise<string> {
  const raw = join(dir, 'input.bin');
  const f = await open(raw, 'w');
  const colField = columnField(size);
  const rows = 256;
  const block = new Uint16Array(size * rows);
  try {
    for (let b = 0; b < BANDS; b++) {
      const state = { seed: 12345 + b };
      for (let y0 = 0; y0 < size; y0 += rows) {
        const h = Math.min(rows, size - y0);
        for (let r = 0; r < h; r++) fillRow(block.subarray(r * size, (r + 1) * size), size, y0 + r, b, colField, state);
        const bytes = new Uint8Array(block.buffer, 0, h * size * 2);
        await f.write(bytes, 0, bytes.length, (b * size * size + y0 * size) * 2);
      }
    }
  } finally {
    await f.close();
  }
  const hdr = [
    'ENVI',
    `samples = ${size}`,
    `lines = ${size}`,
    `bands = ${BANDS}`,
    'header offset = 0',
    'file type = ENVI Standard',
    'data type = 12',
    'interleave = bsq',
    'byte order = 0',
    '',
  ].join('\n');
  await writeFile(join(dir, 'input.hdr'), hdr);
  return raw;
}

/** Child mode: streams the raw file through CogWriter strip by strip and prints timing and peak RSS. */
async function child(raw: string, out: string, size: number): Promise<void> {
  const t0 = performance.now();
  const writer = await CogWriter.create(out, {
    width: size,
    height: size,
    bands: BANDS,
    dataType: 'uint16',
    transform: { x0: X0, y0: Y0, dx: RES, dy: -RES },
    crs: { epsg: EPSG },
    nodata: 0,
    tileSize: TILE,
  });
  const f = await open(raw, 'r');
  const planes = Array.from({ length: BANDS }, () => new Uint16Array(size * TILE));
  let result: CogResult;
  try {
    for (let y = 0; y < size; y += TILE) {
      const h = Math.min(TILE, size - y);
      const strip = planes.map((p) => p.subarray(0, h * size));
      for (let b = 0; b < BANDS; b++) {
        const bytes = new Uint8Array(strip[b].buffer, 0, h * size * 2);
        await f.read(bytes, 0, bytes.length, (b * size * size + y * size) * 2);
      }
      await writer.writeStrip(strip);
    }
    result = await writer.finish();
  } catch (e) {
    await writer.abort();
    throw e;
  } finally {
    await f.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const usage = process.resourceUsage();
  const cpuSeconds = (usage.userCPUTime + usage.systemCPUTime) / 1e6;
  process.stdout.write(`${JSON.stringify({ seconds, cpuSeconds, maxRssMB: usage.maxRSS / 1024, bytes: result.bytes, levels: result.levels.length })}\n`);
}

function runChild(raw: string, out: string, size: number): Promise<{ wall: number; report: { seconds: number; cpuSeconds: number; maxRssMB: number; bytes: number; levels: number } }> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, ['--import', 'tsx', THIS_FILE, '--child', raw, out, String(size)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`COG writer child exited with ${code}: ${stderr}`));
      try {
        resolvePromise({ wall, report: JSON.parse(stdout.trim().split('\n').pop() ?? '') });
      } catch (e) {
        reject(new Error(`COG writer child printed no report: ${stdout}${stderr}`, { cause: e }));
      }
    });
  });
}

async function gdalTranslate(raw: string, out: string, size: number): Promise<{ wall: number; maxRssMB: number | null; cpuSeconds: number | null }> {
  const args = [
    '-q', '-of', 'COG',
    '-co', 'COMPRESS=DEFLATE', '-co', 'PREDICTOR=YES', '-co', `BLOCKSIZE=${TILE}`, '-co', 'OVERVIEW_RESAMPLING=AVERAGE',
    '-a_srs', `EPSG:${EPSG}`, '-a_ullr', String(X0), String(Y0), String(X0 + size * RES), String(Y0 - size * RES), '-a_nodata', '0',
    raw, out,
  ];
  const timeBin = '/usr/bin/time';
  const t0 = performance.now();
  if (existsSync(timeBin)) {
    const { stderr } = await execFileP(timeBin, ['-f', 'MAXRSS_KB=%M CPU=%U+%S', 'gdal_translate', ...args]);
    const wall = (performance.now() - t0) / 1000;
    const m = /MAXRSS_KB=(\d+) CPU=([\d.]+)\+([\d.]+)/.exec(stderr);
    return { wall, maxRssMB: m ? Number(m[1]) / 1024 : null, cpuSeconds: m ? Number(m[2]) + Number(m[3]) : null };
  }
  await execFileP('gdal_translate', args);
  return { wall: (performance.now() - t0) / 1000, maxRssMB: null, cpuSeconds: null };
}

/** Benchmarks our COG writer against gdal_translate -of COG on the same synthetic scene. */
export default async function benchCogEncode(): Promise<Record<string, unknown>> {
  const quick = process.env.BENCH_QUICK === '1';
  const size = Number(process.env.BENCH_COG_SIZE) || (quick ? 2048 : 10980);
  const { validateCogGdal } = await import('../test/helpers/gdal.js');
  const dir = await mkdtemp(join(tmpdir(), 'sharpstream-cog-bench-'));
  try {
    const raw = await writeEnviInput(dir, size);
    const oursPath = join(dir, 'ours.tif');
    const gdalPath = join(dir, 'gdal.tif');
    const gdal = await gdalTranslate(raw, gdalPath, size);
    const ours = await runChild(raw, oursPath, size);
    const validation = await validateCogGdal(oursPath);
    const { stat } = await import('node:fs/promises');
    const gdalBytes = (await stat(gdalPath)).size;
    return {
      name: 'cog-encode',
      size: `${size}x${size}x${BANDS} uint16`,
      tileSize: TILE,
      oursSeconds: round(ours.wall),
      oursWriterSeconds: round(ours.report.seconds),
      oursCpuSeconds: round(ours.report.cpuSeconds),
      gdalSeconds: round(gdal.wall),
      gdalCpuSeconds: gdal.cpuSeconds === null ? null : round(gdal.cpuSeconds),
      ratio: round(ours.wall / gdal.wall),
      ratioGoal: 1.0,
      oursPeakRssMB: round(ours.report.maxRssMB),
      peakRssGoalMB: 300,
      gdalPeakRssMB: gdal.maxRssMB === null ? null : round(gdal.maxRssMB),
      oursBytes: ours.report.bytes,
      gdalBytes,
      levels: ours.report.levels,
      oursValidCog: validation.valid,
      validatorOutput: validation.valid ? undefined : validation.output,
      gdalCommand: 'gdal_translate -of COG -co COMPRESS=DEFLATE -co PREDICTOR=YES -co BLOCKSIZE=512 -co OVERVIEW_RESAMPLING=AVERAGE',
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (process.argv[1] && resolve(process.argv[1]) === THIS_FILE) {
  if (process.argv[2] === '--child') {
    await child(process.argv[3], process.argv[4], Number(process.argv[5]));
  } else {
    console.log(JSON.stringify(await benchCogEncode(), null, 2));
  }
}
