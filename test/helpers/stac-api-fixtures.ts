/**
 * Fixtures for the embedded STAC API tests: valid collections, synthetic items spread over the globe,
 * real output items made by `outputItem`, and a server started on a free port with a temp SQLite file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer, type ServerOptions } from '../../server/app.js';
import { Catalogue } from '../../stac/catalogue/catalogue.js';
import { outputItem, type StacItem } from '../../stac/item.js';
import { satellites } from '../../satellites/registry.js';

/** The eo extension (v2.0.0) declared by synthetic items for eo:cloud_cover. */
export const EO_V2 = 'https://stac-extensions.github.io/eo/v2.0.0/schema.json';

/** A valid STAC 1.1.0 collection covering the globe. */
export function testCollection(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> & { id: string; type: 'Collection' } {
  return {
    type: 'Collection',
    stac_version: '1.1.0',
    id,
    title: `Test collection ${id}`,
    description: `Synthetic items for the embedded STAC API tests (${id})`,
    license: 'CC-BY-4.0',
    links: [],
    extent: { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [['2020-01-01T00:00:00Z', null]] } },
    ...extra,
  };
}

/** A valid synthetic item: a 1°×1° square with its south-west corner at (lon, lat). */
export function syntheticItem(id: string, collection: string, lon: number, lat: number, datetime: string, properties: Record<string, unknown> = {}): StacItem {
  const x1 = Math.min(180, lon + 1);
  const y1 = Math.min(90, lat + 1);
  return {
    type: 'Feature',
    stac_version: '1.1.0',
    stac_extensions: [EO_V2],
    id,
    collection,
    geometry: { type: 'Polygon', coordinates: [[[lon, lat], [x1, lat], [x1, y1], [lon, y1], [lon, lat]]] },
    bbox: [lon, lat, x1, y1],
    properties: { datetime, 'eo:cloud_cover': 0, platform: 'sentinel-2a', mission: 'sentinel-2', ...properties },
    links: [],
    assets: { data: { href: `https://example.org/${collection}/${id}.tif`, type: 'image/tiff; application=geotiff; profile=cloud-optimized', roles: ['data'] } },
  };
}

/**
 * A real output item as `predictScene` writes it (outputItem with the sentinel-2-l1c satellite), for a
 * 1000 x 1000 grid of 0.0001° (about 11 km) in EPSG:4326 at (lon, lat). `dir` receives the stand-in COG.
 */
export async function realOutputItem(dir: string, id: string, collection: string, lon: number, lat: number, datetime: string): Promise<StacItem> {
  const sat = satellites().get('sentinel-2-l1c');
  const cogPath = join(dir, `${id}_sr.tif`);
  writeFileSync(cogPath, Buffer.from(`stand-in COG for ${id}`));
  const bands = sat.bands.filter((b) => b.id !== 'B10').map((b) => ({ spec: b, sharpened: b.resolution > 10, ...(b.resolution > 10 ? { model: 's2-l1c-20m' } : {}) }));
  const item = await outputItem({
    id,
    collection,
    satellite: sat,
    metadata: { datetime, platform: 'Sentinel-2A', cloudCover: 12.5 },
    sourceUri: `https://example.org/scenes/${id}`,
    grid: { width: 1000, height: 1000, transform: { x0: lon, y0: lat + 0.1, dx: 0.0001, dy: -0.0001 }, crs: { epsg: 4326 } },
    dataType: 'uint16',
    nodata: 0,
    bands,
    cogPath,
    cogHref: `https://example.org/outputs/${collection}/${id}/${id}_sr.tif`,
    models: [{ id: 's2-l1c-20m', version: '1.0.0', runtime: 'onnx' }],
    softwareVersion: '0.1.0',
    processed: new Date('2024-05-01T00:00:00Z'),
  });
  return item;
}

/** A running API for tests. */
export interface TestApi {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly catalogue: Catalogue;
  readonly dir: string;
  close(): Promise<void>;
}

/** Starts buildServer on 127.0.0.1 at a free port with a fresh SQLite catalogue in a temp folder. */
export async function startTestApi(options: Partial<Omit<ServerOptions, 'catalogue'>> = {}): Promise<TestApi> {
  const dir = mkdtempSync(join(tmpdir(), 'sharpstream-stac-api-'));
  const catalogue = Catalogue.open(join(dir, 'catalogue.sqlite'));
  let app: FastifyInstance;
  try {
    app = await buildServer({ catalogue, dataDir: join(dir, 'data'), ...options });
    await app.listen({ port: 0, host: '127.0.0.1' });
  } catch (e) {
    catalogue.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    catalogue,
    dir,
    async close() {
      await app.close();
      catalogue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
