/**
 * Publishes a static STAC catalogue into a folder, self-contained with relative links:
 *
 *   <dir>/catalog.json                               root catalog, one child link per collection
 *   <dir>/<collection>/collection.json               links to root, parent and each item
 *   <dir>/<collection>/items/<item id>.json          links to root, parent and collection
 *
 * Every file is written atomically (temporary file, flush, rename) and rewritten whole, so publishing
 * the same item again gives the same tree. The links are derived from the files present, so the
 * catalogue stays consistent across runs. Asset hrefs are kept as the items carry them (the output
 * store's absolute paths or URLs). Writes of one publisher are serialised; two processes should not
 * publish into the same folder at once.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { mergeCollectionExtent, widenExtent } from '../../stac/collection.js';
import type { StacItem } from '../../stac/item.js';
import { LocalStore } from '../storage/local.js';
import { checkKey } from '../storage/keys.js';
import type { Publisher, StacCollection } from './publisher.js';

/** Options of the static publisher. */
export interface StaticPublisherOptions {
  /** Root catalog id (default `sharpstream`). */
  readonly id?: string;
  readonly title?: string;
  readonly description?: string;
}

const LINK_RELS = new Set(['self', 'root', 'parent', 'child', 'item', 'collection']);

/** A document's own links without the structural ones this publisher writes. */
function foreignLinks(doc: Record<string, unknown>): Record<string, unknown>[] {
  const links = Array.isArray(doc.links) ? (doc.links as Record<string, unknown>[]) : [];
  return links.filter((l) => !LINK_RELS.has(String(l.rel)));
}

function json(doc: unknown): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(doc, null, 2)}\n`);
}

/** A publisher that maintains a static STAC catalogue in a folder. */
export class StaticPublisher implements Publisher {
  readonly name: string;
  readonly dir: string;
  private readonly files: LocalStore;
  private chain: Promise<unknown> = Promise.resolve();

  /** A static catalogue rooted at `dir` (created on first write). */
  constructor(
    dir: string,
    private readonly options: StaticPublisherOptions = {},
  ) {
    this.files = new LocalStore(dir);
    this.dir = this.files.root;
    this.name = `static:${this.dir}`;
  }

  /** Runs writes one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async readJson(key: string): Promise<Record<string, unknown> | null> {
    const bytes = await this.files.getBytes(key);
    if (!bytes) return null;
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${this.name}: ${this.files.href(key)} is not valid JSON: ${(e as Error).message}`);
    }
  }

  private async list(dir: string, keep: (name: string) => Promise<boolean> | boolean): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, dir));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: string[] = [];
    for (const n of names.sort()) if (!n.startsWith('.') && (await keep(n))) out.push(n);
    return out;
  }

  private async writeCatalog(): Promise<void> {
    const existing = await this.readJson('catalog.json');
    const collections = await this.list('', async (n) => !n.endsWith('.json') && (await this.files.exists(`${n}/collection.json`)));
    const catalog = {
      type: 'Catalog',
      stac_version: '1.1.0',
      id: this.options.id ?? (typeof existing?.id === 'string' ? existing.id : 'sharpstream'),
      title: this.options.title ?? (typeof existing?.title === 'string' ? existing.title : 'sharpstream outputs'),
      description: this.options.description ?? (typeof existing?.description === 'string' ? existing.description : 'Super-resolved satellite imagery published by sharpstream.'),
      links: [
        { rel: 'root', href: './catalog.json', type: 'application/json' },
        ...collections.map((c) => ({ rel: 'child', href: `./${c}/collection.json`, type: 'application/json' })),
        ...(existing ? foreignLinks(existing) : []),
      ],
    };
    await this.files.putBytes('catalog.json', json(catalog), 'application/json');
  }

  private async writeCollection(collection: StacCollection): Promise<void> {
    checkKey(`${collection.id}/collection.json`, this.name);
    const items = await this.list(`${collection.id}/items`, (n) => n.endsWith('.json'));
    const doc: StacCollection = {
      ...collection,
      links: [
        { rel: 'root', href: '../catalog.json', type: 'application/json' },
        { rel: 'parent', href: '../catalog.json', type: 'application/json' },
        ...items.map((n) => ({ rel: 'item', href: `./items/${n}`, type: 'application/geo+json' })),
        ...foreignLinks(collection),
      ],
    };
    await this.files.putBytes(`${collection.id}/collection.json`, json(doc), 'application/json');
  }

  /** Creates or replaces the collection (extent: union with the stored one) and lists it in catalog.json. */
  async upsertCollection(collection: StacCollection): Promise<void> {
    await this.serial(async () => {
      const stored = await this.readJson(`${collection.id}/collection.json`);
      await this.writeCollection(mergeCollectionExtent(collection, stored));
      await this.writeCatalog();
    });
  }

  /** Writes the item with relative links, then its collection (item link, widened extent). */
  async upsertItem(item: StacItem): Promise<void> {
    const cid = item.collection;
    if (typeof cid !== 'string' || cid.length === 0) throw new Error(`${this.name}: item ${item.id} has no collection`);
    await this.serial(async () => {
      const collection = await this.readJson(`${cid}/collection.json`);
      if (!collection) throw new Error(`${this.name}: collection ${cid} does not exist (upsertCollection first)`);
      const key = checkKey(`${cid}/items/${item.id}.json`, `${this.name}: item ${item.id}`);
      const doc: StacItem = {
        ...item,
        links: [
          { rel: 'root', href: '../../catalog.json', type: 'application/json' },
          { rel: 'parent', href: '../collection.json', type: 'application/json' },
          { rel: 'collection', href: '../collection.json', type: 'application/json' },
          ...foreignLinks(item),
        ],
      };
      await this.files.putBytes(key, json(doc), 'application/geo+json');
      await this.writeCollection(widenExtent(collection as StacCollection, item));
    });
  }

  /** Waits for pending writes. */
  async close(): Promise<void> {
    await this.chain;
  }
}
