/**
 * S3-compatible object storage (AWS S3, MinIO, Ceph, S3Proxy, ...): keys live under a bucket and an
 * optional prefix. An object appears whole or not at all (single PUT, or a multipart upload that is
 * completed only after every part arrived), so writes are atomic. Hrefs are the objects' http(s)
 * URLs, which GDAL (/vsicurl/) and geotiff.js read with range requests when the objects are public
 * (acl `public-read`, a public bucket policy) or `publicUrl` names a CDN in front of the bucket.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type ObjectCannedACL,
} from '@aws-sdk/client-s3';
import type { OutputStore } from './store.js';
import { StoreError, checkKey, encodeKeyPath, joinKey } from './keys.js';

/** Settings of an S3 store. */
export interface S3StoreOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket (no leading or trailing slash needed). */
  readonly prefix?: string;
  /** Endpoint of an S3-compatible server, such as http://127.0.0.1:9000 (default: AWS). */
  readonly endpoint?: string;
  /** Region (default $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1). */
  readonly region?: string;
  /** Path-style URLs (`endpoint/bucket/key`); default true with a custom endpoint, false for AWS. */
  readonly forcePathStyle?: boolean;
  /** Credentials; default the SDK's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, roles). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** Canned ACL given to every object written, e.g. `public-read` so that hrefs open without signing. */
  readonly acl?: ObjectCannedACL;
  /** Base URL of hrefs instead of the bucket's own URL (a CDN or website endpoint); keys are appended. */
  readonly publicUrl?: string;
  /** Files larger than this go up as multipart uploads (default 64 MiB; S3 caps single PUTs at 5 GiB). */
  readonly multipartThreshold?: number;
  /** Part size of multipart uploads (default 16 MiB, at least 5 MiB as S3 requires). */
  readonly partSize?: number;
  /** A client to use instead of building one (its endpoint should match `endpoint` for hrefs). */
  readonly client?: S3Client;
}

const MIB = 1024 * 1024;

/** HTTP status of an SDK error, when it has one. */
function httpStatus(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/** An output store in an S3 bucket. */
export class S3Store implements OutputStore {
  readonly name: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  private readonly hrefBase: string;
  private readonly acl: ObjectCannedACL | undefined;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly ownsClient: boolean;

  /** A store on `options.bucket` under `options.prefix`. */
  constructor(options: S3StoreOptions) {
    const where = 's3 store';
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(options.bucket ?? '')) {
      throw new StoreError(where, `"${options.bucket}" is not a valid bucket name (3-63 lower-case letters, digits, dots and dashes)`);
    }
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (this.prefix) checkKey(this.prefix, where);
    this.name = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
    let endpoint: URL | undefined;
    if (options.endpoint !== undefined) {
      try {
        endpoint = new URL(options.endpoint);
      } catch {
        throw new StoreError(this.name, `endpoint "${options.endpoint}" is not a URL`);
      }
      if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new StoreError(this.name, `endpoint "${options.endpoint}" must be http(s)`);
    }
    const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
    const pathStyle = options.forcePathStyle ?? endpoint !== undefined;
    this.acl = options.acl;
    this.multipartThreshold = options.multipartThreshold ?? 64 * MIB;
    this.partSize = Math.max(5 * MIB, options.partSize ?? 16 * MIB);
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      this.client = new S3Client({
        region,
        ...(endpoint ? { endpoint: endpoint.href.replace(/\/+$/, '') } : {}),
        forcePathStyle: pathStyle,
        ...(options.credentials ? { credentials: options.credentials } : {}),
        // S3-compatible servers do not all know the SDK's newer default checksum headers.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: 4,
      });
      this.ownsClient = true;
    }
    if (options.publicUrl) {
      this.hrefBase = options.publicUrl.replace(/\/+$/, '');
    } else if (endpoint) {
      const base = endpoint.href.replace(/\/+$/, '');
      this.hrefBase = pathStyle ? `${base}/${this.bucket}` : `${endpoint.protocol}//${this.bucket}.${endpoint.host}${endpoint.pathname.replace(/\/+$/, '')}`;
    } else {
      this.hrefBase = pathStyle ? `https://s3.${region}.amazonaws.com/${this.bucket}` : `https://${this.bucket}.s3.${region}.amazonaws.com`;
    }
  }

  /** The object key of a store key (prefix joined). */
  objectKey(key: string): string {
    return joinKey(this.prefix, checkKey(key, this.name));
  }

  private fail(op: string, key: string, e: unknown): StoreError {
    const status = httpStatus(e);
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return new StoreError(this.name, `${op} ${this.objectKey(key)} failed${status ? ` (HTTP ${status})` : ''}: ${msg}`);
  }

  /** Whether the object exists (HEAD). */
  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (e) {
      if (httpStatus(e) === 404 || (e as Error).name === 'NotFound' || (e as Error).name === 'NoSuchKey') return false;
      throw this.fail('HEAD', key, e);
    }
  }

  /** Uploads a local file (streamed; multipart above the threshold) and returns the object's URL. */
  async putFile(key: string, localPath: string, contentType: string): Promise<string> {
    const objectKey = this.objectKey(key);
    let size: number;
    try {
      size = (await stat(localPath)).size;
    } catch (e) {
      throw new StoreError(this.name, `cannot read ${localPath}: ${(e as Error).message}`);
    }
    if (size > this.multipartThreshold) {
      await this.multipart(key, objectKey, localPath, size, contentType);
      return this.href(key);
    }
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Body: createReadStream(localPath),
          ContentLength: size,
          ContentType: contentType,
          ...(this.acl ? { ACL: this.acl } : {}),
        }),
      );
    } catch (e) {
      throw this.fail('PUT', key, e);
    }
    return this.href(key);
  }

  private async multipart(key: string, objectKey: string, localPath: string, size: number, contentType: string): Promise<void> {
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, ContentType: contentType, ...(this.acl ? { ACL: this.acl } : {}) }),
      );
      uploadId = created.UploadId;
      if (!uploadId) throw new Error('the server returned no UploadId');
      const parts: { ETag: string; PartNumber: number }[] = [];
      for (let start = 0, n = 1; start < size; start += this.partSize, n++) {
        const end = Math.min(size, start + this.partSize);
        const res = await this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: objectKey,
            UploadId: uploadId,
            PartNumber: n,
            Body: createReadStream(localPath, { start, end: end - 1 }),
            ContentLength: end - start,
          }),
        );
        if (!res.ETag) throw new Error(`part ${n} got no ETag`);
        parts.push({ ETag: res.ETag, PartNumber: n });
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      );
    } catch (e) {
      if (uploadId) {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId })).catch(() => undefined);
      }
      throw this.fail('multipart upload of', key, e);
    }
  }

  /** Uploads bytes in one PUT and returns the object's URL. */
  async putBytes(key: string, bytes: Uint8Array, contentType: string): Promise<string> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Body: bytes,
          ContentLength: bytes.byteLength,
          ContentType: contentType,
          ...(this.acl ? { ACL: this.acl } : {}),
        }),
      );
    } catch (e) {
      throw this.fail('PUT', key, e);
    }
    return this.href(key);
  }

  /** Downloads a whole object, or null when it does not exist. */
  async getBytes(key: string): Promise<Uint8Array | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      if (!res.Body) return new Uint8Array(0);
      return await res.Body.transformToByteArray();
    } catch (e) {
      if (httpStatus(e) === 404 || (e as Error).name === 'NoSuchKey') return null;
      throw this.fail('GET', key, e);
    }
  }

  /** The http(s) URL of the object. */
  href(key: string): string {
    return `${this.hrefBase}/${encodeKeyPath(this.objectKey(key))}`;
  }

  /** Releases the client's connections (when this store built it). */
  close(): void {
    if (this.ownsClient) this.client.destroy();
  }
}
