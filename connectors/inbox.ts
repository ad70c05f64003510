/**
 * The inbox: a folder watched for scenes. A scene (folder, archive, STAC item file, a link to one, or
 * a scene-event JSON `{ "href": ... }`) dropped into it is delivered once it has stopped changing;
 * when its outputs are durable (ack) it is moved to `done/`, when it fails (nack) to `failed/` with a
 * `<name>.error.txt` note. What is still in the inbox after a restart was not finished and is
 * delivered again, so each scene is processed once (outputs are idempotent if a crash repeats work).
 * Names that look temporary or partial (`.x`, `~x`, `x.tmp`, `x.part`, `x.partial`, `x.crdownload`,
 * `x.download`, `x.lock`) are ignored, as are `done/` and `failed/`.
 */
import { appendFile, lstat, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { Observable } from 'rxjs';
import { parseSceneEvent, sceneIdFromHref, type Delivery, type SceneEvent, type SceneSource } from '../pipeline/types.js';

/** Options of inboxSource. */
export interface InboxOptions {
  /** The inbox folder (created if missing). */
  readonly dir: string;
  /** How often the folder is scanned (default 1000 ms). */
  readonly pollMs?: number;
  /** How long an entry must stay unchanged before it is read (default 2000 ms). */
  readonly stableMs?: number;
  /** Deliver what is in the inbox once it is stable, then complete (default false: keep watching). */
  readonly once?: boolean;
  /** Added to each event (e.g. models to use). */
  readonly defaults?: Partial<Pick<SceneEvent, 'models' | 'satellite'>>;
}

const IGNORED = /^[.~_]|(\.(tmp|temp|part|partial|crdownload|download|lock|swp)|~)$/i;

/** Whether a name in the inbox is skipped as temporary, partial or bookkeeping. */
export function ignoredInboxName(name: string): boolean {
  return name === 'done' || name === 'failed' || IGNORED.test(name) || name.endsWith('.error.txt');
}

/** Size, file count and newest modification time of a file or folder tree (links followed). */
async function signature(path: string, depth = 0): Promise<{ size: number; files: number; mtime: number }> {
  const st = await stat(path);
  if (!st.isDirectory() || depth > 8) return { size: st.size, files: 1, mtime: st.mtimeMs };
  let acc = { size: 0, files: 0, mtime: st.mtimeMs };
  for (const e of await readdir(path)) {
    const s = await signature(join(path, e), depth + 1);
    acc = { size: acc.size + s.size, files: acc.files + s.files, mtime: Math.max(acc.mtime, s.mtime) };
  }
  return acc;
}

/** A free name in a folder: the name itself, or name-<n>. */
async function freeName(dir: string, name: string): Promise<string> {
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? name : `${name}-${n}`;
    try {
      await lstat(join(dir, candidate));
    } catch {
      return candidate;
    }
  }
}

/** The scene event for an inbox entry: a JSON file is a scene event or a STAC item file, anything else a scene. */
async function eventFor(path: string, version: string, defaults: InboxOptions['defaults']): Promise<SceneEvent> {
  let event: SceneEvent;
  if (/\.json$/i.test(path) && (await stat(path)).isFile()) {
    const parsed = parseSceneEvent(await readFile(path));
    // A STAC item file is opened as a file (its assets resolve relative to it); an event names its scene.
    event = parsed.item ? { ...parsed, href: path } : { ...parsed, href: resolve(path, '..', parsed.href) };
  } else {
    event = { id: sceneIdFromHref(path), href: path };
  }
  return { ...defaults, ...event, ...(event.version ? {} : { version }) };
}

/** A scene source watching a folder. */
export function inboxSource(options: InboxOptions): SceneSource {
  const dir = resolve(options.dir);
  const pollMs = options.pollMs ?? 1000;
  const stableMs = options.stableMs ?? 2000;
  const inFlight = new Set<string>();
  const seen = new Map<string, { key: string; since: number }>();
  let stop: (() => void) | null = null;

  const move = async (name: string, to: 'done' | 'failed', note?: string): Promise<void> => {
    const target = join(dir, to);
    await mkdir(target, { recursive: true });
    const free = await freeName(target, name);
    await rename(join(dir, name), join(target, free));
    if (note !== undefined) await appendFile(join(target, `${free}.error.txt`), note);
  };

  return {
    name: `inbox:${dir}`,
    deliveries(): Observable<Delivery<SceneEvent>> {
      return new Observable<Delivery<SceneEvent>>((sub) => {
        let timer: NodeJS.Timeout | null = null;
        let closed = false;
        let scanning = false;
        // --once: entries present at the first scan, delivered when stable; complete when all are out.
        let pendingOnce: Set<string> | null = null;

        const finishOnceIfDone = () => {
          if (options.once && pendingOnce && pendingOnce.size === 0 && inFlight.size === 0) {
            closed = true;
            sub.complete();
          }
        };

        const scan = async (): Promise<void> => {
          if (closed || scanning) return;
          scanning = true;
          try {
            await mkdir(dir, { recursive: true });
            const names = (await readdir(dir)).filter((n) => !ignoredInboxName(n)).sort();
            if (options.once && pendingOnce === null) pendingOnce = new Set(names);
            const now = Date.now();
            for (const name of names) {
              if (closed) return;
              if (inFlight.has(name) || (pendingOnce && !pendingOnce.has(name))) continue;
              const path = join(dir, name);
              let sig;
              try {
                sig = await signature(path);
              } catch {
                try {
                  // A broken link or unreadable entry: delivered as it is, so it fails with a note.
                  const l = await lstat(path);
                  sig = { size: l.size, files: 1, mtime: l.mtimeMs };
                } catch {
                  pendingOnce?.delete(name); // vanished
                  continue;
                }
              }
              const key = `${sig.size}:${sig.files}:${sig.mtime}`;
              const prev = seen.get(name);
              if (!prev || prev.key !== key) {
                seen.set(name, { key, since: now });
                if (stableMs > 0) continue;
              } else if (now - prev.since < stableMs) continue;
              seen.delete(name);
              inFlight.add(name);
              pendingOnce?.delete(name);
              let event: SceneEvent;
              try {
                event = await eventFor(path, `${sig.size}-${Math.round(sig.mtime)}`, options.defaults);
              } catch (e) {
                inFlight.delete(name);
                await move(name, 'failed', `${new Date().toISOString()} ${name}: not a valid scene event: ${(e as Error).message}\n`).catch(() => undefined);
                continue;
              }
              let settled = false;
              const settle = async (to: 'done' | 'failed', note?: string) => {
                if (settled) return;
                settled = true;
                try {
                  await move(name, to, note);
                } finally {
                  inFlight.delete(name);
                  finishOnceIfDone();
                }
              };
              sub.next({
                value: event,
                source: `inbox:${name}`,
                attempt: 1,
                ack: () => settle('done'),
                nack: (error: Error) => settle('failed', `${new Date().toISOString()} ${name}: ${error.stack ?? error.message}\n`),
              });
            }
            finishOnceIfDone();
          } catch (e) {
            if (!closed) sub.error(new Error(`inbox ${dir}: ${(e as Error).message}`, { cause: e }));
          } finally {
            scanning = false;
          }
        };

        const tick = () => {
          void scan().finally(() => {
            if (!closed) timer = setTimeout(tick, options.once ? Math.min(pollMs, 250) : pollMs);
          });
        };
        tick();
        stop = () => {
          closed = true;
          if (timer) clearTimeout(timer);
          sub.complete();
        };
        return () => {
          closed = true;
          if (timer) clearTimeout(timer);
        };
      });
    },
    async close(): Promise<void> {
      stop?.();
    },
  };
}

/** Writes a scene event file into an inbox atomically (temporary name, then rename), for scripts and tests. */
export async function dropEvent(inbox: string, name: string, event: SceneEvent | Record<string, unknown>): Promise<string> {
  await mkdir(inbox, { recursive: true });
  const tmp = join(inbox, `.${basename(name)}.tmp`);
  await writeFile(tmp, JSON.stringify(event));
  const path = join(inbox, basename(name).endsWith('.json') ? basename(name) : `${basename(name)}.json`);
  await rename(tmp, path);
  return path;
}
