/**
 * The event log: what happened, to which node, when. Bounded by age and by
 * count (DESIGN: every resource an unauthenticated packet can claim is
 * bounded; a node's reports land here): the oldest events go first.
 */
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

/** How long and how many events the log keeps. */
export interface EventRetention {
  /** Events older than this many ms go; 0 keeps them whatever their age. */
  maxAgeMs: number;
  /** The most events kept (the newest). */
  maxCount: number;
}

/** The defaults of the config's `events` section: 30 days, 100,000 events. */
export const DEFAULT_EVENT_RETENTION: Readonly<EventRetention> = { maxAgeMs: 30 * 86_400_000, maxCount: 100_000 };

/** With no trim for this long, the next insert trims (the age limit then holds on a quiet server too). */
const TRIM_INTERVAL_MS = 3_600_000;

type Listener = (ev: EventRecord) => void;

/** Repository over the `events` table, with in-process subscribers for live views. */
export class EventLog {
  private readonly db: DatabaseSync;
  private readonly listeners = new Set<Listener>();
  private retention: EventRetention = { ...DEFAULT_EVENT_RETENTION };
  private sinceTrim = 0;
  /** 0: the first insert after opening trims, so a store that grew under older limits comes back under these. */
  private lastTrimAt = 0;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** Set the limits (from the config) and apply them now. */
  setRetention(r: EventRetention): number {
    this.retention = { maxAgeMs: Math.max(0, r.maxAgeMs), maxCount: Math.max(1, Math.floor(r.maxCount)) };
    return this.trim();
  }

  /** Append an event and notify subscribers. */
  add(kind: string, message: string, opts: { mac?: string | undefined; data?: unknown; at?: number } = {}): EventRecord {
    const at = opts.at ?? Date.now();
    const data = opts.data === undefined ? null : JSON.stringify(opts.data);
    const res = stmt(this.db, 'INSERT INTO events (at, kind, mac, message, data) VALUES (?, ?, ?, ?, ?)')
      .run(at, kind, opts.mac ?? null, message, data);
    const ev: EventRecord = { id: Number(res.lastInsertRowid), at, kind, mac: opts.mac ?? null, message, data: opts.data ?? null };
    // Trimming is two indexed deletes, run once per batch of inserts rather than on each one.
    const now = Date.now();
    if (++this.sinceTrim >= this.batch() || now - this.lastTrimAt >= TRIM_INTERVAL_MS) this.trim(now);
    for (const l of this.listeners) l(ev);
    return ev;
  }

  /**
   * Delete events past the limits; returns how many went. By count: ids only
   * grow (AUTOINCREMENT) and only this deletes, so the newest N are the ids
   * above max(id) - N, a range delete on the primary key. It keeps one batch
   * below the cap, so the batch inserted before the next trim never takes
   * the log past it. By age: a range delete on the `events_at` index.
   */
  trim(now = Date.now()): number {
    this.sinceTrim = 0;
    this.lastTrimAt = now;
    const { maxAgeMs, maxCount } = this.retention;
    const top = (stmt(this.db, 'SELECT max(id) AS top FROM events').get() as { top: number | null }).top ?? 0;
    let gone = Number(stmt(this.db, 'DELETE FROM events WHERE id <= ?').run(top - (maxCount - this.batch())).changes);
    if (maxAgeMs > 0) gone += Number(stmt(this.db, 'DELETE FROM events WHERE at < ?').run(now - maxAgeMs).changes);
    return gone;
  }

  /** Inserts between trims: 1 % of the cap, at least 1, at most 1,000. */
  private batch(): number {
    return Math.min(1000, Math.max(1, Math.floor(this.retention.maxCount / 100)));
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
