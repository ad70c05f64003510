/**
 * Turns the S2_SSC_CNN "coastal" crop (a MATLAB v7.3 cell array of 12 Sentinel-2 bands, see
 * ../shared/data/PROVENANCE.md section 9) into a band folder that sharpstream reads as a Sentinel-2
 * L1C scene, for training:
 *
 *   node --import tsx scripts/ssccnn-scene.ts <CoastalA_cell.mat> <out dir>
 *
 * GDAL's HDF5 driver reads each element; MATLAB stores arrays column-major, so every band is
 * transposed back. The file has no georeference, date or tile: the bands are placed on a made-up
 * UTM 33N grid (10, 20 and 60 m, one origin) and named as product S2A_MSIL1C_20200101T000000_N0000_R000_T33AAA_ssccnn.
 * B10 is not in the file; the 20 m and 60 m groups (B01, B09) do not need it.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fromFile } from 'geotiff';
import { writeCog } from '../cog/writer.js';

const run = promisify(execFile);

/** Cell element -> band, in the file's order (PROVENANCE.md): S2 band order without B10. */
const ELEMENTS: readonly (readonly [string, string, number])[] = [
  ['b', 'B01', 60], ['c', 'B02', 10], ['d', 'B03', 10], ['e', 'B04', 10], ['f', 'B05', 20], ['g', 'B06', 20],
  ['h', 'B07', 20], ['i', 'B08', 10], ['j', 'B8A', 20], ['k', 'B09', 60], ['l', 'B11', 20], ['m', 'B12', 20],
];
const PRODUCT = 'S2A_MSIL1C_20200101T000000_N0000_R000_T33AAA_ssccnn';

/** Reads one cell element as a transposed UInt16 plane with its width and height. */
async function readElement(mat: string, ref: string, tmp: string): Promise<{ plane: Uint16Array; width: number; height: number }> {
  const tif = join(tmp, `${ref}.tif`);
  await run('gdal_translate', ['-q', '-of', 'GTiff', `HDF5:"${mat}"://#refs#/${ref}`, tif]);
  const image = await (await fromFile(tif)).getImage();
  const w = image.getWidth();
  const h = image.getHeight();
  const [raster] = (await image.readRasters()) as unknown as ArrayLike<number>[];
  // stored column-major: the GDAL raster is the band transposed
  const plane = new Uint16Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = raster![y * w + x]!;
      if (!Number.isFinite(v) || v < 0 || v > 65535 || Math.round(v) !== v) throw new Error(`${ref}: value ${v} at (${x}, ${y}) is not a DN`);
      plane[x * h + y] = v;
    }
  }
  return { plane, width: h, height: w };
}

/** Writes the scene folder and returns its path. */
async function main(mat: string, outDir: string): Promise<string> {
  const folder = join(resolve(outDir), PRODUCT);
  await mkdir(folder, { recursive: true });
  const tmp = await mkdtemp(join(tmpdir(), 'ssccnn-'));
  try {
    for (const [ref, band, res] of ELEMENTS) {
      const { plane, width, height } = await readElement(mat, ref, tmp);
      if (width * res !== 4080 || height * res !== 4080) throw new Error(`${band}: ${width} x ${height} px at ${res} m does not cover 4.08 km`);
      await writeCog(join(folder, `${PRODUCT}_${band}.tif`), [plane], {
        width,
        height,
        transform: { x0: 400_000, y0: 5_000_000, dx: res, dy: -res },
        crs: { epsg: 32633 },
        nodata: 0,
      });
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return folder;
}

const [mat, out] = process.argv.slice(2);
if (!mat || !out) {
  console.error('usage: node --import tsx scripts/ssccnn-scene.ts <CoastalA_cell.mat> <out dir>');
  process.exit(2);
}
main(resolve(mat), out).then(
  (folder) => console.log(folder),
  (err: Error) => {
    console.error(`ssccnn-scene: ${err.message}`);
    process.exit(1);
  },
);
