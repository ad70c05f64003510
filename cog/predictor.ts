/**
 * Tile preparation for the COG writer: pixel interleaving of band planes into a padded tile, and the
 * TIFF predictors (2 = horizontal differencing for integers, 3 = floating-point per TIFF Technical
 * Note 3) with their inverses, used by tests and readers of our own output.
 */
import { endianness } from 'node:os';
import { BYTES_PER_SAMPLE, allocPixels, dataTypeOf, isFloat, type DataType, type PixelArray } from '../raster/types.js';

if (endianness() !== 'LE') throw new Error('the COG writer needs a little-endian platform (typed arrays are written as-is)');

/** A view of a typed array's bytes. */
export function bytesOf(a: PixelArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Interleaves band planes (each `width`x`height` valid pixels with row stride `stride`) into one
 * pixel-interleaved `tileSize`x`tileSize` tile, padding outside the valid area with `fill`.
 * `scratch`, when it has the right type and length, is reused as the output.
 */
export function interleaveTile(
  planes: readonly PixelArray[],
  width: number,
  height: number,
  stride: number,
  tileSize: number,
  dataType: DataType,
  fill: number,
  scratch?: PixelArray,
): PixelArray {
  const spp = planes.length;
  const n = tileSize * tileSize * spp;
  const reuse = scratch !== undefined && scratch.length === n && dataTypeOf(scratch) === dataType;
  const out = reuse ? scratch : allocPixels(dataType, n);
  if ((reuse || fill !== 0) && (width < tileSize || height < tileSize)) out.fill(fill);
  const rowLen = tileSize * spp;
  for (let b = 0; b < spp; b++) {
    const p = planes[b];
    for (let r = 0; r < height; r++) {
      const src = r * stride;
      let o = r * rowLen + b;
      for (let c = 0; c < width; c++, o += spp) out[o] = p[src + c];
    }
  }
  return out;
}

/** Applies TIFF predictor 2 in place: each sample minus the same band's sample to its left, per row, modulo the type's range. */
export function applyHorizontalPredictor(a: PixelArray, rowWidth: number, spp: number): void {
  if (a instanceof Float32Array || a instanceof Float64Array) throw new Error('predictor 2 is for integer samples; use predictor 3 for floats');
  const rowLen = rowWidth * spp;
  const rows = a.length / rowLen;
  for (let r = 0; r < rows; r++) {
    const start = r * rowLen;
    for (let i = start + rowLen - 1; i >= start + spp; i--) a[i] = a[i] - a[i - spp];
  }
}

/**
 * interleaveTile followed by applyHorizontalPredictor in one pass over the samples (integer types): the
 * predicted tile, padded with `fill` before differencing. Every sample of the output is written.
 */
export function interleavePredictTile(
  planes: readonly PixelArray[],
  width: number,
  height: number,
  stride: number,
  tileSize: number,
  dataType: DataType,
  fill: number,
  scratch?: PixelArray,
): PixelArray {
  if (isFloat(dataType)) throw new Error('predictor 2 is for integer samples; use predictor 3 for floats');
  const spp = planes.length;
  const n = tileSize * tileSize * spp;
  const out = scratch !== undefined && scratch.length === n && dataTypeOf(scratch) === dataType ? scratch : allocPixels(dataType, n);
  const rowLen = tileSize * spp;
  for (let b = 0; b < spp; b++) {
    const p = planes[b];
    for (let r = 0; r < tileSize; r++) {
      let o = r * rowLen + b;
      let c = 1;
      if (r < height) {
        const src = r * stride;
        let prev = p[src];
        out[o] = prev;
        for (; c < width; c++) {
          const v = p[src + c];
          o += spp;
          out[o] = v - prev;
          prev = v;
        }
        if (c < tileSize) {
          o += spp;
          out[o] = fill - prev;
          c++;
        }
      } else {
        out[o] = fill;
      }
      for (; c < tileSize; c++) {
        o += spp;
        out[o] = 0;
      }
    }
  }
  return out;
}

/** Undoes TIFF predictor 2 in place (running sums per band along each row). */
export function undoHorizontalPredictor(a: PixelArray, rowWidth: number, spp: number): void {
  const rowLen = rowWidth * spp;
  const rows = a.length / rowLen;
  for (let r = 0; r < rows; r++) {
    const start = r * rowLen;
    for (let i = start + spp; i < start + rowLen; i++) a[i] = a[i] + a[i - spp];
  }
}

/**
 * Applies TIFF predictor 3 (floating point, Technical Note 3): per row, the samples' bytes are split into
 * planes, most significant byte first, then each byte minus the byte `spp` positions before it.
 * Returns the encoded bytes (a new array, or `scratch` when it has the right length).
 */
export function applyFloatPredictor(a: Float32Array | Float64Array, rowWidth: number, spp: number, scratch?: Uint8Array): Uint8Array {
  const bps = a.BYTES_PER_ELEMENT;
  const src = bytesOf(a);
  const out = scratch !== undefined && scratch.length === src.length ? scratch : new Uint8Array(src.length);
  const wc = rowWidth * spp;
  const rowBytes = wc * bps;
  const rows = src.length / rowBytes;
  for (let r = 0; r < rows; r++) {
    const base = r * rowBytes;
    for (let byte = 0; byte < bps; byte++) {
      // little-endian input: byte `byte` of a sample goes to plane (bps-1-byte), so the MSB plane comes first
      const plane = base + (bps - 1 - byte) * wc;
      for (let i = 0, s = base + byte; i < wc; i++, s += bps) out[plane + i] = src[s];
    }
    for (let j = base + rowBytes - 1; j >= base + spp; j--) out[j] = out[j] - out[j - spp];
  }
  return out;
}

/** Undoes TIFF predictor 3: decodes bytes produced by applyFloatPredictor back into samples. */
export function undoFloatPredictor(encoded: Uint8Array, dataType: 'float32' | 'float64', rowWidth: number, spp: number): Float32Array | Float64Array {
  const bps = BYTES_PER_SAMPLE[dataType];
  const work = Uint8Array.from(encoded);
  const wc = rowWidth * spp;
  const rowBytes = wc * bps;
  const rows = work.length / rowBytes;
  const out = dataType === 'float32' ? new Float32Array(work.length / 4) : new Float64Array(work.length / 8);
  const dst = bytesOf(out);
  for (let r = 0; r < rows; r++) {
    const base = r * rowBytes;
    for (let j = base + spp; j < base + rowBytes; j++) work[j] = work[j] + work[j - spp];
    for (let byte = 0; byte < bps; byte++) {
      const plane = base + (bps - 1 - byte) * wc;
      for (let i = 0, d = base + byte; i < wc; i++, d += bps) dst[d] = work[plane + i];
    }
  }
  return out;
}

/** The TIFF Predictor tag value the writer uses for a data type: 2 for integers, 3 for floats. */
export function predictorFor(dataType: DataType): 2 | 3 {
  return isFloat(dataType) ? 3 : 2;
}
