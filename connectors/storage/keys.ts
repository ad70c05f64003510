/**
 * Output keys are relative, slash-separated paths (`<collection>/<output id>/<file>`): the same key
 * names a file under a folder and an object under a bucket prefix, so it must be safe for both.
 */

/** A key or store URI that cannot be used, with the reason. */
export class StoreError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'StoreError';
  }
}

/** Checks a key (relative, no empty, `.` or `..` segments, no backslashes or control characters) and returns it. */
export function checkKey(key: string, where = 'output store'): string {
  if (typeof key !== 'string' || key.length === 0) throw new StoreError(where, 'the key is empty');
  if (key.startsWith('/')) throw new StoreError(where, `key "${key}" must be relative (no leading slash)`);
  if (key.includes('\\')) throw new StoreError(where, `key "${key}" must use forward slashes only`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) throw new StoreError(where, `key ${JSON.stringify(key)} contains control characters`);
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') throw new StoreError(where, `key "${key}" has an empty, "." or ".." segment`);
  }
  if (Buffer.byteLength(key) > 1024) throw new StoreError(where, `key "${key.slice(0, 60)}..." is longer than 1024 bytes`);
  return key;
}

/** Joins a prefix (possibly empty, with or without slashes around it) and a key into one key. */
export function joinKey(prefix: string, key: string): string {
  const p = prefix.replace(/^\/+|\/+$/g, '');
  return p.length === 0 ? key : `${p}/${key}`;
}

/** Percent-encodes a key for a URL path, keeping its slashes (as S3 object URLs are written). */
export function encodeKeyPath(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}
