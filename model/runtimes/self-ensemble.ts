/**
 * Geometric self-ensemble (Timofte et al., "Seven ways to improve example-based single image super
 * resolution", CVPR 2016): runs a fully convolutional network on the eight rotations and mirrorings of
 * its input, turns each output back and averages them. The network is unchanged; inference costs eight
 * times as much, and the average is usually a little closer to the truth than any single pass.
 */
import type { ModelManifest } from '../package.js';
import type { Session } from './runtime.js';

/** Number of transforms of the dihedral group of the square: 4 rotations x optional mirroring. */
export const DIHEDRAL_TRANSFORMS = 8;

/**
 * Source index in an h x w plane of pixel (y, x) of its transform t (0..7): bit 0 transposes (the
 * transformed plane is w x h), bit 1 mirrors columns and bit 2 rows of the transformed plane.
 */
export function dihedralSource(t: number, y: number, x: number, h: number, w: number): number {
  const th = t & 1 ? w : h;
  const tw = t & 1 ? h : w;
  const yy = t & 4 ? th - 1 - y : y;
  const xx = t & 2 ? tw - 1 - x : x;
  return t & 1 ? xx * w + yy : yy * w + xx;
}

/** Transforms every h x w plane of an NCHW array by t (see dihedralSource); the result's planes are w x h when t transposes. */
export function dihedralTransform(src: Float32Array, planes: number, h: number, w: number, t: number): Float32Array {
  const th = t & 1 ? w : h;
  const tw = t & 1 ? h : w;
  const n = h * w;
  const out = new Float32Array(src.length);
  for (let p = 0; p < planes; p++) {
    const off = p * n;
    for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) out[off + y * tw + x] = src[off + dihedralSource(t, y, x, h, w)];
  }
  return out;
}

/** How a runtime's name reads when its sessions run as a self-ensemble. */
export function ensembleLabel(runtime: string): string {
  return `${runtime}, self-ensemble x${DIHEDRAL_TRANSFORMS}`;
}

/** The session as a self-ensemble when asked and the model is a network (interpolation is already equivariant); else as it is. */
export function ensembleIfAsked(session: Session, model: Pick<ModelManifest, 'architecture' | 'inputs'>, asked: boolean): Session {
  return asked && model.architecture.type !== 'interpolation' ? selfEnsemble(session, model.inputs.length) : session;
}

/** A session that averages the network's outputs over the eight rotations and mirrorings of each input. */
export function selfEnsemble(inner: Session, inputs: number): Session {
  return {
    runtime: ensembleLabel(inner.runtime),
    device: inner.device,
    async run(input: Float32Array, batch: number, height: number, width: number): Promise<Float32Array> {
      if (input.length !== batch * inputs * height * width) throw new Error(`self-ensemble: expected ${batch}x${inputs}x${height}x${width} input values, got ${input.length}`);
      let acc: Float32Array | null = null;
      let outPlanes = 0;
      for (let t = 0; t < DIHEDRAL_TRANSFORMS; t++) {
        const tin = dihedralTransform(input, batch * inputs, height, width, t);
        const [th, tw] = t & 1 ? [width, height] : [height, width];
        const out = await inner.run(tin, batch, th, tw);
        if (!acc) {
          acc = new Float32Array(out.length);
          outPlanes = out.length / (height * width);
        }
        // Scatter the transformed output back to the input's orientation.
        const n = height * width;
        for (let p = 0; p < outPlanes; p++) {
          const off = p * n;
          for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) acc[off + dihedralSource(t, y, x, height, width)] += out[off + y * tw + x];
        }
      }
      const result = acc!;
      for (let i = 0; i < result.length; i++) result[i] /= DIHEDRAL_TRANSFORMS;
      return result;
    },
    dispose: () => inner.dispose(),
    ...(inner.broken ? { broken: () => inner.broken!() } : {}),
  };
}
