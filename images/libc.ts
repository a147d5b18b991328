/**
 * The few libc calls Node lacks and an OS image needs: extended attributes
 * (xattr(7): security.capability and POSIX ACLs live there), mknod(2) for
 * device nodes and fifos, lseek(2) SEEK_DATA/SEEK_HOLE to find a sparse
 * file's data, utimensat(2) because Node's utimes takes float seconds and
 * loses nanoseconds, and syncfs(2), the one flush that reports a file
 * system's writeback errors (sync(1) exits 0 whatever happened). Called
 * through koffi (prebuilt FFI, nothing to compile).
 * Paths are raw bytes (Buffer) so non-UTF-8 names pass through unchanged.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';

type Fn = (...args: unknown[]) => number | bigint;
interface Libc {
  llistxattr: Fn;
  lgetxattr: Fn;
  lsetxattr: Fn;
  mknod: Fn;
  lseek: Fn;
  utimensat: Fn;
  syncfs: Fn;
  errno: () => number;
}
let libc: Libc | undefined;

function load(): Libc {
  if (!libc) {
    const koffi = createRequire(import.meta.url)('koffi') as {
      load(name: string): { func(sig: string): Fn };
      errno(): number;
    };
    const lib = koffi.load('libc.so.6');
    libc = {
      llistxattr: lib.func('intptr_t llistxattr(const void *path, void *list, size_t size)'),
      lgetxattr: lib.func('intptr_t lgetxattr(const void *path, const char *name, void *value, size_t size)'),
      lsetxattr: lib.func('int lsetxattr(const void *path, const char *name, const void *value, size_t size, int flags)'),
      mknod: lib.func('int mknod(const void *path, uint32_t mode, uint64_t dev)'),
      lseek: lib.func('int64_t lseek(int fd, int64_t offset, int whence)'),
      utimensat: lib.func('int utimensat(int dirfd, const void *path, const void *times, int flags)'),
      syncfs: lib.func('int syncfs(int fd)'),
      errno: () => koffi.errno(),
    };
  }
  return libc;
}

/** A failed libc call, shaped like Node's fs errors (code 'ENOENT', errno …). */
export class SysError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(call: string, errno: number, path?: Buffer) {
    const code = errnoName(errno);
    super(`${call}${path ? ` ${path.toString()}` : ''}: ${code}`);
    this.code = code;
    this.errno = errno;
  }
}

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

/** NUL-terminate a path for C. */
function cpath(p: Buffer): Buffer {
  return Buffer.concat([p, Buffer.from([0])]);
}

/**
 * All xattrs of a path, not following a final symlink, as name (latin1, so
 * any byte survives) → raw value. Unreadable namespaces (trusted.* without
 * CAP_SYS_ADMIN) are simply not listed by the kernel.
 */
export function lgetxattrs(path: Buffer): Map<string, Buffer> {
  const c = load();
  const p = cpath(path);
  const out = new Map<string, Buffer>();
  let size = Number(c.llistxattr(p, null, 0));
  if (size < 0) {
    const e = c.errno();
    if (e === osConstants.errno.ENOTSUP) return out; // file system without xattrs
    throw new SysError('llistxattr', e, path);
  }
  if (size === 0) return out;
  let list = Buffer.alloc(size);
  size = Number(c.llistxattr(p, list, list.length));
  if (size < 0) {
    // ERANGE: the list grew between the two calls; one retry with room to spare.
    list = Buffer.alloc(65536);
    size = Number(c.llistxattr(p, list, list.length));
    if (size < 0) throw new SysError('llistxattr', c.errno(), path);
  }
  for (const raw of splitNul(list.subarray(0, size))) {
    const name = raw.toString('latin1');
    const value = lgetxattr(path, name);
    if (value) out.set(name, value);
  }
  return out;
}

/** One xattr's value, or undefined when it vanished or cannot be read. */
export function lgetxattr(path: Buffer, name: string): Buffer | undefined {
  const c = load();
  const p = cpath(path);
  const n = Buffer.from(`${name}\0`, 'latin1');
  for (let attempt = 0; attempt < 3; attempt++) {
    const size = Number(c.lgetxattr(p, n, null, 0));
    if (size < 0) {
      const e = c.errno();
      if (e === osConstants.errno.ENODATA || e === osConstants.errno.EPERM || e === osConstants.errno.EACCES) return undefined;
      throw new SysError(`lgetxattr ${name}`, e, path);
    }
    const buf = Buffer.alloc(size);
    const got = Number(c.lgetxattr(p, n, buf, size));
    if (got >= 0) return buf.subarray(0, got);
    if (c.errno() !== osConstants.errno.ERANGE) throw new SysError(`lgetxattr ${name}`, c.errno(), path);
  }
  throw new SysError(`lgetxattr ${name}`, osConstants.errno.ERANGE, path);
}

/** Set one xattr on a path without following a final symlink. */
export function lsetxattr(path: Buffer, name: string, value: Buffer): void {
  const c = load();
  const n = Buffer.from(`${name}\0`, 'latin1');
  // koffi refuses a zero-length Buffer as a pointer: pass one byte, size 0.
  const v = value.length ? value : Buffer.alloc(1);
  if (c.lsetxattr(cpath(path), n, v, value.length, 0) !== 0) throw new SysError(`lsetxattr ${name}`, c.errno(), path);
}

/** glibc's makedev(3): major and minor into a 64-bit dev_t. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** glibc's major(3)/minor(3) of a dev_t (as Node's bigint stat gives it). */
export function splitdev(dev: bigint): { major: number; minor: number } {
  const major = ((dev >> 32n) & 0xfffff000n) | ((dev >> 8n) & 0xfffn);
  const minor = ((dev >> 12n) & 0xffffff00n) | (dev & 0xffn);
  return { major: Number(major), minor: Number(minor) };
}

/** mknod(2): mode carries the type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
export function mknod(path: Buffer, mode: number, major = 0, minor = 0): void {
  const c = load();
  if (c.mknod(cpath(path), mode, makedev(major, minor)) !== 0) throw new SysError('mknod', c.errno(), path);
}

const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/**
 * The data segments [offset, length] of an open file per SEEK_DATA/SEEK_HOLE
 * (lseek(2)); a file with no holes gives one segment covering it all.
 */
export function dataSegments(fd: number, size: number): Array<[number, number]> {
  const c = load();
  const segs: Array<[number, number]> = [];
  let pos = 0;
  while (pos < size) {
    const data = Number(c.lseek(fd, pos, SEEK_DATA));
    if (data < 0) {
      if (c.errno() === osConstants.errno.ENXIO) break; // only a hole remains
      throw new SysError('lseek SEEK_DATA', c.errno());
    }
    if (data >= size) break;
    let hole = Number(c.lseek(fd, data, SEEK_HOLE));
    if (hole < 0) throw new SysError('lseek SEEK_HOLE', c.errno());
    hole = Math.min(hole, size);
    segs.push([data, hole - data]);
    pos = hole;
  }
  return segs;
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

/** Set atime and mtime (nanoseconds since the epoch) without following a final symlink. */
export function lutimensNs(path: Buffer, atimeNs: bigint, mtimeNs: bigint): void {
  const c = load();
  const t = Buffer.alloc(32);
  const put = (off: number, ns: bigint): void => {
    // Floor division so times before 1970 keep 0 <= tv_nsec < 1e9.
    let sec = ns / 1_000_000_000n;
    let nsec = ns % 1_000_000_000n;
    if (nsec < 0n) {
      sec -= 1n;
      nsec += 1_000_000_000n;
    }
    t.writeBigInt64LE(sec, off);
    t.writeBigInt64LE(nsec, off + 8);
  };
  put(0, atimeNs);
  put(16, mtimeNs);
  if (c.utimensat(AT_FDCWD, cpath(path), t, AT_SYMLINK_NOFOLLOW) !== 0) throw new SysError('utimensat', c.errno(), path);
}

function* splitNul(buf: Buffer): Generator<Buffer> {
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0) {
      if (i > start) yield buf.subarray(start, i);
      start = i + 1;
    }
  }
  if (start < buf.length) yield buf.subarray(start);
}

/**
 * Flush the file system holding the open `fd` and report any writeback error
 * (EIO, ENOSPC) recorded on it since `fd` was opened — whoever else saw it.
 */
export function syncfs(fd: number): void {
  const c = load();
  if (Number(c.syncfs(fd)) < 0) throw new SysError('syncfs', c.errno());
}
