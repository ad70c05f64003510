/**
 * Locates the shared real-data folder (../shared/data or $SHARPSTREAM_DATA). Tests that need it skip
 * with a message naming what is missing, except in CI (CI=true), where a missing folder fails.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The repository root. */
export const REPO_ROOT = repoRoot;

/** The shared data folder, whether or not it exists. */
export const DATA_DIR = process.env.SHARPSTREAM_DATA ? resolve(process.env.SHARPSTREAM_DATA) : resolve(repoRoot, '../shared/data');

/** Absolute path of a file or folder under the shared data folder. */
export function dataPath(...parts: string[]): string {
  return join(DATA_DIR, ...parts);
}

/**
 * Why a test needing these shared-data paths cannot run, or null when it can.
 * In CI a missing path is an error, not a skip.
 */
export function missingData(...parts: string[][]): string | null {
  const missing = parts.map((p) => dataPath(...p)).filter((p) => !existsSync(p));
  if (missing.length === 0) return null;
  const msg = `shared data missing: ${missing.join(', ')} (set SHARPSTREAM_DATA to the folder holding sharpstream's shared data)`;
  if (process.env.CI === 'true') throw new Error(msg);
  return msg;
}
