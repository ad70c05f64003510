/**
 * toStacItem: makes the output's STAC item (eo, raster, projection, processing, file extensions) and,
 * when asked, its two quicklooks: `thumbnail` (the super-resolved bands) and `thumbnail-bicubic` (the
 * same bands and stretch, upsampled bicubically), written next to the COG.
 */
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { OperatorFunction } from 'rxjs';
import { previewPair } from '../cog/preview.js';
import { windowTransform } from '../raster/grid.js';
import { outputItem, type StacItem } from '../stac/item.js';
import { packageVersion } from '../pipeline/version.js';
import { stageOperator, type StageOptions } from './job.js';
import type { CogJob } from './write-cog.js';

/** Local files of an output, all in the COG's folder. */
export interface OutputFiles {
  readonly cog: string;
  readonly item: string;
  readonly thumbnail?: string;
  readonly thumbnailBicubic?: string;
}

/** A job with its item written next to the COG. */
export interface ItemJob extends CogJob {
  readonly item: StacItem;
  readonly files: OutputFiles;
}

/** How an output is named and where its files will be read from. */
export interface OutputNaming {
  readonly itemId: string;
  readonly collection?: string;
  /** Href written in the item for one of its files (default `./<file name>`, relative to the item). */
  readonly href?: (fileName: string) => string;
  /** Absolute href of the item itself, written as its self link. */
  readonly selfHref?: string;
  /** Href of the collection document, written as the collection and parent links. */
  readonly collectionHref?: string;
}

/** Options of toStacItem. */
export interface ToStacItemOptions {
  /** Naming of each job's output (default: item `<scene id>_sr`, relative hrefs). */
  readonly naming?: (job: CogJob) => OutputNaming;
  /** Write the thumbnail pair (default false); a number sets its longest side (default 512). */
  readonly previews?: boolean | number;
}

/** The toStacItem stage: previews (optional), then the item, written as `<scene id>_sr.json`. */
export async function toStacItemStage(job: CogJob, options: ToStacItemOptions = {}): Promise<ItemJob> {
  job.onProgress?.({ id: job.event.id, stage: 'toStacItem' });
  const { scene, roi, outputBands, dataType, nodata, models } = job.plan;
  const naming = options.naming?.(job) ?? { itemId: `${scene.id}_sr` };
  const href = naming.href ?? ((f: string) => `./${f}`);
  const dir = dirname(job.cogPath);
  const base = basename(job.cogPath).replace(/\.tif$/, '');
  let files: OutputFiles = { cog: job.cogPath, item: join(dir, `${base}.json`) };
  if (options.previews) {
    const thumbnail = join(dir, `${base}.png`);
    const thumbnailBicubic = join(dir, `${base}_bicubic.png`);
    await previewPair({
      scene,
      roi,
      cogPath: job.cogPath,
      cogBands: outputBands.map((b) => b.spec.id),
      sharpened: outputBands.filter((b) => b.sharpened).map((b) => b.spec.id),
      out: thumbnail,
      outBicubic: thumbnailBicubic,
      ...(typeof options.previews === 'number' ? { size: options.previews } : {}),
    });
    files = { ...files, thumbnail, thumbnailBicubic };
  }
  const item = await outputItem({
    id: naming.itemId,
    ...(naming.collection ? { collection: naming.collection } : {}),
    satellite: scene.satellite,
    metadata: scene.metadata,
    sourceUri: scene.uri,
    grid: { ...scene.grid, width: roi.width, height: roi.height, transform: windowTransform(scene.grid.transform, roi) },
    dataType,
    nodata,
    bands: outputBands,
    cogPath: job.cogPath,
    cogHref: href(basename(job.cogPath)),
    ...(files.thumbnail ? { thumbnailHref: href(basename(files.thumbnail)) } : {}),
    models: models.map((m) => ({
      id: m.manifest.id,
      version: m.manifest.version,
      ...(m.manifest.weights.sha256 ? { weights: m.manifest.weights.sha256 } : {}),
      runtime: job.runtime,
      ...(m.manifest.metrics ? { metrics: m.manifest.metrics } : {}),
    })),
    softwareVersion: packageVersion(),
  });
  if (files.thumbnail && files.thumbnailBicubic) {
    item.assets.thumbnail = { href: href(basename(files.thumbnail)), type: 'image/png', roles: ['thumbnail'], title: 'Quicklook, super-resolved' };
    item.assets['thumbnail-bicubic'] = {
      href: href(basename(files.thumbnailBicubic)),
      type: 'image/png',
      roles: ['overview'],
      title: 'Quicklook of the same bands and stretch, bicubic upsampling (for comparison)',
    };
  }
  const links = item.links as Record<string, unknown>[];
  if (naming.selfHref) links.push({ rel: 'self', href: naming.selfHref, type: 'application/geo+json' });
  if (naming.collectionHref) {
    links.push({ rel: 'collection', href: naming.collectionHref, type: 'application/json' });
    links.push({ rel: 'parent', href: naming.collectionHref, type: 'application/json' });
  }
  await writeFile(files.item, `${JSON.stringify(item, null, 2)}\n`);
  return { ...job, item, files };
}

/** Operator: writes each job's STAC item and quicklooks (stage `toStacItem`). */
export function toStacItem(options: ToStacItemOptions & StageOptions<CogJob, ItemJob> = {}): OperatorFunction<CogJob, ItemJob> {
  return stageOperator('toStacItem', (job) => toStacItemStage(job, options), options);
}
