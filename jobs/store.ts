/**
 * The jobs table: training (and any other long-running) jobs kept in the catalogue's SQLite database,
 * so that a restarted server knows which jobs were queued or running and can resume them.
 */
import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';

/** Where a job is in its life. */
export type JobStatus = 'queued' | 'running' | 'done' | 'error' | 'cancelled';

/** Every status, in life order. */
export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'done', 'error', 'cancelled'];

/** One job row, JSON columns parsed. */
export interface JobRecord {
  readonly id: string;
  /** What kind of job ("train"). */
  readonly kind: string;
  /** The model (DEEPaaS name) it belongs to. */
  readonly model: string;
  readonly status: JobStatus;
  /** Arguments as the client gave them (after validation). */
  readonly args: Readonly<Record<string, unknown>>;
  readonly created: string;
  readonly started: string | null;
  readonly finished: string | null;
  /** Latest progress (epoch, step, loss, ...), or null before the first event. */
  readonly progress: Readonly<Record<string, unknown>> | null;
  /** What a finished job produced. */
  readonly result: Readonly<Record<string, unknown>> | null;
  /** Why a job failed or was cancelled. */
  readonly message: string | null;
  /** How many times the job was (re)started. */
  readonly attempts: number;
}

/** Fields a job update may change. */
export type JobPatch = Partial<Pick<JobRecord, 'status' | 'started' | 'finished' | 'progress' | 'result' | 'message' | 'attempts'>>;

interface Row {
  id: string;
  kind: string;
  model: string;
  status: string;
  args: string;
  created: string;
  started: string | null;
  finished: string | null;
  progress: string | null;
  result: string | null;
  message: string | null;
  attempts: number;
}

function parseJson(text: string | null): Record<string, unknown> | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function fromRow(r: Row): JobRecord {
  return {
    id: r.id,
    kind: r.kind,
    model: r.model,
    status: (JOB_STATUSES as readonly string[]).includes(r.status) ? (r.status as JobStatus) : 'error',
    args: parseJson(r.args) ?? {},
    created: r.created,
    started: r.started,
    finished: r.finished,
    progress: parseJson(r.progress),
    result: parseJson(r.result),
    message: r.message,
    attempts: r.attempts,
  };
}

/** The jobs table on a better-sqlite3 database (created when missing). Synchronous, as better-sqlite3. */
export class JobStore {
  constructor(readonly db: Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS jobs (
      id TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      model TEXT NOT NULL,
      status TEXT NOT NULL,
      args TEXT NOT NULL,
      created TEXT NOT NULL,
      started TEXT,
      finished TEXT,
      progress TEXT,
      result TEXT,
      message TEXT,
      attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS jobs_kind_model ON jobs (kind, model, created);
    CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);`);
  }

  /** Inserts a new queued job and returns it. */
  create(kind: string, model: string, args: Readonly<Record<string, unknown>>, id: string = randomUUID()): JobRecord {
    const created = new Date().toISOString();
    this.db
      .prepare('INSERT INTO jobs (id, kind, model, status, args, created) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, kind, model, 'queued', JSON.stringify(args), created);
    return this.get(id)!;
  }

  /** The job with this id, or null. */
  get(id: string): JobRecord | null {
    const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  /** Jobs of a kind (and model), oldest first. */
  list(kind: string, model?: string): JobRecord[] {
    const rows = (
      model === undefined
        ? this.db.prepare('SELECT * FROM jobs WHERE kind = ? ORDER BY created, rowid').all(kind)
        : this.db.prepare('SELECT * FROM jobs WHERE kind = ? AND model = ? ORDER BY created, rowid').all(kind, model)
    ) as Row[];
    return rows.map(fromRow);
  }

  /** Jobs of a kind in any of these statuses, oldest first. */
  withStatus(kind: string, statuses: readonly JobStatus[]): JobRecord[] {
    if (statuses.length === 0) return [];
    const rows = this.db
      .prepare(`SELECT * FROM jobs WHERE kind = ? AND status IN (${statuses.map(() => '?').join(', ')}) ORDER BY created, rowid`)
      .all(kind, ...statuses) as Row[];
    return rows.map(fromRow);
  }

  /** Applies a patch to a job and returns the updated row (null when it does not exist). */
  update(id: string, patch: JobPatch): JobRecord | null {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      sets.push(`${k} = ?`);
      values.push(k === 'progress' || k === 'result' ? (v === null ? null : JSON.stringify(v)) : v);
    }
    if (sets.length) this.db.prepare(`UPDATE jobs SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
    return this.get(id);
  }

  /**
   * Moves a job to a final status unless it already is in one (a cancel racing a finish keeps
   * whichever came first); returns whether this call changed it.
   */
  finish(id: string, status: 'done' | 'error' | 'cancelled', fields: Pick<JobPatch, 'result' | 'message' | 'progress'> = {}): boolean {
    const info = this.db
      .prepare(`UPDATE jobs SET status = ?, finished = ?, result = COALESCE(?, result), message = COALESCE(?, message), progress = COALESCE(?, progress) WHERE id = ? AND status IN ('queued', 'running')`)
      .run(
        status,
        new Date().toISOString(),
        fields.result ? JSON.stringify(fields.result) : null,
        fields.message ?? null,
        fields.progress ? JSON.stringify(fields.progress) : null,
        id,
      );
    return info.changes > 0;
  }
}
