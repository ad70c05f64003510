/**
 * Idempotent output keys: where a scene's outputs go in an output store, derived only from what
 * determines them: the input's id and version, the models (ids, versions and weight checksums) and the
 * region. The same event processed twice lands on the same keys, so a redelivered scene is recognised
 * and skipped; a new model version, retrained weights or a new input version get new keys and are
 * processed again.
 *
 *   <collection>/<scene id>_sr-<hash8>/<scene id>_sr.tif   (COG)
 *                                      <scene id>_sr.json  (STAC item, stored last: its presence means done)
 *                                      <scene id>_sr.png, <scene id>_sr_bicubic.png (quicklooks)
 */
import { createHash } from 'node:crypto';
import type { PixelWindow } from '../raster/grid.js';

/** What determines an output. */
export interface OutputKeyInput {
  readonly sceneId: string;
  readonly version?: string;
  /** The models; `weights` is the SHA-256 of their weights file, so retrained weights never pass for old ones. */
  readonly models: readonly { readonly id: string; readonly version: string; readonly weights?: string }[];
  readonly window?: PixelWindow;
  readonly collection: string;
}

/** The keys of one output in a store. */
export interface OutputKey {
  readonly collection: string;
  /** 8 hex digits of SHA-256 over the scene id, version, models and region. */
  readonly hash: string;
  /** `<scene id>_sr-<hash8>`: the output's folder and its STAC item id. */
  readonly outputId: string;
  /** File name stem `<scene id>_sr`. */
  readonly stem: string;
  /** `<collection>/<outputId>`. */
  readonly prefix: string;
  readonly cog: string;
  readonly item: string;
  readonly thumbnail: string;
  readonly thumbnailBicubic: string;
}

/** A name safe in keys, paths and URLs: other characters become `_`. */
export function safeName(s: string): string {
  const t = s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/\.{2,}/g, '_').replace(/^\./, '_');
  return t || 'scene';
}

/** The short hash of what determines an output (order of models does not matter). */
export function outputHash(input: Omit<OutputKeyInput, 'collection'>): string {
  const models = input.models.map((m) => `${m.id}@${m.version}${m.weights ? `#${m.weights}` : ''}`).sort();
  const w = input.window ? [input.window.x, input.window.y, input.window.width, input.window.height] : null;
  const text = JSON.stringify({ scene: input.sceneId, version: input.version ?? null, models, window: w });
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** The store keys of an output. */
export function outputKey(input: OutputKeyInput): OutputKey {
  const hash = outputHash(input);
  const stem = `${safeName(input.sceneId)}_sr`;
  const outputId = `${stem}-${hash}`;
  const collection = safeName(input.collection);
  const prefix = `${collection}/${outputId}`;
  return {
    collection,
    hash,
    outputId,
    stem,
    prefix,
    cog: `${prefix}/${stem}.tif`,
    item: `${prefix}/${stem}.json`,
    thumbnail: `${prefix}/${stem}.png`,
    thumbnailBicubic: `${prefix}/${stem}_bicubic.png`,
  };
}
