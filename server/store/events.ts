/** Append-only event log: what happened, to which node, when. */
import type { DatabaseSync } from 'node:sqlite';
import { stmt } from './statements.ts';

/** One logged event. */
export interface EventRecord {
  id: number;
  at: number;
  kind: string;
  mac: string | null;
  message: string;
  data: unknown;
}

type Listener = (ev: EventRecord) => void;

/** Repository over the `events` table, with in-process subscribers for live views. */
export class EventLog {
  private readonly db: DatabaseSync;
  private readonly listeners = new Set<Listener>();
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** Append an event and notify subscribers. */
  add(kind: string, message: string, opts: { mac?: string | undefined; data?: unknown; at?: number } = {}): EventRecord {
    const at = opts.at ?? Date.now();
    const data = opts.data === undefined ? null : JSON.stringify(opts.data);
    const res = stmt(this.db, 'INSERT INTO events (at, kind, mac, message, data) VALUES (?, ?, ?, ?, ?)')
      .run(at, kind, opts.mac ?? null, message, data);
    const ev: EventRecord = { id: Number(res.lastInsertRowid), at, kind, mac: opts.mac ?? null, message, data: opts.data ?? null };
    for (const l of this.listeners) l(ev);
    return ev;
  }

  /** Events after `afterId` (oldest first), optionally for one MAC, at most `limit`. */
  list(opts: { afterId?: number; mac?: string; limit?: number } = {}): EventRecord[] {
    const rows = stmt(
      this.db,
      `SELECT * FROM events WHERE id > :after AND (:mac IS NULL OR mac = :mac) ORDER BY id LIMIT :limit`,
    ).all({ after: opts.afterId ?? 0, mac: opts.mac ?? null, limit: opts.limit ?? 500 }) as unknown as Array<
      Omit<EventRecord, 'data'> & { data: string | null }
    >;
    return rows.map((r) => ({ ...r, data: r.data === null ? null : (JSON.parse(r.data) as unknown) }));
  }

  /** Subscribe to new events; returns the unsubscribe function. */
  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
