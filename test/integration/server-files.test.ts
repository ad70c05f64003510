/**
 * A local output folder over HTTP: items whose assets are files in the folder are answered with
 * /files/ URLs (by item, items and search), the files come back whole or by range, and nothing outside
 * the folder or of another kind (the catalogue database) is served.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileUrl } from '../../server/files.js';
import { startTestApi, syntheticItem, testCollection, type TestApi } from '../helpers/stac-api-fixtures.js';

describe('output files served under /files/', () => {
  let api: TestApi;
  let out: string;
  let outside: string;
  const cog = randomBytes(20_000);
  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'sharpstream-files-'));
    outside = mkdtempSync(join(tmpdir(), 'sharpstream-outside-'));
    const dir = join(out, 'c1', 'scene a_sr-1234');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'scene a_sr.tif'), cog);
    writeFileSync(join(dir, 'scene a_sr.png'), Buffer.from('png bytes'));
    writeFileSync(join(out, 'catalogue.sqlite'), 'not for the web');
    writeFileSync(join(outside, 'secret.json'), '{"secret": true}');
    symlinkSync(join(outside, 'secret.json'), join(out, 'c1', 'leak.json'));
    api = await startTestApi({ filesRoot: out, apiKey: 'k' });
    api.catalogue.upsertCollection(testCollection('c1') as never);
    const item = syntheticItem('a', 'c1', 10, 45, '2024-05-01T00:00:00Z');
    item.assets = {
      data: { href: join(dir, 'scene a_sr.tif'), type: 'image/tiff; application=geotiff; profile=cloud-optimized', roles: ['data'] },
      thumbnail: { href: `file://${join(dir, 'scene a_sr.png')}`, type: 'image/png', roles: ['thumbnail'] },
      elsewhere: { href: join(outside, 'secret.json'), type: 'application/json', roles: ['metadata'] },
      remote: { href: 'https://example.org/x.tif', type: 'image/tiff', roles: ['data'] },
    };
    api.catalogue.upsertItem(item as never);
  });
  afterAll(async () => {
    await api?.close();
    rmSync(out, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('answers local assets inside the folder with /files/ URLs, in an item, the items and a search', async () => {
    const want = `${api.url}/files/c1/scene%20a_sr-1234/scene%20a_sr.tif`;
    const item = (await (await fetch(`${api.url}/collections/c1/items/a`)).json()) as { assets: Record<string, { href: string }> };
    expect(item.assets.data.href).toBe(want);
    expect(item.assets.thumbnail.href).toBe(`${api.url}/files/c1/scene%20a_sr-1234/scene%20a_sr.png`);
    expect(item.assets.elsewhere.href).toBe(join(outside, 'secret.json'));
    expect(item.assets.remote.href).toBe('https://example.org/x.tif');
    for (const url of [`${api.url}/search?ids=a`, `${api.url}/collections/c1/items`]) {
      const page = (await (await fetch(url)).json()) as { features: { assets: Record<string, { href: string }> }[] };
      expect(page.features[0].assets.data.href).toBe(want);
    }
  });

  it('serves a file whole and by byte range, with its media type', async () => {
    const url = `${api.url}/files/c1/scene%20a_sr-1234/scene%20a_sr.tif`;
    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toMatch(/^image\/tiff/);
    expect(Buffer.from(await whole.arrayBuffer()).equals(cog)).toBe(true);
    const part = await fetch(url, { headers: { Range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${cog.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(cog.subarray(100, 200))).toBe(true);
    expect((await fetch(url, { headers: { Range: `bytes=${cog.length + 5}-` } })).status).toBe(416);
  });

  it('serves nothing outside the folder or of another kind', async () => {
    for (const path of ['catalogue.sqlite', 'c1/leak.json', '..%2F' + encodeURIComponent(outside.split('/').pop()!) + '%2Fsecret.json', 'c1/missing.tif', '']) {
      const r = await fetch(`${api.url}/files/${path}`);
      expect(r.status, path).toBe(404);
      expect(((await r.json()) as { code: string }).code).toBeTruthy();
    }
  });

  it('maps only absolute paths of served kinds inside the root', () => {
    expect(fileUrl('/data/out/c/x.tif', '/data/out', 'http://h')).toBe('http://h/files/c/x.tif');
    expect(fileUrl('/data/out2/x.tif', '/data/out', 'http://h')).toBeNull();
    expect(fileUrl('/data/out/catalogue.sqlite', '/data/out', 'http://h')).toBeNull();
    expect(fileUrl('c/x.tif', '/data/out', 'http://h')).toBeNull();
  });
});
