/**
 * Mount the new file systems under the target root in path order (`/`
 * first, `/boot` before `/boot/efi`), undo it in reverse, and bind the
 * kernel's /dev, /proc, /sys into the target for chroot tools.
 */
import { lstat, mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import type { Runner } from './run.ts';

/** What mountTarget needs of a PartitionMapping. */
export interface MountEntry {
  device: string;
  mountpoint?: string;
  fsType: string;
  /** A btrfs subvolume: mounted with its options (subvol=/@home,compress=zstd:3). */
  subvolume?: { options: string };
}

/** Directory of `mountpoint` under root ("/" → root itself). */
function under(root: string, mountpoint: string): string {
  return mountpoint === '/' ? root : join(root, mountpoint);
}

/** Mount points inside the target, shallowest first; swap and unmounted partitions left out. */
export function mountOrder<T extends MountEntry>(mapping: readonly T[]): (T & { mountpoint: string })[] {
  const mounted = mapping.filter((m): m is T & { mountpoint: string } => !!m.mountpoint && m.fsType !== 'swap' && m.mountpoint.startsWith('/'));
  const depth = (p: string): number => (p === '/' ? 0 : p.split('/').length - 1);
  return mounted.sort((a, b) => depth(a.mountpoint) - depth(b.mountpoint) || a.mountpoint.localeCompare(b.mountpoint));
}

/** Mount every file system of the mapping under root, `/` first; returns the directories mounted, in order. */
export async function mountTarget(runner: Runner, mapping: readonly MountEntry[], root: string): Promise<string[]> {
  const order = mountOrder(mapping);
  if (order[0]?.mountpoint !== '/') {
    throw new ImgsrvError('DISK', 'the layout has no partition for /', { hint: 'the image metadata is incomplete: capture the image again' });
  }
  const done: string[] = [];
  try {
    for (const m of order) {
      const dir = under(root, m.mountpoint);
      await mkdir(dir, { recursive: true });
      const options = m.subvolume ? ['-o', m.subvolume.options] : [];
      await runner.run(`mount ${m.mountpoint}`, ['mount', '-t', m.fsType === 'fat' || m.fsType === 'fat32' ? 'vfat' : m.fsType, ...options, m.device, dir]);
      done.push(dir);
    }
  } catch (err) {
    await unmountAll(runner, done);
    throw err;
  }
  return done;
}

/** Mount points at or below dir, from /proc/mounts (octal escapes decoded), deepest first. */
export async function mountsUnder(dir: string, procMounts = '/proc/mounts'): Promise<string[]> {
  const text = await readFile(procMounts, 'utf8');
  const base = dir.replace(/\/+$/, '');
  const found = text
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m): m is string => !!m)
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === base || m.startsWith(`${base}/`));
  return [...new Set(found)].sort((a, b) => b.length - a.length);
}

async function unmountAll(runner: Runner, dirs: readonly string[]): Promise<void> {
  let first: unknown;
  for (const d of [...dirs].reverse()) {
    try {
      await runner.run(`unmount ${d}`, ['umount', d]);
    } catch (err) {
      first ??= err;
    }
  }
  if (first) throw first;
}

/** Unmount everything mounted at or below root (also binds and partial mounts), deepest first. */
export async function unmountTarget(runner: Runner, root: string, opts: { procMounts?: string } = {}): Promise<void> {
  const mounted = await mountsUnder(root, opts.procMounts);
  let first: unknown;
  for (const d of mounted) {
    try {
      await runner.run(`unmount ${d}`, ['umount', d]);
    } catch (err) {
      // a busy mount must not keep the others mounted; lazy-detach it and report the first failure
      first ??= err;
      await runner.run(`detach ${d}`, ['umount', '-l', d]).catch(() => {});
    }
  }
  if (first) throw first;
}

const SYSTEM_DIRS = ['dev', 'proc', 'sys'] as const;

/** Bind /dev, /proc, /sys (and /sys/firmware/efi/efivars when present) into root for chroot tools; returns what was mounted. */
export async function bindSystemDirs(runner: Runner, root: string): Promise<string[]> {
  const done: string[] = [];
  try {
    for (const d of SYSTEM_DIRS) {
      const target = join(root, d);
      await mkdir(target, { recursive: true });
      await runner.run(`bind /${d}`, ['mount', '--rbind', `/${d}`, target]);
      // rslave: unmounting the target later must not propagate to the host's /dev
      await runner.run(`bind /${d}`, ['mount', '--make-rslave', target]);
      done.push(target);
    }
  } catch (err) {
    await unbindSystemDirs(runner, root).catch(() => {});
    throw err;
  }
  return done;
}

/**
 * Undo bindSystemDirs: every mount at or below each bind (/dev/pts, /sys's
 * submounts …), deepest first, each detached lazily. Not `umount -R`: the
 * netboot environment's umount is busybox's, which has no -R.
 */
export async function unbindSystemDirs(runner: Runner, root: string): Promise<void> {
  let first: unknown;
  for (const d of [...SYSTEM_DIRS].reverse()) {
    const target = join(root, d);
    for (const m of await mountsUnder(target)) {
      try {
        await runner.run(`unbind /${d}`, ['umount', '-l', m]);
      } catch (err) {
        first ??= err;
      }
    }
    // A failure above matters only if something is still mounted (a stacked mount goes with its parent).
    if ((await mountsUnder(target)).length === 0) first = undefined;
    if (first) throw first;
  }
}

/**
 * udev's /dev/disk/by-uuid links for the new file systems, where no udev
 * runs (the netboot environment). Debian's update-grub (grub.d/10_linux)
 * writes `root=UUID=…` only when /dev/disk/by-uuid/<uuid> exists, else
 * `root=/dev/sda3`: a name that moves when disks are added or enumerate in
 * another order. Links already there are left alone. Returns the links made.
 */
export async function linkDisksByUuid(mapping: ReadonlyArray<{ device: string; newUuid: string }>, devDir = '/dev'): Promise<string[]> {
  const dir = join(devDir, 'disk', 'by-uuid');
  await mkdir(dir, { recursive: true });
  const made: string[] = [];
  for (const m of mapping) {
    if (!m.newUuid || !m.device.startsWith('/dev/')) continue;
    const link = join(dir, m.newUuid);
    if (await lstat(link).then(() => true, () => false)) continue;
    // relative, as udev makes them: valid in the chroot that sees this /dev too
    await symlink(`../../${m.device.slice('/dev/'.length)}`, link);
    made.push(link);
  }
  return made;
}
