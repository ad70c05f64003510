/**
 * A local output folder: keys are paths under the root, writes go to a temporary file in the target's
 * folder, are flushed to disk and renamed over the target, so a reader sees a whole file or none, and
 * an acknowledged output survives a crash. Hrefs are absolute file paths.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { OutputStore } from './store.js';
import { StoreError, checkKey } from './keys.js';

/** Flushes a file's data to disk. */
async function fsyncPath(path: string, flags = 'r'): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a folder's entries (the rename) to disk where the platform allows it. */
async function fsyncDir(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch {
    /* some file systems refuse fsync on folders; the rename is still atomic */
  }
}

/** An output store in a local folder. */
export class LocalStore implements OutputStore {
  /** Absolute path of the folder. */
  readonly root: string;
  readonly name: string;

  /** A store rooted at `root` (made absolute; created on first write). */
  constructor(root: string) {
    if (typeof root !== 'string' || root.length === 0) throw new StoreError('local store', 'the folder path is empty');
    this.root = resolve(root);
    this.name = `file:${this.root}`;
  }

  /** The absolute path of a key (checked to stay inside the root). */
  path(key: string): string {
    checkKey(key, this.name);
    const p = join(this.root, ...key.split('/'));
    if (!isAbsolute(p) || !(p === this.root || p.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep))) {
      throw new StoreError(this.name, `key "${key}" leaves the store's folder`);
    }
    return p;
  }

  /** Whether a regular file exists at the key. */
  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.path(key))).isFile();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
      throw e;
    }
  }

  /** Writes through a temporary sibling file, flushed and renamed over the target. */
  private async atomically(key: string, write: (tmp: string) => Promise<void>): Promise<string> {
    const target = this.path(key);
    const dir = dirname(target);
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw new StoreError(this.name, `cannot create folder ${dir}: ${(e as Error).message}`);
    }
    const tmp = join(dir, `.${key.split('/').pop()}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await write(tmp);
      await fsyncPath(tmp, 'r+');
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new StoreError(this.name, `cannot write ${target}: ${(e as Error).message}`);
    }
    await fsyncDir(dir);
    return target;
  }

  /** Copies a local file to the key atomically; returns its absolute path. */
  async putFile(key: string, localPath: string, _contentType: string): Promise<string> {
    const src = resolve(localPath);
    if (src === this.path(key)) {
      await fsyncPath(src, 'r+');
      return src;
    }
    return this.atomically(key, (tmp) => copyFile(src, tmp));
  }

  /** Writes bytes to the key atomically; returns its absolute path. */
  async putBytes(key: string, bytes: Uint8Array, _contentType: string): Promise<string> {
    return this.atomically(key, async (tmp) => {
      const fh = await open(tmp, 'wx');
      try {
        await fh.writeFile(bytes);
      } finally {
        await fh.close();
      }
    });
  }

  /** Reads the whole file at the key, or null when there is none. */
  async getBytes(key: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw new StoreError(this.name, `cannot read ${this.path(key)}: ${(e as Error).message}`);
    }
  }

  /** The absolute file path of the key. */
  href(key: string): string {
    return this.path(key);
  }
}
