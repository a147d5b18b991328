import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
      expect(statSync(paths.nodeKey).mode & 0o777).toBe(0o600);
      expect(statSync(paths.bmcKey).mode & 0o777).toBe(0o600);
    } finally {
      store.db.close();
    }
  });

  it('keeps the node key across starts (node tokens stay valid), makes it 0600 again, and drops the old shared node token', () => {
    dir = mkdtempSync(join(tmpdir(), 'imgsrv-data-'));
    const data = join(dir, 'data');
    const first = initDataDir(data);
    const token = first.nodes.tokenFor('52:54:00:00:00:01');
    first.store.db.close();
    chmodSync(first.paths.nodeKey, 0o644);
    writeFileSync(join(data, 'node.token'), 'the-old-shared-token\n');
    const again = initDataDir(data);
    try {
      expect(again.created).toEqual([]);
      expect(again.nodes.macOf(token)).toBe('52:54:00:00:00:01');
      expect(statSync(again.paths.nodeKey).mode & 0o777).toBe(0o600);
      expect(existsSync(join(data, 'node.token'))).toBe(false);
    } finally {
      again.store.db.close();
    }
  });
});
