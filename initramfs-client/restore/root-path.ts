/**
 * Paths inside the restored tree, resolved as a chroot would: a symlink's
 * absolute target is taken relative to the tree, and `..` stops at its top.
 * The restore edits files of a system that is not running; following its
 * symlinks on the host would let an image's `/etc/fstab -> /etc/fstab.real`
 * work but also let `/etc/hosts -> /etc/hosts` of the netboot environment (or
 * any host path) be overwritten, so every edit goes through here.
 */
import { lstat, readlink, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Links followed before giving up (Linux's own limit, ELOOP). */
const MAX_LINKS = 40;

/**
 * Resolve `path` (absolute or relative to the tree's top) inside `root`; the
 * host path of what it names, or undefined when it (or a directory on the way)
 * does not exist or loops. The last component's symlink is followed too.
 */
export async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  const pending = path.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    const st = await lstat(host).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return undefined;
      const target = await readlink(host);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
      continue;
    }
    done.push(part);
  }
  return join(root, ...done);
}

/** Resolve a path inside the tree and say whether it is a regular file there. */
export async function regularFileInRoot(root: string, path: string): Promise<string | undefined> {
  const host = await resolveInRoot(root, path);
  if (!host) return undefined;
  const st = await lstat(host).catch(() => undefined);
  return st?.isFile() ? host : undefined;
}

/** Names in a directory of the tree (resolved as above), sorted; [] when it does not exist. */
export async function listInRoot(root: string, dir: string): Promise<string[]> {
  const host = await resolveInRoot(root, dir);
  if (!host) return [];
  const names = await readdir(host).catch(() => [] as string[]);
  return names.sort();
}
