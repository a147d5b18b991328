/**
 * Capture trust with real ssh, ssh-keyscan and sshd (the sample host in its
 * own namespace): a pinned fingerprint the host does not have fails in one
 * line and publishes nothing; the right one captures; an unpinned first
 * capture says which key it accepted and records it in meta.json; a changed
 * key is refused until the operator pins the new one; --known-hosts (hashed,
 * as Debian writes them) pins the same way.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, sh, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { runCli, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { startSampleHost, type SampleHost } from '../../lab/sample-host.ts';

const cli = runCli;
const run = (await labAvailable()) ? describe : describe.skip;

/** `ssh-keygen -lf` of a public key file: its SHA256 fingerprint. */
async function fingerprint(pub: string): Promise<string> {
  const out = await sh('ssh-keygen', ['-lf', pub]);
  return /(SHA256:[A-Za-z0-9+/]{43})/.exec(out)![1]!;
}

run('capture: pinning the sample host key', () => {
  let lab: Lab;
  let srv: LabHost;
  let server: LabServer;
  let sample: SampleHost;
  let hostFp: string;
  let wrongFp: string;
  let scratch: string;

  beforeAll(async () => {
    await sweepStaleLabs();
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
    sample = await startSampleHost(lab, { cidr: '198.18.0.10/24' });
    server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'off', '--http-port', '8080']);
    hostFp = await fingerprint(join(sample.root, 'etc/ssh/ssh_host_ed25519_key.pub'));
    // Another ed25519 key: what a different machine at the same address would show.
    wrongFp = await fingerprint(`${sample.wrongKey}.pub`);
    scratch = mkdtempSync(join(tmpdir(), 'imgsrv-hostkey-'));
  });
  afterAll(async () => {
    await server?.stop();
    await sample?.stop();
    await lab?.destroy();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    if (server) rmSync(server.data, { recursive: true, force: true });
  });

  const capture = (...extra: string[]) => cli(srv, server.data, ['capture', sample.address, '--name', 'hk', '--identity', sample.key, ...extra]);
  const versions = () => (existsSync(join(server.data, 'images', 'hk')) ? readdirSync(join(server.data, 'images', 'hk')).sort() : []);
  const meta = (v: number) => JSON.parse(readFileSync(join(server.data, 'images', 'hk', String(v), 'meta.json'), 'utf8')) as { source?: Record<string, string> };
  const knownHosts = () => join(server.data, 'ssh', 'known_hosts');
  const errorLines = (stderr: string) => stderr.trim().split('\n').filter((l) => l.startsWith('imgsrv:'));

  it('a pinned fingerprint the host does not have fails in one line, publishes nothing and learns nothing', async () => {
    const r = await capture('--host-key', wrongFp);
    expect(r.code, r.stderr).toBe(1);
    const lines = errorLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      `imgsrv: the ssh host key of root@198.18.0.10 does not match the pinned ${wrongFp} (the host offers ${hostFp} (ED25519)); nothing was captured: ` +
        "check the fingerprint on the host's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and pin that one: a different key can mean another machine answers at that address",
    );
    expect(versions()).toEqual([]);
    expect(existsSync(join(server.data, 'staging', 'hk'))).toBe(false);
    expect(existsSync(knownHosts()) ? readFileSync(knownHosts(), 'utf8') : '').not.toContain('198.18.0.10');
    // The private per-capture known_hosts is gone too.
    expect(readdirSync(join(server.data, 'ssh')).filter((n) => n.startsWith('capture-'))).toEqual([]);
  });

  it('an unpinned first capture accepts the key, says which, and records it in meta.json', async () => {
    const r = await capture('--json');
    expect(r.code, r.stderr + server.log().slice(-3000)).toBe(0);
    expect(r.stderr).toContain(`first capture of root@198.18.0.10: accepted its ssh host key ${hostFp} (ED25519)`);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'done', version: 1, hostKey: { fingerprint: hostFp, type: 'ED25519', trust: 'first-use' } });
    expect(meta(1).source).toEqual({ hostKey: hostFp, hostKeyType: 'ED25519', hostKeyTrust: 'first-use' });
    expect(server.log()).toMatch(new RegExp(`accepted the ssh host key of root@198\\.18\\.0\\.10 on first use: ${hostFp.replace(/[+/]/g, '\\$&')}`));
    // The next unpinned capture knows it.
    const again = await capture('--json');
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ version: 2, hostKey: { trust: 'remembered' } });
    expect(meta(2).source).toMatchObject({ hostKey: hostFp, hostKeyTrust: 'remembered' });
  });

  it('the right pinned fingerprint captures, and meta.json says it was pinned', async () => {
    const r = await capture('--host-key', hostFp, '--json');
    expect(r.code, r.stderr + server.log().slice(-3000)).toBe(0);
    expect(r.stderr).toContain(`ssh host key of root@198.18.0.10 ${hostFp} (ED25519) matches the pin`);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'done', version: 3 });
    expect(meta(3).source).toEqual({ hostKey: hostFp, hostKeyType: 'ED25519', hostKeyTrust: 'pinned' });
  });

  it('a changed key is refused without a pin; pinning the new key captures and replaces the remembered one', async () => {
    // What the server remembers is now another key: as if the host had been reinstalled (or impersonated).
    const wrongBlob = readFileSync(`${sample.wrongKey}.pub`, 'utf8').split(' ')[1]!;
    writeFileSync(knownHosts(), `198.18.0.10 ssh-ed25519 ${wrongBlob}\n`);
    const r = await capture();
    expect(r.code).toBe(1);
    const lines = errorLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^imgsrv: the ssh host key of root@198\.18\.0\.10 changed since the last capture; nothing was captured: .*--host-key/);
    expect(versions()).toEqual(['1', '2', '3']);

    const pinned = await capture('--host-key', hostFp);
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(versions()).toEqual(['1', '2', '3', '4']);
    const remembered = readFileSync(knownHosts(), 'utf8');
    expect(remembered).not.toContain(wrongBlob);
    const after = await capture('--json');
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout)).toMatchObject({ version: 5, hostKey: { fingerprint: hostFp, trust: 'remembered' } });
  });

  it('--known-hosts pins by a (hashed) known_hosts file: a wrong key fails, the right one captures', async () => {
    const hostBlob = readFileSync(join(sample.root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').split(' ')[1]!;
    const wrongBlob = readFileSync(`${sample.wrongKey}.pub`, 'utf8').split(' ')[1]!;
    const wrongFile = join(scratch, 'wrong_known_hosts');
    writeFileSync(wrongFile, `198.18.0.10 ssh-ed25519 ${wrongBlob}\nother.lab ssh-ed25519 ${hostBlob}\n`);
    await sh('ssh-keygen', ['-H', '-f', wrongFile]);
    const bad = await capture('--known-hosts', wrongFile);
    expect(bad.code).toBe(1);
    expect(errorLines(bad.stderr)).toEqual([
      "imgsrv: the ssh host key of root@198.18.0.10 does not match the pinned key; nothing was captured: check the key on the host's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and pin that one",
    ]);
    const noneFile = join(scratch, 'other_known_hosts');
    writeFileSync(noneFile, `other.lab ssh-ed25519 ${hostBlob}\n`);
    const none = await capture('--known-hosts', noneFile);
    expect(none.code).toBe(2);
    expect(errorLines(none.stderr)).toEqual([expect.stringMatching(/^imgsrv: the known_hosts file has no key for 198\.18\.0\.10: add the host's line/)]);
    expect(versions()).toEqual(['1', '2', '3', '4', '5']);

    const goodFile = join(scratch, 'known_hosts');
    writeFileSync(goodFile, `198.18.0.10 ssh-ed25519 ${hostBlob}\n`);
    await sh('ssh-keygen', ['-H', '-f', goodFile]);
    const good = await capture('--known-hosts', goodFile, '--json');
    expect(good.code, good.stderr).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({ version: 6, hostKey: { fingerprint: hostFp, trust: 'pinned' } });
    expect(meta(6).source).toMatchObject({ hostKey: hostFp, hostKeyTrust: 'pinned' });
  });
});
