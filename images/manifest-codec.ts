/**
 * The manifest: one record per path of an image, saying everything a restore
 * must reproduce. Pure encode/decode/diff; the tree walk is in manifest.ts.
 *
 * On disk it is JSON lines (UTF-8), first a header line `{"imgsrvManifest":1}`,
 * then one object per path in walk order (depth-first, siblings sorted by raw
 * name bytes, root first as "."):
 *
 *   {"path":"usr/bin/ping","type":"file","mode":2541,"uid":0,"gid":0,
 *    "mtime":"1700000000123456789","size":90568,"sha256":"…",
 *    "xattrs":{"security.capability":"AQAAAgAgAAAAAAAAAAAAAAAAAAA="}}
 *
 * - `path` / `target` hold names that are valid UTF-8; a name that is not is
 *   stored as `pathB64` / `targetB64` (base64 of the raw bytes) instead, so
 *   every byte string Linux allows round-trips.
 * - `mode` is the permission bits including setuid/setgid/sticky (07777).
 * - `mtime` is nanoseconds since the epoch as a decimal string (can be < 0).
 * - `target`: symlink target, or for `hardlink` the first path of its link set.
 * - `rdev`: [major, minor] for char/block devices.
 * - `xattrs`: name → base64 value, every namespace the walker could read,
 *   POSIX ACLs included as their raw `system.posix_acl_*` values.
 * - `sparse`: data segments [[offset, length], …] of a file that has holes.
 */
import { isUtf8 } from 'node:buffer';
import { ImgsrvError } from '../core/errors.ts';

/** The kinds of path an image records (sockets are runtime objects: skipped, as GNU tar does). */
export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** Everything recorded about one path. */
export interface ManifestEntry {
  path: Buffer;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  size?: number;
  sha256?: string;
  target?: Buffer;
  rdev?: { major: number; minor: number };
  xattrs?: Map<string, Buffer>;
  sparse?: Array<[number, number]>;
}

/** The first line of every manifest file. */
export const MANIFEST_HEADER = '{"imgsrvManifest":1}';

const TYPES: readonly EntryType[] = ['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'];

/** A path for humans and logs: UTF-8 when it is, else `b64:<base64>`. */
export function displayPath(p: Buffer): string {
  return isUtf8(p) ? p.toString('utf8') : `b64:${p.toString('base64')}`;
}

/** One manifest entry as one JSON line (no trailing newline). */
export function encodeManifestLine(e: ManifestEntry): string {
  const o: Record<string, unknown> = {};
  if (isUtf8(e.path)) o.path = e.path.toString('utf8');
  else o.pathB64 = e.path.toString('base64');
  o.type = e.type;
  o.mode = e.mode;
  o.uid = e.uid;
  o.gid = e.gid;
  o.mtime = e.mtimeNs.toString();
  if (e.size !== undefined) o.size = e.size;
  if (e.sha256 !== undefined) o.sha256 = e.sha256;
  if (e.target !== undefined) {
    if (isUtf8(e.target)) o.target = e.target.toString('utf8');
    else o.targetB64 = e.target.toString('base64');
  }
  if (e.rdev) o.rdev = [e.rdev.major, e.rdev.minor];
  if (e.xattrs && e.xattrs.size > 0) {
    const x: Record<string, string> = {};
    for (const name of [...e.xattrs.keys()].sort()) x[name] = e.xattrs.get(name)!.toString('base64');
    o.xattrs = x;
  }
  if (e.sparse) o.sparse = e.sparse;
  return JSON.stringify(o);
}

function bad(where: string, what: string): never {
  throw new ImgsrvError('IO', `bad manifest ${where}: ${what}`, { hint: 'the image is damaged: capture it again or restore it from a backup' });
}

// Non-negative safe integers only; JSON's -0 passes `>= 0`, so it is turned into 0 where read.
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parse one JSON line of a manifest; `where` (e.g. "line 12") goes into errors. */
export function decodeManifestLine(line: string, where = 'line'): ManifestEntry {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    bad(where, 'not JSON');
  }
  if (typeof o !== 'object' || o === null) bad(where, 'not an object');
  const path =
    typeof o.path === 'string' ? Buffer.from(o.path, 'utf8') : typeof o.pathB64 === 'string' ? Buffer.from(o.pathB64, 'base64') : bad(where, 'no path');
  const type = o.type as EntryType;
  if (!TYPES.includes(type)) bad(where, `type ${String(o.type)}`);
  for (const k of ['mode', 'uid', 'gid'] as const) if (!isUint(o[k])) bad(where, `${k} must be a non-negative integer`);
  if (typeof o.mtime !== 'string' || !/^-?\d+$/.test(o.mtime)) bad(where, 'mtime must be a decimal string of nanoseconds');
  const e: ManifestEntry = { path, type, mode: (o.mode as number) + 0, uid: (o.uid as number) + 0, gid: (o.gid as number) + 0, mtimeNs: BigInt(o.mtime) };
  if (o.size !== undefined) e.size = isUint(o.size) ? o.size + 0 : bad(where, 'size');
  if (o.sha256 !== undefined) e.sha256 = typeof o.sha256 === 'string' && /^[0-9a-f]{64}$/.test(o.sha256) ? o.sha256 : bad(where, 'sha256');
  if (typeof o.target === 'string') e.target = Buffer.from(o.target, 'utf8');
  else if (typeof o.targetB64 === 'string') e.target = Buffer.from(o.targetB64, 'base64');
  if (o.rdev !== undefined) {
    const r = o.rdev;
    if (!Array.isArray(r) || r.length !== 2 || !isUint(r[0]) || !isUint(r[1])) bad(where, 'rdev must be [major, minor]');
    e.rdev = { major: (r[0] as number) + 0, minor: (r[1] as number) + 0 };
  }
  if (o.xattrs !== undefined) {
    if (typeof o.xattrs !== 'object' || o.xattrs === null || Array.isArray(o.xattrs)) bad(where, 'xattrs');
    const x = new Map(Object.entries(o.xattrs as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? Buffer.from(v, 'base64') : bad(where, `xattr ${k}`)]));
    if (x.size > 0) e.xattrs = x; // {} is what no xattrs looks like: the encoder leaves it out
  }
  if (o.sparse !== undefined) {
    const s = o.sparse;
    if (!Array.isArray(s) || !s.every((p) => Array.isArray(p) && p.length === 2 && isUint(p[0]) && isUint(p[1]))) bad(where, 'sparse');
    e.sparse = (s as Array<[number, number]>).map(([o, l]) => [o + 0, l + 0]);
  }
  return e;
}

/** A stable key for a path in maps (latin1 keeps every byte distinct). */
export function pathKey(p: Buffer): string {
  return p.toString('latin1');
}

const octal = (m: number): string => `0${m.toString(8).padStart(4, '0')}`;

/** The fields of two entries for the same path that differ, as "field a != b" texts. */
export function diffEntry(a: ManifestEntry, b: ManifestEntry): string[] {
  const out: string[] = [];
  const cmp = (field: string, x: unknown, y: unknown): void => {
    if (x !== y) out.push(`${field} ${String(x)} != ${String(y)}`);
  };
  cmp('type', a.type, b.type);
  cmp('mode', octal(a.mode), octal(b.mode));
  cmp('uid', a.uid, b.uid);
  cmp('gid', a.gid, b.gid);
  cmp('mtime', a.mtimeNs, b.mtimeNs);
  cmp('size', a.size, b.size);
  cmp('sha256', a.sha256, b.sha256);
  cmp('target', a.target && displayPath(a.target), b.target && displayPath(b.target));
  cmp('rdev', a.rdev && `${a.rdev.major}:${a.rdev.minor}`, b.rdev && `${b.rdev.major}:${b.rdev.minor}`);
  cmp('sparse', a.sparse && JSON.stringify(a.sparse), b.sparse && JSON.stringify(b.sparse));
  const names = new Set([...(a.xattrs?.keys() ?? []), ...(b.xattrs?.keys() ?? [])]);
  for (const n of [...names].sort()) {
    const x = a.xattrs?.get(n);
    const y = b.xattrs?.get(n);
    if (!x || !y || !x.equals(y)) out.push(`xattr ${n} ${x?.toString('base64') ?? '(none)'} != ${y?.toString('base64') ?? '(none)'}`);
  }
  return out;
}

/** Differences between two manifests, one line each ("path: what"); empty means identical. */
export function diffManifests(a: Iterable<ManifestEntry>, b: Iterable<ManifestEntry>): string[] {
  const byPath = new Map<string, ManifestEntry>();
  for (const e of b) byPath.set(pathKey(e.path), e);
  const out: string[] = [];
  for (const e of a) {
    const k = pathKey(e.path);
    const other = byPath.get(k);
    if (!other) {
      out.push(`${displayPath(e.path)}: only in the first`);
      continue;
    }
    byPath.delete(k);
    for (const d of diffEntry(e, other)) out.push(`${displayPath(e.path)}: ${d}`);
  }
  for (const e of byPath.values()) out.push(`${displayPath(e.path)}: only in the second`);
  return out;
}
