import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { initDataDir } from './data-dir.ts';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('initDataDir', () => {
  it('makes the data dir and the store root-only, also when someone else made the dir', () => {
    dir = mkdtempSync(join(tmpdir(), 'imgsrv-data-'));
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o755 });
    const { store, paths } = initDataDir(data);
    try {
      expect(statSync(data).mode & 0o777).toBe(0o700);
      expect(statSync(paths.db).mode & 0o777).toBe(0o600);
      expect(statSync(paths.adminToken).mode & 0o777).toBe(0o600);
    } finally {
      store.db.close();
    }
  });
});
