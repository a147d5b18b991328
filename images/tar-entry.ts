/**
 * Manifest entries ↔ tar headers (as tar-stream reads and writes them), pure.
 *
 * Every entry carries a pax extended header (POSIX.1-2001 pax format) with:
 * - `path`, `linkpath` (written by tar-stream, UTF-8) and, when a name is not
 *   valid UTF-8, `IMGSRV.pathb64` / `IMGSRV.linkpathb64` (base64 of the raw
 *   bytes; they override `path`/`linkpath`). tar-stream encodes and decodes
 *   pax values as UTF-8 strings, so raw bytes can't ride in `path` itself.
 * - `mtime=<sec>.<9 digits>` (nanoseconds; the ustar field holds whole seconds).
 * - `uid`, `gid` when above 262143 (tar-stream's 6 octal digits), and
 *   `SCHILY.devmajor` / `SCHILY.devminor` likewise for device numbers.
 * - xattrs: `SCHILY.xattr.<name>=<value>` (GNU tar / star) when the name is
 *   printable ASCII without "=" and the value is valid UTF-8; otherwise
 *   `IMGSRV.xattr.<base64url(name)>=<base64(value)>`. POSIX ACLs travel as
 *   their raw `system.posix_acl_access`/`_default` xattrs (binary, so the
 *   IMGSRV form): exact, no text round trip.
 * - sparse files: GNU sparse format 1.0 (`GNU.sparse.major=1`, `minor=0`,
 *   `name`, `realsize`); the entry's data is a text map padded to 512 bytes
 *   ("count\n" then "offset\nlength\n" per data segment) followed by the
 *   data segments only. GNU tar restores these, holes included.
 * Hard links are link entries naming the first path of their set; device
 * numbers ride in the ustar devmajor/devminor fields.
 */
import { isUtf8 } from 'node:buffer';
import type { Header } from 'tar-stream';
import type { EntryType, ManifestEntry } from './manifest-codec.ts';
import { displayPath } from './manifest-codec.ts';
import { encodeSparseMap } from './sparse.ts';
import { ImgsrvError } from '../core/errors.ts';

/** tar-stream's header, with the pax records its types leave out. */
export type TarHeader = Partial<Omit<Header, 'pax'>> & { name: string; pax?: Record<string, string> | null };

/** A decoded tar entry: the manifest entry it restores, and for sparse files the logical size. */
export interface TarEntry {
  entry: ManifestEntry;
  sparseRealSize?: number;
}

const USTAR_NUM_MAX = 0o777777; // tar-stream writes uid/gid/devmajor/devminor as 6 octal digits
const TO_TAR: Record<EntryType, Header['type']> = {
  file: 'file', dir: 'directory', symlink: 'symlink', hardlink: 'link', char: 'character-device', block: 'block-device', fifo: 'fifo',
};

/** Format nanoseconds as a pax time ("-1.500000000" is 1.5 s before the epoch). */
export function formatPaxTime(ns: bigint): string {
  const neg = ns < 0n;
  const a = neg ? -ns : ns;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${(a % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** Parse a pax time into nanoseconds (extra digits are cut, missing ones are zeros). */
export function parsePaxTime(s: string): bigint {
  // At most 18 digits of seconds: the time must fit the kernel's 64-bit tv_sec.
  const m = /^(-?)(\d{1,18})(?:\.(\d*))?$/.exec(s);
  if (!m) throw new ImgsrvError('IO', `bad pax time "${s.slice(0, 40)}"`);
  const ns = BigInt(m[2]!) * 1_000_000_000n + BigInt((m[3] ?? '').slice(0, 9).padEnd(9, '0'));
  return m[1] ? -ns : ns;
}

const TYPE_BITS = 0o100000;
const SAFE_XATTR_NAME = /^[\x21-\x3c\x3e-\x7e]+$/; // printable ASCII without "="

/** The tar header for an entry; for a sparse file also the map that starts its data. */
export function toTarHeader(e: ManifestEntry): { header: TarHeader; sparseMap?: Buffer } {
  const pax: Record<string, string> = { mtime: formatPaxTime(e.mtimeNs) };
  const sec = Number(e.mtimeNs / 1_000_000_000n);
  const header: TarHeader = {
    name: e.path.toString('utf8'),
    type: TO_TAR[e.type],
    mode: e.mode | TYPE_BITS, // tar-stream turns a mode of 0 into 0644; only the low 12 bits are written
    uid: e.uid > USTAR_NUM_MAX ? 0 : e.uid,
    gid: e.gid > USTAR_NUM_MAX ? 0 : e.gid,
    mtime: new Date(Math.min(Math.max(sec, 0), 0x7fffffff) * 1000), // tar-stream writes int32 seconds
    size: 0,
    pax,
  };
  if (!isUtf8(e.path)) pax['IMGSRV.pathb64'] = e.path.toString('base64');
  if (e.uid > USTAR_NUM_MAX) pax.uid = String(e.uid);
  if (e.gid > USTAR_NUM_MAX) pax.gid = String(e.gid);
  if (e.target) {
    header.linkname = e.target.toString('utf8');
    if (!isUtf8(e.target)) pax['IMGSRV.linkpathb64'] = e.target.toString('base64');
  }
  if (e.rdev) {
    header.devmajor = Math.min(e.rdev.major, USTAR_NUM_MAX);
    header.devminor = Math.min(e.rdev.minor, USTAR_NUM_MAX);
    // Linux minors reach 2^20: star's keywords, which GNU tar also reads.
    if (e.rdev.major > USTAR_NUM_MAX) pax['SCHILY.devmajor'] = String(e.rdev.major);
    if (e.rdev.minor > USTAR_NUM_MAX) pax['SCHILY.devminor'] = String(e.rdev.minor);
  }
  for (const [name, value] of e.xattrs ?? []) {
    if (SAFE_XATTR_NAME.test(name) && isUtf8(value)) pax[`SCHILY.xattr.${name}`] = value.toString('utf8');
    else pax[`IMGSRV.xattr.${Buffer.from(name, 'latin1').toString('base64url')}`] = value.toString('base64');
  }
  if (e.type !== 'file') return { header };
  if (!e.sparse) {
    header.size = e.size ?? 0;
    return { header };
  }
  // GNU tar sizes the file from the map's end, not realsize: a trailing hole needs an empty segment.
  const last = e.sparse[e.sparse.length - 1];
  const end = last ? last[0] + last[1] : 0;
  const sparseMap = encodeSparseMap(end < (e.size ?? 0) ? [...e.sparse, [e.size ?? 0, 0]] : e.sparse);
  pax['GNU.sparse.major'] = '1';
  pax['GNU.sparse.minor'] = '0';
  pax['GNU.sparse.name'] = header.name;
  pax['GNU.sparse.realsize'] = String(e.size ?? 0);
  header.size = sparseMap.length + e.sparse.reduce((n, [, len]) => n + len, 0);
  return { header, sparseMap };
}

/**
 * Normalise an entry's path and refuse the ones that would escape the
 * target: absolute names, ".." components, NUL bytes. "./a//b/" → "a/b"; the
 * root is ".".
 */
export function safeEntryPath(raw: Buffer, what = 'entry'): Buffer {
  const shown = displayPath(raw);
  if (raw.includes(0)) throw new ImgsrvError('IO', `refused ${what} ${JSON.stringify(shown)}: NUL byte in name`, { hint: 'the archive is malicious or corrupt' });
  if (raw[0] === 0x2f) throw new ImgsrvError('IO', `refused ${what} ${JSON.stringify(shown)}: absolute path`, { hint: 'the archive is malicious or corrupt' });
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= raw.length; i++) {
    if (i < raw.length && raw[i] !== 0x2f) continue;
    const part = raw.subarray(start, i);
    start = i + 1;
    if (part.length === 0 || (part.length === 1 && part[0] === 0x2e)) continue;
    if (part.length === 2 && part[0] === 0x2e && part[1] === 0x2e) {
      throw new ImgsrvError('IO', `refused ${what} ${JSON.stringify(shown)}: ".." in path`, { hint: 'the archive is malicious or corrupt' });
    }
    parts.push(part);
  }
  if (parts.length === 0) return Buffer.from('.');
  return Buffer.concat(parts.flatMap((p, i) => (i ? [Buffer.from('/'), p] : [p])));
}

// uid_t and gid_t are 32 bits, and (uid_t)-1 tells chown(2) "leave it"; glibc's dev_t halves are 32 bits.
const MAX_ID = 0xfffffffe;
const MAX_DEV = 0xffffffff;

const FROM_TAR: Partial<Record<string, EntryType>> = {
  file: 'file', 'contiguous-file': 'file', directory: 'dir', symlink: 'symlink', link: 'hardlink', 'character-device': 'char', 'block-device': 'block', fifo: 'fifo',
};

/**
 * Decode a tar-stream header (read with filenameEncoding 'latin1', so ustar
 * names keep their bytes) into the entry it restores. Throws ImgsrvError for
 * unsafe names and unsupported entries.
 */
export function fromTarHeader(h: TarHeader): TarEntry {
  const pax = h.pax ?? {};
  const rawName = pax['IMGSRV.pathb64'] !== undefined ? Buffer.from(pax['IMGSRV.pathb64'], 'base64')
    : pax['GNU.sparse.name'] !== undefined ? Buffer.from(pax['GNU.sparse.name'], 'utf8')
    : Buffer.from(h.name, pax.path !== undefined ? 'utf8' : 'latin1');
  const path = safeEntryPath(rawName);
  const type = h.type ? FROM_TAR[h.type] : undefined;
  if (!type) throw new ImgsrvError('IO', `entry ${JSON.stringify(displayPath(path))}: unsupported tar entry type ${String(h.type)}`, { hint: 'make archives with imgsrv or GNU tar --format=posix' });
  const bad = (what: string): ImgsrvError => new ImgsrvError('IO', `entry ${JSON.stringify(displayPath(path))}: bad ${what}`, { hint: 'the archive is corrupt' });
  // A pax record, else the ustar field (which tar-stream decodes to NaN or a negative number when it is damaged).
  const num = (k: string, dflt: number | undefined, max: number): number => {
    const v = pax[k];
    if (v !== undefined && !/^\d{1,15}$/.test(v)) throw bad(`pax ${k}`);
    const n = v !== undefined ? Number(v) : (dflt ?? 0);
    if (!Number.isSafeInteger(n) || n < 0 || n > max) throw bad(`${k} ${String(n)}`);
    return n;
  };
  const ms = h.mtime?.getTime() ?? 0;
  if (pax.mtime === undefined && !Number.isSafeInteger(ms)) throw bad('mtime');
  const entry: ManifestEntry = {
    path,
    type,
    mode: (h.mode ?? 0) & 0o7777,
    uid: num('uid', h.uid, MAX_ID),
    gid: num('gid', h.gid, MAX_ID),
    mtimeNs: pax.mtime !== undefined ? parsePaxTime(pax.mtime) : BigInt(ms) * 1_000_000n,
  };
  if (type === 'symlink' || type === 'hardlink') {
    const b64 = pax['IMGSRV.linkpathb64'];
    entry.target = b64 !== undefined ? Buffer.from(b64, 'base64') : Buffer.from(h.linkname ?? '', pax.linkpath !== undefined ? 'utf8' : 'latin1');
    if (type === 'hardlink') entry.target = safeEntryPath(entry.target, `hard link ${JSON.stringify(displayPath(path))} →`);
    else if (entry.target.includes(0)) throw bad('symlink target (NUL byte)');
  }
  if (type === 'char' || type === 'block') entry.rdev = { major: num('SCHILY.devmajor', h.devmajor, MAX_DEV), minor: num('SCHILY.devminor', h.devminor, MAX_DEV) };
  const xattrs = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(pax)) {
    if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice(13), Buffer.from(v, 'utf8'));
    else if (k.startsWith('IMGSRV.xattr.')) xattrs.set(Buffer.from(k.slice(13), 'base64url').toString('latin1'), Buffer.from(v, 'base64'));
  }
  // The name goes to lsetxattr(2) as a C string: a NUL would silently set another attribute.
  for (const name of xattrs.keys()) if (name.includes('\0')) throw bad('xattr name (NUL byte)');
  if (xattrs.size > 0) entry.xattrs = xattrs;
  if (type !== 'file') return { entry };
  if (pax['GNU.sparse.major'] !== undefined || pax['GNU.sparse.map'] !== undefined || pax['GNU.sparse.offset'] !== undefined) {
    if (pax['GNU.sparse.major'] !== '1' || pax['GNU.sparse.minor'] !== '0') {
      throw new ImgsrvError('IO', `entry ${JSON.stringify(displayPath(path))}: only GNU sparse format 1.0 is supported`, { hint: 'make archives with imgsrv or GNU tar --sparse-version=1.0' });
    }
    entry.size = num('GNU.sparse.realsize', 0, Number.MAX_SAFE_INTEGER);
    return { entry, sparseRealSize: entry.size };
  }
  entry.size = h.size ?? 0;
  return { entry };
}
