/** One SQLite write transaction: all of `fn`'s writes land, or none do. */
import type { DatabaseSync } from 'node:sqlite';

/** Run `fn` inside BEGIN IMMEDIATE … COMMIT; any throw rolls back and is rethrown. */
export function inTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const out = fn();
    db.exec('COMMIT');
    return out;
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}
