/**
 * API tokens. Only a SHA-256 of each token is stored (tokens are 256 random
 * bits, so a plain hash is enough: there is nothing to brute-force), and
 * comparison is constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { stmt } from './statements.ts';

/** 'admin' may do everything; 'node' may only report from a booting node. */
export type TokenScope = 'admin' | 'node';

const hash = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** Make a new random token (URL-safe, 43 characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Repository over the `tokens` table. */
export class TokenRepo {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  has(scope: TokenScope): boolean {
    return stmt(this.db, 'SELECT 1 FROM tokens WHERE name = ?').get(scope) !== undefined;
  }

  /** Store (replacing) the hash of a scope's token. */
  set(scope: TokenScope, token: string, now = Date.now()): void {
    stmt(this.db, 'INSERT INTO tokens (name, sha256, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, created_at = excluded.created_at')
      .run(scope, hash(token).toString('hex'), now);
  }

  /** Whether `token` is the current token of `scope` (constant-time). */
  verify(scope: TokenScope, token: string): boolean {
    const row = stmt(this.db, 'SELECT sha256 FROM tokens WHERE name = ?').get(scope) as { sha256: string } | undefined;
    if (!row) return false;
    return timingSafeEqual(Buffer.from(row.sha256, 'hex'), hash(token));
  }
}
