import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CataloguePublisher, StacApiPublisher, StaticPublisher, openPublisher } from '../../connectors/publishers/index.js';
import { Catalogue } from '../../stac/catalogue/catalogue.js';
import { stacErrors } from '../helpers/stac-schemas.js';
import { fixtureCollection, fixtureItem } from './publish-fixtures.js';

const CID = 'sentinel-2-l1c-sr';

describe('static catalogue publisher', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'publish-static-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const readJson = async (...p: string[]): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(dir, ...p), 'utf8')) as Record<string, unknown>;

  it('writes catalog.json -> collection.json -> items/<id>.json with relative links, schema-valid, and widens the extent', async () => {
    const pub = new StaticPublisher(dir);
    await pub.upsertCollection(fixtureCollection());
    await pub.upsertItem(fixtureItem('S2A_A', CID, [10, 45, 11, 46], '2024-05-01T10:00:00Z'));
    await pub.upsertItem(fixtureItem('S2B_B', CID, [12, 44, 13, 45], '2024-06-01T10:00:00Z'));
    await pub.close();

    const catalog = await readJson('catalog.json');
    const collection = await readJson(CID, 'collection.json');
    const item = await readJson(CID, 'items', 'S2A_A.json');
    for (const doc of [catalog, collection, item]) expect(stacErrors(doc), String(doc.id)).toEqual([]);
    expect(catalog.links).toEqual([
      { rel: 'root', href: './catalog.json', type: 'application/json' },
      { rel: 'child', href: `./${CID}/collection.json`, type: 'application/json' },
    ]);
    expect((collection.links as { rel: string; href: string }[]).filter((l) => l.rel === 'item').map((l) => l.href)).toEqual(['./items/S2A_A.json', './items/S2B_B.json']);
    expect(collection.extent).toEqual({ spatial: { bbox: [[10, 44, 13, 46]] }, temporal: { interval: [['2024-05-01T10:00:00Z', '2024-06-01T10:00:00Z']] } });
    const itemLinks = item.links as { rel: string; href: string }[];
    expect(itemLinks.filter((l) => ['root', 'parent', 'collection'].includes(l.rel)).map((l) => `${l.rel}:${l.href}`)).toEqual([
      'root:../../catalog.json',
      'parent:../collection.json',
      'collection:../collection.json',
    ]);
    expect(itemLinks.some((l) => l.rel === 'derived_from')).toBe(true);
    // every relative link resolves to a file in the tree: the catalogue is self-contained
    const check = async (file: string, links: { rel: string; href: string }[]) => {
      for (const l of links.filter((x) => x.href.startsWith('.'))) await expect(readFile(join(dir, file, '..', l.href))).resolves.toBeTruthy();
    };
    await check('catalog.json', catalog.links as never);
    await check(`${CID}/collection.json`, collection.links as never);
    await check(`${CID}/items/S2A_A.json`, itemLinks);
  });

  it('is idempotent: publishing the same item again, from a fresh publisher, gives the same files and no temporary leftovers', async () => {
    const before = await readFile(join(dir, CID, 'items', 'S2A_A.json'), 'utf8');
    const collBefore = await readJson(CID, 'collection.json');
    const pub = openPublisher(`static:${dir}`);
    expect(pub.name).toBe(`static:${dir}`);
    await pub.upsertCollection(fixtureCollection()); // a fresh run's collection has the placeholder extent
    await pub.upsertItem(fixtureItem('S2A_A', CID, [10, 45, 11, 46], '2024-05-01T10:00:00Z'));
    await pub.close();
    expect(await readFile(join(dir, CID, 'items', 'S2A_A.json'), 'utf8')).toBe(before);
    expect(await readJson(CID, 'collection.json')).toEqual(collBefore);
    expect((await readdir(join(dir, CID, 'items'))).sort()).toEqual(['S2A_A.json', 'S2B_B.json']);
    expect((await readdir(join(dir, CID))).sort()).toEqual(['collection.json', 'items']);
  });

  it('refuses items without their collection, or with ids that are not file names', async () => {
    const pub = new StaticPublisher(join(dir, 'other'));
    await expect(pub.upsertItem(fixtureItem('x', 'nope', [0, 0, 1, 1], '2024-01-01T00:00:00Z'))).rejects.toThrow(/collection nope does not exist/);
    await pub.upsertCollection(fixtureCollection('c1'));
    await expect(pub.upsertItem(fixtureItem('../evil', 'c1', [0, 0, 1, 1], '2024-01-01T00:00:00Z'))).rejects.toThrow(/item \.\.\/evil/);
  });
});

describe('embedded catalogue publisher', () => {
  it('upserts collection and items idempotently and keeps the extent covering the items', async () => {
    const cat = Catalogue.open(':memory:');
    const pub = openPublisher('embedded', { catalogue: cat });
    expect(pub).toBeInstanceOf(CataloguePublisher);
    await pub.upsertCollection(fixtureCollection());
    await pub.upsertItem(fixtureItem('A', CID, [10, 45, 11, 46], '2024-05-01T10:00:00Z'));
    await pub.upsertItem(fixtureItem('A', CID, [10, 45, 11, 46], '2024-05-01T10:00:00Z', 30));
    await pub.upsertItem(fixtureItem('B', CID, [-3, 40, -2, 41], '2023-01-01T00:00:00Z'));
    expect(cat.countItems(CID)).toBe(2);
    expect(cat.getItem(CID, 'A')?.properties['eo:cloud_cover']).toBe(30);
    expect(cat.getCollection(CID)?.extent).toEqual({ spatial: { bbox: [[-3, 40, 11, 46]] }, temporal: { interval: [['2023-01-01T00:00:00Z', '2024-05-01T10:00:00Z']] } });
    // a later run upserts its fresh collection: the stored extent is kept
    await pub.upsertCollection(fixtureCollection());
    expect(cat.getCollection(CID)?.extent).toEqual({ spatial: { bbox: [[-3, 40, 11, 46]] }, temporal: { interval: [['2023-01-01T00:00:00Z', '2024-05-01T10:00:00Z']] } });
    const page = cat.search({ collections: [CID], bbox: [9, 44, 12, 47] });
    expect(page.items.map((f) => f.id)).toEqual(['A']);
    await expect(pub.upsertItem(fixtureItem('C', 'missing', [0, 0, 1, 1], '2024-01-01T00:00:00Z'))).rejects.toThrow(/embedded catalogue: item C in missing: collection missing does not exist/);
    await expect(pub.upsertItem({ ...fixtureItem('D', CID, [0, 0, 1, 1], '2024-01-01T00:00:00Z'), geometry: { type: 'Polygon', coordinates: [] } })).rejects.toThrow(/embedded catalogue: item D/);
    expect(cat.getItem(CID, 'D')).toBeNull();
    await pub.close();
    cat.close();
  });
});

describe('openPublisher', () => {
  it('opens STAC APIs with API keys, static folders, and refuses what it does not understand', () => {
    const api = openPublisher('http://127.0.0.1:8082/', { apiKey: 'k' });
    expect(api).toBeInstanceOf(StacApiPublisher);
    expect(api.name).toBe('stac-api:http://127.0.0.1:8082');
    expect(openPublisher('file:///tmp/cat').name).toBe('static:/tmp/cat');
    expect(openPublisher('/tmp/cat2')).toBeInstanceOf(StaticPublisher);
    expect(() => openPublisher('embedded')).toThrow(/no embedded catalogue/);
    expect(() => openPublisher('kafka://x')).toThrow(/not understood/);
    expect(() => openPublisher('static:')).toThrow(/folder is missing/);
    expect(() => openPublisher(' ')).toThrow(/empty/);
  });
});
