/**
 * The built `sharpstream` command, run as a child process through bin/sharpstream.js: outputs and exit
 * codes for good and bad input. dist/ is rebuilt first when any source is newer than it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gpuDeviceNodes } from '../../model/runtimes/gpu-device.js';
import { dataPath, missingData, REPO_ROOT } from '../helpers/data.js';
import { gdalInfo } from '../helpers/gdal.js';

const BIN = join(REPO_ROOT, 'bin/sharpstream.js');
const BUILT = join(REPO_ROOT, 'dist/cli/main.js');
const SOURCES = ['cli', 'cog', 'raster', 'satellites', 'scene', 'pipeline', 'operators', 'connectors', 'model'];
const BEN = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'];
const RIO = ['riotilerpds-s2l2a-29RKH-decimated10x'];

/** Newest modification time of the TypeScript and JSON sources that the build compiles or ships. */
function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|json)$/.test(e.name) && !e.name.endsWith('.d.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of SOURCES) walk(join(REPO_ROOT, d));
  return newest;
}

/** Runs the built CLI; never rejects, so exit codes can be checked. */
function sharpstream(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, SHARPSTREAM_DEBUG: '', ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

let tmp: string;

beforeAll(async () => {
  if (!existsSync(BUILT) || statSync(BUILT).mtimeMs < newestSource()) {
    try {
      execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'pipe' });
    } catch (e) {
      // tsc still emits when some unrelated file has type errors; only a missing CLI is fatal here.
      if (!existsSync(BUILT)) throw new Error(`npm run build did not produce ${BUILT}: ${(e as { stdout?: Buffer }).stdout?.toString() ?? e}`);
    }
  }
  tmp = await mkdtemp(join(tmpdir(), 'sharpstream-cli-'));
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('sharpstream help', () => {
  it('--help lists every command with a description and an example, exit 0', async () => {
    const r = await sharpstream(['--help']);
    expect(r.code).toBe(0);
    for (const name of ['satellites', 'info', 'quicklook']) {
      expect(r.out).toMatch(new RegExp(`^  ${name} +\\S.*$`, 'm'));
      expect(r.out).toMatch(new RegExp(`^ +e\\.g\\. sharpstream ${name}\\b`, 'm'));
    }
  });

  it('<command> --help shows the options', async () => {
    const q = await sharpstream(['quicklook', '--help']);
    expect(q.code).toBe(0);
    for (const opt of ['--out <file.png|file.jpg>', '--bands <B04,B03,B02>', '--size <px>', '--satellite <id|file>']) expect(q.out).toContain(opt);
    const i = await sharpstream(['info', '--help']);
    expect(i.out).toMatch(/^Usage: sharpstream info <scene> \[options\]$/m);
    expect(i.out).toContain('--json');
  });

  it('rejects unknown commands and options with exit 2', async () => {
    const c = await sharpstream(['sharpen']);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/^sharpstream: unknown command "sharpen"/);
    const o = await sharpstream(['satellites', '--colour']);
    expect(o.code).toBe(2);
    expect(o.err).toMatch(/^sharpstream: unknown option --colour for "satellites"\nRun "sharpstream satellites --help" for usage\.\n$/);
    expect(o.out).toBe('');
  });

  it('says how to build when dist/ is missing', async () => {
    // A copy of the launcher in a folder without dist/ next to it.
    await mkdir(join(tmp, 'pkg/bin'), { recursive: true });
    await copyFile(BIN, join(tmp, 'pkg/bin/sharpstream.js'));
    await writeFile(join(tmp, 'pkg/package.json'), '{"type":"module"}');
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      execFile(process.execPath, [join(tmp, 'pkg/bin/sharpstream.js'), '--help'], (error, _o, stderr) =>
        resolve({ code: error ? (error.code as number) : 0, err: stderr }),
      );
    });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/dist\/cli\/main\.js is missing.*run npm install or npm run build/);
  });
});

describe('sharpstream runtimes', () => {
  it('lists every runtime in auto order, marks the one auto picks, and says why the others are absent', async () => {
    const r = await sharpstream(['runtimes', '--json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out) as { name: string; available: boolean; reason: string | null; auto: boolean }[];
    expect(list.map((x) => x.name)).toEqual(['onnx-cuda', 'tfjs-node-gpu', 'onnx-webgpu', 'tfjs-webgpu', 'onnx', 'tfjs-node', 'tfjs-wasm']);
    // auto takes the first available one, and only that one.
    const first = list.findIndex((x) => x.available);
    expect(list.map((x) => x.auto)).toEqual(list.map((_, i) => i === first));
    expect(list.find((x) => x.name === 'onnx')?.available).toBe(true);
    for (const x of list) {
      if (x.available) expect(x.reason).toBeNull();
      else expect(x.reason, x.name).toMatch(/\S+ \S+ \S+ \S+/);
    }
    if (!gpuDeviceNodes()) for (const n of ['onnx-webgpu', 'tfjs-webgpu']) expect(list.find((x) => x.name === n)?.reason).toMatch(/^no GPU device in \/dev/);
    const text = await sharpstream(['runtimes']);
    expect(text.out).toMatch(new RegExp(`^\\* ${list[first].name} `, 'm'));
    expect(text.out).toMatch(/^ {2}onnx-cuda +unavailable: /m);
  });
});

describe('sharpstream satellites', () => {
  it('lists every definition with bands and groups', async () => {
    const r = await sharpstream(['satellites']);
    expect(r.code).toBe(0);
    for (const id of ['sentinel-2-l1c', 'sentinel-2-l2a', 'landsat-c2-l1', 'landsat-c2-l2']) expect(r.out).toMatch(new RegExp(`^${id}  `, 'm'));
    expect(r.out).toMatch(/^ {4}B8A +20 m +nir08/m);
    expect(r.out).toMatch(/^ {4}60m: B01,B09 x6 from B04,B03,B02,B08,B05,B06,B07,B8A,B11,B12,B01,B09/m);
  });

  it('--json gives the definitions as data', async () => {
    const r = await sharpstream(['satellites', '--json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.out) as { id: string; bands: { id: string; resolution: number }[]; groups: { id: string }[] }[];
    expect(list.map((s) => s.id).sort()).toEqual(['landsat-c2-l1', 'landsat-c2-l2', 'sentinel-2-l1c', 'sentinel-2-l2a']);
    const l1 = list.find((s) => s.id === 'landsat-c2-l1')!;
    expect(l1.bands.find((b) => b.id === 'B8')?.resolution).toBe(15);
    const one = JSON.parse((await sharpstream(['satellites', 'sentinel-2-l2a', '--json'])).out) as { id: string; groups: { id: string }[] };
    expect(one.id).toBe('sentinel-2-l2a');
    expect(one.groups.map((g) => g.id)).toEqual(['20m', '60m']);
  });

  it('exits 1 naming an unknown satellite', async () => {
    const r = await sharpstream(['satellites', 'spot-7']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^sharpstream: unknown satellite "spot-7" \(known: landsat-c2-l1, /);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});

describe.skipIf(missingData(BEN, RIO))('sharpstream info', () => {
  it('describes a BigEarthNet patch: satellite, grid, CRS, pixel size, band grids', async () => {
    const dir = dataPath(...BEN);
    const r = await sharpstream(['info', dir]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^scene +S2A_MSIL2A_20170617T113321_36_85$/m);
    expect(r.out).toMatch(/^satellite +sentinel-2-l2a /m);
    expect(r.out).toMatch(/^grid +120 x 120 px, 10 m pixels, EPSG:32629$/m);
    expect(r.out).toMatch(/^ {2}B01 +60 m +20 x 20 +60 m pixels +origin 643200, 5798040 +uint16/m);
    expect(r.out).toMatch(/^ {2}B8A +20 m +60 x 60 /m);
  });

  it('--json matches GDAL for every band grid and carries the STAC metadata', async () => {
    const dir = dataPath(...RIO);
    const r = await sharpstream(['info', dir, '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.out) as {
      id: string;
      satellite: { id: string };
      grid: { width: number; height: number; crs: { epsg: number }; pixelSize: number[] };
      bands: { id: string; uri: string; width: number; height: number; transform: { x0: number; y0: number; dx: number; dy: number }; nodata: number | null }[];
      metadata: Record<string, unknown>;
    };
    expect(info.id).toBe('S2A_29RKH_20200219_0_L2A');
    expect(info.satellite.id).toBe('sentinel-2-l2a');
    expect(info.grid).toMatchObject({ width: 1098, height: 1098, crs: { epsg: 32629 }, pixelSize: [100, 100] });
    expect(info.bands).toHaveLength(12);
    for (const b of info.bands.filter((x) => ['B01', 'B05', 'B02'].includes(x.id))) {
      const g = await gdalInfo(b.uri);
      expect([b.width, b.height]).toEqual([g.width, g.height]);
      expect([b.transform.x0, b.transform.dx, 0, b.transform.y0, 0, b.transform.dy]).toEqual(g.geoTransform);
      expect(b.nodata).toBe(g.nodata[0]);
    }
    expect(info.metadata).toMatchObject({ datetime: '2020-02-19T11:34:25.405000Z', platform: 'sentinel-2a', stacItemId: 'S2A_29RKH_20200219_0_L2A' });
  });

  it('opens a scene with --satellite when asked', async () => {
    const r = await sharpstream(['info', dataPath(...BEN), '--satellite', 'sentinel-2-l1c', '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { satellite: { id: string } }).satellite.id).toBe('sentinel-2-l1c');
  });
});

describe('sharpstream info and quicklook on bad input', () => {
  it('a nonexistent path: exit 1, one line naming it', async () => {
    const missing = join(tmp, 'no-such-scene');
    for (const args of [['info', missing], ['quicklook', missing, '--out', join(tmp, 'x.png')]]) {
      const r = await sharpstream(args);
      expect(r.code).toBe(1);
      expect(r.err).toBe(`sharpstream: ${missing}: no such file or folder\n`);
    }
  });

  it('a file that is not an image: exit 1 naming the file and the problem', async () => {
    const notes = join(tmp, 'notes.txt');
    await writeFile(notes, 'not an image\n');
    const r = await sharpstream(['info', notes]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^sharpstream: ${notes.replace(/[.]/g, '\\.')}: not a scene sharpstream can read`));
    const fake = join(tmp, 'fake_B04.tif');
    await writeFile(fake, 'not a tiff either\n');
    const q = await sharpstream(['quicklook', fake, '--out', join(tmp, 'fake.png')]);
    expect(q.code).toBe(1);
    expect(q.err).toMatch(/^sharpstream: .*fake_B04\.tif: not a readable GeoTIFF: .*\n$/);
    expect(q.err).not.toMatch(/\n\s+at /);
    expect(existsSync(join(tmp, 'fake.png'))).toBe(false);
  });

  it('a stack trace only with SHARPSTREAM_DEBUG=1', async () => {
    const r = await sharpstream(['info', join(tmp, 'nothing-here')], { SHARPSTREAM_DEBUG: '1' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^sharpstream: SceneError: .*nothing-here: no such file or folder\n\s+at /);
  });

  it.skipIf(missingData(BEN))('an unknown satellite: exit 1 listing the known ones', async () => {
    const r = await sharpstream(['info', dataPath(...BEN), '--satellite', 'sentinel-3']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^sharpstream: unknown satellite "sentinel-3" \(known: .*sentinel-2-l2a.*\)\n$/);
  });

  it('bad option values: exit 2', async () => {
    expect((await sharpstream(['quicklook', 'x'])).code).toBe(2);
    expect((await sharpstream(['quicklook', 'x', '--out', 'q.png', '--size', '0'])).code).toBe(2);
    expect((await sharpstream(['info'])).code).toBe(2);
  });
});

describe.skipIf(missingData(BEN))('sharpstream quicklook', () => {
  it('writes a PNG of a scene and reports it', async () => {
    const out = join(tmp, 'look.png');
    const r = await sharpstream(['quicklook', dataPath(...BEN), '--out', out, '--size', '60']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`wrote ${out}: 60 x 60 png, bands B04,B03,B02\n`);
    const meta = await sharp(out).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 60, height: 60, channels: 4 });
  });

  it('writes a grey JPEG of chosen bands with --json', async () => {
    const out = join(tmp, 'look.jpg');
    const r = await sharpstream(['quicklook', dataPath(...BEN), '-o', out, '--bands', 'B8A', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ path: out, width: 120, height: 120, channels: 1, format: 'jpeg', bands: ['B8A'] });
    expect(await sharp(out).metadata()).toMatchObject({ format: 'jpeg', channels: 1 });
  });

  it('names a band the scene lacks', async () => {
    const r = await sharpstream(['quicklook', dataPath(...BEN), '--out', join(tmp, 'x.png'), '--bands', 'B10']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/S2A_MSIL2A_20170617T113321_36_85: band B10 is not in this scene \(bands: B01, B02/);
  });
});

const AESR = ['aesr-weights-up42', 'aesr_20m_s2_038_lr_1e-04.hdf5'];

describe.skipIf(missingData(AESR))('sharpstream import', () => {
  it('turns the UP42 AESR Keras file into a model package that `models` lists', async () => {
    const dir = join(tmp, 'models');
    const out = join(dir, 'aesr-20m');
    const r = await sharpstream(['import', '--keras', dataPath(...AESR), '--satellite', 'sentinel-2-l1c', '--group', '20m', '--out', out, '--title', 'UP42 AESR 20 m']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/as aesr-20m: sentinel-2-l1c 20m \(x2\), keras, inputs B04,B03,B02,B08,B05,B06,B07,B8A,B11,B12 -> B05,B06,B07,B8A,B11,B12/);
    const listed = await sharpstream(['models', '--json'], { SHARPSTREAM_MODELS: dir });
    expect(listed.code, listed.err).toBe(0);
    const entry = (JSON.parse(listed.out) as { id: string; satellite: string; group: string; source: string; title?: string }[]).find((e) => e.id === 'aesr-20m');
    expect(entry).toMatchObject({ satellite: 'sentinel-2-l1c', group: '20m', title: 'UP42 AESR 20 m' });
  });

  it('refuses a file that is not Keras, and a group the model does not fit, naming the problem', async () => {
    const notH5 = join(tmp, 'not-a-model.h5');
    await writeFile(notH5, 'hello');
    const a = await sharpstream(['import', '--keras', notH5, '--satellite', 'sentinel-2-l1c', '--group', '20m', '--out', join(tmp, 'x')]);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/not-a-model\.h5: is not an HDF5 file/);
    const b = await sharpstream(['import', '--keras', dataPath(...AESR), '--satellite', 'sentinel-2-l1c', '--group', '60m', '--out', join(tmp, 'y')]);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/takes 10 input channels .*group 60m has 12/);
    expect(existsSync(join(tmp, 'y'))).toBe(false);
    const c = await sharpstream(['import', '--keras', dataPath(...AESR), '--satellite', 'sentinel-2-l1c', '--out', join(tmp, 'z')]);
    expect(c.code).toBe(2);
  });
});
