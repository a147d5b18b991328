import { execFileSync } from 'node:child_process';
import { chown, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { mountsUnder } from './mount.ts';
import { createRunner } from './run.ts';
import { netbootRunner } from './testdata/netboot-runner.ts';
import { regenerateSshHostKeys } from './ssh-keys.ts';

// Needs root (chroot, chown) and the host's ssh-keygen as maker and oracle.
let root: string;
let sample: string;
// What the node runs: busybox applets where the netboot environment links them.
const runner = netbootRunner(createRunner(silentLogger));
beforeAll(async () => {
  // the sample's keys, made once (RSA is slow): what every restored node must NOT have
  sample = await mkdtemp(join(tmpdir(), 'sshkeys-sample-'));
  await mkdir(join(sample, 'etc/ssh'), { recursive: true });
  execFileSync('ssh-keygen', ['-A', '-f', sample]);
});
afterAll(async () => {
  await rm(sample, { recursive: true, force: true });
});
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sshkeys-'));
  await mkdir(join(root, 'etc/ssh'), { recursive: true });
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nssh_keys:x:998:\n');
  await writeFile(join(root, 'etc/ssh/sshd_config'), 'PermitRootLogin no\n');
  execFileSync('cp', ['-a', `${join(sample, 'etc/ssh')}/.`, join(root, 'etc/ssh')]);
  await chown(join(root, 'etc/ssh/ssh_host_ed25519_key'), 0, 998);
  execFileSync('chmod', ['0640', join(root, 'etc/ssh/ssh_host_ed25519_key')]);
});
afterEach(async () => {
  // never rm -r through a /dev bound into the tree
  if ((await mountsUnder(root)).length > 0) throw new Error(`mounts left under ${root}`);
  await rm(root, { recursive: true, force: true });
});

/** Fingerprints of the private keys, and a check that each .pub matches its private key (ssh-keygen -y as the oracle). */
async function keysOf(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of (await readdir(dir)).filter((n) => /^ssh_host_\w+_key$/.test(n))) {
    // a copy at 0600: ssh-keygen refuses a group-readable key (the 0640 one kept from the sample)
    const copy = join(root, '..', `${root.split('/').pop()}-${name}`);
    await copyFile(join(dir, name), copy);
    execFileSync('chmod', ['0600', copy]);
    const derived = execFileSync('ssh-keygen', ['-y', '-f', copy], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
    const pub = (await readFile(join(dir, `${name}.pub`), 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    await rm(copy);
    expect(pub, name).toBe(derived);
    out.set(name, pub);
  }
  return out;
}

/** A minimal chroot able to run ssh-keygen: the binary and the libraries ldd names, at the same paths. */
async function installKeygen(into: string): Promise<void> {
  const files = ['/usr/bin/ssh-keygen'];
  for (const line of execFileSync('ldd', ['/usr/bin/ssh-keygen'], { encoding: 'utf8' }).split('\n')) {
    const m = /(\/\S+)\s+\(0x/.exec(line);
    if (m) files.push(m[1]!);
  }
  for (const f of files) {
    await mkdir(dirname(join(into, f)), { recursive: true });
    await copyFile(f, join(into, f));
    execFileSync('chmod', ['0755', join(into, f)]);
  }
}

describe('regenerateSshHostKeys', () => {
  it("uses the netboot's ssh-keygen when the image has none: new keys, pairs consistent, mode and group kept", async () => {
    const before = await keysOf(join(root, 'etc/ssh'));
    expect([...before.keys()].sort()).toEqual(['ssh_host_ecdsa_key', 'ssh_host_ed25519_key', 'ssh_host_rsa_key']);
    const res = await regenerateSshHostKeys(runner, root, silentLogger);
    expect(res).toEqual({ via: 'netboot', keys: ['etc/ssh/ssh_host_ecdsa_key', 'etc/ssh/ssh_host_ed25519_key', 'etc/ssh/ssh_host_rsa_key'] });
    const after = await keysOf(join(root, 'etc/ssh'));
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [name, pub] of after) expect(pub, name).not.toBe(before.get(name));
    const st = await stat(join(root, 'etc/ssh/ssh_host_ed25519_key'));
    expect([st.mode & 0o777, st.gid]).toEqual([0o640, 998]);
    expect((await stat(join(root, 'etc/ssh/ssh_host_rsa_key'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(root, 'etc/ssh/sshd_config'), 'utf8')).toBe('PermitRootLogin no\n');
  });

  it("uses the image's own ssh-keygen in a chroot when it runs", async () => {
    await installKeygen(root);
    const before = await keysOf(join(root, 'etc/ssh'));
    const res = await regenerateSshHostKeys(runner, root, silentLogger);
    expect(res.via).toBe('chroot');
    expect(await mountsUnder(root)).toEqual([]);
    const after = await keysOf(join(root, 'etc/ssh'));
    expect(after.size).toBe(3);
    for (const [name, pub] of after) expect(pub, name).not.toBe(before.get(name));
  });

  it("falls back to the netboot's ssh-keygen when the image's cannot run", async () => {
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    // a binary whose libraries are not in the tree
    await copyFile('/usr/bin/ssh-keygen', join(root, 'usr/bin/ssh-keygen'));
    execFileSync('chmod', ['0755', join(root, 'usr/bin/ssh-keygen')]);
    const before = await keysOf(join(root, 'etc/ssh'));
    const res = await regenerateSshHostKeys(runner, root, silentLogger);
    expect(res.via).toBe('netboot');
    const after = await keysOf(join(root, 'etc/ssh'));
    expect(after.size).toBe(3);
    for (const [name, pub] of after) expect(pub, name).not.toBe(before.get(name));
  });

  it('does nothing for an image without etc/ssh', async () => {
    await rm(join(root, 'etc/ssh'), { recursive: true });
    expect(await regenerateSshHostKeys(runner, root, silentLogger)).toEqual({ via: 'none', keys: [] });
  });
});
