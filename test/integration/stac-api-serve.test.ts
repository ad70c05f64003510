/** `sharpstream serve`: starts the server on a catalogue file, prints URLs that answer, stops cleanly on SIGTERM. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/data.js';

const dir = mkdtempSync(join(tmpdir(), 'sharpstream-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sharpstream serve', () => {
  it('serves the catalogue named by $SHARPSTREAM_CATALOGUE and prints working URLs', async () => {
    const file = join(dir, 'sub', 'catalogue.sqlite');
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'cli/main.ts'), 'serve', '--port', '0', '--api-key', 'k'], {
      cwd: REPO_ROOT,
      env: { ...process.env, SHARPSTREAM_CATALOGUE: file, SHARPSTREAM_API_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    await new Promise<void>((done, fail) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (/OpenAPI\s+http/.test(out)) done();
      });
      child.on('exit', (code) => fail(new Error(`serve exited with ${code}: ${err}`)));
    });
    try {
      expect(out).toContain(file);
      const urls = [...out.matchAll(/^\s+(.+?)\s{2,}(http:\/\/\S+)$/gm)].map((m) => ({ name: m[1], url: m[2] }));
      const stac = urls.find((u) => u.name === 'STAC API')!;
      expect(stac.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      for (const u of urls) {
        const r = await fetch(u.url, { headers: { accept: 'application/json' } });
        expect(r.status, `${u.name} ${u.url}`).toBe(200);
      }
      const landing = (await (await fetch(stac.url, { headers: { accept: 'application/json' } })).json()) as { conformsTo: string[] };
      expect(landing.conformsTo).toContain('https://api.stacspec.org/v1.0.0/core');
      // The API key given on the command line guards writes.
      const denied = await fetch(`${stac.url}collections`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(denied.status).toBe(401);
      expect(existsSync(file)).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);
});
