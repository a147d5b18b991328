/** One SQLite write transaction: all of `fn`'s writes land, or none do. */
import type { DatabaseSync } from 'node:sqlite';

let savepoints = 0;

/**
 * Run `fn` inside BEGIN IMMEDIATE … COMMIT; any throw rolls back and is rethrown.
 * Inside another transaction it runs as a SAVEPOINT, so it still lands whole
 * or not at all, and commits with the outer one.
 */
export function inTransaction<T>(db: DatabaseSync, fn: () => T): T {
  if (db.isTransaction) return inSavepoint(db, fn);
  db.exec('BEGIN IMMEDIATE');
  try {
    const out = fn();
    // SQLite ends a transaction by itself on some errors (SQLITE_FULL, IOERR, BUSY, NOMEM) even when
    // `fn` caught them; the writes after that were not part of it, so report a failure, never a commit.
    if (!db.isTransaction) throw new Error('the transaction was rolled back by SQLite');
    db.exec('COMMIT');
    return out;
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

function inSavepoint<T>(db: DatabaseSync, fn: () => T): T {
  const name = `sp${++savepoints}`;
  db.exec(`SAVEPOINT ${name}`);
  try {
    const out = fn();
    db.exec(`RELEASE ${name}`);
    return out;
  } catch (err) {
    if (db.isTransaction) db.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
    throw err;
  }
}
