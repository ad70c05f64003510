/**
 * The real S3-compatible server for tests: S3Proxy over a filesystem blob store, started by the
 * project's own scripts (scripts/s3/start.sh and stop.sh, which fetch it from Maven Central on first
 * use and serve it on http://127.0.0.1:9000). Helpers to reach it, start it, and create and delete the
 * buckets a test works in. The server checks request signatures against the test credential below;
 * objects written with the public-read ACL are readable anonymously (as GDAL and geotiff.js read them).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { REPO_ROOT } from './data.js';

const run = promisify(execFile);
const START_SCRIPT = join(REPO_ROOT, 'scripts/s3/start.sh');
const STOP_SCRIPT = join(REPO_ROOT, 'scripts/s3/stop.sh');

/** The S3 endpoint tests talk to: `$S3_ENDPOINT`, default http://127.0.0.1:9000, without a trailing slash. */
export function s3Endpoint(): string {
  const raw = process.env.S3_ENDPOINT ?? 'http://127.0.0.1:9000';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`S3_ENDPOINT: "${raw}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`S3_ENDPOINT: "${raw}" is not an http(s) URL`);
  return url.href.replace(/\/+$/, '');
}

/** The test credential (the one scripts/s3/start.sh configures; override with S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY). */
export function s3Credentials(): { accessKeyId: string; secretAccessKey: string } {
  return {
    accessKeyId: process.env.S3_ACCESS_KEY_ID ?? 'sharpstream',
    secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? 'sharpstream-secret',
  };
}

/** A client for the test server: path-style, us-east-1, the test credential, no optional checksum headers. */
export function s3Client(): S3Client {
  return new S3Client({
    endpoint: s3Endpoint(),
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: s3Credentials(),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Why the endpoint is not an answering S3 server (GET / must carry an x-amz-request-id header), or null when it is. */
async function notReady(base: string): Promise<string | null> {
  try {
    const res = await fetch(`${base}/`, { signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return res.headers.has('x-amz-request-id') ? null : `GET / answered ${res.status} without an x-amz-request-id header`;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return err instanceof Error ? `${err.message}${cause ? ` (${cause})` : ''}` : String(err);
  }
}

/** Whether the S3 server answers right now (one quick probe). */
export async function s3Answers(base: string = s3Endpoint()): Promise<boolean> {
  return (await notReady(base)) === null;
}

function scriptEnv(): NodeJS.ProcessEnv {
  const url = new URL(s3Endpoint());
  if (!['127.0.0.1', 'localhost'].includes(url.hostname)) {
    throw new Error(`S3_ENDPOINT ${url.href} is not on this machine: scripts/s3 can only start or stop a local server`);
  }
  return { ...process.env, S3_PORT: url.port || '80', S3_HOST: '127.0.0.1' };
}

async function runScript(script: string): Promise<string> {
  try {
    const { stdout, stderr } = await run('bash', [script], { env: scriptEnv(), timeout: 300_000, maxBuffer: 1 << 22 });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message?: string };
    throw new Error(`${script} failed: ${e.message ?? String(err)}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/**
 * Starts the server with scripts/s3/start.sh unless one already answers, and reports whether this
 * call started it (so a test stops only what it started). The first start fetches S3Proxy (about a minute).
 */
export async function startS3(): Promise<{ startedHere: boolean; output: string }> {
  const base = s3Endpoint();
  if (await s3Answers(base)) return { startedHere: false, output: `an S3 server already answers on ${base}` };
  const output = await runScript(START_SCRIPT);
  const why = await notReady(base);
  if (why !== null) throw new Error(`scripts/s3/start.sh finished but ${base} is not ready: ${why}\n${output}`);
  return { startedHere: !/already running|already answers/.test(output), output };
}

/** Stops the server scripts/s3/start.sh started (its buckets are kept). */
export async function stopS3(): Promise<string> {
  return runScript(STOP_SCRIPT);
}

/** A bucket name no other test run uses: `<prefix>-<time>-<random>`, legal for S3 (lower case, at most 63 characters). */
export function uniqueBucket(prefix = 'test'): string {
  const safe = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 30);
  return `${safe}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Creates a bucket (an existing one is an error) and returns its name. */
export async function createBucket(name: string = uniqueBucket(), client: S3Client = s3Client()): Promise<string> {
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** Deletes every object of a bucket, then the bucket; a bucket that does not exist is not an error. */
export async function deleteBucket(name: string, client: S3Client = s3Client()): Promise<void> {
  try {
    for (;;) {
      const page = await client.send(new ListObjectsV2Command({ Bucket: name, MaxKeys: 1000 }));
      const keys = (page.Contents ?? []).map((o) => o.Key).filter((k): k is string => typeof k === 'string');
      for (const Key of keys) await client.send(new DeleteObjectCommand({ Bucket: name, Key }));
      if (!page.IsTruncated || keys.length === 0) break;
    }
    await client.send(new DeleteBucketCommand({ Bucket: name }));
  } catch (e) {
    if ((e as Error).name === 'NoSuchBucket' || (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return;
    throw e;
  }
}
