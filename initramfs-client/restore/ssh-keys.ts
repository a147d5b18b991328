/**
 * New ssh host keys for a restored node: every node restored from one image
 * would otherwise share the sample's keys (one stolen disk impersonates the
 * whole cluster). The image's own ssh-keygen makes them when it runs in a
 * chroot (its key types and defaults match the sshd that will use them);
 * otherwise the netboot environment's does.
 */
import { lstat, readdir, rm, chmod, chown } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../core/log.ts';
import { regularFileInRoot, resolveInRoot } from './root-path.ts';
import { bindSystemDirs, unbindSystemDirs } from './mount.ts';
import type { Runner } from './run.ts';

/** The key types `ssh-keygen -A` makes, for the per-type fallback. */
const KEY_TYPES = ['rsa', 'ecdsa', 'ed25519'] as const;

const HOST_KEY = /^ssh_host_\w+_key(\.pub)?$/;

/** What regenerateSshHostKeys did: which tool made the keys, and the private key files (paths inside the tree). */
export interface SshKeysResult {
  via: 'chroot' | 'netboot' | 'none';
  keys: string[];
}

/** Replace the sample's ssh host keys in `root`/etc/ssh with fresh ones; nothing when the image has no etc/ssh. */
export async function regenerateSshHostKeys(runner: Runner, root: string, log: Logger): Promise<SshKeysResult> {
  const sshDir = await resolveInRoot(root, 'etc/ssh');
  if (!sshDir || !(await lstat(sshDir)).isDirectory()) return { via: 'none', keys: [] };
  // keep each key's mode and group: Fedora gives private keys 0640 root:ssh_keys
  const owners = new Map<string, { mode: number; uid: number; gid: number }>();
  for (const name of await readdir(sshDir)) {
    if (!HOST_KEY.test(name)) continue;
    const st = await lstat(join(sshDir, name));
    if (st.isFile()) owners.set(name, { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
  }
  await removeKeys(sshDir);

  let via: SshKeysResult['via'] = 'netboot';
  if (await regularFileInRoot(root, 'usr/bin/ssh-keygen')) {
    try {
      // ssh-keygen opens /dev/null (and older OpenSSL /dev/urandom): the tree's /dev is empty
      await bindSystemDirs(runner, root);
      try {
        await runner.run('ssh host keys (image ssh-keygen)', ['chroot', root, '/usr/bin/ssh-keygen', '-A'], { timeoutMs: 120_000 });
      } finally {
        await unbindSystemDirs(runner, root);
      }
      via = 'chroot';
    } catch (err) {
      // another architecture, missing libraries, no /dev/urandom: the netboot's tool will do
      log.warn({ err }, "the image's ssh-keygen failed in a chroot; using the netboot environment's");
      await removeKeys(sshDir);
    }
  }
  if (via === 'netboot') await netbootKeygen(runner, root, sshDir);

  const keys: string[] = [];
  for (const name of (await readdir(sshDir)).sort()) {
    if (!HOST_KEY.test(name)) continue;
    const old = owners.get(name);
    if (old) {
      await chown(join(sshDir, name), old.uid, old.gid);
      await chmod(join(sshDir, name), old.mode);
    }
    if (!name.endsWith('.pub')) keys.push(`etc/ssh/${name}`);
  }
  log.info({ via, keys }, 'ssh host keys regenerated');
  return { via, keys };
}

async function removeKeys(sshDir: string): Promise<void> {
  for (const name of await readdir(sshDir)) if (HOST_KEY.test(name)) await rm(join(sshDir, name), { force: true });
}

/**
 * `ssh-keygen -A -f <root>` (newer OpenSSH writes under the prefix);
 * an older one ignores -f or refuses it, so the keys are checked and, if
 * missing, made one type at a time.
 */
async function netbootKeygen(runner: Runner, root: string, sshDir: string): Promise<void> {
  // -A -f wants the prefix with etc/ssh resolved inside it: use the real path of the tree
  const prefix = sshDir.replace(/\/etc\/ssh$/, '');
  let ok = false;
  if (prefix !== sshDir) {
    try {
      await runner.run('ssh host keys', ['ssh-keygen', '-A', '-f', prefix], { timeoutMs: 120_000 });
      ok = (await readdir(sshDir)).some((n) => n === 'ssh_host_ed25519_key');
    } catch {
      ok = false;
    }
  }
  if (ok) return;
  for (const type of KEY_TYPES) {
    const file = join(sshDir, `ssh_host_${type}_key`);
    await rm(file, { force: true });
    await rm(`${file}.pub`, { force: true });
    await runner.run(`ssh host key ${type}`, ['ssh-keygen', '-q', '-t', type, '-f', file, '-N', '', '-C', ''], { timeoutMs: 120_000 });
  }
}
