import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { migrate, openStore } from './db.ts';
import { MIGRATIONS } from './migrations.ts';
import { normalizeMac } from './nodes.ts';

const tmp = () => join(mkdtempSync(join(tmpdir(), 'imgsrv-store-')), 'imgsrv.db');

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
});
