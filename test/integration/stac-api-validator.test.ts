/**
 * stac-api-validator (the STAC community's conformance checker) against the embedded STAC API:
 * core, collections, features, item search, filter, sort, fields, query and transactions, with
 * pagination. The official JSON Schemas come from the offline copy (test/helpers/stac-api-validator-offline.py).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/data.js';
import { startTestApi, syntheticItem, testCollection, type TestApi } from '../helpers/stac-api-fixtures.js';

const PYTHON = join(REPO_ROOT, '.venv/bin/python');
const WRAPPER = join(REPO_ROOT, 'test/helpers/stac-api-validator-offline.py');
const missing = existsSync(join(REPO_ROOT, '.venv/bin/stac-api-validator')) ? null : 'stac-api-validator (.venv, scripts/setup-test-env.sh)';
if (missing && process.env.CI === 'true') throw new Error(`${missing} is missing`);

describe.skipIf(missing !== null)('stac-api-validator against the embedded STAC API', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ apiKey: 'validator-key' });
    api.catalogue.upsertCollection(testCollection('sentinel-2-sr'));
    api.catalogue.upsertCollection(testCollection('transactions'));
    for (let i = 0; i < 30; i++) {
      const dt = new Date(Date.UTC(2021, 3, 1 + i, 10, 30)).toISOString();
      api.catalogue.upsertItem(
        syntheticItem(`s${String(i).padStart(2, '0')}`, 'sentinel-2-sr', -170 + i * 11, -60 + i * 4, dt, {
          'eo:cloud_cover': i * 3,
          mission: i % 2 ? 'sentinel-2' : 'landsat-8',
          // The validator tests "in" with set(value): one-character values keep that check meaningful.
          quality: 'ABC'[i % 3],
        }),
      );
    }
  });
  afterAll(async () => {
    await api?.close();
  });

  it('reports no errors', async () => {
    const args = [
      WRAPPER,
      '--root-url', `${api.url}/`,
      '--collection', 'sentinel-2-sr',
      '--geometry', JSON.stringify({ type: 'Point', coordinates: [-169.5, -59.5] }),
      ...['core', 'collections', 'features', 'item-search', 'filter', 'item-search#sort', 'item-search#fields', 'item-search#query', 'features#sort', 'features#fields', 'features#query', 'transaction'].flatMap((c) => ['--conformance', c]),
      '--transaction-collection', 'transactions',
      '-H', 'X-API-Key: validator-key',
      '--fields-nested-property', 'properties.eo:cloud_cover',
      '--query-comparison-field', 'eo:cloud_cover',
      '--query-eq-value', '3', '--query-neq-value', '3', '--query-lt-value', '30', '--query-lte-value', '30', '--query-gt-value', '30', '--query-gte-value', '30',
      '--query-substring-field', 'mission', '--query-starts-with-value', 'sent', '--query-ends-with-value', '-2', '--query-contains-value', 'inel',
      '--query-in-field', 'quality', '--query-in-values', 'A,B',
      '--validate-pagination',
    ];
    let out: string;
    try {
      const r = await promisify(execFile)(PYTHON, args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024, timeout: 240_000 });
      out = `${r.stdout}\n${r.stderr}`;
    } catch (e) {
      const x = e as { stdout?: string; stderr?: string; message: string };
      throw new Error(`stac-api-validator failed: ${x.message}\n${x.stdout ?? ''}\n${(x.stderr ?? '').split('\n').filter((l) => !l.startsWith('INFO')).join('\n')}`);
    }
    const report = out.split('\n').filter((l) => !l.startsWith('INFO')).join('\n');
    expect(report, report).toMatch(/Errors: none/);
    expect(report).not.toMatch(/Failed\./);
    // It really ran the transaction steps: the item it created and deleted is gone, the other items are there.
    expect(api.catalogue.getItem('transactions', 'S2A_47XNF_20230423_0_L2A')).toBeNull();
    expect(api.catalogue.countItems('sentinel-2-sr')).toBe(30);
  }, 300_000);
});
