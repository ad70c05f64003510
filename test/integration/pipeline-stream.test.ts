/**
 * The whole stream on real scenes: bus -> superResolveScenes -> output store + publisher + sink, with
 * the bicubic baseline and a tiny DSen2. COGs checked by GDAL and rio-cogeo, items by the STAC
 * schemas; idempotency (second delivery skipped, still acknowledged), error routing (a bad scene
 * fails alone and is nacked; the stream goes on), quicklook pairs.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../connectors/bus.js';
import type { Publisher, StacCollection } from '../../connectors/publishers/publisher.js';
import { LocalStore } from '../../connectors/storage/local.js';
import type { OutputStore } from '../../connectors/storage/store.js';
import { saveModel } from '../../model/package.js';
import { SessionPool } from '../../operators/super-resolve.js';
import { outputKey } from '../../pipeline/output-key.js';
import { superResolveScenes, type StreamDeps } from '../../pipeline/stream.js';
import type { OutcomeSink, SceneEvent, SceneOutcome } from '../../pipeline/types.js';
import { satellites } from '../../satellites/registry.js';
import type { StacItem } from '../../stac/item.js';
import { dataPath, missingData } from '../helpers/data.js';
import { gdalInfo, validateCogGdal, validateCogRio } from '../helpers/gdal.js';
import { tinyDsen2 } from '../helpers/models.js';
import { stacErrors } from '../helpers/stac-schemas.js';

const SCENE_A = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_36_85'];
const SCENE_B = ['bigearthnet-tiny-T29UPU', 'S2A_MSIL2A_20170617T113321_4_55'];
const missing = missingData(SCENE_A, SCENE_B);

/** A publisher that records what it was given. */
class RecordingPublisher implements Publisher {
  readonly name = 'recording';
  readonly collections: StacCollection[] = [];
  readonly items: StacItem[] = [];
  async upsertCollection(c: StacCollection): Promise<void> {
    this.collections.push(c);
  }
  async upsertItem(item: StacItem): Promise<void> {
    this.items.push(item);
  }
  async close(): Promise<void> {}
}

/** A sink that records outcomes, failing when told to. */
class RecordingSink implements OutcomeSink {
  readonly name = 'recording-sink';
  readonly outcomes: SceneOutcome[] = [];
  failNext = false;
  async emit(o: SceneOutcome): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('topic unavailable');
    }
    this.outcomes.push(o);
  }
  async close(): Promise<void> {}
}

/** An in-memory store (a fake, in addition to the real folder store). */
class MemoryStore implements OutputStore {
  readonly name = 'memory';
  readonly objects = new Map<string, Buffer>();
  async exists(key: string): Promise<boolean> {
    return this.objects.has(key);
  }
  async putFile(key: string, path: string): Promise<string> {
    this.objects.set(key, readFileSync(path));
    return this.href(key);
  }
  async putBytes(key: string, bytes: Uint8Array): Promise<string> {
    this.objects.set(key, Buffer.from(bytes));
    return this.href(key);
  }
  async getBytes(key: string): Promise<Uint8Array | null> {
    return this.objects.get(key) ?? null;
  }
  href(key: string): string {
    return `memory://${key}`;
  }
}

/** Runs events through a stream on a bus; returns outcomes and each publish() settlement. */
async function runEvents(deps: StreamDeps, events: SceneEvent[]): Promise<{ outcomes: SceneOutcome[]; settled: PromiseSettledResult<void>[] }> {
  const bus = createBus();
  const done = lastValueFrom(bus.deliveries().pipe(superResolveScenes(deps), toArray()));
  const settled = await Promise.allSettled(events.map((e) => bus.publish(e)));
  await bus.close();
  return { outcomes: await done, settled };
}

describe.skipIf(missing)('superResolveScenes', () => {
  const root = mkdtempSync(join(tmpdir(), 'stream-'));
  const store = new LocalStore(join(root, 'results'));
  const publisher = new RecordingPublisher();
  const sink = new RecordingSink();
  const pool = new SessionPool('onnx');
  const base = { store, publishers: [publisher], sinks: [sink], workDir: join(root, 'work'), sessions: pool, runtime: 'onnx' } satisfies StreamDeps;
  const eventA: SceneEvent = { id: 'S2A_MSIL2A_20170617T113321_36_85', href: dataPath(...SCENE_A), models: ['bicubic'] };
  let tinyDir: string;

  beforeAll(async () => {
    const s2a = satellites().get('sentinel-2-l2a');
    const tiny = tinyDsen2(s2a, '20m');
    tinyDir = join(root, 'tiny-20m');
    await saveModel(tinyDir, tiny.manifest, tiny.weights);
  });
  afterAll(async () => {
    await pool.close();
  });

  it('super-resolves a scene into a valid COG, quicklook pair and item in the store, publishes it, reports it and acks', async () => {
    const { outcomes, settled } = await runEvents(base, [eventA]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled']);
    expect(outcomes).toHaveLength(1);
    const o = outcomes[0];
    if (o.kind !== 'done') throw o.error;
    expect(o.skipped).toBe(false);
    const key = outputKey({ sceneId: eventA.id, models: o.item.properties['sharpstream:models'] as { id: string; version: string }[], collection: 'sentinel-2-l2a-sr' });
    expect(o.cogHref).toBe(store.path(key.cog));
    expect(o.itemHref).toBe(store.path(key.item));
    expect(o.item.id).toBe(key.outputId);
    expect(o.item.id).toMatch(/^S2A_MSIL2A_20170617T113321_36_85_sr-[0-9a-f]{8}$/);

    for (const check of [validateCogGdal, validateCogRio]) {
      const v = await check(o.cogHref);
      expect(v.valid, v.output).toBe(true);
    }
    const info = await gdalInfo(o.cogHref);
    expect(info.descriptions).toEqual(['B02', 'B03', 'B04', 'B08', 'B05', 'B06', 'B07', 'B8A', 'B11', 'B12', 'B01', 'B09']);
    expect(info.geoTransform).toEqual([643200, 10, 0, 5798040, 0, -10]);

    const stored = JSON.parse(readFileSync(o.itemHref, 'utf8')) as StacItem;
    expect(stored).toEqual(o.item);
    expect(stacErrors(stored)).toEqual([]);
    expect(stored.collection).toBe('sentinel-2-l2a-sr');
    expect(stored.assets.data.href).toBe(o.cogHref);
    expect(stored.assets.thumbnail).toMatchObject({ href: store.path(key.thumbnail), type: 'image/png', roles: ['thumbnail'] });
    expect(stored.assets['thumbnail-bicubic']).toMatchObject({ href: store.path(key.thumbnailBicubic), type: 'image/png', roles: ['overview'] });
    expect((stored.links as { rel: string; href: string }[]).find((l) => l.rel === 'self')?.href).toBe(o.itemHref);

    expect(publisher.items.map((i) => i.id)).toEqual([o.item.id]);
    expect(publisher.collections.at(-1)).toMatchObject({ id: 'sentinel-2-l2a-sr', type: 'Collection' });
    const bbox = (publisher.collections.at(-1)!.extent as { spatial: { bbox: number[][] } }).spatial.bbox[0];
    expect(bbox[0]).toBeLessThanOrEqual((o.item.bbox as number[])[0]);
    expect(sink.outcomes.map((x) => x.kind)).toEqual(['done']);

    // With the bicubic model, the super-resolved quicklook is the bicubic one: same bands, same stretch.
    const [sr, bic] = await Promise.all([stored.assets.thumbnail.href, stored.assets['thumbnail-bicubic'].href].map((p) => sharp(p as string).raw().toBuffer({ resolveWithObject: true })));
    expect(sr.info).toMatchObject({ width: 120, height: 120, channels: 4 });
    expect(bic.info).toMatchObject({ width: 120, height: 120, channels: 4 });
    let maxDiff = 0;
    for (let i = 0; i < sr.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(sr.data[i] - bic.data[i]));
    expect(maxDiff).toBeLessThanOrEqual(2);
  });

  it('skips a scene whose output exists (same input, version and models), still acknowledging it', async () => {
    const before = publisher.items.length;
    const { outcomes, settled } = await runEvents(base, [eventA]);
    expect(settled[0].status).toBe('fulfilled');
    expect(outcomes).toMatchObject([{ kind: 'done', skipped: true }]);
    expect(publisher.items.length).toBe(before);
    // A new version of the input is new work.
    const again = await runEvents({ ...base, previews: false }, [{ ...eventA, version: '2' }]);
    expect(again.outcomes).toMatchObject([{ kind: 'done', skipped: false }]);
    expect((again.outcomes[0] as { item: StacItem }).item.id).not.toBe((outcomes[0] as { item: StacItem }).item.id);
  });

  it('fails a bad scene alone (failed outcome naming the stage, nack) and goes on with the next', async () => {
    const bad: SceneEvent = { id: 'nowhere', href: join(root, 'no-such-scene'), models: ['bicubic'] };
    const good: SceneEvent = { id: 'S2A_MSIL2A_20170617T113321_4_55', href: dataPath(...SCENE_B), models: [tinyDir] };
    const { outcomes, settled } = await runEvents({ ...base, concurrency: 2 }, [bad, good]);
    expect(settled[0].status).toBe('rejected');
    expect(String((settled[0] as PromiseRejectedResult).reason)).toMatch(/no-such-scene: no such file or folder/);
    expect(settled[1].status).toBe('fulfilled');
    const failed = outcomes.find((x) => x.kind === 'failed');
    expect(failed).toMatchObject({ kind: 'failed', stage: 'read', event: { id: 'nowhere' } });
    const ok = outcomes.find((x) => x.kind === 'done');
    if (!ok || ok.kind !== 'done') throw new Error('no done outcome');
    expect((await validateCogGdal(ok.cogHref)).valid).toBe(true);
    expect((ok.item.properties['sharpstream:models'] as { id: string }[]).map((m) => m.id)).toEqual(['tiny-sentinel-2-l2a-20m']);
    // A network's quicklook differs from the bicubic one (the pair shows what the model changed).
    const [sr, bic] = await Promise.all([ok.item.assets.thumbnail.href, ok.item.assets['thumbnail-bicubic'].href].map((p) => sharp(p as string).raw().toBuffer()));
    expect(sr.equals(bic)).toBe(false);
    // The failed scene's work folder is gone, like the others.
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(join(root, 'work'))).toEqual([]);
  });

  it('nacks when a sink cannot record the outcome, with a failed outcome at stage "sink"', async () => {
    const memory = new MemoryStore();
    sink.failNext = true;
    const { outcomes, settled } = await runEvents({ ...base, store: memory, previews: false }, [{ ...eventA, version: 'sink-test' }]);
    expect(settled[0].status).toBe('rejected');
    expect(outcomes).toMatchObject([{ kind: 'failed', stage: 'sink', error: { message: 'outcome sink recording-sink: topic unavailable' } }]);
    // The outputs were stored before the sink failed; a redelivery finds them and skips the work.
    expect([...memory.objects.keys()].filter((k) => k.endsWith('_sr.json'))).toHaveLength(1);
    expect(memory.objects.has('sentinel-2-l2a-sr/collection.json')).toBe(true);
    const redo = await runEvents({ ...base, store: memory, previews: false }, [{ ...eventA, version: 'sink-test' }]);
    expect(redo.outcomes).toMatchObject([{ kind: 'done', skipped: true, itemHref: expect.stringMatching(/^memory:\/\/sentinel-2-l2a-sr\//) }]);
  });
});
