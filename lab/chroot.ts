/**
 * Commands in a chroot of a root tree being built (the Debian sample's
 * packages and configuration): proc, sys, a small /dev of its own (a tmpfs
 * with the usual nodes, never a bind of the host's) and a private devpts
 * are mounted for the commands and undone after them, also on failure, and
 * services are kept from starting (a chroot is not a running system).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './netns.ts';

/** Run one command in the chroot (argv, never a shell); resolves with its stdout. */
export type ChrootRun = (argv: string[]) => Promise<string>;

/** Mount what `body`'s commands need under `tree`, run it, and undo the mounts whatever happens. */
export async function inChroot(tree: string, body: (run: ChrootRun) => Promise<void>): Promise<void> {
  const policy = join(tree, 'usr/sbin/policy-rc.d');
  try {
    for (const [type, src, at, o] of [['proc', 'proc', 'proc', ''], ['sysfs', 'sysfs', 'sys', ''], ['tmpfs', 'imgsrvdev', 'dev', 'mode=755,size=1m']] as const) {
      await sh('mount', ['-t', type, ...(o ? ['-o', o] : []), src, join(tree, at)]);
    }
    for (const [n, maj, min] of [['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0]] as const) {
      await sh('mknod', ['-m', '666', join(tree, 'dev', n), 'c', String(maj), String(min)]);
    }
    mkdirSync(join(tree, 'dev/pts'));
    await sh('mount', ['-t', 'devpts', '-o', 'newinstance,ptmxmode=0666', 'devpts', join(tree, 'dev/pts')]);
    // invoke-rc.d asks policy-rc.d: 101 = "don't start services".
    writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    const env = ['DEBIAN_FRONTEND=noninteractive', 'LC_ALL=C', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
    await body((argv) => sh('chroot', [tree, '/usr/bin/env', ...env, ...argv], { timeoutMs: 1_200_000 }));
  } finally {
    rmSync(policy, { force: true });
    await unmountBelow(tree);
  }
}

/** Lazily unmount everything at or below `dir`, deepest first (debootstrap's own proc/sys after a kill too). */
export async function unmountBelow(dir: string): Promise<void> {
  const base = dir.replace(/\/+$/, '');
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p): p is string => !!p && (p === base || p.startsWith(`${base}/`)))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await sh('umount', ['-l', p]).catch(() => undefined);
}
