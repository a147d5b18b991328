/**
 * Creating entries under a restore target without ever following a symlink
 * the archive planted: every parent component is checked with lstat (or was
 * created by us) before anything is made beneath it, files are opened with
 * O_CREAT|O_EXCL|O_NOFOLLOW, hard-link targets must resolve through real
 * directories inside the target. Then metadata in the order the kernel
 * needs: lchown first (it clears setuid/setgid and security.capability),
 * chmod, xattrs, times last; directories' modes and times after all their
 * content is in place.
 */
import fs from 'node:fs';
import { lsetxattr, lutimensNs, mknod } from './libc.ts';
import { displayPath, pathKey, type ManifestEntry } from './manifest-codec.ts';
import { ImgsrvError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

const SLASH = 0x2f;
const isRoot = process.getuid?.() === 0;

function refused(rel: Buffer, why: string): ImgsrvError {
  return new ImgsrvError('IO', `refused entry ${JSON.stringify(displayPath(rel))}: ${why}`, { hint: 'the archive is malicious or corrupt; nothing was written outside the target' });
}

/** The restore target and what we know about the directories under it. */
export class RestoreTarget {
  readonly root: Buffer;
  private readonly safeDirs = new Set<string>(); // rel paths known to be real directories
  private readonly dirs = new Map<string, ManifestEntry>(); // by path key, in order of (last) appearance
  private readonly log: Logger | undefined;

  constructor(root: string, log?: Logger) {
    this.root = Buffer.from(fs.realpathSync(root));
    this.log = log;
    if (!fs.lstatSync(this.root).isDirectory()) throw new ImgsrvError('IO', `restore target ${root} is not a directory`);
  }

  /** Absolute path of a (normalised, checked) relative path. */
  abs(rel: Buffer): Buffer {
    return rel.length === 1 && rel[0] === 0x2e ? this.root : Buffer.concat([this.root, Buffer.from('/'), rel]);
  }

  /** Make sure every parent of `rel` is a real directory (creating missing ones); throws if one is not. */
  parents(rel: Buffer, create = true): void {
    for (let i = rel.indexOf(SLASH); i !== -1; i = rel.indexOf(SLASH, i + 1)) {
      const dir = rel.subarray(0, i);
      const key = pathKey(dir);
      if (this.safeDirs.has(key)) continue;
      const abs = this.abs(dir);
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (!st) {
        if (!create) throw refused(rel, `${JSON.stringify(displayPath(dir))} does not exist`);
        fs.mkdirSync(abs, 0o755);
      } else if (!st.isDirectory()) {
        throw refused(rel, `${JSON.stringify(displayPath(dir))} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; refusing to write through it`);
      }
      this.safeDirs.add(key);
    }
  }

  /** Remove whatever is at `rel` so a new entry can take its place (an empty directory at most). */
  private clear(rel: Buffer, keepDir: boolean): boolean {
    const abs = this.abs(rel);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    if (st.isDirectory()) {
      if (keepDir) return true;
      fs.rmdirSync(abs); // ENOTEMPTY: an archive replacing a full directory is an error
      const key = pathKey(rel);
      for (const k of this.safeDirs) if (k === key || k.startsWith(`${key}/`)) this.safeDirs.delete(k);
      // Its mode and times must not land on whatever takes its name (a symlink would carry the chmod outside).
      for (const k of this.dirs.keys()) if (k === key || k.startsWith(`${key}/`)) this.dirs.delete(k);
      return false;
    }
    fs.unlinkSync(abs);
    return false;
  }

  /** Create a directory entry; its mode and times are applied by finish(). */
  dir(e: ManifestEntry): void {
    const isTop = e.path.length === 1 && e.path[0] === 0x2e;
    if (!isTop) {
      this.parents(e.path);
      if (!this.clear(e.path, true)) fs.mkdirSync(this.abs(e.path), 0o700);
      this.safeDirs.add(pathKey(e.path));
    }
    this.owner(e);
    this.xattrs(e);
    // A directory listed twice gets the later entry's mode and times.
    const key = pathKey(e.path);
    this.dirs.delete(key);
    this.dirs.set(key, e);
  }

  /** Create a regular file for writing; returns its fd. */
  openFile(e: ManifestEntry): number {
    this.prepare(e.path);
    const c = fs.constants;
    return fs.openSync(this.abs(e.path), c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW, 0o600);
  }

  /** Create a symlink (never followed by us afterwards). */
  symlink(e: ManifestEntry): void {
    this.prepare(e.path);
    fs.symlinkSync(e.target ?? Buffer.alloc(0), this.abs(e.path));
    this.meta(e);
  }

  /** Create a device node or fifo. */
  node(e: ManifestEntry): void {
    this.prepare(e.path);
    const type = e.type === 'char' ? fs.constants.S_IFCHR : e.type === 'block' ? fs.constants.S_IFBLK : fs.constants.S_IFIFO;
    mknod(this.abs(e.path), type | 0o600, e.rdev?.major ?? 0, e.rdev?.minor ?? 0);
    this.meta(e);
  }

  /** Create a hard link to an earlier entry, which must be inside the target and reached through real directories. */
  hardlink(e: ManifestEntry): void {
    const target = e.target;
    if (!target || target.equals(e.path)) throw refused(e.path, 'hard link to itself');
    this.parents(target, false);
    const st = fs.lstatSync(this.abs(target), { throwIfNoEntry: false });
    if (!st) throw refused(e.path, `hard link target ${JSON.stringify(displayPath(target))} does not exist`);
    if (st.isDirectory()) throw refused(e.path, 'hard link to a directory');
    this.prepare(e.path);
    fs.linkSync(this.abs(target), this.abs(e.path));
  }

  private prepare(rel: Buffer): void {
    if (rel.length === 1 && rel[0] === 0x2e) throw refused(rel, 'the root must be a directory');
    this.parents(rel);
    this.clear(rel, false);
  }

  /** Owner, mode, xattrs and times of a non-directory, in that order. */
  meta(e: ManifestEntry): void {
    this.owner(e);
    if (e.type !== 'symlink') fs.chmodSync(this.abs(e.path), e.mode);
    this.xattrs(e);
    lutimensNs(this.abs(e.path), e.mtimeNs, e.mtimeNs);
  }

  private owner(e: ManifestEntry): void {
    try {
      fs.lchownSync(this.abs(e.path), e.uid, e.gid);
    } catch (err) {
      // Without root, owners can't be restored (like GNU tar as a user).
      if (isRoot || (err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    }
  }

  private xattrs(e: ManifestEntry): void {
    for (const [name, value] of e.xattrs ?? []) {
      try {
        lsetxattr(this.abs(e.path), name, value);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (isRoot || (code !== 'EPERM' && code !== 'EACCES')) throw err;
        this.log?.warn({ path: displayPath(e.path), xattr: name }, 'cannot set xattr without root');
      }
    }
  }

  /** Apply directory modes and times, deepest first, once all content is written. */
  finish(): void {
    const c = fs.constants;
    for (const e of [...this.dirs.values()].reverse()) {
      const abs = this.abs(e.path);
      // chmod(2) follows symlinks: open the directory itself (O_NOFOLLOW) and fchmod it, so a
      // name an archive turned into a symlink can never carry the mode outside the target.
      let fd: number;
      try {
        fd = fs.openSync(abs, c.O_RDONLY | c.O_DIRECTORY | c.O_NOFOLLOW);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ELOOP' || code === 'ENOTDIR') throw refused(e.path, 'the directory was replaced by a later entry; refusing to follow it');
        throw err;
      }
      try {
        fs.fchmodSync(fd, e.mode);
      } finally {
        fs.closeSync(fd);
      }
      lutimensNs(abs, e.mtimeNs, e.mtimeNs);
    }
    this.dirs.clear();
  }
}
