/**
 * Console sign-in sessions. The cookie carries 256 random bits; only their
 * SHA-256 is stored, so a copy of the database signs nobody in. Each session
 * has its own CSRF token, which the console sends back on every write.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { stmt } from './statements.ts';

/** A live session. */
export interface SessionRecord {
  csrfToken: string;
  createdAt: number;
  expiresAt: number;
}

const hash = (id: string): string => createHash('sha256').update(id, 'utf8').digest('hex');

/** Constant-time string equality (different lengths are simply unequal). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Repository over the `sessions` table. */
export class SessionRepo {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** Start a session; returns the cookie value (shown once) and the record. */
  create(ttlMs: number, address: string | null, now = Date.now()): { id: string; session: SessionRecord } {
    stmt(this.db, 'DELETE FROM sessions WHERE expires_at <= ?').run(now);
    const id = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(24).toString('base64url');
    stmt(this.db, 'INSERT INTO sessions (id_sha256, csrf, address, created_at, expires_at) VALUES (?, ?, ?, ?, ?)')
      .run(hash(id), csrfToken, address, now, now + ttlMs);
    return { id, session: { csrfToken, createdAt: now, expiresAt: now + ttlMs } };
  }

  /** The live session a cookie value names, if any. */
  get(id: string, now = Date.now()): SessionRecord | undefined {
    const row = stmt(this.db, 'SELECT csrf, created_at, expires_at FROM sessions WHERE id_sha256 = ?').get(hash(id)) as
      | { csrf: string; created_at: number; expires_at: number }
      | undefined;
    if (!row || row.expires_at <= now) return undefined;
    return { csrfToken: row.csrf, createdAt: row.created_at, expiresAt: row.expires_at };
  }

  /** End a session (sign-out). */
  remove(id: string): void {
    stmt(this.db, 'DELETE FROM sessions WHERE id_sha256 = ?').run(hash(id));
  }

  /** End every session (the admin password changed). */
  clear(): void {
    stmt(this.db, 'DELETE FROM sessions').run();
  }
}
