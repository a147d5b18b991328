import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from './db.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('state store durability', () => {
  it('opens in WAL mode with synchronous = FULL: a commit is on disk before the answer that relies on it leaves', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgsrv-durable-'));
    dirs.push(dir);
    const file = join(dir, 'imgsrv.db');
    for (let open = 0; open < 2; open++) {
      const s = openStore(file);
      expect(s.db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
      // 2 = FULL (0 OFF, 1 NORMAL, 3 EXTRA); a per-connection setting, so every open must set it.
      expect(s.db.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: 2 });
      s.close();
    }
  });
});
