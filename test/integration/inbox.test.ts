/** The inbox folder source: stable entries delivered once, moved to done/ or failed/ (with a note), partial names ignored, nothing redelivered after a restart. */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, lastValueFrom, take, tap, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { dropEvent, ignoredInboxName, inboxSource } from '../../connectors/inbox.js';
import type { Delivery } from '../../pipeline/types.js';

describe('inbox', () => {
  it('ignores temporary and bookkeeping names', () => {
    for (const n of ['.hidden', 'x.tmp', 'scene.zip.part', 'a.partial', 'b.crdownload', 'done', 'failed', '~lock', 'x.json.error.txt']) expect(ignoredInboxName(n), n).toBe(true);
    for (const n of ['S2A_MSIL1C.SAFE', 'scene.zip', 'event.json', 'LC08_L1TP.tar.gz']) expect(ignoredInboxName(n), n).toBe(false);
  });

  it('delivers each stable entry once (--once), moves it to done/ or failed/ with a note, and finds nothing after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inbox-'));
    mkdirSync(join(dir, 'sceneA'));
    writeFileSync(join(dir, 'sceneA', 'B02.tif'), 'x');
    symlinkSync(join(dir, 'sceneA'), join(dir, 'linked.SAFE'));
    await dropEvent(dir, 'evt', { href: '/data/S2B_MSIL1C_X.zip', models: ['bicubic'] });
    writeFileSync(join(dir, 'bad.json'), '{ not json');
    writeFileSync(join(dir, 'upload.zip.part'), 'partial');
    const source = inboxSource({ dir, once: true, stableMs: 100, pollMs: 50 });
    const got = await lastValueFrom(
      source.deliveries().pipe(
        tap((d: Delivery) => void (d.value.id === 'linked' ? d.nack(new Error('cannot read B05')) : d.ack())),
        toArray(),
      ),
    );
    expect(got.map((d) => d.value.id).sort()).toEqual(['S2B_MSIL1C_X', 'linked', 'sceneA']);
    const evt = got.find((d) => d.value.id === 'S2B_MSIL1C_X')!.value;
    expect(evt).toMatchObject({ href: '/data/S2B_MSIL1C_X.zip', models: ['bicubic'] });
    expect(got.find((d) => d.value.id === 'sceneA')!.value.href).toBe(join(dir, 'sceneA'));
    expect(readdirSync(join(dir, 'done')).sort()).toEqual(['evt.json', 'sceneA']);
    expect(readdirSync(join(dir, 'failed')).sort()).toEqual(['bad.json', 'bad.json.error.txt', 'linked.SAFE', 'linked.SAFE.error.txt']);
    expect(readFileSync(join(dir, 'failed', 'linked.SAFE.error.txt'), 'utf8')).toMatch(/linked\.SAFE: Error: cannot read B05/);
    expect(readFileSync(join(dir, 'failed', 'bad.json.error.txt'), 'utf8')).toMatch(/not a valid scene event: scene event is not valid JSON/);
    expect(readdirSync(dir).sort()).toEqual(['done', 'failed', 'upload.zip.part']);
    // A restart finds nothing left to do.
    const again = await lastValueFrom(inboxSource({ dir, once: true, stableMs: 100, pollMs: 50 }).deliveries().pipe(toArray()));
    expect(again).toEqual([]);
  });

  it('waits until a dropped file stops changing before delivering it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inbox-'));
    const source = inboxSource({ dir, stableMs: 1500, pollMs: 50 });
    const deliveries: Delivery[] = [];
    const first = firstValueFrom(source.deliveries().pipe(take(1), tap((d) => deliveries.push(d))));
    const file = join(dir, 'growing.zip');
    for (let i = 0; i < 8; i++) {
      appendFileSync(file, Buffer.alloc(1000, i));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(deliveries).toEqual([]); // still being written
    const d = await first;
    expect(d.value).toMatchObject({ id: 'growing', href: file, version: expect.stringMatching(/^8000-/) });
    await d.ack();
    expect(existsSync(join(dir, 'done', 'growing.zip'))).toBe(true);
    await source.close();
  });
});
