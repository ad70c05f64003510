/**
 * The S3 output store against a real S3-compatible server (S3Proxy, started by scripts/s3/start.sh):
 * a real COG goes up through putFile and is read back over HTTP range requests by geotiff.js and by
 * GDAL's /vsicurl/, anonymously (public-read ACL), as a map client would.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromUrl } from 'geotiff';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store, openStore } from '../../connectors/storage/index.js';
import { writeCog } from '../../cog/writer.js';
import { gdalInfo, gdalReadWindow } from '../helpers/gdal.js';
import { createBucket, deleteBucket, s3Credentials, s3Endpoint, startS3, stopS3 } from '../helpers/s3.js';

const W = 700;
const H = 600;

function planes(): Uint16Array[] {
  return [0, 1, 2].map((b) => {
    const a = new Uint16Array(W * H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) a[y * W + x] = 1000 + 300 * b + ((x * 7 + y * 13 + b * 101) % 2000);
    return a;
  });
}

describe('S3 output store on a real S3 server', () => {
  let dir: string;
  let bucket: string;
  let startedHere = false;
  let store: S3Store;
  const bands = planes();
  let cogPath: string;

  beforeAll(async () => {
    startedHere = (await startS3()).startedHere;
    bucket = await createBucket();
    dir = await mkdtemp(join(tmpdir(), 'storage-s3-'));
    cogPath = join(dir, 'out.tif');
    await writeCog(cogPath, bands, { width: W, height: H, transform: { x0: 399960, y0: 5000040, dx: 10, dy: -10 }, crs: { epsg: 32633 }, nodata: 0, tileSize: 256 });
    store = openStore(`s3://${bucket}/runs/it?endpoint=${encodeURIComponent(s3Endpoint())}&acl=public-read`, { credentials: s3Credentials() }) as S3Store;
  });
  afterAll(async () => {
    store?.close();
    if (bucket) await deleteBucket(bucket);
    if (dir) await rm(dir, { recursive: true, force: true });
    if (startedHere) await stopS3();
  });

  it('stores a COG that geotiff.js reads back over range requests, pixel for pixel', async () => {
    const key = 'sentinel-2-l1c-sr/S2A_TEST/S2A_TEST_SR.tif';
    expect(await store.exists(key)).toBe(false);
    const href = await store.putFile(key, cogPath, 'image/tiff; application=geotiff; profile=cloud-optimized');
    expect(href).toBe(`${s3Endpoint()}/${bucket}/runs/it/${key}`);
    expect(await store.exists(key)).toBe(true);

    // an anonymous range request is answered with just those bytes
    const ranged = await fetch(href, { headers: { range: 'bytes=0-15' } });
    expect(ranged.status).toBe(206);
    expect((await ranged.arrayBuffer()).byteLength).toBe(16);

    const tiff = await fromUrl(href, { allowFullFile: false });
    const image = await tiff.getImage();
    expect([image.getWidth(), image.getHeight(), image.getSamplesPerPixel()]).toEqual([W, H, 3]);
    const win = [300, 250, 460, 390];
    const rasters = (await image.readRasters({ window: win })) as unknown as Uint16Array[];
    for (let b = 0; b < 3; b++) {
      let mismatches = 0;
      for (let y = win[1]; y < win[3]; y++) {
        for (let x = win[0]; x < win[2]; x++) if (rasters[b][(y - win[1]) * (win[2] - win[0]) + (x - win[0])] !== bands[b][y * W + x]) mismatches++;
      }
      expect(mismatches, `band ${b + 1}`).toBe(0);
    }
  });

  it('GDAL opens the object with /vsicurl/ and reads the same pixels and overviews', async () => {
    const key = 'c/gdal/out.tif';
    const href = await store.putFile(key, cogPath, 'image/tiff');
    process.env.GDAL_DISABLE_READDIR_ON_OPEN = 'EMPTY_DIR';
    process.env.CPL_VSIL_CURL_USE_HEAD = 'NO';
    const info = await gdalInfo(`/vsicurl/${href}`);
    expect([info.width, info.height, info.bands, info.epsg]).toEqual([W, H, 3, 32633]);
    expect(info.overviews.length).toBeGreaterThan(0);
    expect(info.imageStructure.LAYOUT).toBe('COG');
    const { data } = await gdalReadWindow(`/vsicurl/${href}`, 2, 500, 10, 40, 3);
    const got = new Uint16Array(Uint8Array.from(data).buffer);
    const want = Array.from({ length: 120 }, (_, i) => bands[1][(10 + Math.floor(i / 40)) * W + 500 + (i % 40)]);
    expect(Array.from(got)).toEqual(want);
  });

  it('uploads big files in parts and stores bytes and small objects whole', async () => {
    const big = join(dir, 'big.bin');
    const payload = randomBytes(11 * 1024 * 1024 + 12345);
    await writeFile(big, payload);
    const parts = new S3Store({ bucket, prefix: 'mp', endpoint: s3Endpoint(), credentials: s3Credentials(), multipartThreshold: 5 * 1024 * 1024, partSize: 5 * 1024 * 1024 });
    try {
      await parts.putFile('x/big.bin', big, 'application/octet-stream');
      const back = await parts.getBytes('x/big.bin');
      expect(back?.byteLength).toBe(payload.byteLength);
      expect(Buffer.compare(Buffer.from(back!), payload)).toBe(0);
      // without an ACL the object is private: an anonymous reader is refused
      const anon = await fetch(parts.href('x/big.bin'), { headers: { range: 'bytes=0-9' } });
      await anon.arrayBuffer();
      expect(anon.status).toBe(403);
    } finally {
      parts.close();
    }
    await store.putBytes('c/i/item.json', new TextEncoder().encode('{"id":"i"}'), 'application/json');
    expect(new TextDecoder().decode((await store.getBytes('c/i/item.json'))!)).toBe('{"id":"i"}');
    const res = await fetch(store.href('c/i/item.json'));
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await store.getBytes('c/i/missing.json')).toBeNull();
  });

  it('reports a wrong credential and a missing bucket clearly', async () => {
    const wrong = new S3Store({ bucket, endpoint: s3Endpoint(), credentials: { accessKeyId: 'sharpstream', secretAccessKey: 'not-the-secret' } });
    try {
      await expect(wrong.putBytes('a/b.txt', new Uint8Array([1]), 'text/plain')).rejects.toThrow(new RegExp(`s3://${bucket}: PUT a/b.txt failed \\(HTTP 403\\)`));
    } finally {
      wrong.close();
    }
    const none = new S3Store({ bucket: 'no-such-bucket-sharpstream', endpoint: s3Endpoint(), credentials: s3Credentials() });
    try {
      await expect(none.putBytes('a/b.txt', new Uint8Array([1]), 'text/plain')).rejects.toThrow(/no-such-bucket-sharpstream.*(NoSuchBucket|404)/);
    } finally {
      none.close();
    }
  });
});
