/**
 * Operator settings changed at run time (the default image blank nodes get,
 * the partitions kept on re-image), stored as JSON values by key so the API,
 * the CLI and the console change them without editing the config file.
 */
import type { DatabaseSync } from 'node:sqlite';
import { stmt } from './statements.ts';

/** Repository over the `settings` table. */
export class SettingsRepo {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** The stored value, or undefined when the key was never set (or was cleared). */
  get<T>(key: string): T | undefined {
    const row = stmt(this.db, 'SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  /** Store a value; undefined removes the key. */
  set(key: string, value: unknown): void {
    if (value === undefined) stmt(this.db, 'DELETE FROM settings WHERE key = ?').run(key);
    else stmt(this.db, 'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, JSON.stringify(value));
  }
}
