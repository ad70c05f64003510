/**
 * Where outputs go: a local folder by default, S3-compatible object storage for multi-machine
 * deployments. Keys are relative paths (`<collection>/<output id>/<file>`); hrefs are what a reader
 * opens (a file path or an http(s) URL that supports range requests).
 */

/** An output store (local folder, S3 bucket). */
export interface OutputStore {
  /** Short name for logs, e.g. `file:/data/out` or `s3://bucket/prefix`. */
  readonly name: string;
  /** Whether the object exists (complete: stores publish atomically). */
  exists(key: string): Promise<boolean>;
  /** Stores a local file under the key atomically and returns its href. */
  putFile(key: string, localPath: string, contentType: string): Promise<string>;
  /** Stores bytes under the key atomically and returns its href. */
  putBytes(key: string, bytes: Uint8Array, contentType: string): Promise<string>;
  /** Reads an object whole (small objects such as STAC items), or null when missing. */
  getBytes(key: string): Promise<Uint8Array | null>;
  /** The href of a key, whether or not it exists. */
  href(key: string): string;
}
