/** The last verification of each image version, so listings show it without re-reading the image. */
import type { DatabaseSync } from 'node:sqlite';
import { stmt } from './statements.ts';

/** How the last `verify` of a version ended. */
export interface ImageCheck {
  ok: boolean;
  at: number;
  /** What did not match (empty when ok). */
  problems: string[];
}

/** Repository over the `image_checks` table. */
export class ImageCheckRepo {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  record(name: string, version: number, ok: boolean, problems: string[], now = Date.now()): void {
    stmt(
      this.db,
      `INSERT INTO image_checks (name, version, ok, at, detail) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (name, version) DO UPDATE SET ok = excluded.ok, at = excluded.at, detail = excluded.detail`,
    ).run(name, version, ok ? 1 : 0, now, JSON.stringify(problems));
  }

  get(name: string, version: number): ImageCheck | null {
    const r = stmt(this.db, 'SELECT ok, at, detail FROM image_checks WHERE name = ? AND version = ?').get(name, version) as
      | { ok: number; at: number; detail: string | null }
      | undefined;
    return r ? { ok: r.ok === 1, at: r.at, problems: r.detail === null ? [] : (JSON.parse(r.detail) as string[]) } : null;
  }

  forget(name: string, version: number): void {
    stmt(this.db, 'DELETE FROM image_checks WHERE name = ? AND version = ?').run(name, version);
  }
}
