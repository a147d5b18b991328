/**
 * A pure "newc" (SVR4, magic 070701) cpio writer and reader: the format the
 * Linux kernel unpacks into the initramfs (Documentation/driver-api/
 * early-userspace/buffer-format.rst). No file-system access here: the builder
 * hands in entries and gets bytes back, so the same entries always give the
 * same bytes (sorted, uid/gid 0, one fixed mtime, inode numbers by position).
 */

/** The entry kinds the initramfs needs. */
export type CpioEntryType = 'file' | 'dir' | 'symlink' | 'char-device';

/** One archive member. `path` is relative ("bin/busybox"), without a leading slash. */
export interface CpioEntry {
  path: string;
  type: CpioEntryType;
  /** Permission bits only (e.g. 0o755); the type bits come from `type`. */
  mode: number;
  /** File contents (type 'file'). */
  data?: Uint8Array;
  /** Link target (type 'symlink'). */
  target?: string;
  /** Device numbers (type 'char-device'). */
  major?: number;
  minor?: number;
}

/** Options that apply to every entry. */
export interface CpioOptions {
  /** Seconds since the epoch written as every entry's mtime (SOURCE_DATE_EPOCH); default 0. */
  mtime?: number;
}

/** Thrown for entries the writer refuses and archives the reader can't parse. */
export class CpioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CpioError';
  }
}

const MAGIC = '070701';
const HEADER_LEN = 110; // 6-byte magic + 13 fields of 8 hex digits
const TRAILER = 'TRAILER!!!';

// S_IFMT values from <sys/stat.h>; cpio stores them in the mode field.
const TYPE_BITS: Record<CpioEntryType, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  'char-device': 0o020000,
};
const S_IFMT = 0o170000;

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CpioError(`field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

/** Byte-wise comparison of UTF-8 paths, so the order does not depend on the locale. */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function checkPath(p: string): void {
  if (p === '' || p.startsWith('/') || p.endsWith('/') || p.includes('\0')) throw new CpioError(`bad path "${p}"`);
  if (p.split('/').some((c) => c === '' || c === '..' || c === '.')) throw new CpioError(`bad path "${p}"`);
}

/**
 * Add the missing parent directories (mode 0755) of every entry: the kernel's
 * unpacker does not create them and silently fails to create the child.
 */
export function addParentDirs(entries: readonly CpioEntry[]): CpioEntry[] {
  const have = new Set(entries.map((e) => e.path));
  const out = [...entries];
  for (const e of entries) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!have.has(dir)) {
        have.add(dir);
        out.push({ path: dir, type: 'dir', mode: 0o755 });
      }
    }
  }
  return out;
}

function header(fields: {
  ino: number;
  mode: number;
  nlink: number;
  mtime: number;
  size: number;
  rmajor: number;
  rminor: number;
  namesize: number;
}): string {
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  return (
    MAGIC +
    [fields.ino, fields.mode, 0, 0, fields.nlink, fields.mtime, fields.size, 0, 0, fields.rmajor, fields.rminor, fields.namesize, 0]
      .map(hex8)
      .join('')
  );
}

function member(parts: Buffer[], name: string, h: Omit<Parameters<typeof header>[0], 'namesize' | 'size'>, data: Uint8Array): void {
  const nameBuf = Buffer.from(`${name}\0`);
  const head = Buffer.from(header({ ...h, size: data.length, namesize: nameBuf.length }), 'latin1');
  parts.push(head, nameBuf, Buffer.alloc(pad4(HEADER_LEN + nameBuf.length)));
  if (data.length > 0) parts.push(Buffer.from(data.buffer, data.byteOffset, data.length), Buffer.alloc(pad4(data.length)));
}

/**
 * Encode entries as a newc archive ending with the TRAILER!!! member. Entries
 * are sorted by path (so parents precede children); duplicates are an error.
 */
export function encodeCpio(entries: readonly CpioEntry[], opts: CpioOptions = {}): Buffer {
  const mtime = opts.mtime ?? 0;
  const sorted = [...entries].sort((a, b) => comparePaths(a.path, b.path));
  const parts: Buffer[] = [];
  let ino = 0;
  let prev: string | undefined;
  for (const e of sorted) {
    checkPath(e.path);
    if (e.path === prev) throw new CpioError(`duplicate path "${e.path}"`);
    prev = e.path;
    if ((e.mode & ~0o7777) !== 0) throw new CpioError(`"${e.path}": mode must hold permission bits only`);
    let data: Uint8Array = new Uint8Array(0);
    let rmajor = 0;
    let rminor = 0;
    if (e.type === 'file') data = e.data ?? data;
    else if (e.type === 'symlink') {
      if (!e.target) throw new CpioError(`"${e.path}": symlink without target`);
      data = Buffer.from(e.target); // newc stores the link target as the file data
    } else if (e.type === 'char-device') {
      rmajor = e.major ?? 0;
      rminor = e.minor ?? 0;
    }
    const nlink = e.type === 'dir' ? 2 : 1;
    member(parts, e.path, { ino: ++ino, mode: TYPE_BITS[e.type] | e.mode, nlink, mtime, rmajor, rminor }, data);
  }
  member(parts, TRAILER, { ino: 0, mode: 0, nlink: 1, mtime: 0, rmajor: 0, rminor: 0 }, new Uint8Array(0));
  return Buffer.concat(parts);
}

/** A member read back by `decodeCpio`, with the header fields tests care about. */
export interface DecodedCpioEntry extends CpioEntry {
  ino: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
}

/** Parse a newc archive up to its trailer (the inverse of `encodeCpio`; used by tests and tools). */
export function decodeCpio(buf: Buffer): DecodedCpioEntry[] {
  const out: DecodedCpioEntry[] = [];
  let off = 0;
  for (;;) {
    if (off + HEADER_LEN > buf.length) throw new CpioError(`truncated header at offset ${off}`);
    const head = buf.toString('latin1', off, off + HEADER_LEN);
    if (!head.startsWith(MAGIC)) throw new CpioError(`bad magic at offset ${off}`);
    const f = (i: number): number => {
      const s = head.slice(6 + i * 8, 14 + i * 8);
      if (!/^[0-9a-fA-F]{8}$/.test(s)) throw new CpioError(`bad header field ${i} at offset ${off}`);
      return parseInt(s, 16);
    };
    const [ino, mode, uid, gid, nlink, mtime, size, rmajor, rminor, namesize] = [0, 1, 2, 3, 4, 5, 6, 9, 10, 11].map(f) as [
      number, number, number, number, number, number, number, number, number, number,
    ];
    const nameStart = off + HEADER_LEN;
    if (namesize === 0 || nameStart + namesize > buf.length) throw new CpioError(`bad name size at offset ${off}`);
    const name = buf.toString('utf8', nameStart, nameStart + namesize - 1);
    const dataStart = nameStart + namesize + pad4(HEADER_LEN + namesize);
    if (dataStart + size > buf.length) throw new CpioError(`truncated data for "${name}"`);
    const data = buf.subarray(dataStart, dataStart + size);
    off = dataStart + size + pad4(size);
    if (name === TRAILER) return out;
    const kind = (Object.keys(TYPE_BITS) as CpioEntryType[]).find((k) => TYPE_BITS[k] === (mode & S_IFMT));
    if (!kind) throw new CpioError(`"${name}": unsupported file type ${(mode & S_IFMT).toString(8)}`);
    const e: DecodedCpioEntry = { path: name, type: kind, mode: mode & 0o7777, ino, uid, gid, nlink, mtime };
    if (kind === 'file') e.data = data;
    if (kind === 'symlink') e.target = data.toString('utf8');
    if (kind === 'char-device') Object.assign(e, { major: rmajor, minor: rminor });
    out.push(e);
  }
}
