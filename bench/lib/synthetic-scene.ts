/**
 * Writes a synthetic Sentinel-2 L1C scene (per-band COGs with realistic smooth structure and noise)
 * of any size, for benchmarks that need a full 10980 x 10980 tile without shipping one.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CogWriter } from '../../cog/writer.js';
import { satellites } from '../../satellites/registry.js';

/** Writes `<dir>/S2B_MSIL1C_..._<band>.tif` for every L1C band; width and height in 10 m pixels (multiples of 6). */
export async function writeSyntheticS2(dir: string, width: number, height: number): Promise<string> {
  if (width % 6 || height % 6) throw new Error('synthetic scene size must be a multiple of 6');
  const s2 = satellites().get('sentinel-2-l1c');
  const name = 'S2B_MSIL1C_20240101T000000_N0510_R000_T31UFU_20240101T000000';
  const sceneDir = join(dir, name);
  await mkdir(sceneDir, { recursive: true });
  let seed = 12345;
  const noise = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 60;
  for (const [bi, band] of s2.bands.entries()) {
    const f = band.resolution / 10;
    const w = width / f;
    const h = height / f;
    const res = band.resolution;
    const writer = await CogWriter.create(join(sceneDir, `${name}_${band.id}.tif`), {
      width: w,
      height: h,
      bands: 1,
      dataType: 'uint16',
      transform: { x0: 600000, y0: 5700000, dx: res, dy: -res },
      crs: { epsg: 32631 },
      nodata: 0,
      bandDescriptions: [band.id],
    });
    const T = 512;
    for (let y = 0; y < h; y += T) {
      const th = Math.min(T, h - y);
      const plane = new Uint16Array(w * th);
      for (let r = 0; r < th; r++) {
        const gy = (y + r) * f;
        for (let c = 0; c < w; c++) {
          const gx = c * f;
          const v = 1500 + 400 * bi + 600 * Math.sin(gx / 700) * Math.cos(gy / 900) + 300 * Math.sin((gx + 2 * gy) / 97) + noise();
          plane[r * w + c] = Math.max(1, Math.min(65535, Math.round(v)));
        }
      }
      await writer.writeStrip([plane]);
    }
    await writer.finish();
  }
  return sceneDir;
}
