import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from './db.ts';
import { DEFAULT_EVENT_RETENTION } from './events.ts';
import { inTransaction } from './transaction.ts';

const DAY = 86_400_000;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const count = (s: Store) => (s.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
const ids = (s: Store) => (s.db.prepare('SELECT id FROM events ORDER BY id').all() as Array<{ id: number }>).map((r) => r.id);

describe('event log retention', () => {
  it('defaults to 30 days and 100,000 events', () => {
    expect(DEFAULT_EVENT_RETENTION).toEqual({ maxAgeMs: 30 * DAY, maxCount: 100_000 });
  });

  it('inserting past the cap never holds more than the cap, and keeps the newest', () => {
    const s = openStore(':memory:');
    s.events.setRetention({ maxAgeMs: 0, maxCount: 300 });
    let last = 0;
    for (let i = 0; i < 2000; i++) {
      last = s.events.add('node.report', `report ${i}`, { mac: 'aa:bb:cc:00:00:01' }).id;
      expect(count(s)).toBeLessThanOrEqual(300);
    }
    const kept = ids(s);
    // The newest, contiguous up to the last insert; trimmed a batch (1 % of the cap) at a time.
    expect(kept.at(-1)).toBe(last);
    expect(kept.length).toBeGreaterThanOrEqual(297);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => last - kept.length + 1 + i));
    expect(s.events.list({ afterId: last - 1 })[0]?.message).toBe('report 1999');
    s.close();
  });

  it('drops events past the age limit: what older runs left when the config applies, and as time passes', () => {
    const s = openStore(':memory:');
    const now = Date.now();
    inTransaction(s.db, () => {
      // Written straight to the table: as an older imgsrv without limits left them.
      const ins = s.db.prepare('INSERT INTO events (at, kind, message) VALUES (?, ?, ?)');
      for (let i = 0; i < 50; i++) ins.run(now - 40 * DAY + i, 'old', `old ${i}`);
      for (let i = 0; i < 50; i++) ins.run(now - 2 * DAY + i, 'recent', `recent ${i}`);
    });
    expect(s.events.setRetention(DEFAULT_EVENT_RETENTION)).toBe(50);
    expect(new Set(s.events.list({ limit: 1000 }).map((e) => e.kind))).toEqual(new Set(['recent']));

    // A day's limit; then 13 hours pass with no trim: the first insert after an hour applies the age limit.
    s.events.setRetention({ maxAgeMs: DAY, maxCount: 100_000 });
    s.events.add('half-day', 'twelve hours before the next one', { at: now - 12 * 3_600_000 });
    s.events.add('soon', 'within the hour: no trim yet');
    expect(s.events.list({ limit: 1000 }).map((e) => e.kind)).toEqual(['half-day', 'soon']);
    vi.useFakeTimers({ now: now + 13 * 3_600_000 });
    try {
      s.events.add('later', 'thirteen hours on');
    } finally {
      vi.useRealTimers();
    }
    expect(s.events.list({ limit: 1000 }).map((e) => e.kind)).toEqual(['soon', 'later']);
    s.close();
  });

  it('trims with range deletes on the primary key and the events_at index, never a table scan', () => {
    const s = openStore(':memory:');
    const plan = (sql: string) => (s.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((r) => r.detail).join('; ');
    expect(plan('DELETE FROM events WHERE id <= 5')).toMatch(/SEARCH events USING INTEGER PRIMARY KEY \(rowid<\?\)/);
    expect(plan('DELETE FROM events WHERE at < 5')).toMatch(/SEARCH events USING (COVERING )?INDEX events_at \(at<\?\)/);
    expect(plan('SELECT max(id) AS top FROM events')).not.toMatch(/SCAN/);
    s.close();
  });

  it('2,000 reports of 8 KiB under a cap of 200 leave the file at the cap\'s size, not 17 MB', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgsrv-events-'));
    dirs.push(dir);
    const s = openStore(join(dir, 'imgsrv.db'));
    s.events.setRetention({ maxAgeMs: 0, maxCount: 200 });
    const message = 'x'.repeat(8192);
    // One transaction per 100 reports: the test is about space, not fsyncs.
    for (let b = 0; b < 20; b++) inTransaction(s.db, () => {
      for (let i = 0; i < 100; i++) s.events.add('node.report', message, { mac: 'aa:bb:cc:00:00:01' });
    });
    s.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    expect(count(s)).toBeLessThanOrEqual(200);
    // Deleted rows' pages are reused: about 200 × 8 KiB plus the schema, not 2,000 × 8 KiB.
    expect(statSync(join(dir, 'imgsrv.db')).size).toBeLessThan(4 << 20);
    s.close();
  });
});
