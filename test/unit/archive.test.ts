/**
 * Safe archive extraction: well-formed zips and tars extract; hostile ones (path escapes, links,
 * devices, bombs, too many entries, truncation, non-archives) are refused with an error naming the
 * archive and the entry, and nothing is left behind. Every archive is built byte by byte here.
 */
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeflateRaw, createGzip, crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveKind, extractArchive, safeEntryPath } from '../../scene/archive.js';
import type { InputLimits } from '../../scene/reader.js';

// ----------------------------------------------------------------------------------------------
// Archive builders.

interface ZipItem {
  name: string;
  data?: Buffer;
  /** Pre-compressed raw deflate data (then `size` is the true size). */
  deflated?: Buffer;
  size?: number;
  /** What the headers claim the expanded size is (defaults to the truth). */
  declaredSize?: number;
  store?: boolean;
  /** Unix mode including the file type bits (0o120777 for a symlink). */
  unixMode?: number;
}

/** Writes a zip archive (no zip64) with full control over names, sizes and file types. */
function buildZip(items: ZipItem[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const it of items) {
    const name = Buffer.from(it.name, 'utf8');
    const raw = it.data ?? Buffer.alloc(0);
    const method = it.deflated || !it.store ? 8 : 0;
    const body = it.deflated ?? (method === 8 ? deflateRawSync(raw) : raw);
    const size = it.size ?? raw.length;
    const declared = it.declaredSize ?? size;
    const crc = it.deflated ? 0 : crc32(raw);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(declared, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, body);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(declared, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((it.unixMode ?? (it.name.endsWith('/') ? 0o040755 : 0o100644)) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(items.length, 8);
  end.writeUInt16LE(items.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

interface TarItem {
  name: string;
  data?: Buffer;
  /** ustar type flag: '0' file, '2' symlink, '1' hard link, '3' char device, '5' folder. */
  type?: string;
  linkname?: string;
}

/** A 512-byte ustar header. */
function tarHeader(name: string, size: number, type = '0', linkname = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write(linkname, 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

/** Writes a tar archive. */
function buildTar(items: TarItem[]): Buffer {
  const parts: Buffer[] = [];
  for (const it of items) {
    const data = it.data ?? Buffer.alloc(0);
    parts.push(tarHeader(it.name, it.type && it.type !== '0' ? 0 : data.length, it.type, it.linkname));
    if (!it.type || it.type === '0') parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const MiB = 1 << 20;

/** Raw deflate of `total` zero bytes, streamed (the 200 MB never exist in memory). */
async function deflatedZeros(total: number): Promise<Buffer> {
  const d = createDeflateRaw({ level: 9 });
  const chunks: Buffer[] = [];
  d.on('data', (c: Buffer) => chunks.push(c));
  const zero = Buffer.alloc(MiB);
  for (let n = 0; n < total; n += MiB) if (!d.write(zero)) await once(d, 'drain');
  d.end();
  await once(d, 'end');
  return Buffer.concat(chunks);
}

/** A .tar.gz holding one file of `total` zero bytes, streamed. */
async function tarGzZeros(total: number): Promise<Buffer> {
  const g = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  g.on('data', (c: Buffer) => chunks.push(c));
  g.write(tarHeader('bomb.bin', total));
  const zero = Buffer.alloc(MiB);
  for (let n = 0; n < total; n += MiB) if (!g.write(zero)) await once(g, 'drain');
  g.write(Buffer.alloc(1024));
  g.end();
  await once(g, 'end');
  return Buffer.concat(chunks);
}

// ----------------------------------------------------------------------------------------------

const LIMITS: InputLimits = { maxEntries: 100, maxExtractedBytes: 64 * MiB, maxCompressionRatio: 1000 };
let root: string;
let n = 0;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sharpstream-archive-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Writes archive bytes under a fresh case folder; returns the archive path and an empty extraction folder path. */
function place(name: string, bytes: Buffer): { archive: string; dest: string; caseDir: string } {
  const caseDir = join(root, `case-${n++}`);
  const dest = join(caseDir, 'sub', 'out');
  const archive = join(caseDir, name);
  rmSync(caseDir, { recursive: true, force: true });
  mkdirSync(join(caseDir, 'sub'), { recursive: true });
  writeFileSync(archive, bytes);
  return { archive, dest, caseDir };
}

/** Extracts and expects a refusal whose message names the archive (and the entry, when given). */
async function expectRefusal(name: string, bytes: Buffer, pattern: RegExp, entry?: string, limits: InputLimits = LIMITS): Promise<string> {
  const { archive, dest, caseDir } = place(name, bytes);
  let message = '';
  await expect(
    extractArchive(archive, dest, limits).catch((e: Error) => {
      message = e.message;
      throw e;
    }),
  ).rejects.toThrow(pattern);
  expect(message.startsWith(archive)).toBe(true);
  if (entry !== undefined) expect(message).toContain(`"${entry}"`);
  // Nothing left in the extraction folder, and nothing escaped next to it.
  expect(existsSync(dest) ? readdirSync(dest) : []).toEqual([]);
  expect(readdirSync(join(caseDir, 'sub')).filter((f) => f !== 'out')).toEqual([]);
  expect(readdirSync(caseDir).sort()).toEqual([name, 'sub'].sort());
  return message;
}

describe('archiveKind', () => {
  it('recognises archive names by extension', () => {
    expect(archiveKind('a/S2A.SAFE.zip')).toBe('zip');
    expect(archiveKind('x.TAR.GZ')).toBe('tar.gz');
    expect(archiveKind('x.tgz')).toBe('tar.gz');
    expect(archiveKind('x.tar')).toBe('tar');
    expect(archiveKind('x.SAFE')).toBeNull();
  });
});

describe('safeEntryPath', () => {
  it('normalises harmless names and refuses escapes', () => {
    expect(safeEntryPath('./a//b/./c.txt')).toBe('a/b/c.txt');
    expect(() => safeEntryPath('../x')).toThrow(/\.\./);
    expect(() => safeEntryPath('a/../../x')).toThrow(/\.\./);
    expect(() => safeEntryPath('/etc/passwd')).toThrow(/absolute/);
    expect(() => safeEntryPath('C:/Windows/x')).toThrow(/drive letter/);
    expect(() => safeEntryPath('..\\..\\x')).toThrow(/backslash/);
    expect(() => safeEntryPath('a\0b')).toThrow(/NUL/);
    expect(() => safeEntryPath('./')).toThrow(/no path/);
  });
});

describe('extractArchive: well-formed archives', () => {
  const files = {
    'P.SAFE/manifest.safe': Buffer.from('<xfdu/>'),
    'P.SAFE/GRANULE/G/IMG_DATA/T_B02.jp2': Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251)),
    'P.SAFE/empty.txt': Buffer.alloc(0),
  };

  function expectFiles(dest: string): void {
    for (const [name, data] of Object.entries(files)) expect(readFileSync(join(dest, name)).equals(data)).toBe(true);
  }

  it('extracts a zip with folders, stored and deflated entries', async () => {
    const zip = buildZip([
      { name: 'P.SAFE/' },
      ...Object.entries(files).map(([name, data], i) => ({ name, data, store: i === 0 })),
    ]);
    const { archive, dest } = place('p.zip', zip);
    await extractArchive(archive, dest, LIMITS);
    expectFiles(dest);
  });

  it('extracts a tar and a tar.gz', async () => {
    const tar = buildTar([{ name: 'P.SAFE/', type: '5' }, ...Object.entries(files).map(([name, data]) => ({ name, data }))]);
    for (const [name, bytes] of [
      ['p.tar', tar],
      ['p.tar.gz', gzipSync(tar)],
      ['p.tgz', gzipSync(tar)],
    ] as const) {
      const { archive, dest } = place(name, bytes);
      await extractArchive(archive, dest, LIMITS);
      expectFiles(dest);
    }
  });

  it('refuses a folder that is not empty', async () => {
    const { archive, dest } = place('p.zip', buildZip([{ name: 'a.txt', data: Buffer.from('a') }]));
    mkdirSync(dest, { recursive: true });
    writeFileSync(join(dest, 'already.txt'), 'x');
    await expect(extractArchive(archive, dest, LIMITS)).rejects.toThrow(/not empty/);
  });
});

describe('extractArchive: hostile entries', () => {
  it('refuses "../" entries in zips and tars', async () => {
    await expectRefusal('evil.zip', buildZip([{ name: 'ok.txt', data: Buffer.from('x') }, { name: '../evil.txt', data: Buffer.from('x') }]), /"\.\." segment/, '../evil.txt');
    await expectRefusal('evil.tar', buildTar([{ name: 'a/../../evil.txt', data: Buffer.from('x') }]), /"\.\." segment/, 'a/../../evil.txt');
    await expectRefusal('evil.tar.gz', gzipSync(buildTar([{ name: '../evil.txt', data: Buffer.from('x') }])), /"\.\." segment/, '../evil.txt');
  });

  it('refuses absolute paths, drive letters and backslash tricks', async () => {
    await expectRefusal('abs.zip', buildZip([{ name: '/tmp/evil.txt', data: Buffer.from('x') }]), /absolute/, '/tmp/evil.txt');
    await expectRefusal('abs.tar', buildTar([{ name: '/tmp/evil.txt', data: Buffer.from('x') }]), /absolute/, '/tmp/evil.txt');
    await expectRefusal('drive.zip', buildZip([{ name: 'C:/evil.txt', data: Buffer.from('x') }]), /drive letter/, 'C:/evil.txt');
    await expectRefusal('bs.zip', buildZip([{ name: '..\\evil.txt', data: Buffer.from('x') }]), /backslash/, '..\\evil.txt');
  });

  it('refuses symlinks, hard links and devices', async () => {
    await expectRefusal('sym.zip', buildZip([{ name: 'link', data: Buffer.from('/etc/passwd'), unixMode: 0o120777 }]), /symbolic link/, 'link');
    await expectRefusal('sym.tar', buildTar([{ name: 'link', type: '2', linkname: '/etc/passwd' }]), /symbolic link/, 'link');
    await expectRefusal('hard.tar', buildTar([{ name: 'hard', type: '1', linkname: '/etc/passwd' }]), /hard link/, 'hard');
    await expectRefusal('dev.tar', buildTar([{ name: 'dev', type: '3' }]), /character-device/, 'dev');
    await expectRefusal('sparse.tar', buildTar([{ name: 'sparse', type: 'S' }]), /type unknown are refused/, 'sparse');
    await expectRefusal('fifo.zip', buildZip([{ name: 'fifo', data: Buffer.alloc(0), unixMode: 0o010644 }]), /special file/, 'fifo');
  });

  it('refuses duplicate entries instead of overwriting', async () => {
    await expectRefusal('dup.zip', buildZip([{ name: 'a.txt', data: Buffer.from('1') }, { name: 'a.txt', data: Buffer.from('2') }]), /twice/, 'a.txt');
  });

  it('refuses archives with too many entries', async () => {
    const items = Array.from({ length: 12 }, (_, i) => ({ name: `f${i}.txt`, data: Buffer.from('x') }));
    const limits = { ...LIMITS, maxEntries: 10 };
    await expectRefusal('many.zip', buildZip(items), /12 entries, more than the limit of 10/, undefined, limits);
    await expectRefusal('many.tar', buildTar(items), /more than 10 entries/, 'f10.txt', limits);
  });
});

describe('extractArchive: bombs', () => {
  const TOTAL = 200 * MiB;
  let zeros: Buffer;
  let tgz: Buffer;
  beforeAll(async () => {
    zeros = await deflatedZeros(TOTAL);
    tgz = await tarGzZeros(TOTAL);
  });

  it('stops a 200 MB zip bomb at the total-size limit', async () => {
    const zip = buildZip([{ name: 'bomb.bin', deflated: zeros, size: TOTAL }]);
    expect(zip.length).toBeLessThan(TOTAL / 500);
    await expectRefusal('bomb.zip', zip, /maxExtractedBytes/, 'bomb.bin', { ...LIMITS, maxExtractedBytes: 8 * MiB });
  });

  it('counts the bytes actually written when the headers lie about the size', async () => {
    // Headers claim 4 KiB; the data expands to 200 MB. Extraction must stop long before.
    const zip = buildZip([{ name: 'liar.bin', deflated: zeros, size: TOTAL, declaredSize: 4096 }]);
    await expectRefusal('liar.zip', zip, /liar\.bin/, 'liar.bin', { ...LIMITS, maxExtractedBytes: 8 * MiB });
    // Even with the size check out of the way (a huge budget), the written bytes trip the ratio.
    const zip2 = buildZip([{ name: 'bomb.bin', deflated: zeros, size: TOTAL }]);
    const msg = await expectRefusal('ratio.zip', zip2, /maxCompressionRatio/, 'bomb.bin', { ...LIMITS, maxExtractedBytes: 1024 * MiB, maxCompressionRatio: 50 });
    const written = Number(/\((\d+) bytes from/.exec(msg)?.[1]);
    expect(written).toBeGreaterThan(50 * zeros.length);
    expect(written).toBeLessThan(TOTAL / 4);
  });

  it('stops a 200 MB tar.gz bomb by size and by ratio', async () => {
    expect(tgz.length).toBeLessThan(TOTAL / 500);
    await expectRefusal('bomb.tar.gz', tgz, /maxExtractedBytes/, 'bomb.bin', { ...LIMITS, maxExtractedBytes: 8 * MiB });
    const msg = await expectRefusal('ratio.tar.gz', tgz, /maxCompressionRatio/, 'bomb.bin', { ...LIMITS, maxExtractedBytes: 1024 * MiB, maxCompressionRatio: 50 });
    expect(Number(/\((\d+) bytes from/.exec(msg)?.[1])).toBeLessThan(TOTAL / 4);
  });
});

describe('extractArchive: corrupt input', () => {
  const zip = buildZip([
    { name: 'a.txt', data: Buffer.from('a'.repeat(3000)) },
    { name: 'b.txt', data: Buffer.from('b'.repeat(3000)) },
  ]);
  const tar = buildTar([{ name: 'a.txt', data: Buffer.from('a'.repeat(3000)) }]);

  it('reports truncated archives clearly', async () => {
    await expectRefusal('trunc.zip', zip.subarray(0, zip.length - 30), /not a readable zip archive.*truncated/);
    await expectRefusal('trunc.tar', tar.subarray(0, 1024), /corrupt or truncated/);
    const tgz = gzipSync(tar);
    await expectRefusal('trunc.tar.gz', tgz.subarray(0, tgz.length - 12), /corrupt or truncated/);
  });

  it('reports corrupt entry data clearly', async () => {
    // Damage the first entry's deflate stream but keep the directory intact.
    const bad = Buffer.from(zip);
    bad.fill(0xff, 30 + 5, 30 + 5 + 8);
    await expectRefusal('baddata.zip', bad, /a\.txt/, 'a.txt');
  });

  it('reports non-archive bytes with an archive name', async () => {
    const junk = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
    await expectRefusal('junk.zip', junk, /not a readable zip archive/);
    await expectRefusal('junk.tar', junk, /corrupt or truncated/);
    await expectRefusal('junk.tar.gz', junk, /corrupt or truncated/);
    await expectRefusal('empty.tar', Buffer.alloc(0), /no entries/);
  });
});
