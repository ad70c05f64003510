/**
 * DEEPaaS predict from `urls` does not let a client reach the server's own network (request forgery):
 * internal addresses, redirects into them and remote items whose assets point inward are refused
 * before anything is fetched from them, unless their host is allowed. And what the server keeps on
 * disk for a client, its prediction outputs, expires.
 */
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataPath, missingData } from '../helpers/data.js';
import { until } from '../helpers/wait.js';
import { startTestServer, type TestServer } from './deepaas-server.js';

const RIO = ['riotilerpds-s2l2a-29RKH-decimated10x'];
const missing = missingData(RIO);
type Json = Record<string, unknown>;

describe.skipIf(missing)(`DEEPaaS urls and the request-forgery policy${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sharpstream-urls-'));
  let server: TestServer;
  let internal: Server;
  let port = 0;
  const requests: string[] = [];
  const routes = new Map<string, { status: number; headers?: Record<string, string>; body?: string }>();

  beforeAll(async () => {
    // A server on loopback standing for something internal: it records every request it gets.
    internal = createServer((req, res) => {
      requests.push(req.url ?? '');
      const r = routes.get(req.url ?? '') ?? { status: 404 };
      res.writeHead(r.status, r.headers ?? {});
      res.end(r.body ?? '');
    });
    internal.listen(0, '127.0.0.1');
    await once(internal, 'listening');
    port = (internal.address() as AddressInfo).port;
    // "localhost" is allowed (a name), 127.0.0.1 is not: the name's requests reach the recorder,
    // and whatever it redirects to or links at 127.0.0.1 must not.
    server = await startTestServer(join(dir, 'server'), { deepaas: { allowUrlHosts: ['localhost'] } });
  });
  afterAll(async () => {
    await server?.close();
    internal?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const predict = async (urls: string): Promise<{ status: number; body: Json }> => {
    const r = await fetch(`${server.url}/v2/models/bicubic/predict/?urls=${encodeURIComponent(urls)}`, { method: 'POST' });
    return { status: r.status, body: (await r.json()) as Json };
  };

  it('refuses an internal address before fetching anything from it', async () => {
    requests.length = 0;
    routes.set('/scene.zip', { status: 200, body: 'PK' });
    const r = await predict(`http://127.0.0.1:${port}/scene.zip`);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(String(r.body.description)).toMatch(/refused: host 127\.0\.0\.1 is the internal address 127\.0\.0\.1/);
    const meta = await predict('http://169.254.169.254/latest/meta-data/scene.zip');
    expect(meta.status).toBe(400);
    expect(String(meta.body.description)).toMatch(/internal address 169\.254\.169\.254/);
    expect(requests).toEqual([]);
  });

  it('checks every redirect of an archive download', async () => {
    requests.length = 0;
    routes.set('/hop.zip', { status: 302, headers: { location: `http://127.0.0.1:${port}/scene.zip` } });
    const r = await predict(`http://localhost:${port}/hop.zip`);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(String(r.body.description)).toMatch(/127\.0\.0\.1:\d+\/scene\.zip: refused/);
    expect(requests).toEqual(['/hop.zip']);
  });

  it('refuses a remote item whose assets point at internal addresses or at local files', async () => {
    const item = JSON.parse(readFileSync(dataPath(...RIO, 'S2A_29RKH_20200219_0_L2A.json'), 'utf8')) as Json & { assets: Record<string, Json> };
    const inward = structuredClone(item);
    for (const asset of Object.values(inward.assets)) {
      const h = String(asset.href);
      if (h.startsWith('https://')) asset.href = `http://127.0.0.1:${port}/${h.slice(h.lastIndexOf('/') + 1)}`;
    }
    routes.set('/inward.json', { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(inward) });
    requests.length = 0;
    const r = await predict(`http://localhost:${port}/inward.json`);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(String(r.body.description)).toMatch(/refused: host 127\.0\.0\.1 is the internal address/);
    expect(requests).toEqual(['/inward.json']);

    const local = structuredClone(item);
    local.assets.blue = { ...local.assets.blue, href: `file://${dataPath(...RIO, 'B02.tif')}` };
    routes.set('/local.json', { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(local) });
    const l = await predict(`http://localhost:${port}/local.json`);
    expect(l.status, JSON.stringify(l.body)).toBe(400);
    expect(String(l.body.description)).toMatch(/asset "blue" \(band B02\) of a remote item points at a local file/);
  });

  it('checks every redirect of a STAC item and of its assets', async () => {
    requests.length = 0;
    routes.set('/item-hop.json', { status: 301, headers: { location: `http://127.0.0.1:${port}/inward.json` } });
    const r = await predict(`http://localhost:${port}/item-hop.json`);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(String(r.body.description)).toMatch(/127\.0\.0\.1:\d+\/inward\.json: refused/);
    expect(requests).toEqual(['/item-hop.json']);

    // An item whose assets are on an allowed host that redirects inward.
    const item = JSON.parse(readFileSync(dataPath(...RIO, 'S2A_29RKH_20200219_0_L2A.json'), 'utf8')) as Json & { assets: Record<string, Json> };
    for (const asset of Object.values(item.assets)) {
      const h = String(asset.href);
      if (h.startsWith('https://')) {
        const name = h.slice(h.lastIndexOf('/') + 1);
        asset.href = `http://localhost:${port}/hop/${name}`;
        routes.set(`/hop/${name}`, { status: 307, headers: { location: `http://127.0.0.1:${port}/${name}` } });
      }
    }
    routes.set('/hop-assets.json', { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(item) });
    requests.length = 0;
    const a = await predict(`http://localhost:${port}/hop-assets.json`);
    expect(a.status, JSON.stringify(a.body)).toBe(400);
    expect(String(a.body.description)).toMatch(/refused: host 127\.0\.0\.1 is the internal address/);
    expect(requests.filter((u) => !u.startsWith('/hop'))).toEqual([]);
  });

  it('keeps serving after the refusals', async () => {
    const r = await fetch(`${server.url}/v2/models/`);
    expect(r.status).toBe(200);
  });
});

describe('DEEPaaS prediction outputs expire', () => {
  it('deletes outputs older than the TTL when the server starts, and keeps fresh ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sharpstream-ttl-'));
    const outputs = join(dir, 'server', 'data', 'outputs');
    try {
      for (const [id, ageHours] of [['old', 5], ['fresh', 0]] as const) {
        mkdirSync(join(outputs, id), { recursive: true });
        writeFileSync(join(outputs, id, 'x_sr.tif'), 'x');
        const t = (Date.now() - ageHours * 3600_000) / 1000;
        utimesSync(join(outputs, id), t, t);
      }
      const s = await startTestServer(join(dir, 'server'), { deepaas: { outputTtlHours: 2, recoverJobs: false } });
      try {
        await until('the expired output to be deleted', () => !existsSync(join(outputs, 'old')), 5000);
        expect(existsSync(join(outputs, 'fresh', 'x_sr.tif'))).toBe(true);
        expect((await fetch(`${s.url}/outputs/old/x_sr.tif`)).status).toBe(404);
        expect((await fetch(`${s.url}/outputs/fresh/x_sr.tif`)).status).toBe(200);
      } finally {
        await s.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
