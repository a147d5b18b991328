/**
 * Hostile tar archives for the unpack fuzzers, written by hand (not by
 * tar-stream, which would refuse to write most of them): ustar headers with
 * valid checksums around whatever fields we choose, pax and GNU long-name
 * records, GNU sparse 1.0 bodies. Mutations work on the structure: they
 * find the header blocks, change one field and fix the checksum, so the
 * damage reaches the code behind the tar parser instead of its checksum test.
 */
import type { Rng } from '../mutators.ts';

/** One raw entry: header fields as bytes or numbers, no validation at all. */
export interface RawEntry {
  name: string | Buffer;
  /** The typeflag byte ('0' file, '1' hard link, '2' symlink, '5' dir, 'x' pax, 'L' GNU long name…). */
  type: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Header size field; defaults to the body's length. */
  size?: number;
  mtime?: number;
  linkname?: string | Buffer;
  devmajor?: number;
  devminor?: number;
  prefix?: string;
  /** 'ustar' (POSIX, default), 'gnu', or 'none' (no magic). */
  magic?: 'ustar' | 'gnu' | 'none';
  body?: Buffer;
  /** Pax records written as an 'x' entry just before this one. */
  pax?: Record<string, string | Buffer>;
}

/** The workspace the sandboxed unpack fuzzer restores into (fixed so absolute names in inputs replay). */
export const WORK = '/tmp/w';
/** Names relative to the restore target that point at the sentinels outside it. */
export const OUTSIDE_LINKS = ['../outside', '../secret', '../outside/secret', '../../a/outside', '..', '../..', `${WORK}/a/outside`, `${WORK}/a/secret`, WORK, '/'];

const octal = (v: number, width: number): Buffer => {
  if (v < 0 || v >= 8 ** (width - 1)) {
    // GNU base-256: 0x80 then big-endian two's complement (0xff for negatives).
    const b = Buffer.alloc(width, v < 0 ? 0xff : 0);
    let x = BigInt(Math.trunc(v));
    for (let i = width - 1; i > 0; i--, x >>= 8n) b[i] = Number(BigInt.asUintN(8, x));
    b[0] = v < 0 ? 0xff : 0x80;
    return b;
  }
  return Buffer.from(`${Math.trunc(v).toString(8).padStart(width - 1, '0')}\0`, 'latin1');
};

const bytes = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);

/** Write the header checksum of the 512-byte block at `off` (sum with the field as spaces). */
export function fixChecksum(buf: Buffer, off = 0): void {
  buf.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += buf[off + i]!;
  Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `, 'latin1').copy(buf, off + 148);
}

/** A 512-byte ustar header. */
export function header(e: RawEntry): Buffer {
  const h = Buffer.alloc(512);
  bytes(e.name).copy(h, 0, 0, 100);
  octal(e.mode ?? 0o644, 8).copy(h, 100);
  octal(e.uid ?? 0, 8).copy(h, 108);
  octal(e.gid ?? 0, 8).copy(h, 116);
  octal(e.size ?? e.body?.length ?? 0, 12).copy(h, 124);
  octal(e.mtime ?? 1_700_000_000, 12).copy(h, 136);
  h.write(e.type.slice(0, 1), 156, 'latin1');
  if (e.linkname !== undefined) bytes(e.linkname).copy(h, 157, 0, 100);
  if (e.magic !== 'none') h.write(e.magic === 'gnu' ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  octal(e.devmajor ?? 0, 8).copy(h, 329);
  octal(e.devminor ?? 0, 8).copy(h, 337);
  if (e.prefix) h.write(e.prefix, 345, 155, 'utf8');
  fixChecksum(h);
  return h;
}

/** Pax records ("<len> key=value\n", len counting itself). */
export function paxBody(records: Record<string, string | Buffer>): Buffer {
  const out: Buffer[] = [];
  for (const [k, v] of Object.entries(records)) {
    const rest = Buffer.concat([Buffer.from(` ${k}=`, 'utf8'), bytes(v), Buffer.from('\n')]);
    let len = rest.length + 1;
    while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
    out.push(Buffer.from(String(len)), rest);
  }
  return Buffer.concat(out);
}

const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);

/** A whole archive: each entry (its pax record first), then the two zero blocks unless `end` is false. */
export function tarBytes(entries: readonly RawEntry[], end = true): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    if (e.pax) {
      const body = paxBody(e.pax);
      out.push(header({ name: 'PaxHeader', type: 'x', body }), pad(body));
    }
    out.push(header(e), pad(e.body ?? Buffer.alloc(0)));
  }
  if (end) out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

/** A GNU sparse 1.0 body: the map padded to 512 bytes, then the data segments. */
export function sparseBody(segments: Array<[number, number]>, fill = 0x61): Buffer {
  const map = Buffer.from(`${segments.length}\n${segments.map(([o, l]) => `${o}\n${l}\n`).join('')}`, 'latin1');
  return Buffer.concat([pad(map), Buffer.alloc(segments.reduce((n, [, l]) => n + l, 0), fill)]);
}

/** Offsets of the header blocks of an archive, found by following the size fields (stops at the first zero or bad block). */
export function headerOffsets(tar: Buffer): number[] {
  const out: number[] = [];
  for (let off = 0; off + 512 <= tar.length && out.length < 256; ) {
    if (tar[off] === 0 && tar.subarray(off, off + 512).every((b) => b === 0)) break;
    out.push(off);
    const f = tar.toString('latin1', off + 124, off + 136).replace(/[\0 ]+$/, '').replace(/^ +/, '');
    const size = /^[0-7]+$/.test(f) ? parseInt(f, 8) : 0;
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

const NAMES = ['f', 'd', 'd/f', 'd/e', 'd/s', 'd/s/x', 's', 's/x', 'h', '.', './', 'd/', 'x/y/z', '..', '../x', 'd/../../x', '/abs', `${WORK}/a/outside/new`, 'a//b', 'a/./b', `long/${'n'.repeat(120)}`, '\u00e9t\u00e9', ''];
const LINKS = [...OUTSIDE_LINKS, 'f', 'd', 'd/f', 's', 'h', '.', '', 'nonexistent', 'd/../f', 'x'.repeat(200)];
const TYPES = ['0', '0', '0', '5', '5', '2', '2', '1', '1', '3', '4', '6', '7', '\0', 'x', 'g', 'L', 'K', 'S', 'V', 'Z'];
const NUMS = [0, 1, 511, 512, 513, 0o7777, 0o4755, 0o777777, 0o7777777, 2 ** 32, 2 ** 53, -1, 8 ** 11 - 1, 8 ** 11];

/** Pax records an attacker would try. */
function paxRecords(rng: Rng): Record<string, string | Buffer> {
  const r: Record<string, string | Buffer> = {};
  for (let n = 1 + rng.below(3); n > 0; n--) {
    const k = rng.pick(['path', 'linkpath', 'size', 'mtime', 'uid', 'gid', 'IMGSRV.pathb64', 'IMGSRV.linkpathb64', 'GNU.sparse.major', 'GNU.sparse.minor', 'GNU.sparse.name', 'GNU.sparse.realsize', 'GNU.sparse.map', 'SCHILY.devmajor', 'SCHILY.devminor', 'SCHILY.xattr.user.x', 'SCHILY.xattr.security.capability', 'IMGSRV.xattr.dXNlci54', 'IMGSRV.xattr.', 'junk']);
    const v = rng.pick([
      () => rng.pick(NAMES),
      () => rng.pick(LINKS),
      () => String(rng.pick(NUMS)),
      () => rng.pick(['1', '0', '-1', '1.5', '1e3', 'NaN', '', ' 1', '99999999999999999999', '1700000000.123456789', '-1.5', '1.']),
      () => Buffer.from(rng.pick(['../../x', 'a\0b', '/etc/x', 'ok', '\xff\xfe'].map((s) => Buffer.from(s, 'latin1').toString('base64')))),
      () => rng.bytes(rng.size(64)),
      () => 'v'.repeat(rng.size(4096)),
    ])();
    r[k] = v;
  }
  if (rng.chance(0.2)) Object.assign(r, { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': String(rng.pick([0, 10, 512, 2000, 1 << 20])) });
  return r;
}

/** A random hostile entry. */
function randomEntry(rng: Rng): RawEntry {
  const type = rng.pick(TYPES);
  const e: RawEntry = { name: rng.pick(NAMES), type, mode: rng.chance(0.8) ? rng.pick([0o644, 0o755, 0o777, 0o4755, 0]) : rng.pick(NUMS) };
  if (type === '1' || type === '2' || rng.chance(0.05)) e.linkname = rng.pick(LINKS);
  if (type === '0' || type === '7' || type === '\0' || rng.chance(0.1)) e.body = rng.chance(0.15) ? sparseBody([[0, 3], [600, 5]]) : Buffer.alloc(rng.size(1500), 0x62);
  if (type === 'L' || type === 'K' || type === 'x' || type === 'g') e.body = rng.chance(0.5) ? Buffer.from(`${rng.pick(NAMES)}\0`) : paxBody(paxRecords(rng));
  if (rng.chance(0.1)) e.size = rng.pick(NUMS);
  if (rng.chance(0.05)) e.mtime = rng.pick(NUMS);
  if (rng.chance(0.05)) e.uid = rng.pick(NUMS);
  if (type === '3' || type === '4') [e.devmajor, e.devminor] = [rng.pick([1, 7, 0, 259]), rng.pick([3, 0, 1 << 20, 1])];
  if (rng.chance(0.25)) e.pax = paxRecords(rng);
  if (rng.chance(0.05)) e.magic = rng.pick(['gnu', 'none'] as const);
  if (rng.chance(0.05)) e.prefix = rng.pick(['..', '/abs', 'd', 'x'.repeat(150)]);
  return e;
}

/** Sequences that probe the restore's ordering rules (symlink then write through it, dir replaced by a symlink…). */
const PLOTS: ReadonlyArray<(rng: Rng) => RawEntry[]> = [
  (rng) => [{ name: 'd', type: '2', linkname: rng.pick(OUTSIDE_LINKS) }, { name: `d/${rng.pick(['x', 'secret', 'y/z'])}`, type: '0', body: Buffer.from('pwned') }],
  (rng) => [{ name: 'd', type: '5', mode: 0o777 }, { name: 'd', type: '2', linkname: rng.pick(OUTSIDE_LINKS) }],
  (rng) => [{ name: 'd', type: '5' }, { name: 'd/e', type: '5', mode: 0o700 }, { name: 'd/e', type: '2', linkname: rng.pick(OUTSIDE_LINKS) }, { name: 'd/f', type: '0' }],
  (rng) => [{ name: 's', type: '2', linkname: rng.pick(OUTSIDE_LINKS) }, { name: 'h', type: '1', linkname: rng.pick(['s', 's/secret', '../secret', 'd/../s']) }, { name: 'h', type: '0', body: Buffer.from('x') }],
  (rng) => [{ name: 'f', type: '0', body: Buffer.from('x') }, { name: 'h', type: '1', linkname: 'f' }, { name: 'f', type: '2', linkname: rng.pick(OUTSIDE_LINKS) }, { name: 'h', type: '0', body: Buffer.from('y') }],
  (rng) => [{ name: 'p', type: '6' }, { name: 'p', type: rng.pick(['0', '5', '2']), linkname: '../secret' }, { name: 'p/x', type: '0' }],
  (rng) => [{ name: 'd', type: '5' }, { name: 'd/f', type: '0' }, { name: 'd', type: rng.pick(['0', '2', '1']), linkname: 'd/f' }],
  (rng) => [{ name: 'f', type: '0', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': rng.pick(['f', '../f', '/f']), 'GNU.sparse.realsize': String(rng.pick([0, 4, 1000, 2 ** 40])) }, body: sparseBody(rng.pick([[[0, 4]], [[10, 5], [4, 5]], [[0, 2000]], []] as Array<Array<[number, number]>>)) }],
  (rng) => [{ name: 'x', type: '0', pax: { path: rng.pick(NAMES), linkpath: rng.pick(LINKS), size: rng.pick(['0', '-1', 'NaN', '1e3', '999999999']) }, body: Buffer.from('abc') }],
  (rng) => [{ name: `${'d/'.repeat(rng.below(60))}f`, type: '0' }, { name: 'x'.repeat(rng.pick([99, 100, 101, 255, 256, 4096])), type: '0', pax: { path: 'y'.repeat(rng.pick([255, 256, 4096])) } }],
];

/** A random archive: a plot, random entries, or both; sometimes cut short. */
export function generateTar(rng: Rng): Buffer {
  const entries: RawEntry[] = rng.chance(0.6) ? rng.pick(PLOTS)(rng) : [];
  for (let n = rng.below(entries.length ? 3 : 6) + (entries.length ? 0 : 1); n > 0; n--) entries.splice(rng.below(entries.length + 1), 0, randomEntry(rng));
  const tar = tarBytes(entries, !rng.chance(0.1));
  return rng.chance(0.1) ? tar.subarray(0, rng.below(tar.length)) : tar;
}

/** Header fields: [offset, width, kind]. */
const FIELDS: ReadonlyArray<[number, number, 'str' | 'num' | 'type']> = [
  [0, 100, 'str'], [100, 8, 'num'], [108, 8, 'num'], [116, 8, 'num'], [124, 12, 'num'], [136, 12, 'num'], [156, 1, 'type'], [157, 100, 'str'], [329, 8, 'num'], [337, 8, 'num'], [345, 155, 'str'],
];

/** Change one field of one header (and fix its checksum), insert a crafted entry, or cut between blocks. */
export function mutateTar(input: Buffer, rng: Rng): Buffer {
  const offs = headerOffsets(input);
  const choice = rng.below(10);
  if (offs.length === 0 || choice >= 8) {
    // Insert a crafted entry (or a plot) at a header boundary.
    const at = offs.length ? rng.pick([...offs, offs[offs.length - 1]! + 512]) : 0;
    const extra = rng.chance(0.5) ? tarBytes([randomEntry(rng)], false) : tarBytes(rng.pick(PLOTS)(rng), false);
    return Buffer.concat([input.subarray(0, Math.min(at, input.length)), extra, input.subarray(Math.min(at, input.length))]);
  }
  const off = rng.pick(offs);
  const out = Buffer.from(input);
  if (choice === 7) return out.subarray(0, off + rng.pick([0, 1, 100, 511, 512, 513, 1024])); // truncated stream at a block edge
  const [fo, width, kind] = rng.pick(FIELDS);
  if (off + fo + width > out.length) return out;
  const field = out.subarray(off + fo, off + fo + width);
  if (kind === 'num') {
    field.fill(0);
    octal(rng.pick(NUMS), width).copy(field);
    if (rng.chance(0.2)) field.write(rng.pick(['9', ' ', '-1', '0x10', '\x80', 'NaN ']), rng.below(width), 'latin1');
  } else if (kind === 'type') {
    field[0] = rng.pick(TYPES).charCodeAt(0);
  } else {
    field.fill(0);
    Buffer.from(rng.pick(kind === 'str' && fo === 157 ? LINKS : NAMES)).copy(field);
  }
  fixChecksum(out, off);
  return out;
}
