/**
 * In-use locks on image versions. A deployment (a later issue) takes a lock
 * on the version it streams to nodes; `images rm` refuses a locked version.
 * Locks live in the state store, so they survive a restart of the server.
 */
import type { DatabaseSync } from 'node:sqlite';

/** One lock on NAME@VERSION. */
export interface ImageLock {
  name: string;
  version: number;
  holder: string;
  reason: string | null;
  createdAt: number;
}

/** Repository over the `image_locks` table. */
export class ImageLocks {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** Take (or refresh) `holder`'s lock on NAME@VERSION. */
  acquire(name: string, version: number, holder: string, reason?: string, now = Date.now()): void {
    this.db
      .prepare('INSERT INTO image_locks (name, version, holder, reason, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET reason = excluded.reason')
      .run(name, version, holder, reason ?? null, now);
  }

  /** Drop `holder`'s lock; returns whether it held one. */
  release(name: string, version: number, holder: string): boolean {
    return Number(this.db.prepare('DELETE FROM image_locks WHERE name = ? AND version = ? AND holder = ?').run(name, version, holder).changes) > 0;
  }

  /** Locks on one version (empty = free to remove). */
  holders(name: string, version: number): ImageLock[] {
    const rows = this.db.prepare('SELECT * FROM image_locks WHERE name = ? AND version = ? ORDER BY created_at').all(name, version) as unknown as Array<{
      name: string;
      version: number;
      holder: string;
      reason: string | null;
      created_at: number;
    }>;
    return rows.map((r) => ({ name: r.name, version: r.version, holder: r.holder, reason: r.reason, createdAt: r.created_at }));
  }
}
