/**
 * Replaces geotiff.js' pure-JS (pako) DEFLATE decoder with Node's zlib, which runs natively on libuv's
 * thread pool: several times faster, and tiles of one window inflate in parallel.
 */
import { promisify } from 'node:util';
import { inflate } from 'node:zlib';
import { BaseDecoder, addDecoder } from 'geotiff';

const inflateAsync = promisify(inflate);

/** geotiff.js decoder for TIFF compression 8 and 32946 (DEFLATE) backed by node:zlib. */
export class NodeZlibDecoder extends BaseDecoder {
  override async decodeBlock(buffer: ArrayBufferLike): Promise<ArrayBufferLike> {
    const out = await inflateAsync(new Uint8Array(buffer));
    // Return exactly the bytes inflated (a Buffer may sit inside a larger shared pool).
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
  }
}

let registered = false;

/** Registers the zlib decoder with geotiff.js once; decodes stay on this thread (no worker pool). */
export function useNodeZlib(): void {
  if (registered) return;
  registered = true;
  addDecoder([8, 32946], () => Promise.resolve(NodeZlibDecoder as unknown as typeof BaseDecoder), undefined, false);
}
