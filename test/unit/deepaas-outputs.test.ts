/** Prediction outputs expire: old output folders go, fresh ones and anything else stay. */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sweepOutputs } from '../../server/deepaas/outputs.js';

describe('sweepOutputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sharpstream-outputs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('deletes output folders older than the limit and nothing else', async () => {
    const now = Date.now();
    const make = (name: string, ageHours: number, folder = true) => {
      const p = join(dir, name);
      if (folder) {
        mkdirSync(p);
        writeFileSync(join(p, 'scene_sr.tif'), 'x');
      } else writeFileSync(p, 'x');
      const t = (now - ageHours * 3600_000) / 1000;
      utimesSync(p, t, t);
    };
    make('old-1', 100);
    make('old-2', 73);
    make('fresh', 1);
    make('stray-file', 500, false);
    make('not.an.id', 500);
    const removed = await sweepOutputs(dir, 72 * 3600_000, now);
    expect(removed.sort()).toEqual(['old-1', 'old-2']);
    expect(readdirSync(dir).sort()).toEqual(['fresh', 'not.an.id', 'stray-file']);
    // A folder that is gone already, or a missing outputs folder, is not an error.
    expect(await sweepOutputs(join(dir, 'missing'), 1, now)).toEqual([]);
  });
});
