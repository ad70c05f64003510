/**
 * The streaming COG writer without external tools: misuse errors, clean-up of temporary files, and
 * read-back through geotiff.js (GDAL's view is in test/integration/cog-writer.test.ts).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromFile } from 'geotiff';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CogError, CogWriter, writeCog, writeCogFromStrips, type CogOptions } from '../../cog/writer.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cog-writer-unit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const base: CogOptions = {
  width: 100,
  height: 70,
  bands: 2,
  dataType: 'uint16',
  transform: { x0: 600000, y0: 5200000, dx: 20, dy: -20 },
  crs: { epsg: 32631 },
  nodata: 0,
  tileSize: 64,
};

/** Tile planes for a window, filled with a deterministic pattern of each band. */
function tilePlanes(x: number, y: number, w: number, h: number, bands = 2): Uint16Array[] {
  return Array.from({ length: bands }, (_, b) => {
    const a = new Uint16Array(w * h);
    for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) a[r * w + c] = 1 + b * 1000 + (x + c) * 3 + (y + r) * 7;
    return a;
  });
}

describe('CogWriter options', () => {
  const cases: [string, Partial<CogOptions>, RegExp][] = [
    ['zero width', { width: 0 }, /width must be a positive integer/],
    ['fractional height', { height: 10.5 }, /height must be a positive integer/],
    ['int8', { dataType: 'int8' as never }, /dataType must be one of/],
    ['unknown data type', { dataType: 'complex64' as never }, /dataType must be one of/],
    ['south-up transform', { transform: { x0: 0, y0: 0, dx: 10, dy: 10 } }, /north-up/],
    ['NaN in transform', { transform: { x0: Number.NaN, y0: 0, dx: 10, dy: -10 } }, /finite/],
    ['tile size not a multiple of 16', { tileSize: 500 }, /multiple of 16/],
    ['compression level 12', { level: 12 }, /level must be an integer from 0 to 9/],
    ['nodata out of range', { nodata: 70000 }, /nodata 70000 is not a value of uint16/],
    ['fractional integer nodata', { nodata: 1.5 }, /nodata 1.5 is not a value of uint16/],
    ['descriptions of the wrong length', { bandDescriptions: ['B02'] }, /bandDescriptions must have one entry per band \(2\)/],
    ['a non-finite scale', { scales: [1, Number.NaN] }, /scales\[1\] must be a finite number/],
    ['no EPSG code', { crs: { epsg: null } }, /EPSG code/],
    ['a bad metadata key', { metadata: { 'a b': 1 } }, /metadata key/],
    ['a bad bigtiff mode', { bigtiff: 'maybe' as never }, /bigtiff must be/],
  ];
  it.each(cases)('rejects %s with an error naming the file', async (_name, patch, pattern) => {
    const path = join(dir, 'bad.tif');
    const err = await CogWriter.create(path, { ...base, ...patch }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CogError);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toMatch(pattern);
    expect(await readdir(dir)).toEqual([]); // nothing left behind
  });

  it('fails clearly when the spool folder cannot be created', async () => {
    await expect(CogWriter.create(join(dir, 'missing', 'x.tif'), base)).rejects.toThrow(/cannot create a spool folder/);
  });
});

describe('CogWriter misuse', () => {
  it('rejects wrong band counts, types and sizes, and out-of-order tiles, without losing its place', async () => {
    const w = await CogWriter.create(join(dir, 'x.tif'), base);
    try {
      expect(w.tileGrid).toEqual({ cols: 2, rows: 2, tileSize: 64 });
      await expect(w.writeTile(tilePlanes(0, 0, 64, 64, 1))).rejects.toThrow(/tile \(col 0, row 0\) has 1 band planes, expected 2/);
      await expect(w.writeTile([new Float32Array(64 * 64), new Float32Array(64 * 64)])).rejects.toThrow(/band 1 of tile \(col 0, row 0\) must be a uint16 typed array, got Float32Array/);
      await expect(w.writeTile(tilePlanes(0, 0, 60, 64))).rejects.toThrow(/has 3840 samples, expected 4096 \(64x64 tile\) or 64x64=4096/);
      await expect(w.writeTile(tilePlanes(0, 0, 64, 64), { col: 1, row: 0 })).rejects.toThrow(/tile \(col 1, row 0\) is out of order.*tile \(col 0, row 0\) is next/);
      // still at tile 0: a correct tile goes through
      await w.writeTile(tilePlanes(0, 0, 64, 64), { col: 0, row: 0 });
      expect(w.nextTile()).toEqual({ col: 1, row: 0, x: 64, y: 0, width: 36, height: 64 });
      await expect(w.writeStrip(tilePlanes(0, 64, 100, 6))).rejects.toThrow(/a strip must start a row of tiles/);
      await expect(w.finish()).rejects.toThrow(/only 1 of 4 full-resolution tiles were written/);
      // the right-edge tile: clipped 36x64 or tile-sized
      const first = w.writeTile(tilePlanes(64, 0, 36, 64));
      await expect(w.writeTile(tilePlanes(0, 64, 64, 6))).rejects.toThrow(/has not finished; await each call/);
      await first;
      await expect(w.writeStrip([new Uint16Array(100 * 5), new Uint16Array(100 * 5)])).rejects.toThrow(/has 500 samples, expected 100x6=600/);
      await w.writeStrip(tilePlanes(0, 64, 100, 6));
      expect(w.nextTile()).toBeNull();
      await expect(w.writeTile(tilePlanes(0, 0, 64, 64))).rejects.toThrow(/all 4 tiles have already been written/);
      await w.finish();
      await expect(w.writeTile(tilePlanes(0, 0, 64, 64))).rejects.toThrow(/already finished/);
      await expect(w.finish()).rejects.toThrow(/already finished/);
      await w.abort(); // harmless after finish
      expect((await readdir(dir)).sort()).toEqual(['x.tif']);
    } finally {
      await w.abort();
    }
  });

  it('abort removes the spool files and leaves no output', async () => {
    const spool = join(dir, 'spool');
    await rm(spool, { recursive: true, force: true });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(spool);
    const w = await CogWriter.create(join(dir, 'aborted.tif'), { ...base, tmpDir: spool });
    expect((await readdir(spool)).length).toBe(1);
    await w.writeTile(tilePlanes(0, 0, 64, 64));
    await w.abort();
    await w.abort();
    expect(await readdir(spool)).toEqual([]);
    expect(await readdir(dir)).toEqual(['spool']);
    await expect(w.writeTile(tilePlanes(64, 0, 36, 64))).rejects.toThrow(/aborted/);
  });

  it('cleans up after a failure while finishing and reports it with the path', async () => {
    const { mkdir } = await import('node:fs/promises');
    const outDir = join(dir, 'out');
    const spool = join(dir, 'spool');
    await mkdir(outDir);
    await mkdir(spool);
    const w = await CogWriter.create(join(outDir, 'y.tif'), { ...base, tmpDir: spool });
    await w.writeStrip(tilePlanes(0, 0, 100, 64));
    await w.writeStrip(tilePlanes(0, 64, 100, 6));
    await rm(outDir, { recursive: true }); // the output folder vanishes before assembly
    const err = await w.finish().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CogError);
    expect((err as Error).message).toMatch(/out\/y\.tif: writing failed: .*ENOENT/);
    expect(await readdir(spool)).toEqual([]);
    await expect(w.writeTile(tilePlanes(0, 0, 64, 64))).rejects.toThrow(/failed earlier/);
  });

  it('refuses bigtiff "no" only when the file needs it (small files stay classic)', async () => {
    const r = await writeCog(join(dir, 'small.tif'), tilePlanes(0, 0, 100, 70), { ...base, bigtiff: 'no' });
    expect(r.bigtiff).toBe(false);
  });

  it('writeCog checks the planes against the size', async () => {
    await expect(writeCog(join(dir, 'z.tif'), [new Uint16Array(10)], { ...base })).rejects.toThrow(/band 1 has 10 samples, expected 100x70=7000/);
    await expect(writeCog(join(dir, 'z.tif'), [new Uint16Array(7000), new Int16Array(7000)], { ...base })).rejects.toThrow(/band 2 is int16/);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('CogWriter output through geotiff.js', () => {
  it('reads back every level pixel-identical, with tiles passed in reused buffers', async () => {
    const path = join(dir, 'reuse.tif');
    const w = await CogWriter.create(path, { ...base, width: 150, height: 130, nodata: null });
    const full = tilePlanes(0, 0, 150, 130);
    // one pair of buffers reused for every tile: the writer must not keep references
    const buf = [new Uint16Array(64 * 64), new Uint16Array(64 * 64)];
    for (let pos = w.nextTile(); pos; pos = w.nextTile()) {
      for (let b = 0; b < 2; b++) {
        buf[b].fill(65535); // garbage outside the image must not leak into the file
        for (let r = 0; r < pos.height; r++) buf[b].set(full[b].subarray((pos.y + r) * 150 + pos.x, (pos.y + r) * 150 + pos.x + pos.width), r * 64);
      }
      await w.writeTile(buf);
    }
    const result = await w.finish();
    expect(result.levels.map((l) => [l.width, l.height])).toEqual([[150, 130], [75, 65], [38, 33]]);
    expect(await readdir(dir)).toEqual(['reuse.tif']);

    const tiff = await fromFile(path);
    expect(await tiff.getImageCount()).toBe(3);
    const img = await tiff.getImage(0);
    const bands = (await img.readRasters({ interleave: false })) as unknown as Uint16Array[];
    expect(Array.from(bands[0])).toEqual(Array.from(full[0]));
    expect(Array.from(bands[1])).toEqual(Array.from(full[1]));
    // first overview: plain 2x2 means (no nodata), rounded half up for these positive values
    const ov = await tiff.getImage(1);
    expect([ov.getWidth(), ov.getHeight()]).toEqual([75, 65]);
    const ovBands = (await ov.readRasters({ interleave: false })) as unknown as Uint16Array[];
    const at = (x: number, y: number) => full[1][Math.min(y, 129) * 150 + Math.min(x, 149)];
    expect(ovBands[1][10 * 75 + 20]).toBe(Math.round((at(40, 20) + at(41, 20) + at(40, 21) + at(41, 21)) / 4));
    expect(ovBands[1][64 * 75 + 74]).toBe(Math.round((at(148, 128) + at(149, 128) + at(148, 129) + at(149, 129)) / 4));
  });

  it('writes from an async iterable of strips', async () => {
    const path = join(dir, 'strips.tif');
    const full = tilePlanes(0, 0, 100, 70);
    async function* strips() {
      for (let y = 0; y < 70; y += 64) {
        const h = Math.min(64, 70 - y);
        yield full.map((p) => p.slice(y * 100, (y + h) * 100));
      }
    }
    const r = await writeCogFromStrips(path, strips(), base);
    expect(r.levels).toHaveLength(2);
    const img = await (await fromFile(path)).getImage(0);
    const bands = (await img.readRasters({ interleave: false })) as unknown as Uint16Array[];
    expect(Array.from(bands[1])).toEqual(Array.from(full[1]));
  });
});
