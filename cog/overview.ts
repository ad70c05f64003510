/**
 * Overview pyramid for the COG writer: level sizes (halving, rounding up, until a level fits in one
 * tile) and nodata-aware 2x2 averaging (mean of the valid pixels; all invalid gives nodata; integers rounded).
 */
import { isFloat, type DataType, type PixelArray } from '../raster/types.js';

/** Size of one pyramid level. */
export interface LevelSize {
  readonly width: number;
  readonly height: number;
}

/**
 * Sizes of the full-resolution level and every overview: each overview halves the previous one
 * (rounding up, so every overview pixel is the mean of a whole 2x2 block, clipped at the edges),
 * until a level fits in one tile.
 */
export function pyramidSizes(width: number, height: number, tileSize: number): LevelSize[] {
  const sizes: LevelSize[] = [{ width, height }];
  let w = width;
  let h = height;
  while (w > tileSize || h > tileSize) {
    w = Math.ceil(w / 2);
    h = Math.ceil(h / 2);
    sizes.push({ width: w, height: h });
  }
  return sizes;
}

/** How the averaging treats pixels: which value is nodata, whether NaN is invalid, how results are stored. */
export interface AveragingRule {
  /** Nodata value to skip and to write where no valid pixel exists, or null. */
  readonly nodata: number | null;
  /** True for integer types: means are rounded (half away from zero). */
  readonly round: boolean;
  /** True for float types: NaN counts as invalid. */
  readonly nanInvalid: boolean;
  /** Value written where all pixels are invalid. */
  readonly empty: number;
}

/** The averaging rule for a data type and nodata value. */
export function averagingRule(dataType: DataType, nodata: number | null): AveragingRule {
  const float = isFloat(dataType);
  // compare in the stored precision, so a float32 nodata such as -9999.99 matches the stored samples
  const nd = nodata === null ? null : dataType === 'float32' ? Math.fround(nodata) : nodata;
  return { nodata: nd, round: !float, nanInvalid: float, empty: nd ?? (float ? Number.NaN : 0) };
}

/** Rounds half away from zero (the mean of integers lies between them, so this never leaves their range). */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/**
 * Averages 2x2 blocks of `src` (`width`x`height` valid pixels, row stride `srcStride`) into `dst` at
 * (`dstX`,`dstY`) with row stride `dstStride`, writing ceil(width/2) x ceil(height/2) pixels.
 */
export function downsample2x(
  src: PixelArray,
  width: number,
  height: number,
  srcStride: number,
  dst: PixelArray,
  dstStride: number,
  dstX: number,
  dstY: number,
  rule: AveragingRule,
): void {
  const ow = (width + 1) >> 1;
  const oh = (height + 1) >> 1;
  const fullW = width >> 1; // output columns with two source columns
  const { round, empty } = rule;
  const nd = rule.nodata;
  const checkNd = nd !== null && !Number.isNaN(nd);
  const checkNan = rule.nanInvalid;
  const plain = !checkNd && !checkNan;
  for (let j = 0; j < oh; j++) {
    const r0 = 2 * j * srcStride;
    const twoRows = 2 * j + 1 < height;
    const r1 = twoRows ? r0 + srcStride : r0;
    let o = (dstY + j) * dstStride + dstX;
    if (plain && twoRows) {
      // fast path: every pixel valid, full 2x2 blocks
      for (let i = 0, s0 = r0, s1 = r1; i < fullW; i++, s0 += 2, s1 += 2, o++) {
        const sum = src[s0] + src[s0 + 1] + src[s1] + src[s1 + 1];
        dst[o] = round ? roundHalfAway(sum / 4) : sum / 4;
      }
    } else {
      for (let i = 0, s0 = r0, s1 = r1; i < fullW; i++, s0 += 2, s1 += 2, o++) {
        let sum = 0;
        let n = 0;
        let v = src[s0];
        if (!((checkNd && v === nd) || (checkNan && v !== v))) (sum += v), n++;
        v = src[s0 + 1];
        if (!((checkNd && v === nd) || (checkNan && v !== v))) (sum += v), n++;
        if (twoRows) {
          v = src[s1];
          if (!((checkNd && v === nd) || (checkNan && v !== v))) (sum += v), n++;
          v = src[s1 + 1];
          if (!((checkNd && v === nd) || (checkNan && v !== v))) (sum += v), n++;
        }
        dst[o] = n === 0 ? empty : round ? roundHalfAway(sum / n) : sum / n;
      }
    }
    if (ow > fullW) {
      // odd width: the last output column averages one source column
      let sum = 0;
      let n = 0;
      let v = src[r0 + width - 1];
      if (!((checkNd && v === nd) || (checkNan && v !== v))) (sum += v), n++;
      if (twoRows) {
        v = src[r1 + width - 1];
        if (!((checkNd && v === nd) || (checkNan && v !== v))) (sum += v), n++;
      }
      dst[o] = n === 0 ? empty : round ? roundHalfAway(sum / n) : sum / n;
    }
  }
}
