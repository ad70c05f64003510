/** The static catalogue as pystac (in .venv-pgstac) reads it: links resolve from the root down and back up. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPublisher } from '../../connectors/publishers/index.js';
import { PGSTAC_VENV_PYTHON } from '../helpers/pgstac.js';
import { fixtureCollection, fixtureItem } from '../unit/publish-fixtures.js';

const run = promisify(execFile);

describe.skipIf(!existsSync(PGSTAC_VENV_PYTHON) && !process.env.CI)('static catalogue read by pystac', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'publish-static-it-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('walks catalog -> collections -> items and back through relative links', async () => {
    const pub = openPublisher(`static:${dir}`);
    for (const cid of ['sentinel-2-l1c-sr', 'landsat-c2-l2-sr']) {
      await pub.upsertCollection(fixtureCollection(cid));
      await pub.upsertItem(fixtureItem(`${cid}-a`, cid, [10, 45, 11, 46], '2024-05-01T10:00:00Z'));
      await pub.upsertItem(fixtureItem(`${cid}-b`, cid, [11, 45, 12, 47], '2024-05-03T10:00:00Z'));
    }
    await pub.close();
    const code = `
import json, sys
import pystac
cat = pystac.Catalog.from_file(sys.argv[1])
out = {}
for col in cat.get_children():
    items = sorted(col.get_items(), key=lambda i: i.id)
    out[col.id] = {
        "items": [i.id for i in items],
        "parents": sorted({i.get_parent().id for i in items}),
        "roots": sorted({i.get_root().id for i in items}),
        "bbox": col.extent.spatial.bboxes[0],
    }
print(json.dumps(out, sort_keys=True))
`;
    const { stdout } = await run(PGSTAC_VENV_PYTHON, ['-c', code, join(dir, 'catalog.json')], { timeout: 60_000 });
    const got = JSON.parse(stdout) as Record<string, { items: string[]; parents: string[]; roots: string[]; bbox: number[] }>;
    expect(Object.keys(got).sort()).toEqual(['landsat-c2-l2-sr', 'sentinel-2-l1c-sr']);
    for (const [cid, v] of Object.entries(got)) {
      expect(v).toEqual({ items: [`${cid}-a`, `${cid}-b`], parents: [cid], roots: ['sharpstream'], bbox: [10, 45, 12, 47] });
    }
  });
});
