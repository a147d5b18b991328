/**
 * The tar blocks of one entry, pure: an optional pax extended header
 * (typeflag 'x', POSIX.1-2001 pax format, IEEE 1003.1 "pax Extended Header")
 * and the ustar header that follows it, as GNU tar writes with
 * --format=posix. Every string in a TarHeader is a byte string (latin1: one
 * char per byte), so names, link targets and pax values that are not UTF-8
 * pass through unchanged; tar-stream's own pax encoder writes UTF-8 strings
 * only, which is why the headers are ours and only the reading is tar-stream's
 * (tar-read.ts).
 */
import { isUtf8 } from 'node:buffer';
import type { Header } from 'tar-stream';
import { ImgsrvError } from '../core/errors.ts';

/**
 * A tar entry's header: tar-stream's shape, every string a latin1 byte
 * string; `pax` holds the extended records in the order they are written.
 */
export type TarHeader = Partial<Omit<Header, 'pax'>> & { name: string; pax?: Record<string, string> | null };

export const TAR_BLOCK = 512;
/** Two zero blocks end an archive. */
export const TAR_END = Buffer.alloc(2 * TAR_BLOCK);

const TYPEFLAG: Partial<Record<string, string>> = {
  file: '0', link: '1', symlink: '2', 'character-device': '3', 'block-device': '4', directory: '5', fifo: '6', 'contiguous-file': '7',
};
const MAX7 = 0o7777777; // an 8-byte numeric field: 7 octal digits and a NUL
const MAX11 = 0o77777777777; // a 12-byte one (size, mtime)

/** Zero bytes that pad `size` bytes of entry data to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % TAR_BLOCK;
  return rest === 0 ? Buffer.alloc(0) : TAR_END.subarray(0, TAR_BLOCK - rest);
}

/** One pax record, "<length> <keyword>=<value>\n", the length counting its own digits. */
function paxRecord(key: Buffer, value: Buffer): Buffer {
  const rest = key.length + value.length + 3; // " ", "=", "\n"
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} `), key, Buffer.from('='), value, Buffer.from('\n')]);
}

/** The body of a pax extended header from [keyword, value] byte strings. */
export function encodePaxRecords(records: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(records.map(([k, v]) => paxRecord(Buffer.from(k, 'latin1'), Buffer.from(v, 'latin1'))));
}

/**
 * Parse a pax extended header body into keyword → value (latin1 byte
 * strings; a later record wins). Throws ImgsrvError on a malformed record,
 * as GNU tar refuses a "malformed extended header".
 */
export function decodePaxRecords(body: Buffer): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let off = 0;
  while (off < body.length) {
    if (body[off] === 0) break; // NUL padding after the last record
    const bad = (why: string): ImgsrvError => new ImgsrvError('IO', `malformed pax extended header at byte ${off}: ${why}`, { hint: 'the archive is corrupt' });
    const sp = body.indexOf(0x20, off);
    const digits = sp < 0 ? '' : body.toString('latin1', off, sp);
    if (!/^[1-9]\d{0,15}$/.test(digits)) throw bad('no record length');
    const end = off + Number(digits);
    if (end > body.length || end - 1 <= sp || body[end - 1] !== 0x0a) throw bad('record length does not end at a newline');
    const eq = body.indexOf(0x3d, sp + 1);
    if (eq <= sp + 1 || eq >= end) throw bad('no keyword');
    out[body.toString('latin1', sp + 1, eq)] = body.toString('latin1', eq + 1, end - 1);
    off = end;
  }
  return out;
}

/** Split a path into ustar prefix (≤ 155 bytes) and name (≤ 100 bytes) at a slash, or undefined. */
function splitUstar(p: Buffer): { name: Buffer; prefix: Buffer } | undefined {
  if (p.length <= 100) return { name: p, prefix: Buffer.alloc(0) };
  for (let i = p.indexOf(0x2f); i !== -1 && i <= 155; i = p.indexOf(0x2f, i + 1)) {
    if (p.length - i - 1 <= 100 && i > 0 && i < p.length - 1) return { name: p.subarray(i + 1), prefix: p.subarray(0, i) };
  }
  return undefined;
}

const isAscii = (b: Buffer): boolean => b.every((c) => c > 0 && c < 0x80);

/** Write `n` as zero-padded octal filling a field but its last byte (a NUL); base-256 when it does not fit. */
function numField(block: Buffer, off: number, width: number, n: number): void {
  const digits = Math.max(0, Math.floor(n)).toString(8);
  if (digits.length < width) {
    block.write(digits.padStart(width - 1, '0'), off, 'latin1');
    return;
  }
  // GNU tar's base-256 extension: first byte 0x80, then the number big-endian.
  block[off] = 0x80;
  let v = BigInt(Math.floor(n));
  for (let i = off + width - 1; i > off; i--, v >>= 8n) block[i] = Number(v & 0xffn);
}

interface UstarFields {
  name: Buffer;
  prefix: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer;
  devmajor: number;
  devminor: number;
}

/** One 512-byte ustar header block (POSIX ustar: magic "ustar\0", version "00"). */
function ustarBlock(f: UstarFields): Buffer {
  const b = Buffer.alloc(TAR_BLOCK);
  f.name.copy(b, 0, 0, 100);
  numField(b, 100, 8, f.mode & 0o7777);
  numField(b, 108, 8, Math.min(f.uid, MAX7));
  numField(b, 116, 8, Math.min(f.gid, MAX7));
  numField(b, 124, 12, f.size);
  numField(b, 136, 12, Math.min(Math.max(f.mtime, 0), MAX11));
  b.write(f.typeflag, 156, 'latin1');
  f.linkname.copy(b, 157, 0, 100);
  b.write('ustar\x0000', 257, 'latin1');
  numField(b, 329, 8, Math.min(f.devmajor, MAX7));
  numField(b, 337, 8, Math.min(f.devminor, MAX7));
  f.prefix.copy(b, 345, 0, 155);
  b.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  let sum = 0;
  for (const c of b) sum += c;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

/**
 * The blocks that start an entry: a pax header when the entry needs one,
 * then the ustar header. Records the ustar fields can't hold are added here
 * (`hdrcharset=BINARY` before a `path`/`linkpath` that is not UTF-8, `path`
 * for names over the ustar limits or not ASCII, `linkpath` likewise, `size`
 * past 8 GiB), ahead of the header's own; `uid`, `gid` and
 * `SCHILY.devmajor`/`devminor` records whose value the 7-digit field holds are
 * left out (GNU tar ignores the SCHILY device keywords, with a warning).
 */
export function encodeTarHeader(h: TarHeader): Buffer {
  const typeflag = TYPEFLAG[h.type ?? 'file'];
  if (!typeflag) throw new ImgsrvError('INTERNAL', `no tar typeflag for entry type ${String(h.type)}`);
  const path = Buffer.from(h.name, 'latin1');
  const link = Buffer.from(h.linkname ?? '', 'latin1');
  const size = h.size ?? 0;
  const records: Array<[string, string]> = [];
  const split = isAscii(path) ? splitUstar(path) : undefined;
  const needPath = !split;
  const needLink = link.length > 100 || !isAscii(link);
  if ((needPath && !isUtf8(path)) || (needLink && !isUtf8(link))) records.push(['hdrcharset', 'BINARY']);
  if (needPath) records.push(['path', h.name]);
  if (needLink) records.push(['linkpath', h.linkname ?? '']);
  if (size > MAX11) records.push(['size', String(size)]);
  const fits = (v: string | undefined): boolean => v !== undefined && /^\d{1,7}$/.test(v) && Number(v) <= MAX7;
  for (const [k, v] of Object.entries(h.pax ?? {})) {
    if (records.some(([rk]) => rk === k)) continue;
    if (['uid', 'gid', 'SCHILY.devmajor', 'SCHILY.devminor'].includes(k) && fits(v)) continue;
    records.push([k, v]);
  }
  const num = (k: string, field: number | undefined): number => (fits(h.pax?.[k]) ? Number(h.pax?.[k]) : (field ?? 0));
  const mtime = Math.floor((h.mtime?.getTime() ?? 0) / 1000);
  const ustar = ustarBlock({
    ...(split ?? { name: path.subarray(0, 100), prefix: Buffer.alloc(0) }),
    mode: h.mode ?? 0,
    uid: num('uid', h.uid),
    gid: num('gid', h.gid),
    size,
    mtime,
    typeflag,
    linkname: link.subarray(0, 100),
    devmajor: num('SCHILY.devmajor', h.devmajor),
    devminor: num('SCHILY.devminor', h.devminor),
  });
  if (records.length === 0) return ustar;
  const body = encodePaxRecords(records);
  // The extended header's own name, as GNU tar forms it: "<dir>/PaxHeaders/<base>".
  const slash = path.lastIndexOf(0x2f);
  const paxName = Buffer.concat([slash >= 0 ? path.subarray(0, slash + 1) : Buffer.alloc(0), Buffer.from('PaxHeaders/'), path.subarray(slash + 1)]);
  const pax = ustarBlock({ name: paxName.subarray(0, 100), prefix: Buffer.alloc(0), mode: 0o644, uid: 0, gid: 0, size: body.length, mtime, typeflag: 'x', linkname: Buffer.alloc(0), devmajor: 0, devminor: 0 });
  return Buffer.concat([pax, body, tarPadding(body.length), ustar]);
}
