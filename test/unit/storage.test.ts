import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStore, S3Store, StoreError, checkKey, openStore } from '../../connectors/storage/index.js';
import { parseS3Uri } from '../../connectors/storage/index.js';
import { encodeKeyPath, joinKey } from '../../connectors/storage/keys.js';

describe('storage keys', () => {
  it('accepts relative slash paths and rejects escapes, absolute paths and empty segments', () => {
    expect(checkKey('sentinel-2-l1c-sr/S2A_x/out.tif')).toBe('sentinel-2-l1c-sr/S2A_x/out.tif');
    for (const bad of ['', '/abs/x', 'a/../b', '../x', 'a//b', 'a/./b', 'a\\b', 'a/b/', 'x\u0000y']) {
      expect(() => checkKey(bad), bad).toThrow(StoreError);
    }
  });
  it('joins prefixes and percent-encodes segments but not slashes', () => {
    expect(joinKey('', 'a/b')).toBe('a/b');
    expect(joinKey('/out/', 'a/b')).toBe('out/a/b');
    expect(encodeKeyPath('c/id with space/a+b#.tif')).toBe('c/id%20with%20space/a%2Bb%23.tif');
  });
});

describe('LocalStore', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storage-unit-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes bytes and files atomically under nested keys, with absolute hrefs, and reads them back', async () => {
    const store = new LocalStore(join(dir, 'out'));
    expect(await store.exists('c/i/item.json')).toBe(false);
    expect(await store.getBytes('c/i/item.json')).toBeNull();
    const href = await store.putBytes('c/i/item.json', new TextEncoder().encode('{"a":1}'), 'application/json');
    expect(href).toBe(join(dir, 'out', 'c', 'i', 'item.json'));
    expect(store.href('c/i/item.json')).toBe(href);
    expect(await store.exists('c/i/item.json')).toBe(true);
    expect(new TextDecoder().decode((await store.getBytes('c/i/item.json'))!)).toBe('{"a":1}');

    const src = join(dir, 'src.bin');
    const payload = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff));
    await writeFile(src, payload);
    const fileHref = await store.putFile('c/i/data.tif', src, 'image/tiff');
    expect(Buffer.compare(await readFile(fileHref), payload)).toBe(0);
    // replacing an object leaves no temporary files behind
    await store.putBytes('c/i/item.json', new TextEncoder().encode('{"a":2}'), 'application/json');
    expect((await readdir(join(dir, 'out', 'c', 'i'))).sort()).toEqual(['data.tif', 'item.json']);
    expect(new TextDecoder().decode((await store.getBytes('c/i/item.json'))!)).toBe('{"a":2}');
  });

  it('treats a folder at a key as missing and refuses keys that leave the folder', async () => {
    const store = new LocalStore(join(dir, 'out2'));
    await store.putBytes('a/b/c.txt', new Uint8Array([1]), 'text/plain');
    expect(await store.exists('a/b')).toBe(false);
    expect(() => store.href('../escape.txt')).toThrow(/segment/);
  });

  it('fails clearly when the source file of putFile is missing', async () => {
    const store = new LocalStore(join(dir, 'out3'));
    await expect(store.putFile('x/y.tif', join(dir, 'nope.tif'), 'image/tiff')).rejects.toThrow(/nope\.tif/);
    expect(await readdir(join(dir, 'out3', 'x'))).toEqual([]);
  });
});

describe('openStore', () => {
  it('opens folders from paths and file: URLs', () => {
    const a = openStore('/data/out');
    expect(a).toBeInstanceOf(LocalStore);
    expect(a.href('c/i/x.tif')).toBe('/data/out/c/i/x.tif');
    expect(openStore(pathToFileURL('/data/out two').href).href('k/x')).toBe('/data/out two/k/x');
    expect(openStore('file:/data/o').name).toBe('file:/data/o');
  });

  it('opens S3 buckets with endpoint, region, path style, ACL and prefix; hrefs are object URLs', () => {
    const s = openStore('s3://bucket-one/runs/2024?endpoint=http://127.0.0.1:9000&region=eu-west-1&acl=public-read');
    expect(s).toBeInstanceOf(S3Store);
    expect(s.name).toBe('s3://bucket-one/runs/2024');
    expect(s.href('c/id 1/out.tif')).toBe('http://127.0.0.1:9000/bucket-one/runs/2024/c/id%201/out.tif');
    const vhost = openStore('s3://bucket-one?endpoint=https://s3.example.org&path-style=false');
    expect(vhost.href('a/b.tif')).toBe('https://bucket-one.s3.example.org/a/b.tif');
    const aws = new S3Store({ bucket: 'my-bucket', region: 'eu-central-1', prefix: 'p' });
    expect(aws.href('a.tif')).toBe('https://my-bucket.s3.eu-central-1.amazonaws.com/p/a.tif');
    const cdn = openStore('s3://b-b-b/x?public-url=https://cdn.example.org/data/');
    expect(cdn.href('k/v.tif')).toBe('https://cdn.example.org/data/x/k/v.tif');
    for (const st of [s, vhost, aws, cdn]) (st as S3Store).close();
  });

  it('parses sizes and rejects unknown parameters, bad buckets, bad ACLs and schemes', () => {
    const o = parseS3Uri('s3://bkt/a/b/?multipart-threshold-mb=8&part-size-mb=5');
    expect(o).toMatchObject({ bucket: 'bkt', prefix: 'a/b', multipartThreshold: 8 * 1024 * 1024, partSize: 5 * 1024 * 1024 });
    expect(() => openStore('s3://bkt?endpiont=http://x')).toThrow(/unknown parameter "endpiont"/);
    expect(() => openStore('s3://bkt?acl=world')).toThrow(/canned ACL/);
    expect(() => openStore('s3://B_ad')).toThrow(/bucket name/);
    expect(() => openStore('s3://bkt?endpoint=ftp://x')).toThrow(/http\(s\)/);
    expect(() => openStore('gs://bucket/x')).toThrow(/unsupported scheme/);
    expect(() => openStore('')).toThrow(/empty/);
  });
});
