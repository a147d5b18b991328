import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../store/db.ts';
import { BmcCredentialStore } from './credentials.ts';
import { loadSecretKey, SecretBox } from './secret-box.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'imgsrv-bmc-'));
  dirs.push(d);
  return d;
};
const mac = '52:54:00:00:00:01';

describe('SecretBox', () => {
  it('round-trips, and refuses another context or another key', () => {
    const box = new SecretBox(Buffer.alloc(32, 7));
    const sealed = box.seal('hunter2', 'node:a');
    expect(box.open(sealed, 'node:a')).toBe('hunter2');
    expect(Buffer.from(sealed).includes('hunter2')).toBe(false);
    expect(() => box.open(sealed, 'node:b')).toThrow(/does not open with bmc.key/);
    expect(() => new SecretBox(Buffer.alloc(32, 8)).open(sealed, 'node:a')).toThrow(/does not open/);
    expect(box.seal('hunter2', 'node:a').equals(sealed)).toBe(false); // a fresh IV each time
  });

  it('makes its key file once, 0600', () => {
    const f = join(tmp(), 'bmc.key');
    const a = loadSecretKey(f);
    expect(a.created).toBe(true);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(loadSecretKey(f)).toEqual({ key: a.key, created: false });
  });
});

describe('BmcCredentialStore', () => {
  it('stores the password sealed: not in the database file, not in the view', () => {
    const d = tmp();
    const store = openStore(join(d, 'imgsrv.db'));
    const creds = new BmcCredentialStore(store, new SecretBox(loadSecretKey(join(d, 'bmc.key')).key));
    const view = creds.setNode(mac, { address: '198.18.0.9', user: 'admin', password: 'Very-Secret-Pw-123' });
    expect(view).toMatchObject({ address: '198.18.0.9', user: 'admin', login: 'node', passwordSet: true });
    expect(JSON.stringify(view)).not.toContain('Very-Secret');
    expect(creds.credentials(mac)).toMatchObject({ user: 'admin', password: 'Very-Secret-Pw-123' });
    store.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    store.close();
    expect(readFileSync(join(d, 'imgsrv.db')).includes('Very-Secret-Pw-123')).toBe(false);
  });

  it("falls back to the group's login, keeps a password when only the address changes, and says what is missing", () => {
    const store = openStore(':memory:');
    const creds = new BmcCredentialStore(store, new SecretBox(Buffer.alloc(32, 1)));
    creds.setNode(mac, { address: 'bmc-1' });
    expect(() => creds.credentials(mac)).toThrow(/has no user and password, nor has its group/);
    expect(() => creds.credentials('52:54:00:00:00:02')).toThrow(/node 52:54:00:00:00:02 has no BMC/);
    store.groups.upsert('rack1', {});
    store.nodes.setGroup(mac, 'rack1');
    creds.setGroup('rack1', 'ops', 'group-pw');
    expect(creds.view(mac)).toMatchObject({ user: 'ops', login: 'group', passwordSet: true });
    expect(creds.credentials(mac)).toEqual({ address: 'bmc-1', port: undefined, user: 'ops', password: 'group-pw' });
    creds.setNode(mac, { address: 'bmc-1', user: 'root', password: 'own' });
    creds.setNode(mac, { address: 'bmc-2', user: 'root' });
    expect(creds.credentials(mac)).toMatchObject({ address: 'bmc-2', user: 'root', password: 'own' });
    expect(() => creds.setNode(mac, { address: 'bmc-2', user: 'other' })).toThrow(/no password stored for BMC user other/);
    expect(() => creds.setNode(mac, { address: 'bmc-2', password: 'x' })).toThrow(/needs its user/);
  });
});
