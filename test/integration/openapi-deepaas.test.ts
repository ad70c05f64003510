/**
 * schemathesis (property-based API testing) against the OpenAPI document of a live server, on the
 * DEEPaaS routes (/v2/..., /outputs/..., /docs): no generated request may get a 5xx, and every answer
 * must match the response schema the route declares. Runs without the API key, so training POST and
 * DELETE answer their documented 401 (fuzzing them with the key would start real training workers).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/data.js';
import { startTestServer, type TestServer } from './deepaas-server.js';

const ST = join(REPO_ROOT, '.venv', 'bin', 'st');
const skip = existsSync(ST) ? null : `${ST} is missing (schemathesis 4.32.5, installed by scripts/setup-test-env.sh)`;
if (skip && process.env.CI === 'true') throw new Error(skip);

describe.skipIf(skip !== null)('OpenAPI conformance of the DEEPaaS API (schemathesis)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sharpstream-openapi-'));
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dir, { apiKey: 'not-given-to-schemathesis', deepaas: { predictTimeoutSeconds: 30, modelsDir: join(dir, 'models') } });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds no server error and no answer that violates its schema', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v2/', '/v2/models/', '/v2/models/{name}/', '/v2/models/{name}/predict/', '/v2/models/{name}/train/', '/v2/models/{name}/train/{uuid}']));
    const args = [
      'run', `${server.url}/openapi.json`,
      '--checks', 'not_a_server_error,response_schema_conformance',
      '--include-path-regex', '^/(v2/|outputs/|docs)',
      '--max-examples', '20', '--seed', '1', '--workers', '1', '--request-timeout', '40',
      '--generation-database', 'none', '--no-color',
    ];
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(ST, args, { cwd: dir, timeout: 240_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
        const e = err as (Error & { code?: number }) | null;
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, output: `${stdout}${stderr}` });
      });
    });
    expect(code, output.slice(-6000)).toBe(0);
    expect(output).toMatch(/\d+ passed/);
    expect(output).not.toMatch(/Server error|Response violates schema/i);
    // The API still answers after the run.
    expect((await fetch(`${server.url}/v2/`)).status).toBe(200);
  });
});
