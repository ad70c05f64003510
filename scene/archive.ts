/**
 * Safe extraction of scene archives (zip, tar, tar.gz): entry names that escape the target folder,
 * links, too many entries and expansion bombs are refused with an error naming the archive and entry.
 *
 * Sizes are enforced on the bytes actually written while streaming, never on what headers claim, so a
 * bomb stops as soon as it crosses a limit. Corrupt or truncated archives end in a clear error.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import * as yauzl from 'yauzl';
import type { InputLimits } from './reader.js';
import { SceneError } from './types.js';

/** The archive kinds sharpstream extracts. */
export type ArchiveKind = 'zip' | 'tar' | 'tar.gz';

/** The archive kind of a path by its name, or null when it is not an archive. */
export function archiveKind(path: string): ArchiveKind | null {
  const p = path.toLowerCase();
  if (p.endsWith('.zip')) return 'zip';
  if (p.endsWith('.tar.gz') || p.endsWith('.tgz')) return 'tar.gz';
  if (p.endsWith('.tar')) return 'tar';
  return null;
}

/**
 * Below this many expanded bytes an entry is never refused for its compression ratio: small, very
 * regular files (blank masks, padded XML) legitimately compress far beyond any sane bomb ratio.
 */
const RATIO_FLOOR_BYTES = 1 << 20;

/** A limit or safety check failed; carries the archive and entry for the message. */
class Refusal extends Error {}

/** Checks an entry name and returns its safe relative path (forward slashes, no "./"), or throws why not. */
export function safeEntryPath(name: string): string {
  if (name.length === 0) throw new Refusal('empty entry name');
  if (name.includes('\0')) throw new Refusal('entry name contains a NUL byte');
  if (name.includes('\\')) throw new Refusal('entry name contains a backslash (Windows path tricks are refused)');
  if (/^[a-zA-Z]:/.test(name)) throw new Refusal('entry name starts with a drive letter');
  if (name.startsWith('/') || isAbsolute(name)) throw new Refusal('absolute entry path');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new Refusal('entry path has a ".." segment that could escape the extraction folder');
  if (parts.length === 0) throw new Refusal('entry name has no path');
  return parts.join('/');
}

/** Resolves an entry path inside dest, double-checking that it cannot escape. */
function targetPath(dest: string, rel: string): string {
  const target = resolve(dest, rel);
  const back = relative(dest, target);
  if (back === '' || back.startsWith('..') || isAbsolute(back) || !target.startsWith(dest + sep)) {
    throw new Refusal('entry path resolves outside the extraction folder');
  }
  return target;
}

/** Running totals shared by every entry of one extraction. */
interface Budget {
  readonly limits: InputLimits;
  entries: number;
  bytes: number;
}

/** Counts bytes as they pass and fails the stream the moment a limit is crossed. */
class LimitStream extends Transform {
  written = 0;
  constructor(
    private readonly budget: Budget,
    /** Compressed bytes of this entry (zip), or a function giving the compressed bytes consumed so far (gzip). */
    private readonly compressed: number | (() => number) | null,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.written += chunk.length;
    this.budget.bytes += chunk.length;
    const { maxExtractedBytes, maxCompressionRatio } = this.budget.limits;
    if (this.budget.bytes > maxExtractedBytes) {
      done(new Refusal(`expands past the limit of ${maxExtractedBytes} bytes in total (maxExtractedBytes)`));
      return;
    }
    if (this.compressed !== null && this.written > RATIO_FLOOR_BYTES) {
      const c = typeof this.compressed === 'number' ? this.compressed : this.compressed();
      if (this.written > maxCompressionRatio * Math.max(c, 1)) {
        done(
          new Refusal(
            `expands more than ${maxCompressionRatio} times its compressed size (${this.written} bytes from ${c}; maxCompressionRatio): refusing a likely zip bomb`,
          ),
        );
        return;
      }
    }
    done(null, chunk);
  }
}

/** Counts bytes read from the compressed file (for the gzip stream's ratio). */
class CountStream extends Transform {
  count = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.count += chunk.length;
    done(null, chunk);
  }
}

function countEntry(budget: Budget): void {
  budget.entries += 1;
  if (budget.entries > budget.limits.maxEntries) {
    throw new Refusal(`archive holds more than ${budget.limits.maxEntries} entries (maxEntries)`);
  }
}

/** The part of a tar-stream (streamx) entry stream that pump uses. */
interface EntryStream {
  pipe(dest: NodeJS.WritableStream): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
  destroy(e?: Error): void;
}

/**
 * Writes a tar entry to its target through the limiter. Piped by hand with a handler on every stream:
 * stream.pipeline does not settle when a streamx source is destroyed mid-read.
 */
function pump(entry: EntryStream, target: string, limiter: LimitStream): { done: Promise<void>; abort: (e: Error) => void } {
  let fail: (e: Error) => void = () => undefined;
  const done = new Promise<void>((res, rej) => {
    const out = createWriteStream(target, { flags: 'wx', mode: 0o644 });
    let settled = false;
    fail = (e: Error) => {
      if (settled) return;
      settled = true;
      entry.destroy(e);
      limiter.destroy();
      out.destroy();
      // Settle only once the file is closed, so that clean-up cannot race a late open.
      if (out.closed) rej(e);
      else out.once('close', () => rej(e));
    };
    entry.on('error', fail);
    limiter.on('error', fail);
    out.on('error', fail);
    out.on('finish', () => {
      if (settled) return;
      settled = true;
      res();
    });
    entry.pipe(limiter);
    limiter.pipe(out);
  });
  done.catch(() => undefined);
  return { done, abort: (e: Error) => fail(e) };
}

/**
 * Writes one entry's stream to its target (whose folder must exist), counting bytes. The target must
 * not exist yet. Call it in the same tick the stream was opened, so that no error goes unheard.
 */
function writeEntry(source: Readable, target: string, limiter: LimitStream): Promise<void> {
  return pipeline(source, limiter, createWriteStream(target, { flags: 'wx', mode: 0o644 }));
}

/** Turns any failure into a SceneError naming the archive and, when known, the entry. */
function wrap(archive: string, entry: string | null, e: unknown): SceneError {
  if (e instanceof SceneError) return e;
  const err = e as NodeJS.ErrnoException;
  let msg = err?.message ?? String(e);
  if (err?.code === 'EEXIST') msg = 'the archive holds this path twice (duplicate entries are refused)';
  else if (err?.code === 'ENOTDIR' || err?.code === 'EISDIR') msg = `a file and a folder share this path (${err.code})`;
  else if (!(e instanceof Refusal)) msg = `${msg} (corrupt or truncated archive?)`;
  return new SceneError(archive, entry === null ? msg : `refused entry "${entry}": ${msg}`, { cause: e });
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((res, rej) => {
    yauzl.open(path, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true }, (err, zip) => {
      if (err || !zip) rej(err ?? new Error('cannot open zip'));
      else res(zip);
    });
  });
}

/** The next zip entry, or null at the end of the central directory. */
function nextZipEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise((res, rej) => {
    const cleanup = () => {
      zip.removeListener('entry', onEntry);
      zip.removeListener('end', onEnd);
      zip.removeListener('error', onError);
    };
    const onEntry = (e: yauzl.Entry) => {
      cleanup();
      res(e);
    };
    const onEnd = () => {
      cleanup();
      res(null);
    };
    const onError = (e: Error) => {
      cleanup();
      rej(e);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });
}

/** Decodes a zip entry name: UTF-8 when flagged or valid, else byte-for-byte. */
function zipEntryName(entry: yauzl.Entry): string {
  const raw = entry.fileNameRaw ?? (entry.fileName as unknown);
  if (typeof raw === 'string') return raw;
  const buf = raw as Buffer;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    return buf.toString('latin1');
  }
}

async function extractZip(path: string, dest: string, budget: Budget): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(path);
  } catch (e) {
    throw new SceneError(path, `not a readable zip archive: ${(e as Error).message} (corrupt, truncated or not a zip?)`, { cause: e });
  }
  let current: string | null = null;
  try {
    if (zip.entryCount > budget.limits.maxEntries) {
      throw new Refusal(`archive holds ${zip.entryCount} entries, more than the limit of ${budget.limits.maxEntries} (maxEntries)`);
    }
    for (;;) {
      current = null;
      const entry = await nextZipEntry(zip);
      if (!entry) break;
      current = zipEntryName(entry);
      countEntry(budget);
      const rel = safeEntryPath(current);
      const target = targetPath(dest, rel);
      const fromUnix = entry.versionMadeBy >> 8 === 3;
      const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
      const isDir = current.endsWith('/') || (fromUnix && mode === 0o040000);
      if (fromUnix && mode === 0o120000) throw new Refusal('symbolic links are refused');
      if (fromUnix && mode !== 0 && mode !== 0o100000 && mode !== 0o040000) throw new Refusal(`special file (mode ${mode.toString(8)}) is refused`);
      if (isDir) {
        await mkdir(target, { recursive: true });
        continue;
      }
      if (entry.isEncrypted()) throw new Refusal('encrypted entries are not supported');
      if (!entry.canDecodeFileData()) throw new Refusal(`unsupported compression method ${entry.compressionMethod}`);
      if (budget.bytes + entry.uncompressedSize > budget.limits.maxExtractedBytes) {
        throw new Refusal(`declares ${entry.uncompressedSize} bytes, which would pass the limit of ${budget.limits.maxExtractedBytes} bytes in total (maxExtractedBytes)`);
      }
      await mkdir(dirname(target), { recursive: true });
      const stream = await zip.openReadStreamPromise(entry);
      await writeEntry(stream, target, new LimitStream(budget, entry.compressedSize));
    }
  } catch (e) {
    throw wrap(path, current, e);
  } finally {
    zip.close();
  }
}

async function extractTar(path: string, dest: string, budget: Budget, gzipped: boolean): Promise<void> {
  const input = createReadStream(path);
  const counter = new CountStream();
  const gunzip = gzipped ? createGunzip() : null;
  const extract = tar.extract();
  // Node's stream.pipeline does not notice tar-stream's (streamx) writable failing, so the streams are
  // piped by hand and every failure ends the extractor, which ends the entry loop below.
  let feedError: unknown = null;
  let feedFailed!: (e: unknown) => void;
  // Rejects when reading the archive fails: a truncated entry otherwise leaves its stream waiting forever.
  const failure = new Promise<never>((_, rej) => {
    feedFailed = rej;
  });
  failure.catch(() => undefined);
  const fail = (e: unknown) => {
    if (feedError) return;
    feedError = e;
    feedFailed(e);
    extract.destroy(e as Error);
  };
  const closed = new Promise<void>((res) => extract.on('close', () => res()));
  input.on('error', fail);
  counter.on('error', fail);
  gunzip?.on('error', fail);
  extract.on('error', fail);
  const sink = extract as unknown as NodeJS.WritableStream;
  if (gunzip) input.pipe(counter).pipe(gunzip).pipe(sink);
  else input.pipe(sink);
  let current: string | null = null;
  let count = 0;
  let writing: ReturnType<typeof pump> | null = null;
  let open: EntryStream | null = null;
  try {
    for await (const entry of extract) {
      open = entry as unknown as EntryStream;
      const h = entry.header;
      current = h.name;
      count += 1;
      countEntry(budget);
      const rel = safeEntryPath(h.name);
      const target = targetPath(dest, rel);
      switch (h.type) {
        case 'directory':
          await mkdir(target, { recursive: true });
          entry.resume();
          break;
        case 'file':
        case 'contiguous-file': {
          const size = h.size ?? 0;
          if (budget.bytes + size > budget.limits.maxExtractedBytes) {
            throw new Refusal(`declares ${size} bytes, which would pass the limit of ${budget.limits.maxExtractedBytes} bytes in total (maxExtractedBytes)`);
          }
          // In a .tar.gz the whole stream is compressed: its ratio so far stands for the entry's.
          const compressed = gzipped ? () => counter.count : null;
          await mkdir(dirname(target), { recursive: true });
          writing = pump(entry as unknown as EntryStream, target, new LimitStream(budget, compressed));
          await Promise.race([writing.done, failure]);
          writing = null;
          break;
        }
        case 'symlink':
          throw new Refusal(`symbolic link (to "${h.linkname ?? ''}") is refused`);
        case 'link':
          throw new Refusal(`hard link (to "${h.linkname ?? ''}") is refused`);
        default:
          throw new Refusal(`entries of type ${h.type ?? 'unknown'} are refused (only files and folders are extracted)`);
      }
      open = null;
      current = null;
    }
    await closed;
    if (feedError) throw feedError;
    if (count === 0) throw new Refusal(`holds no entries (empty or not a ${gzipped ? 'tar.gz' : 'tar'} archive)`);
  } catch (e) {
    open?.destroy();
    input.destroy();
    extract.destroy();
    await closed;
    if (writing) {
      writing.abort(e as Error);
      await writing.done.catch(() => undefined);
    }
    throw wrap(path, current, e);
  }
}

/** Removes whatever an aborted extraction left in dest (dest itself stays). */
async function emptyFolder(dest: string): Promise<void> {
  const names = await readdir(dest).catch(() => [] as string[]);
  await Promise.all(names.map((n) => rm(join(dest, n), { recursive: true, force: true })));
}

/** Extracts an archive into an empty folder, enforcing the limits. */
export async function extractArchive(path: string, dest: string, limits: InputLimits): Promise<void> {
  const kind = archiveKind(path);
  if (!kind) throw new SceneError(path, 'not an archive sharpstream extracts (.zip, .tar, .tar.gz, .tgz)');
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw new SceneError(path, `cannot read archive: ${(e as Error).message}`, { cause: e });
  }
  if (!st.isFile()) throw new SceneError(path, 'archive is not a file');
  const root = resolve(dest);
  await mkdir(root, { recursive: true });
  if ((await readdir(root)).length > 0) throw new SceneError(path, `extraction folder ${root} is not empty`);
  const budget: Budget = { limits, entries: 0, bytes: 0 };
  try {
    if (kind === 'zip') await extractZip(path, root, budget);
    else await extractTar(path, root, budget, kind === 'tar.gz');
  } catch (e) {
    await emptyFolder(root);
    throw e;
  }
}
