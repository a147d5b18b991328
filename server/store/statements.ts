/**
 * Prepared statements cached per connection. Compiling SQL costs more than
 * running it: a DHCP packet runs about fifteen statements, and preparing each
 * anew made SQLite the bulk of its CPU time (issue 7 load test).
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

const caches = new WeakMap<DatabaseSync, Map<string, StatementSync>>();

/**
 * The prepared statement for `sql` on `db`, compiled at first use. Only for
 * constant SQL text (values go in parameters), so the cache stays bounded; a
 * statement must not be reused while an `iterate()` over it is open.
 */
export function stmt(db: DatabaseSync, sql: string): StatementSync {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = new Map()));
  let s = cache.get(sql);
  if (!s) cache.set(sql, (s = db.prepare(sql)));
  return s;
}

/** Drop `db`'s cached statements (when it is closed). */
export function forgetStatements(db: DatabaseSync): void {
  caches.delete(db);
}
