/**
 * Small synthetic Sentinel-2 L1C scenes for the stream tests: one GeoTIFF per band (10, 20 and 60 m
 * grids of a 60x60 px UTM 33N tile) written with the project's COG writer into a band folder whose
 * name the reader recognises, so that predictScene with the bicubic baseline runs on them in well
 * under a second.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeCog } from '../../cog/writer.js';

const BANDS: readonly (readonly [string, number])[] = [
  ['B01', 60], ['B02', 10], ['B03', 10], ['B04', 10], ['B05', 20], ['B06', 20], ['B07', 20],
  ['B08', 10], ['B8A', 20], ['B09', 60], ['B10', 60], ['B11', 20], ['B12', 20],
];

/** The folder name of synthetic scene `n`: a Sentinel-2 L1C product name the reader recognises. */
export function syntheticSceneName(n: number): string {
  const day = String(1 + (n % 28)).padStart(2, '0');
  return `S2A_MSIL1C_202001${day}T100000_N0208_R022_T33UUU_${String(n).padStart(4, '0')}`;
}

/**
 * Writes synthetic scene `n` (a band folder of 13 GeoTIFFs, 60x60 px at 10 m) under `dir` and
 * returns its folder. `size` is the 10 m width and height (a multiple of 6).
 */
export async function writeSyntheticScene(dir: string, n: number, size = 60): Promise<string> {
  if (size % 6 !== 0) throw new Error(`writeSyntheticScene: size ${size} is not a multiple of 6`);
  const folder = join(dir, syntheticSceneName(n));
  await mkdir(folder, { recursive: true });
  const x0 = 300_000 + n * 1000;
  const y0 = 5_800_000;
  for (const [id, res] of BANDS) {
    const w = (size * 10) / res;
    const plane = new Uint16Array(w * w);
    for (let y = 0; y < w; y++) for (let x = 0; x < w; x++) plane[y * w + x] = 1000 + ((x * 37 + y * 11 + n * 13 + id.charCodeAt(2)) % 500);
    await writeCog(join(folder, `${syntheticSceneName(n)}_${id}.tif`), [plane], {
      width: w,
      height: w,
      transform: { x0, y0, dx: res, dy: -res },
      crs: { epsg: 32633 },
      nodata: 0,
      tileSize: 64,
    });
  }
  return folder;
}
