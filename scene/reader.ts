/**
 * The scene-reader plug-in family: each reader recognises one kind of input (a folder of band files,
 * a Sentinel-2 .SAFE, a Landsat product, a STAC item) and opens it as a Scene. Readers register here,
 * in the order they are tried.
 */
import type { SatelliteRegistry } from '../satellites/registry.js';
import type { SatelliteSpec } from '../satellites/spec.js';
import type { Scene } from './types.js';
import type { UrlCheck } from './url-policy.js';

/** Limits that protect readers from hostile archives and downloads. */
export interface InputLimits {
  /** Most bytes an archive may expand to (default 64 GiB). */
  readonly maxExtractedBytes: number;
  /** Most entries an archive may hold (default 10,000). */
  readonly maxEntries: number;
  /** Largest ratio of expanded to compressed size for one entry (default 1000). */
  readonly maxCompressionRatio: number;
}

/** Default input limits. */
export const DEFAULT_LIMITS: InputLimits = {
  maxExtractedBytes: 64 * 1024 ** 3,
  maxEntries: 10_000,
  maxCompressionRatio: 1000,
};

/** What every reader gets besides the input. */
export interface ReaderContext {
  readonly registry: SatelliteRegistry;
  /** --satellite: a definition id, a path, or a definition. */
  readonly satellite?: string | SatelliteSpec;
  /** Folder for temporary extraction (default: the OS temp folder). */
  readonly workDir?: string;
  readonly limits: InputLimits;
  /** HTTP headers for remote inputs. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Checks every remote URL before it is read (a server's request-forgery policy); absent: any URL. */
  readonly checkUrl?: UrlCheck;
  /** Called when the input is an archive that must be extracted first; returns the opened scene. */
  readonly openInput: (input: string, ctx: ReaderContext) => Promise<Scene>;
}

/** One kind of scene input. */
export interface SceneReader {
  /** Short name shown in errors and `sharpstream info`. */
  readonly name: string;
  /** True when this reader recognises the input (a path or URL). Must be cheap and must not throw. */
  accepts(input: string): Promise<boolean>;
  /** Opens the input as a scene. */
  open(input: string, ctx: ReaderContext): Promise<Scene>;
}

const readers: SceneReader[] = [];

/** Adds a reader; readers added earlier are tried first unless `first` is set. */
export function registerReader(reader: SceneReader, first = false): void {
  if (readers.some((r) => r.name === reader.name)) return;
  if (first) readers.unshift(reader);
  else readers.push(reader);
}

/** The registered readers in the order they are tried. */
export function registeredReaders(): readonly SceneReader[] {
  return readers;
}
