/**
 * Embedded STAC API benchmark: item search latency (p50, p99, requests/s) under concurrent requests
 * (autocannon, 10 connections) over 100,000 items spread over two years and the whole globe, for
 * bbox + datetime queries, GET and POST; search latency in the catalogue alone (no HTTP); and insert
 * rates: the fixture loaded in one transaction, and items published one transaction each (as the
 * stream publishes them). Items have the size and fields of real output items (outputItem).
 * The server runs in a child process so that autocannon does not share its event loop.
 * Wall times are reported with the CPU time of the fixture load, since the machine may be shared.
 * BENCH_QUICK=1: 20,000 items and 3 s per scenario (default 100,000 and 10 s).
 * Run alone: `node --import tsx bench/stac-search.bench.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Catalogue } from '../stac/catalogue/catalogue.js';
import type { StacItem } from '../stac/item.js';

const THIS_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(THIS_FILE), '..');
const QUICK = process.env.BENCH_QUICK === '1';
const N = Number(process.env.BENCH_STAC_ITEMS ?? (QUICK ? 20_000 : 100_000));
const SECONDS = QUICK ? 3 : 10;
const CONNECTIONS = 10;
const COLLECTION = 'sentinel-2-l1c-sr';
const T0 = Date.UTC(2022, 0, 1);
const SPAN = 2 * 365 * 86_400_000;
const DAY = 86_400_000;

/** Minimal typing of the autocannon API used here. */
interface Histogram {
  p50: number;
  p90: number;
  p99: number;
  average: number;
  max: number;
}
interface AutocannonResult {
  latency: Histogram;
  requests: Histogram & { total: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** A deterministic pseudo-random generator (so every run searches the same data). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A template with the properties and assets of a real output item (about the same JSON size). */
function template(): StacItem {
  const bands = ['B02', 'B03', 'B04', 'B08', 'B05', 'B06', 'B07', 'B8A', 'B11', 'B12', 'B01', 'B09'].map((b, i) => ({
    name: b,
    description: `Band ${b}${i > 3 ? ' (super-resolved to 10 m)' : ''}`,
    'eo:center_wavelength': 0.44 + i * 0.1,
    'eo:full_width_half_max': 0.03,
    nodata: 0,
    data_type: 'uint16',
    'raster:spatial_resolution': 10,
    'raster:scale': 0.0001,
    'raster:offset': -0.1,
  }));
  return {
    type: 'Feature',
    stac_version: '1.1.0',
    stac_extensions: ['https://stac-extensions.github.io/eo/v2.0.0/schema.json', 'https://stac-extensions.github.io/raster/v2.0.0/schema.json', 'https://stac-extensions.github.io/projection/v2.0.0/schema.json', 'https://stac-extensions.github.io/processing/v1.2.0/schema.json', 'https://stac-extensions.github.io/file/v2.1.0/schema.json'],
    id: 'template',
    collection: COLLECTION,
    geometry: null,
    properties: {
      datetime: null,
      created: '2024-05-01T00:00:00.000Z',
      constellation: 'sentinel-2',
      platform: 'sentinel-2a',
      instruments: ['msi'],
      gsd: 10,
      'eo:cloud_cover': 0,
      'proj:code': 'EPSG:32633',
      'proj:shape': [10980, 10980],
      'proj:transform': [10, 0, 300000, 0, -10, 5000040],
      'processing:level': 'L1C-SR',
      'processing:software': { sharpstream: '0.1.0' },
      'sharpstream:models': [{ id: 's2-l1c-20m', version: '1.0.0', runtime: 'onnx' }, { id: 's2-l1c-60m', version: '1.0.0', runtime: 'onnx' }],
    },
    links: [{ rel: 'derived_from', href: 'https://earth-search.aws.element84.com/v1/collections/sentinel-2-l1c/items/x', type: 'application/geo+json' }],
    assets: {
      data: { href: 'https://example.org/x_sr.tif', type: 'image/tiff; application=geotiff; profile=cloud-optimized', roles: ['data'], bands, 'file:size': 123456789, 'file:checksum': `1220${'ab'.repeat(32)}` },
      thumbnail: { href: 'https://example.org/x_sr.png', type: 'image/png', roles: ['thumbnail'] },
    },
  } as StacItem;
}

/** Item i of the fixture: a ~1° footprint somewhere on the globe at some time in two years. */
function fixtureItem(base: StacItem, i: number, r: () => number): StacItem {
  const lon = -180 + r() * 359;
  const lat = -80 + r() * 159;
  const w = 0.9 + r() * 0.3;
  const x1 = Math.min(180, lon + w);
  const y1 = Math.min(90, lat + 0.9);
  const dt = new Date(T0 + Math.floor(r() * SPAN)).toISOString();
  return {
    ...base,
    id: `S2X_${String(i).padStart(7, '0')}_SR`,
    geometry: { type: 'Polygon', coordinates: [[[lon, lat], [x1, lat + 0.05], [x1, y1], [lon, y1 - 0.05], [lon, lat]]] },
    bbox: [lon, lat, x1, y1],
    properties: { ...base.properties, datetime: dt, 'eo:cloud_cover': Math.round(r() * 1000) / 10 },
  } as StacItem;
}

/** A random bbox + datetime query: `box` degrees wide, `days` long. */
function query(r: () => number, box: number, days: number): { bbox: number[]; datetime: string } {
  const w = -180 + r() * (360 - box);
  const s = -80 + r() * (160 - Math.min(box, 150));
  const t = T0 + r() * (SPAN - days * DAY);
  return { bbox: [w, s, w + box, Math.min(90, s + box)].map((v) => Math.round(v * 1000) / 1000), datetime: `${new Date(t).toISOString()}/${new Date(t + days * DAY).toISOString()}` };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function round(x: number, d = 3): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

/** Starts the API in a child process on the catalogue file; resolves to its URL. */
function startServer(db: string): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', THIS_FILE, '--serve', db], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /^(http:\/\/\S+)$/m.exec(out);
      if (m) done({ url: m[1], child });
    });
    child.on('exit', (code) => fail(new Error(`server exited with ${code}`)));
  });
}

/** Runs the benchmark and returns its figures. */
export default async function benchStacSearch(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'sharpstream-stac-bench-'));
  const db = join(dir, 'catalogue.sqlite');
  let server: ChildProcess | undefined;
  try {
    const cat = Catalogue.open(db);
    cat.upsertCollection({
      type: 'Collection', stac_version: '1.1.0', id: COLLECTION, description: 'benchmark', license: 'CC-BY-4.0', links: [],
      extent: { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[new Date(T0).toISOString(), new Date(T0 + SPAN).toISOString()]] } },
    });
    const base = template();
    const r = rng(42);
    const tGen = performance.now();
    const items = Array.from({ length: N }, (_, i) => fixtureItem(base, i, r));
    const genSeconds = (performance.now() - tGen) / 1000;
    const itemBytes = Buffer.byteLength(JSON.stringify(items[0]));

    // Fixture load: one transaction.
    const tBulk = performance.now();
    const cpuBulk = process.cpuUsage();
    cat.bulkUpsertItems(items);
    const bulkSeconds = (performance.now() - tBulk) / 1000;
    const bulkCpu = process.cpuUsage(cpuBulk);

    // Publishing: one transaction per item (new items, then replacing existing ones).
    const singles = QUICK ? 1000 : 5000;
    const extra = Array.from({ length: singles }, (_, i) => fixtureItem(base, N + i, r));
    const tOne = performance.now();
    for (const it of extra) cat.upsertItem(it);
    const oneSeconds = (performance.now() - tOne) / 1000;
    const tRep = performance.now();
    for (const it of extra) cat.upsertItem(it);
    const repSeconds = (performance.now() - tRep) / 1000;
    for (const it of extra) cat.deleteItem(COLLECTION, it.id);

    // Search in the catalogue alone (no HTTP), sequential.
    const scenarios = [
      { name: 'bbox10deg_30days', box: 10, days: 30 },
      { name: 'bbox60deg_180days', box: 60, days: 180 },
    ];
    const direct: Record<string, unknown> = {};
    for (const s of scenarios) {
      const qr = rng(7);
      const times: number[] = [];
      let returned = 0;
      for (let k = 0; k < (QUICK ? 200 : 1000); k++) {
        const q = query(qr, s.box, s.days);
        const t = performance.now();
        const page = cat.search({ collections: [COLLECTION], bbox: q.bbox as [number, number, number, number], datetime: { start: Date.parse(q.datetime.split('/')[0]), end: Date.parse(q.datetime.split('/')[1]) }, limit: 10 });
        times.push(performance.now() - t);
        returned += page.items.length;
      }
      times.sort((a, b) => a - b);
      direct[s.name] = { p50Ms: round(percentile(times, 50)), p99Ms: round(percentile(times, 99)), meanItemsReturned: round(returned / times.length, 2) };
    }
    cat.close();
    const dbBytes = statSync(db).size;

    // HTTP under concurrency.
    const started = await startServer(db);
    server = started.child;
    const http: Record<string, unknown> = {};
    for (const s of scenarios) {
      for (const method of ['GET', 'POST'] as const) {
        const qr = rng(11);
        const result = await autocannon({
          url: started.url,
          connections: CONNECTIONS,
          duration: SECONDS,
          requests: [
            {
              setupRequest: (req: Record<string, unknown>) => {
                const q = query(qr, s.box, s.days);
                if (method === 'GET') return { ...req, method: 'GET', path: `/search?collections=${COLLECTION}&bbox=${q.bbox.join(',')}&datetime=${encodeURIComponent(q.datetime)}&limit=10` };
                return { ...req, method: 'POST', path: '/search', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ collections: [COLLECTION], bbox: q.bbox, datetime: q.datetime, limit: 10 }) };
              },
            },
          ],
        });
        http[`${s.name}_${method}`] = {
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          meanMs: round(result.latency.average),
          requestsPerSecond: round(result.requests.average, 1),
          requests: result.requests.total,
          non2xx: result.non2xx,
          errors: result.errors,
        };
      }
    }
    return {
      items: N,
      itemJsonBytes: itemBytes,
      databaseMB: round(dbBytes / 2 ** 20, 1),
      fixtureGenerationSeconds: round(genSeconds, 2),
      insertOneTransactionItemsPerSecond: Math.round(N / bulkSeconds),
      insertOneTransactionSeconds: round(bulkSeconds, 2),
      insertOneTransactionCpuSeconds: round((bulkCpu.user + bulkCpu.system) / 1e6, 2),
      publishNewItemsPerSecond: Math.round(singles / oneSeconds),
      publishReplaceItemsPerSecond: Math.round(singles / repSeconds),
      searchInProcess: direct,
      searchHttp: { connections: CONNECTIONS, secondsPerScenario: SECONDS, ...http },
    };
  } finally {
    if (server && server.exitCode === null) {
      const s = server;
      await new Promise<void>((done) => {
        s.once('exit', () => done());
        s.kill('SIGTERM');
      });
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

async function serve(db: string): Promise<void> {
  const { buildServer } = await import('../server/app.js');
  const catalogue = Catalogue.open(db);
  const app = await buildServer({ catalogue });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  process.stdout.write(`${typeof addr === 'object' && addr ? `http://127.0.0.1:${addr.port}` : ''}\n`);
  process.once('SIGTERM', () => {
    void app.close().then(() => {
      catalogue.close();
      process.exit(0);
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === THIS_FILE) {
  if (process.argv[2] === '--serve') await serve(process.argv[3]);
  else console.log(JSON.stringify(await benchStacSearch(), null, 2));
}
