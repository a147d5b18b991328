/** Capture records in the state store: what ran, how it ended, and why. */
import type { DatabaseSync } from 'node:sqlite';

/** States a capture moves through; every one but 'running' is final. */
export type CaptureState = 'running' | 'done' | 'failed' | 'cancelled';
/** Phases of a running capture, in order. */
export type CapturePhase = 'queued' | 'probe' | 'rsync' | 'pack' | 'publish' | 'done';

/** One capture as the API shows it (stable field names). */
export interface CaptureRecord {
  id: string;
  name: string;
  source: string;
  state: CaptureState;
  phase: CapturePhase;
  version: number | null;
  errorCode: string | null;
  /** One line: what went wrong and what to do. */
  error: string | null;
  stats: Record<string, unknown> | null;
  startedAt: number;
  finishedAt: number | null;
}

interface Row {
  id: string;
  name: string;
  source: string;
  state: CaptureState;
  phase: CapturePhase;
  version: number | null;
  error_code: string | null;
  error: string | null;
  stats: string | null;
  started_at: number;
  finished_at: number | null;
}

const toRecord = (r: Row): CaptureRecord => ({
  id: r.id,
  name: r.name,
  source: r.source,
  state: r.state,
  phase: r.phase,
  version: r.version,
  errorCode: r.error_code,
  error: r.error,
  stats: r.stats === null ? null : (JSON.parse(r.stats) as Record<string, unknown>),
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

/** Repository over the `captures` table. */
export class CaptureRepo {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  create(r: { id: string; name: string; source: string }, now = Date.now()): CaptureRecord {
    this.db.prepare("INSERT INTO captures (id, name, source, state, phase, started_at) VALUES (?, ?, ?, 'running', 'queued', ?)").run(r.id, r.name, r.source, now);
    return this.get(r.id)!;
  }

  setPhase(id: string, phase: CapturePhase): void {
    this.db.prepare('UPDATE captures SET phase = ? WHERE id = ?').run(phase, id);
  }

  /** Record the end of a capture. */
  finish(id: string, f: { state: Exclude<CaptureState, 'running'>; version?: number; errorCode?: string; error?: string; stats?: unknown }, now = Date.now()): CaptureRecord {
    this.db
      .prepare('UPDATE captures SET state = ?, version = ?, error_code = ?, error = ?, stats = ?, finished_at = ?, phase = CASE WHEN ? = \'done\' THEN \'done\' ELSE phase END WHERE id = ?')
      .run(f.state, f.version ?? null, f.errorCode ?? null, f.error ?? null, f.stats === undefined ? null : JSON.stringify(f.stats), now, f.state, id);
    return this.get(id)!;
  }

  get(id: string): CaptureRecord | undefined {
    const row = this.db.prepare('SELECT * FROM captures WHERE id = ?').get(id) as Row | undefined;
    return row && toRecord(row);
  }

  /** Most recent first. */
  list(limit = 100): CaptureRecord[] {
    return (this.db.prepare('SELECT * FROM captures ORDER BY started_at DESC, rowid DESC LIMIT ?').all(limit) as unknown as Row[]).map(toRecord);
  }

  /** Captures a previous server process left 'running' (it died or was killed): they failed. */
  failInterrupted(now = Date.now()): number {
    return Number(
      this.db
        .prepare("UPDATE captures SET state = 'failed', error_code = 'CANCELLED', error = 'the server stopped during this capture: capture again', finished_at = ? WHERE state = 'running'")
        .run(now).changes,
    );
  }
}
