/**
 * Manifest entries ↔ tar headers, pure. The archive is a POSIX pax archive
 * (GNU tar --format=posix), readable by GNU tar and bsdtar with nothing of
 * ours: `zstd -dc image.tar.zst | tar --xattrs --xattrs-include='*' --acls
 * --numeric-owner -xpf -` restores the tree. Header strings are latin1 byte
 * strings (tar-header.ts); the records each entry carries:
 * - `path`, `linkpath` (raw bytes, preceded by `hdrcharset=BINARY` when not
 *   UTF-8; added by encodeTarHeader when the ustar fields can't hold them).
 * - `mtime=<sec>.<9 digits>` (nanoseconds; the ustar field holds whole seconds).
 * - `uid`, `gid` above 6 octal digits, `SCHILY.devmajor`/`devminor` likewise
 *   (encodeTarHeader leaves out those its 7-digit fields hold).
 * - `SCHILY.xattr.<name>=<raw value>` for every xattr, the name with "%" and
 *   "=" written %25 and %3D as GNU tar does; POSIX ACLs as their raw
 *   `system.posix_acl_*` xattrs (restored exactly) and also as
 *   `SCHILY.acl.access` / `SCHILY.acl.default` text (what `tar --acls` reads).
 * - sparse files: GNU sparse format 1.0 (`GNU.sparse.major=1`, `minor=0`,
 *   `name`, `realsize`; the ustar name is "<dir>/GNUSparseFile.0/<base>" as
 *   GNU tar writes it); the entry's data is a text map padded to 512 bytes
 *   ("count\n" then "offset\nlength\n" per data segment) followed by the
 *   data segments only. GNU tar restores these, holes included.
 * Hard links are link entries naming the first path of their set.
 *
 * fromTarHeader also reads what imgsrv wrote before: `IMGSRV.pathb64` /
 * `IMGSRV.linkpathb64` (base64 of a non-UTF-8 name, overriding `path` /
 * `linkpath`) and `IMGSRV.xattr.<base64url(name)>=<base64(value)>`.
 */
import type { Header } from 'tar-stream';
import type { EntryType, ManifestEntry } from './manifest-codec.ts';
import { displayPath } from './manifest-codec.ts';
import { ACL_XATTRS, aclTextToXattr, aclXattrToText } from './posix-acl.ts';
import { encodeSparseMap } from './sparse.ts';
import type { TarHeader } from './tar-header.ts';
import { ImgsrvError } from '../core/errors.ts';

export type { TarHeader } from './tar-header.ts';

/** A decoded tar entry: the manifest entry it restores, and for sparse files the logical size. */
export interface TarEntry {
  entry: ManifestEntry;
  sparseRealSize?: number;
}

// Numbers above 6 octal digits (the classic ustar width, and tar-stream's) also get a pax record.
const USTAR_NUM_MAX = 0o777777;
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
const XATTR_KEY = 'SCHILY.xattr.';

/** An xattr name as a pax keyword suffix: "%" and "=" escaped as GNU tar does (xattr_encode_keyword). */
function encodeXattrName(name: string): string {
  return name.replace(/%/g, '%25').replace(/=/g, '%3D');
}

/** Undo encodeXattrName (as GNU tar's xattr_decode_keyword; imgsrv never wrote a name holding "%25" or "%3D" otherwise). */
function decodeXattrName(key: string): string {
  return key.replace(/%(25|3D)/g, (_m, hex: string) => (hex === '25' ? '%' : '='));
}

/** The tar header for an entry; for a sparse file also the map that starts its data. */
export function toTarHeader(e: ManifestEntry): { header: TarHeader; sparseMap?: Buffer } {
  const pax: Record<string, string> = { mtime: formatPaxTime(e.mtimeNs) };
  const sec = Number(e.mtimeNs / 1_000_000_000n);
  const header: TarHeader = {
    name: e.path.toString('latin1'),
    type: TO_TAR[e.type],
    mode: e.mode | TYPE_BITS, // tar-stream turns a mode of 0 into 0644; only the low 12 bits are written
    uid: e.uid > USTAR_NUM_MAX ? 0 : e.uid,
    gid: e.gid > USTAR_NUM_MAX ? 0 : e.gid,
    mtime: new Date(Math.min(Math.max(sec, 0), 0x7fffffff) * 1000),
    size: 0,
    pax,
  };
  if (e.uid > USTAR_NUM_MAX) pax.uid = String(e.uid);
  if (e.gid > USTAR_NUM_MAX) pax.gid = String(e.gid);
  if (e.target) header.linkname = e.target.toString('latin1');
  if (e.rdev) {
    header.devmajor = Math.min(e.rdev.major, USTAR_NUM_MAX);
    header.devminor = Math.min(e.rdev.minor, USTAR_NUM_MAX);
    if (e.rdev.major > USTAR_NUM_MAX) pax['SCHILY.devmajor'] = String(e.rdev.major);
    if (e.rdev.minor > USTAR_NUM_MAX) pax['SCHILY.devminor'] = String(e.rdev.minor);
  }
  for (const [xattr, key] of ACL_XATTRS) {
    const value = e.xattrs?.get(xattr);
    const text = value && aclXattrToText(value);
    if (text) pax[key] = text;
  }
  for (const [name, value] of e.xattrs ?? []) pax[`${XATTR_KEY}${encodeXattrName(name)}`] = value.toString('latin1');
  if (e.type !== 'file') return { header };
  if (!e.sparse) {
    header.size = e.size ?? 0;
    return { header };
  }
  // GNU tar sizes the file from the map's end, not realsize: a trailing hole needs an empty segment.
  const last = e.sparse[e.sparse.length - 1];
  const end = last ? last[0] + last[1] : 0;
  const sparseMap = encodeSparseMap(end < (e.size ?? 0) ? [...e.sparse, [e.size ?? 0, 0]] : e.sparse);
  // GNU tar's ustar name for a sparse file, so a reader that doesn't know the format can't mistake the map for content.
  const slash = e.path.lastIndexOf(0x2f);
  header.name = `${slash >= 0 ? e.path.toString('latin1', 0, slash + 1) : ''}GNUSparseFile.0/${e.path.toString('latin1', slash + 1)}`;
  pax['GNU.sparse.major'] = '1';
  pax['GNU.sparse.minor'] = '0';
  pax['GNU.sparse.name'] = e.path.toString('latin1');
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
 * Decode a header read by createTarExtract (tar-read.ts: every string a
 * latin1 byte string) into the entry it restores. Throws ImgsrvError for
 * unsafe names and unsupported entries.
 */
export function fromTarHeader(h: TarHeader): TarEntry {
  const pax = h.pax ?? {};
  const rawName = pax['IMGSRV.pathb64'] !== undefined ? Buffer.from(pax['IMGSRV.pathb64'], 'base64')
    : Buffer.from(pax['GNU.sparse.name'] ?? h.name, 'latin1');
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
    entry.target = b64 !== undefined ? Buffer.from(b64, 'base64') : Buffer.from(h.linkname ?? '', 'latin1');
    if (type === 'hardlink') entry.target = safeEntryPath(entry.target, `hard link ${JSON.stringify(displayPath(path))} →`);
    else if (entry.target.includes(0)) throw bad('symlink target (NUL byte)');
  }
  if (type === 'char' || type === 'block') entry.rdev = { major: num('SCHILY.devmajor', h.devmajor, MAX_DEV), minor: num('SCHILY.devminor', h.devminor, MAX_DEV) };
  const xattrs = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(pax)) {
    if (k.startsWith(XATTR_KEY)) xattrs.set(decodeXattrName(k.slice(XATTR_KEY.length)), Buffer.from(v, 'latin1'));
    else if (k.startsWith('IMGSRV.xattr.')) xattrs.set(Buffer.from(k.slice(13), 'base64url').toString('latin1'), Buffer.from(v, 'base64'));
  }
  // An archive made with `tar --acls` but without --xattrs has only the text form.
  for (const [xattr, key, kind] of ACL_XATTRS) {
    const text = pax[key];
    if (text === undefined || xattrs.has(xattr)) continue;
    const value = aclTextToXattr(text, kind, `entry ${JSON.stringify(displayPath(path))}: ${key}`);
    if (value) xattrs.set(xattr, value);
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
