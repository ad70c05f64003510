/**
 * STAC 1.1 items for super-resolved outputs: footprint geometry in WGS84, acquisition properties from
 * the source, links to the source item, the COG asset with per-band eo/raster metadata, projection,
 * processing (software, models and their metrics) and file (size, checksum) extensions.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { footprintWgs84, ringBbox } from '../raster/crs.js';
import { windowExtent, type Grid } from '../raster/grid.js';
import type { DataType } from '../raster/types.js';
import type { BandSpec, SatelliteSpec } from '../satellites/spec.js';
import type { SceneMetadata } from '../scene/types.js';

/** Extension schema URLs written by sharpstream. */
export const STAC_EXTENSIONS = {
  eo: 'https://stac-extensions.github.io/eo/v2.0.0/schema.json',
  raster: 'https://stac-extensions.github.io/raster/v2.0.0/schema.json',
  projection: 'https://stac-extensions.github.io/projection/v2.0.0/schema.json',
  processing: 'https://stac-extensions.github.io/processing/v1.2.0/schema.json',
  file: 'https://stac-extensions.github.io/file/v2.1.0/schema.json',
} as const;

/** A STAC item as plain JSON. */
export type StacItem = Record<string, unknown> & { id: string; type: 'Feature'; properties: Record<string, unknown>; assets: Record<string, Record<string, unknown>> };

/** One band of the output COG. */
export interface OutputBand {
  readonly spec: BandSpec;
  /** True for bands produced by a model, false for bands copied unchanged. */
  readonly sharpened: boolean;
  /** Model that produced it. */
  readonly model?: string;
}

/** What went into an output, for its item. */
export interface OutputItemInput {
  readonly id: string;
  readonly collection?: string;
  readonly satellite: SatelliteSpec;
  readonly metadata: SceneMetadata;
  readonly sourceUri: string;
  readonly grid: Grid;
  readonly dataType: DataType;
  readonly nodata: number | null;
  readonly bands: readonly OutputBand[];
  /** Path of the COG and the href to write for it (relative to the item by default). */
  readonly cogPath: string;
  readonly cogHref?: string;
  readonly thumbnailHref?: string;
  readonly models: readonly { id: string; version: string; runtime?: string; metrics?: Readonly<Record<string, unknown>> }[];
  readonly softwareVersion: string;
  /** Processing time (default now). */
  readonly processed?: Date;
}

/** SHA2-256 multihash (as file:checksum wants it) of a file, streamed. */
export async function fileMultihash(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `1220${h.digest('hex')}`;
}

/** Builds the STAC item of a super-resolved output. */
export async function outputItem(input: OutputItemInput): Promise<StacItem> {
  const g = input.grid;
  const ext = windowExtent(g.transform, { x: 0, y: 0, width: g.width, height: g.height });
  const ring = footprintWgs84(g.crs, ext);
  const [size, checksum] = await Promise.all([stat(input.cogPath).then((s) => s.size), fileMultihash(input.cogPath)]);
  const src = input.metadata.stacItem as { id?: string; links?: { rel?: string; href?: string }[]; properties?: Record<string, unknown> } | undefined;
  const srcSelf = src?.links?.find((l) => l.rel === 'self')?.href;
  const datetime = input.metadata.datetime ?? (src?.properties?.datetime as string | undefined) ?? null;
  const processed = (input.processed ?? new Date()).toISOString();
  const res = Math.abs(g.transform.dx);
  const properties: Record<string, unknown> = {
    datetime,
    ...(datetime === null ? { start_datetime: processed, end_datetime: processed } : {}),
    created: processed,
    constellation: input.satellite.constellation,
    ...(input.metadata.platform ? { platform: input.metadata.platform.toLowerCase() } : {}),
    instruments: [...input.satellite.instruments],
    gsd: res,
    ...(input.metadata.cloudCover !== undefined ? { 'eo:cloud_cover': input.metadata.cloudCover } : {}),
    'proj:code': g.crs.epsg !== null ? `EPSG:${g.crs.epsg}` : null,
    'proj:shape': [g.height, g.width],
    'proj:transform': [g.transform.dx, 0, g.transform.x0, 0, g.transform.dy, g.transform.y0],
    'proj:bbox': [ext.minX, ext.minY, ext.maxX, ext.maxY],
    'processing:level': `${input.satellite.processingLevel}-SR`,
    'processing:lineage': `Coarse bands of ${input.satellite.id} super-resolved to ${res} m by ${input.models.map((m) => m.id).join(', ')}`,
    'processing:software': { sharpstream: input.softwareVersion },
    'processing:datetime': processed,
    'sharpstream:models': input.models.map((m) => ({ id: m.id, version: m.version, ...(m.runtime ? { runtime: m.runtime } : {}), ...(m.metrics ? { metrics: m.metrics } : {}) })),
    'sharpstream:satellite': input.satellite.id,
    ...(input.metadata.processingBaseline ? { 's2:processing_baseline': input.metadata.processingBaseline } : {}),
  };
  const r = input.satellite.radiometry;
  const bands = input.bands.map((b) => ({
    name: b.spec.id,
    description: `${b.spec.description ?? b.spec.id}${b.sharpened ? ` (super-resolved from ${b.spec.resolution} m to ${res} m)` : ''}`,
    ...(b.spec.commonName ? { 'eo:common_name': b.spec.commonName } : {}),
    ...(b.spec.centerWavelength ? { 'eo:center_wavelength': b.spec.centerWavelength } : {}),
    ...(b.spec.fullWidthHalfMax ? { 'eo:full_width_half_max': b.spec.fullWidthHalfMax } : {}),
    ...(input.nodata !== null ? { nodata: input.nodata } : {}),
    data_type: input.dataType,
    'raster:spatial_resolution': res,
    'raster:scale': r.scale,
    'raster:offset': r.offset,
  }));
  const links: Record<string, unknown>[] = [];
  if (srcSelf) {
    links.push({ rel: 'derived_from', href: srcSelf, type: 'application/geo+json', title: `Source item ${src?.id ?? ''}`.trim() });
    links.push({ rel: 'via', href: srcSelf, type: 'application/geo+json' });
  } else if (/^https?:\/\//.test(input.sourceUri)) {
    links.push({ rel: 'derived_from', href: input.sourceUri, title: 'Source scene' });
  }
  return {
    type: 'Feature',
    stac_version: '1.1.0',
    stac_extensions: Object.values(STAC_EXTENSIONS),
    id: input.id,
    ...(input.collection ? { collection: input.collection } : {}),
    geometry: { type: 'Polygon', coordinates: [ring] },
    bbox: ringBbox(ring),
    properties,
    links,
    assets: {
      data: {
        href: input.cogHref ?? `./${basename(input.cogPath)}`,
        type: 'image/tiff; application=geotiff; profile=cloud-optimized',
        title: `${input.satellite.title}, super-resolved to ${res} m`,
        roles: ['data'],
        bands,
        'file:size': size,
        'file:checksum': checksum,
      },
      ...(input.thumbnailHref ? { thumbnail: { href: input.thumbnailHref, type: input.thumbnailHref.endsWith('.jpg') ? 'image/jpeg' : 'image/png', roles: ['thumbnail'], title: 'Quicklook' } } : {}),
    },
  };
}
