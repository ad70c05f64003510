/**
 * The results page in a real headless Chromium: the map with the output's footprint, the output list,
 * the before/after swipe with both quicklooks loaded and a draggable split, training progress, and
 * no console errors. The quicklooks are real PNGs served by a separate HTTP server (as an S3 or HTTP
 * output store would serve them).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobStore } from '../../jobs/store.js';
import { TRAIN_KIND } from '../../jobs/training.js';
import { buildServer } from '../../server/app.js';
import { prefersHtml, webPage } from '../../server/web/plugin.js';
import { Catalogue } from '../../stac/catalogue/catalogue.js';
import { collectProblems, launchBrowser, missingBrowser, type PageProblems } from '../helpers/browser.js';
import { startStaticServer, type StaticServer } from '../helpers/http-server.js';

const skip = missingBrowser();

/** What the tests read of an image element and of a styled element (the test compiles without DOM types). */
type Img = { complete: boolean; naturalWidth: number; naturalHeight: number };
type Styled = { style: { clipPath: string } };
const COLLECTION = 'sentinel-2-l2a-sr';
const ITEM_ID = 'S2A_T33TTG_20240612_sr';
/** An older output without quicklooks: on the second page (one output per page, newest first). */
const OLDER_ID = 'S2B_T33TTG_20240501_sr';

/** A 96x64 RGB quicklook: a smooth ramp (bicubic-like) or the same ramp with sharp stripes. */
async function quicklookPng(path: string, sharpDetail: boolean): Promise<void> {
  const w = 96;
  const h = 64;
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const base = Math.round((x / (w - 1)) * 180) + 30;
      const v = sharpDetail && (x >> 2) % 2 === 0 ? Math.min(255, base + 50) : base;
      const i = (y * w + x) * 3;
      data[i] = v;
      data[i + 1] = Math.round((y / (h - 1)) * 200);
      data[i + 2] = 255 - v;
    }
  }
  await sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path);
}

/** A published output item with both quicklook assets, at an absolute store URL. */
function outputItem(storeUrl: string): Record<string, unknown> {
  const [w, s, e, n] = [12.3, 41.8, 12.6, 42.0];
  return {
    type: 'Feature',
    stac_version: '1.1.0',
    id: ITEM_ID,
    collection: COLLECTION,
    bbox: [w, s, e, n],
    geometry: { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] },
    properties: { datetime: '2024-06-12T10:00:31Z', gsd: 10, constellation: 'sentinel-2' },
    links: [],
    assets: {
      data: { href: `${storeUrl}/${COLLECTION}/${ITEM_ID}/${ITEM_ID}.tif`, type: 'image/tiff; application=geotiff; profile=cloud-optimized', roles: ['data'] },
      thumbnail: { href: `${storeUrl}/${COLLECTION}/${ITEM_ID}/thumbnail.png`, type: 'image/png', roles: ['thumbnail'] },
      'thumbnail-bicubic': { href: `${storeUrl}/${COLLECTION}/${ITEM_ID}/thumbnail-bicubic.png`, type: 'image/png', roles: ['thumbnail'] },
    },
  };
}

/** A product collection holding the output. */
function collection(): Record<string, unknown> {
  return {
    type: 'Collection',
    stac_version: '1.1.0',
    id: COLLECTION,
    description: 'Sentinel-2 L2A super-resolved by sharpstream',
    license: 'proprietary',
    extent: { spatial: { bbox: [[12.3, 41.8, 12.6, 42.0]] }, temporal: { interval: [['2024-06-12T10:00:31Z', null]] } },
    links: [],
  };
}

/**
 * The server under test: the real server (buildServer) on a real catalogue file holding the published
 * output, and the DEEPaaS API with its jobs table in the same database.
 */
async function startServer(item: Record<string, unknown>, dataDir: string): Promise<{ app: FastifyInstance; url: string; jobs: JobStore }> {
  const catalogue = Catalogue.open(join(dataDir, 'catalogue.sqlite'));
  catalogue.upsertCollection(collection());
  catalogue.upsertItem(item);
  const older = structuredClone(item) as { id: string; properties: Record<string, unknown>; assets: Record<string, unknown> };
  older.id = OLDER_ID;
  older.properties.datetime = '2024-05-01T10:00:31Z';
  delete older.assets.thumbnail;
  delete older.assets['thumbnail-bicubic'];
  catalogue.upsertItem(older);
  // No job recovery: the test writes job rows itself, as a training worker would.
  const app = await buildServer({ catalogue, dataDir, page: { jobsPollMs: 700, pageSize: 1 }, deepaas: { recoverJobs: false, modelsDir: join(dataDir, 'models') } });
  app.addHook('onClose', async () => catalogue.close());
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, jobs: new JobStore(catalogue.db) };
}

describe.skipIf(skip !== null)(`results page in Chromium${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let store: StaticServer;
  let server: { app: FastifyInstance; url: string; jobs: JobStore };
  let browser: Browser;
  let page: Page;
  let problems: PageProblems;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sharpstream-web-'));
    const itemDir = join(dir, COLLECTION, ITEM_ID);
    await import('node:fs/promises').then((fs) => fs.mkdir(itemDir, { recursive: true }));
    await quicklookPng(join(itemDir, 'thumbnail.png'), true);
    await quicklookPng(join(itemDir, 'thumbnail-bicubic.png'), false);
    store = await startStaticServer(dir);
    server = await startServer(outputItem(store.url), join(dir, 'server'));
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    problems = collectProblems(page);
    await page.goto(`${server.url}/map`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads the map with the output footprint and lists the output', async () => {
    expect(await page.locator('#map.leaflet-container').count()).toBe(1);
    expect(await page.locator('#map path.leaflet-interactive').count()).toBeGreaterThanOrEqual(1);
    const button = page.locator(`#outputs-list button[data-item-id="${ITEM_ID}"]`);
    await expect.poll(() => button.count()).toBe(1);
    expect(await button.textContent()).toContain('2024-06-12');
    // The output's super-resolved quicklook lies on the map.
    const overlay = page.locator('#map img.leaflet-image-layer');
    await expect.poll(() => overlay.evaluateAll((imgs) => imgs.filter((i) => (i as unknown as Img).naturalWidth > 0).length)).toBeGreaterThanOrEqual(1);
  });

  it('shows a before/after swipe of both quicklooks whose split follows a drag', async () => {
    await page.locator(`#outputs-list button[data-item-id="${ITEM_ID}"]`).click();
    await page.waitForSelector('#compare:not([hidden])');
    const loaded = page.locator('#swipe img.swipe-img');
    await expect.poll(() => loaded.evaluateAll((imgs) => imgs.map((i) => ((i as unknown as Img).complete ? (i as unknown as Img).naturalWidth : 0)))).toEqual([96, 96]);
    const sizes = await loaded.evaluateAll((imgs) => imgs.map((i) => (i as unknown as Img).naturalHeight));
    expect(sizes).toEqual([64, 64]);
    expect(await page.locator('#swipe-before').getAttribute('src')).toContain('thumbnail-bicubic.png');
    expect(await page.locator('#swipe-after').getAttribute('src')).toMatch(/\/thumbnail\.png$/);

    const clip = () => page.locator('#swipe-after').evaluate((el) => (el as unknown as Styled).style.clipPath);
    expect(await clip()).toBe('inset(0px 0px 0px 50%)');
    const box = await page.locator('#swipe').boundingBox();
    expect(box).not.toBeNull();
    const y = box!.y + box!.height / 2;
    await page.mouse.move(box!.x + box!.width * 0.5, y);
    await page.mouse.down();
    await page.mouse.move(box!.x + box!.width * 0.65, y, { steps: 4 });
    await page.mouse.move(box!.x + box!.width * 0.8, y, { steps: 4 });
    await page.mouse.up();
    const after = await clip();
    const pct = Number(/inset\(0px 0px 0px ([0-9.]+)%\)/.exec(after)?.[1]);
    expect(pct).toBeGreaterThan(70);
    expect(pct).toBeLessThan(90);
    // The same split clips the super-resolved overlay on the map.
    const mapClip = await page.locator('#map img.sr-overlay-after').evaluate((el) => (el as unknown as Styled).style.clipPath);
    expect(mapClip).toBe(after);
    // The keyboard moves it too.
    await page.locator('#swipe-range').focus();
    await page.keyboard.press('Home');
    expect(await clip()).toBe('inset(0px 0px 0px 0%)');
  });

  it('shows training jobs, or says there are none, and follows a job\'s progress live', async () => {
    await expect.poll(() => page.locator('#jobs-status').textContent()).toMatch(/no training jobs yet/i);
    expect(await page.locator('#jobs-status').getAttribute('class')).not.toContain('error');
    // A job recorded in the jobs table (as the training worker records it) appears with its progress.
    const job = server.jobs.create(TRAIN_KIND, 'dsen2', { epochs: 10 });
    const started = new Date().toISOString();
    server.jobs.update(job.id, { status: 'running', started, progress: { epoch: 3, epochs: 10, step: 5, stepsPerEpoch: 10, loss: 0.031, epochLoss: 0.0234, etaSeconds: 125 } });
    const row = page.locator(`#jobs-list li[data-job-id="${job.id}"]`);
    await expect.poll(() => row.count(), { timeout: 10_000 }).toBe(1);
    expect(await row.getAttribute('data-status')).toBe('running');
    expect(await row.locator('[data-field="epoch"]').textContent()).toBe('3 / 10');
    expect(await row.locator('[data-field="loss"]').textContent()).toBe('0.02340');
    expect(await row.locator('[data-field="eta"]').textContent()).toBe('2 min 05 s');
    expect(await row.locator('progress').evaluate((el) => (el as unknown as { value: number }).value)).toBeCloseTo(0.25, 5);
    // The next poll shows the next epoch, then the end.
    server.jobs.update(job.id, { progress: { epoch: 4, epochs: 10, step: 10, stepsPerEpoch: 10, epochLoss: 0.0199, etaSeconds: 60 } });
    await expect.poll(() => row.locator('[data-field="epoch"]').textContent(), { timeout: 10_000 }).toBe('4 / 10');
    expect(await row.locator('progress').evaluate((el) => (el as unknown as { value: number }).value)).toBeCloseTo(0.4, 5);
    server.jobs.finish(job.id, 'done', { result: { model: 'dsen2-test' } });
    await expect.poll(() => row.getAttribute('data-status'), { timeout: 10_000 }).toBe('done');
    expect(await row.locator('[data-field="eta"]').count()).toBe(0);
    expect(await page.locator('#jobs-status').textContent()).toMatch(/1 training job, 0 running/);
  });

  it('renders a job progress description (the page module, in the browser)', async () => {
    // A string, so vitest does not rewrite the browser's dynamic import.
    const described = (await page.evaluate(`(async () => {
      const jobs = await import('/static/jobs.js');
      return {
        job: jobs.describeJob({ uuid: 'abc', status: 'running', progress: { epoch: 3, epochs: 10, step: 5, stepsPerEpoch: 10, epochLoss: 0.02, etaSeconds: 125 } }, 'dsen2'),
        eta: jobs.formatDuration(125),
      };
    })()`)) as { job: Record<string, unknown>; eta: string };
    expect(described.job).toMatchObject({ id: 'abc', status: 'running', epoch: 3, epochs: 10, loss: 0.02, etaSeconds: 125, fraction: 0.25 });
    expect(described.eta).toBe('2 min 05 s');
  });

  it('pages through the outputs and says when one has no before/after pair', async () => {
    const ids = () => page.locator('#outputs-list button').evaluateAll((bs) => bs.map((b) => (b as unknown as { dataset: { itemId: string } }).dataset.itemId));
    expect(await ids()).toEqual([ITEM_ID]);
    expect(await page.locator('#outputs-status').textContent()).toMatch(/^1 output\b/);
    expect(await page.locator('#prev-page').isDisabled()).toBe(true);
    await page.locator('#next-page').click();
    await expect.poll(ids).toEqual([OLDER_ID]);
    expect(await page.locator('#page-label').textContent()).toBe('Page 2');
    expect(await page.locator('#next-page').isDisabled()).toBe(true);
    await page.locator(`#outputs-list button[data-item-id="${OLDER_ID}"]`).click();
    await expect.poll(() => page.locator('#compare-status').textContent()).toMatch(/no before\/after pair.*no thumbnail-bicubic asset/i);
    expect(await page.locator('#map img.sr-overlay-after').count()).toBe(0);
    await page.locator('#prev-page').click();
    await expect.poll(ids).toEqual([ITEM_ID]);
  });

  it('says so when the jobs API fails, without breaking the page', async () => {
    // A second page whose DEEPaaS answers are replaced by a 503 (the outputs still come from the real server).
    const other = await browser.newPage({ viewport: { width: 1024, height: 768 } });
    const uncaught: string[] = [];
    other.on('pageerror', (e) => uncaught.push(e.message));
    await other.route('**/v2/models/', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ code: 'Unavailable', description: 'training is paused' }) }));
    try {
      await other.goto(`${server.url}/map`);
      await other.waitForSelector('body[data-ready="true"]');
      await expect.poll(() => other.locator('#jobs-status').textContent()).toMatch(/Training jobs unavailable: .*HTTP 503 training is paused/);
      expect(await other.locator('#jobs-status').getAttribute('class')).toContain('error');
      expect(await other.locator(`#outputs-list button[data-item-id="${ITEM_ID}"]`).count()).toBe(1);
      expect(uncaught).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('reported no console errors, uncaught exceptions or failed requests', () => {
    expect(problems.messages).toEqual([]);
  });
});

describe('results page routes', () => {
  it('negotiates the root of the real server: browsers get the page, JSON clients the STAC landing page', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sharpstream-web-routes-'));
    const catalogue = Catalogue.open(':memory:');
    const app = await buildServer({ catalogue, dataDir, deepaas: { recoverJobs: false } });
    try {
      const html = await app.inject({ url: '/', headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
      expect(html.statusCode).toBe(200);
      expect(html.headers['content-type']).toContain('text/html');
      expect(html.headers.vary).toContain('Accept');
      expect(html.body).toContain('<div id="map"');
      for (const accept of ['application/json', '*/*', undefined]) {
        const json = await app.inject({ url: '/', headers: accept ? { accept } : {} });
        expect(json.statusCode).toBe(200);
        expect(json.json()).toMatchObject({ type: 'Catalog', conformsTo: expect.any(Array) });
      }
      expect((await app.inject({ url: '/map' })).headers['content-type']).toContain('text/html');
      const leaflet = await app.inject({ url: '/static/leaflet/leaflet-src.esm.js' });
      expect(leaflet.statusCode).toBe(200);
      expect(leaflet.headers['content-type']).toContain('text/javascript');
      expect(leaflet.body).toContain('export {');
      expect((await app.inject({ url: '/static/leaflet/images/marker-icon.png' })).headers['content-type']).toBe('image/png');
      for (const bad of ['/static/../web/plugin.ts', '/static/%2e%2e/plugin.ts', '/static/leaflet/../../package.json', '/static/nope.js']) {
        const r = await app.inject({ url: bad });
        expect(r.statusCode, bad).toBe(404);
        expect(r.json(), bad).toMatchObject({ code: expect.any(String), description: expect.any(String) });
      }
      expect((await app.inject({ url: '/map/config.json' })).json()).toEqual({ tileUrl: null, tileAttribution: null, jobsPollMs: 5000, pageSize: 20 });
      // The page's routes are in the OpenAPI document; its static files are not.
      const paths = Object.keys((await app.inject({ url: '/openapi.json' })).json().paths as Record<string, unknown>);
      expect(paths).toEqual(expect.arrayContaining(['/map', '/map/config.json']));
      expect(paths.filter((p) => p.startsWith('/static'))).toEqual([]);
    } finally {
      await app.close();
      catalogue.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('prefers HTML only when the Accept header ranks it above JSON', () => {
    expect(prefersHtml(undefined)).toBe(false);
    expect(prefersHtml('*/*')).toBe(false);
    expect(prefersHtml('application/json')).toBe(false);
    expect(prefersHtml('application/geo+json, text/html;q=0.5')).toBe(false);
    expect(prefersHtml('text/html')).toBe(true);
    expect(prefersHtml('text/html;q=0.9, application/json;q=0.5')).toBe(true);
  });

  it('refuses a tile URL without {z}/{x}/{y}', async () => {
    const app = Fastify();
    await expect(app.register(webPage, { tileUrl: 'file:///tiles' }).ready()).rejects.toThrow(/tile URL file:\/\/\/tiles/);
    await app.close().catch(() => undefined);
  });
});
