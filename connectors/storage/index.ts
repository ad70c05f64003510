/**
 * Opens an output store from a URI: a folder (`/abs/path`, a relative path, `file:///abs/path`) or
 * an S3 bucket (`s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&path-style=true
 * &acl=public-read&public-url=https://cdn.example/out`). S3 credentials come from the environment
 * (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, profiles, roles: the SDK's chain).
 */
import { fileURLToPath } from 'node:url';
import type { ObjectCannedACL } from '@aws-sdk/client-s3';
import type { OutputStore } from './store.js';
import { LocalStore } from './local.js';
import { S3Store, type S3StoreOptions } from './s3.js';
import { StoreError } from './keys.js';

export { LocalStore } from './local.js';
export { S3Store, type S3StoreOptions } from './s3.js';
export { StoreError, checkKey } from './keys.js';

const S3_PARAMS = ['endpoint', 'region', 'path-style', 'acl', 'public-url', 'multipart-threshold-mb', 'part-size-mb'] as const;
const ACLS: readonly ObjectCannedACL[] = ['private', 'public-read', 'public-read-write', 'authenticated-read', 'aws-exec-read', 'bucket-owner-read', 'bucket-owner-full-control'];

/** Parses an `s3://` URI into store options (credentials are left to the environment unless given). */
export function parseS3Uri(uri: string, overrides: Partial<S3StoreOptions> = {}): S3StoreOptions {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new StoreError(`output store "${uri}"`, 'not a valid s3:// URI');
  }
  const where = `output store "${uri}"`;
  if (url.protocol !== 's3:') throw new StoreError(where, 'expected an s3:// URI');
  if (!url.hostname) throw new StoreError(where, 'the bucket name is missing (s3://bucket/prefix)');
  for (const k of url.searchParams.keys()) {
    if (!(S3_PARAMS as readonly string[]).includes(k)) throw new StoreError(where, `unknown parameter "${k}" (known: ${S3_PARAMS.join(', ')})`);
  }
  const q = url.searchParams;
  const bool = (k: string): boolean | undefined => {
    const v = q.get(k);
    if (v === null) return undefined;
    if (['true', '1', 'yes'].includes(v)) return true;
    if (['false', '0', 'no'].includes(v)) return false;
    throw new StoreError(where, `parameter ${k}="${v}" must be true or false`);
  };
  const mb = (k: string): number | undefined => {
    const v = q.get(k);
    if (v === null) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new StoreError(where, `parameter ${k}="${v}" must be a positive number of MiB`);
    return Math.round(n * 1024 * 1024);
  };
  const acl = q.get('acl');
  if (acl !== null && !(ACLS as readonly string[]).includes(acl)) throw new StoreError(where, `acl "${acl}" is not a canned ACL (${ACLS.join(', ')})`);
  const endpoint = q.get('endpoint') ?? undefined;
  const region = q.get('region') ?? undefined;
  const forcePathStyle = bool('path-style');
  const publicUrl = q.get('public-url') ?? undefined;
  const multipartThreshold = mb('multipart-threshold-mb');
  const partSize = mb('part-size-mb');
  return {
    bucket: url.hostname,
    prefix: decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, ''),
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(forcePathStyle !== undefined ? { forcePathStyle } : {}),
    ...(acl !== null ? { acl: acl as ObjectCannedACL } : {}),
    ...(publicUrl !== undefined ? { publicUrl } : {}),
    ...(multipartThreshold !== undefined ? { multipartThreshold } : {}),
    ...(partSize !== undefined ? { partSize } : {}),
    ...overrides,
  };
}

/** Opens the output store a URI names: a folder path, a `file:` URL, or an `s3://bucket/prefix?...` URI. */
export function openStore(uri: string, s3Overrides: Partial<S3StoreOptions> = {}): OutputStore {
  if (typeof uri !== 'string' || uri.trim().length === 0) throw new StoreError('output store', 'the URI is empty');
  if (uri.startsWith('s3://')) return new S3Store(parseS3Uri(uri, s3Overrides));
  if (uri.startsWith('file:')) {
    let path: string;
    try {
      path = fileURLToPath(uri);
    } catch (e) {
      throw new StoreError(`output store "${uri}"`, `not a valid file: URL (${(e as Error).message})`);
    }
    return new LocalStore(path);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw new StoreError(`output store "${uri}"`, 'unsupported scheme (use a folder path, file:///path or s3://bucket/prefix)');
  }
  return new LocalStore(uri);
}
