import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, openStore } from './db.ts';
import { MIGRATIONS } from './migrations.ts';
import { LAST_SEEN_STEP_MS, normalizeMac } from './nodes.ts';
import { stmt } from './statements.ts';
import { inTransaction } from './transaction.ts';

const dirs: string[] = [];
const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgsrv-store-'));
  dirs.push(dir);
  return join(dir, 'imgsrv.db');
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('state store', () => {
  it('migrates a new file to the latest version, and is idempotent', () => {
    const file = tmp();
    const s = openStore(file);
    expect(s.schemaVersion).toBe(MIGRATIONS.length);
    s.close();
    const again = openStore(file);
    expect((again.db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version).toBe(MIGRATIONS.length);
    again.close();
  });

  it('rolls a failing migration back and keeps the previous version', () => {
    const db = new DatabaseSync(':memory:');
    migrate(db, ['CREATE TABLE a (x)']);
    expect(() => migrate(db, ['CREATE TABLE a (x)', 'CREATE TABLE b (y); CREATE TABLE broken ('])).toThrow(/migration 2 failed/);
    expect((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version).toBe(1);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").get()).toBeUndefined();
  });

  it('refuses a store written by a newer imgsrv', () => {
    const db = new DatabaseSync(':memory:');
    db.exec('PRAGMA user_version = 99');
    expect(() => migrate(db)).toThrow(/newer than this imgsrv/);
  });

  it('keeps nodes, leases, events and tokens across a restart', () => {
    const file = tmp();
    const s = openStore(file);
    s.nodes.record({ mac: 'aa:bb:cc:00:00:01', arch: 7, firmware: 'uefi', ip: '198.18.0.100' }, 1000);
    s.nodes.assignHostname('aa:bb:cc:00:00:01', 'web1');
    s.nodes.record({ mac: 'aa:bb:cc:00:00:01', phase: 'booted' }, 2000);
    s.leases.upsert({ ip: '198.18.0.100', mac: 'aa:bb:cc:00:00:01', state: 'bound', expiresAt: 5000 });
    s.leases.setReservations([{ mac: 'aa:bb:cc:00:00:02', ip: '198.18.0.5', hostname: 'db1' }]);
    s.events.add('node.booted', 'booted', { mac: 'aa:bb:cc:00:00:01', data: { ip: '198.18.0.100' } });
    s.tokens.set('admin', 'secret-token');
    s.close();

    const r = openStore(file);
    expect(r.nodes.get('aa:bb:cc:00:00:01')).toMatchObject({ firmware: 'uefi', arch: 7, ip: '198.18.0.100', hostname: 'web1', phase: 'booted', firstSeen: 1000, lastSeen: 2000 });
    expect(r.leases.byMac('aa:bb:cc:00:00:01')).toEqual({ ip: '198.18.0.100', mac: 'aa:bb:cc:00:00:01', state: 'bound', expiresAt: 5000 });
    expect(r.leases.byIp('198.18.0.100')?.mac).toBe('aa:bb:cc:00:00:01');
    expect(r.leases.reservations()).toEqual([{ mac: 'aa:bb:cc:00:00:02', ip: '198.18.0.5', hostname: 'db1' }]);
    expect(r.events.list({ mac: 'aa:bb:cc:00:00:01' })[0]).toMatchObject({ kind: 'node.booted', data: { ip: '198.18.0.100' } });
    expect(r.tokens.verify('admin', 'secret-token')).toBe(true);
    expect(r.tokens.verify('admin', 'secret-tokem')).toBe(false);
    expect(r.tokens.verify('node', 'secret-token')).toBe(false);
    r.close();
  });

  it('stores only a hash of each token', () => {
    const s = openStore(':memory:');
    s.tokens.set('admin', 'plain-text-token');
    const dump = JSON.stringify(s.db.prepare('SELECT * FROM tokens').all());
    expect(dump).not.toContain('plain-text-token');
    s.close();
  });

  it('a sighting never erases what an earlier one learned', () => {
    const s = openStore(':memory:');
    s.nodes.record({ mac: 'aa:bb:cc:00:00:03', firmware: 'bios', arch: 0, ip: '198.18.0.7', phase: 'booted' });
    s.nodes.record({ mac: 'aa:bb:cc:00:00:03' });
    expect(s.nodes.get('aa:bb:cc:00:00:03')).toMatchObject({ firmware: 'bios', arch: 0, ip: '198.18.0.7', phase: 'booted' });
    s.close();
  });

  it('normalises MACs', () => {
    expect(normalizeMac('AA-BB-CC-DD-EE-FF')).toBe('aa:bb:cc:dd:ee:ff');
    expect(normalizeMac('aabb.ccdd.eeff')).toBe('aa:bb:cc:dd:ee:ff');
    expect(normalizeMac('aa:bb:cc:dd:ee')).toBeUndefined();
    expect(normalizeMac('gg:bb:cc:dd:ee:ff')).toBeUndefined();
  });

  it('prepares each statement once per connection', () => {
    const a = openStore(':memory:');
    const b = openStore(':memory:');
    const sql = 'SELECT value FROM settings WHERE key = ?';
    expect(stmt(a.db, sql)).toBe(stmt(a.db, sql));
    expect(stmt(a.db, sql)).not.toBe(stmt(b.db, sql));
    a.settings.set('k', 1);
    expect([a.settings.get('k'), b.settings.get('k')]).toEqual([1, undefined]);
    a.close();
    b.close();
  });

  it('nests a transaction as a savepoint: an inner failure undoes only its own writes', () => {
    const s = openStore(':memory:');
    inTransaction(s.db, () => {
      s.settings.set('outer', 1);
      expect(() =>
        inTransaction(s.db, () => {
          s.settings.set('inner', 2);
          throw new Error('inner fails');
        }),
      ).toThrow('inner fails');
      s.settings.set('after', 3);
    });
    expect([s.settings.get('outer'), s.settings.get('inner'), s.settings.get('after')]).toEqual([1, undefined, 3]);
    s.close();
  });

  it('never reports a commit for a transaction that ended early', () => {
    const s = openStore(':memory:');
    // What SQLite does by itself on SQLITE_FULL or IOERR, even when the caller caught the error.
    expect(() =>
      inTransaction(s.db, () => {
        s.settings.set('a', 1);
        s.db.exec('ROLLBACK');
        s.settings.set('b', 2);
      }),
    ).toThrow(/rolled back/);
    expect(s.db.isTransaction).toBe(false);
    s.close();
  });

  it('keeps reservations in memory, never ones a rollback undid', () => {
    const s = openStore(':memory:');
    const r1 = { mac: 'aa:bb:cc:00:00:01', ip: '198.18.0.5' };
    s.leases.setReservations([r1]);
    expect(s.leases.reservations()).toEqual([r1]);
    expect(() =>
      inTransaction(s.db, () => {
        s.leases.setReservations([{ mac: 'aa:bb:cc:00:00:02', ip: '198.18.0.6' }]);
        expect(s.leases.reservations()).toEqual([{ mac: 'aa:bb:cc:00:00:02', ip: '198.18.0.6' }]);
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(s.leases.reservations()).toEqual([r1]);
    s.leases.setReservations([]);
    expect(s.leases.reservations()).toEqual([]);
    s.close();
  });

  it('writes a DHCP sighting only when it changes something', () => {
    const s = openStore(':memory:');
    const mac = 'aa:bb:cc:00:00:04';
    const writes = () => Number((s.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n);
    expect(s.nodes.sight({ mac, firmware: 'bios', arch: 0 }, 1000)).toEqual({ created: true });
    let n = writes();
    // The REQUEST right after the DISCOVER: nothing new, no write.
    expect(s.nodes.sight({ mac, firmware: 'bios', arch: 0 }, 1005)).toEqual({ created: false });
    expect(writes()).toBe(n);
    // An address learned: written at once, with the time.
    s.nodes.sight({ mac, firmware: 'bios', arch: 0, ip: '198.18.0.9' }, 1010);
    expect(writes()).toBe(++n);
    expect(s.nodes.get(mac)).toMatchObject({ ip: '198.18.0.9', firmware: 'bios', arch: 0, firstSeen: 1000, lastSeen: 1010 });
    // Seen again later: lastSeen moves on; absent fields keep their value.
    s.nodes.sight({ mac }, 1010 + LAST_SEEN_STEP_MS);
    expect(s.nodes.get(mac)).toMatchObject({ ip: '198.18.0.9', lastSeen: 1010 + LAST_SEEN_STEP_MS });
    // A node removed from the inventory is new again at its next packet.
    s.nodes.remove(mac);
    expect(s.nodes.sight({ mac }, 5000)).toEqual({ created: true });
    s.close();
  });
});
