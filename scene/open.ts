/**
 * Opens any scene input: a folder, an archive (extracted safely first), a STAC item file or URL.
 * Tries each registered reader in order; the first that accepts the input opens it.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { satellites, type SatelliteRegistry } from '../satellites/registry.js';
import type { SatelliteSpec } from '../satellites/spec.js';
import { archiveKind, extractArchive } from './archive.js';
import { DEFAULT_LIMITS, registeredReaders, registerReader, type InputLimits, type ReaderContext } from './reader.js';
import { bandFolderReader } from './readers/band-folder.js';
import { landsatReader } from './readers/landsat.js';
import { safeReader } from './readers/safe.js';
import { stacItemReader } from './readers/stac-item.js';
import { SceneError, type Scene } from './types.js';
import type { UrlCheck } from './url-policy.js';

registerReader(stacItemReader);
registerReader(safeReader);
registerReader(landsatReader);
registerReader(bandFolderReader);

/** Options of openScene. */
export interface OpenSceneOptions {
  /** --satellite: a definition id or a path to a definition file. */
  readonly satellite?: string | SatelliteSpec;
  readonly registry?: SatelliteRegistry;
  /** Folder for archive extraction (default: the OS temp folder). */
  readonly workDir?: string;
  readonly limits?: Partial<InputLimits>;
  readonly headers?: Readonly<Record<string, string>>;
  /** Checks every remote URL before it is read (see url-policy.ts); absent: any URL. */
  readonly checkUrl?: UrlCheck;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Extracts an archive to a temporary folder and opens what it holds; the folder goes when the scene closes. */
async function openArchive(path: string, ctx: ReaderContext): Promise<Scene> {
  const dir = await mkdtemp(join(ctx.workDir ?? tmpdir(), 'sharpstream-'));
  try {
    await extractArchive(path, dir, ctx.limits);
    // An archive usually wraps one product folder (X.SAFE/, LC08_.../); open that, else the root.
    const entries = await readdir(dir, { withFileTypes: true });
    const root = entries.length === 1 && entries[0].isDirectory() ? join(dir, entries[0].name) : dir;
    const scene = await dispatch(root, ctx, basename(path));
    return {
      ...scene,
      close: async () => {
        await scene.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function dispatch(input: string, ctx: ReaderContext, shownAs = input): Promise<Scene> {
  for (const reader of registeredReaders()) {
    if (await reader.accepts(input)) return reader.open(input, ctx);
  }
  throw new SceneError(
    shownAs,
    `not a scene sharpstream can read (tried: ${registeredReaders()
      .map((r) => r.name)
      .join(', ')}, and archives .zip/.tar/.tar.gz)`,
  );
}

/** Opens a scene from a folder, archive, STAC item file or URL. */
export async function openScene(input: string, options: OpenSceneOptions = {}): Promise<Scene> {
  const ctx: ReaderContext = {
    registry: options.registry ?? satellites(),
    ...(options.satellite ? { satellite: options.satellite } : {}),
    ...(options.workDir ? { workDir: options.workDir } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.checkUrl ? { checkUrl: options.checkUrl } : {}),
    limits: { ...DEFAULT_LIMITS, ...(options.limits ?? {}) },
    openInput: (i, c) => openSceneWith(i, c),
  };
  return openSceneWith(input, ctx);
}

async function openSceneWith(input: string, ctx: ReaderContext): Promise<Scene> {
  const isUrl = /^https?:\/\//i.test(input);
  if (isUrl && ctx.checkUrl) await ctx.checkUrl(input);
  if (!isUrl && !(await exists(input))) throw new SceneError(input, 'no such file or folder');
  if (!isUrl && archiveKind(input)) {
    const st = await stat(input);
    if (st.isFile()) return openArchive(input, ctx);
  }
  return dispatch(input, ctx);
}
