// Codec tests: entry → tar header → bytes (encodeTarHeader) → tar-stream (createTarExtract) → entry.
import { describe, expect, it } from 'vitest';
import type { ManifestEntry } from './manifest-codec.ts';
import { formatPaxTime, fromTarHeader, parsePaxTime, safeEntryPath, toTarHeader, type TarHeader } from './tar-entry.ts';
import { encodeTarHeader, TAR_END, tarPadding } from './tar-header.ts';
import { readTarHeaders } from './testdata/helpers.ts';
import { ImgsrvError } from '../core/errors.ts';

async function roundTrip(e: ManifestEntry): Promise<{ header: TarHeader; back: ManifestEntry }> {
  const { header } = toTarHeader(e);
  const size = header.size ?? 0;
  const [h] = await readTarHeaders(Buffer.concat([encodeTarHeader(header), Buffer.alloc(size), tarPadding(size), TAR_END]));
  if (!h) throw new Error('no entry');
  return { header: h, back: fromTarHeader(h).entry };
}

const base = { mode: 0o644, uid: 0, gid: 0, mtimeNs: 1_700_000_000_123_456_789n };

describe('tar entries', () => {
  it.each<[string, ManifestEntry]>([
    ['plain file', { ...base, path: Buffer.from('etc/hosts'), type: 'file', size: 3 }],
    ['mode 0 and setuid', { ...base, path: Buffer.from('a'), type: 'file', size: 0, mode: 0 }],
    ['setuid', { ...base, path: Buffer.from('a'), type: 'file', size: 0, mode: 0o4755 }],
    ['big ids', { ...base, path: Buffer.from('a'), type: 'dir', uid: 3_000_000, gid: 262_144 }],
    ['pre-1970 time', { ...base, path: Buffer.from('a'), type: 'dir', mtimeNs: -1_500_000_001n }],
    ['non-UTF-8 name', { ...base, path: Buffer.from([0x61, 0xff, 0x0a, 0x62]), type: 'dir' }],
    ['long name', { ...base, path: Buffer.from(`${'d'.repeat(150)}/${'n'.repeat(200)}`), type: 'dir' }],
    ['long non-UTF-8 name', { ...base, path: Buffer.concat([Buffer.from('d/'), Buffer.alloc(150, 0xe9)]), type: 'file', size: 1 }],
    ['UTF-8 name', { ...base, path: Buffer.from('ünïcödé/名前'), type: 'file', size: 0 }],
    ['hard link to a long path', { ...base, path: Buffer.from('h'), type: 'hardlink', target: Buffer.from(`${'d'.repeat(99)}/${'e'.repeat(99)}`) }],
    ['symlink, non-UTF-8 target', { ...base, path: Buffer.from('l'), type: 'symlink', mode: 0o777, target: Buffer.from([0xfe, 0x2f, 0x78]) }],
    ['hard link', { ...base, path: Buffer.from('b'), type: 'hardlink', target: Buffer.from('dir/a') }],
    ['char device, big minor', { ...base, path: Buffer.from('dev/x'), type: 'char', rdev: { major: 4095, minor: 1_048_575 } }],
    ['fifo', { ...base, path: Buffer.from('p'), type: 'fifo' }],
    ['xattrs of every kind', {
      ...base, path: Buffer.from('x'), type: 'dir',
      xattrs: new Map([['user.text', Buffer.from('héllo\n')], ['user.bin', Buffer.from([0, 0xff])], ['user.a=b', Buffer.from('eq')], ['security.capability', Buffer.from([1, 0, 0, 2, 0x80])], ['user.empty', Buffer.alloc(0)]]),
    }],
  ])('round-trips a %s', async (_name, e) => {
    const { back } = await roundTrip(e);
    expect(back).toEqual(e);
  });

  it('stores every xattr GNU-tar style, raw, with "%" and "=" in names escaped', () => {
    const { header } = toTarHeader({ ...base, path: Buffer.from('x'), type: 'dir', xattrs: new Map([['user.t', Buffer.from('v')], ['user.b', Buffer.from([0xff, 0])], ['user.a=b%', Buffer.from('e')]]) });
    expect(header.pax?.['SCHILY.xattr.user.t']).toBe('v');
    expect(header.pax?.['SCHILY.xattr.user.b']).toBe('\xff\0');
    expect(header.pax?.['SCHILY.xattr.user.a%3Db%25']).toBe('e');
    expect(Object.keys(header.pax ?? {}).some((k) => k.startsWith('IMGSRV.'))).toBe(false);
  });

  it('writes ACLs as raw xattrs and as the SCHILY.acl text GNU tar --acls reads', () => {
    // u::rwx u:1234:rwx g::r-x g:5678:r-x m::rwx o::r-x, as the kernel stores it.
    const acl = Buffer.from('AgAAAAEABwD/////AgAHANIEAAAEAAUA/////wgABQAuFgAAEAAHAP////8gAAUA/////w==', 'base64');
    const e: ManifestEntry = { ...base, path: Buffer.from('d'), type: 'dir', xattrs: new Map([['system.posix_acl_access', acl], ['system.posix_acl_default', acl]]) };
    const { header } = toTarHeader(e);
    const text = 'user::rwx\nuser:1234:rwx\ngroup::r-x\ngroup:5678:r-x\nmask::rwx\nother::r-x\n';
    expect(header.pax).toMatchObject({ 'SCHILY.acl.access': text, 'SCHILY.acl.default': text, 'SCHILY.xattr.system.posix_acl_access': acl.toString('latin1') });
    // An archive with the text form only (tar --acls without --xattrs) restores the same xattrs.
    const textOnly = { ...header, pax: Object.fromEntries(Object.entries(header.pax ?? {}).filter(([k]) => !k.startsWith('SCHILY.xattr.'))) };
    expect(fromTarHeader(textOnly).entry.xattrs).toEqual(e.xattrs);
  });

  it('reads the records imgsrv wrote before (IMGSRV.pathb64, IMGSRV.linkpathb64, IMGSRV.xattr.*)', () => {
    const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');
    const bad = Buffer.from([0x61, 0xff]);
    const { entry } = fromTarHeader({
      name: 'a\ufffd', type: 'symlink', linkname: 'b\ufffd', mtime: new Date(0),
      pax: { path: 'a\ufffd', 'IMGSRV.pathb64': b64(bad), 'IMGSRV.linkpathb64': b64(Buffer.from([0x62, 0xfe])), [`IMGSRV.xattr.${Buffer.from('user.bin').toString('base64url')}`]: b64(Buffer.from([0, 0xff])), 'SCHILY.xattr.user.text': 'caf\xc3\xa9' },
    });
    expect(entry.path).toEqual(bad);
    expect(entry.target).toEqual(Buffer.from([0x62, 0xfe]));
    expect(entry.xattrs).toEqual(new Map([['user.bin', Buffer.from([0, 0xff])], ['user.text', Buffer.from('café')]]));
  });

  it('names a sparse file the GNU way in ustar and truly in GNU.sparse.name', async () => {
    const e: ManifestEntry = { ...base, path: Buffer.from([0x64, 0x2f, 0x73, 0xff]), type: 'file', size: 4096, sparse: [[1024, 10]] };
    const { header } = toTarHeader(e);
    expect(header.name).toBe('d/GNUSparseFile.0/s\xff');
    expect(header.pax?.['GNU.sparse.name']).toBe('d/s\xff');
    const { back } = await roundTrip(e);
    expect(back.path).toEqual(e.path);
  });

  it('describes sparse files in GNU sparse 1.0 with a trailing empty segment', () => {
    const { header, sparseMap } = toTarHeader({ ...base, path: Buffer.from('s'), type: 'file', size: 1000, sparse: [[0, 10], [500, 20]] });
    expect(header.pax).toMatchObject({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.realsize': '1000', 'GNU.sparse.name': 's' });
    expect(sparseMap?.toString('latin1').replace(/\0+$/, '')).toBe('3\n0\n10\n500\n20\n1000\n0\n');
    expect(header.size).toBe(512 + 30);
  });

  it('formats and parses pax times with nanoseconds', () => {
    expect(formatPaxTime(1_700_000_000_000_000_001n)).toBe('1700000000.000000001');
    expect(formatPaxTime(-1_500_000_000n)).toBe('-1.500000000');
    expect(parsePaxTime('1700000000.5')).toBe(1_700_000_000_500_000_000n);
    expect(parsePaxTime('12')).toBe(12_000_000_000n);
    expect(parsePaxTime('-1.5')).toBe(-1_500_000_000n);
    expect(() => parsePaxTime('1e9')).toThrow(/bad pax time/);
  });

  it('normalises safe paths and refuses escaping ones', () => {
    expect(safeEntryPath(Buffer.from('./a//b/./c/')).toString()).toBe('a/b/c');
    expect(safeEntryPath(Buffer.from('./')).toString()).toBe('.');
    expect(safeEntryPath(Buffer.from('a/..b/c..')).toString()).toBe('a/..b/c..');
    expect(() => safeEntryPath(Buffer.from('a/../../b'))).toThrow(/"\.\." in path/);
    expect(() => safeEntryPath(Buffer.from('/etc/passwd'))).toThrow(/absolute path/);
    expect(() => safeEntryPath(Buffer.from('a\0b'))).toThrow(/NUL byte/);
  });

  it('refuses numbers the kernel calls would choke on (fuzz-found), as ImgsrvError', () => {
    const bad = (h: Partial<TarHeader>): unknown => {
      try {
        return fromTarHeader({ name: 'x', type: 'file', ...h });
      } catch (err) {
        return err;
      }
    };
    for (const [h, msg] of [
      [{ mtime: new Date(Number.NaN) }, /bad mtime/],
      [{ uid: 2 ** 32 }, /bad uid/],
      [{ uid: -1 }, /bad uid/],
      [{ gid: Number.NaN }, /bad gid/],
      [{ pax: { uid: '4294967295' } }, /bad uid/], // (uid_t)-1 means "leave it" to chown(2)
      [{ pax: { mtime: '99999999999999999999' } }, /bad pax time/],
      [{ type: 'character-device', devmajor: 2 ** 32 }, /bad SCHILY\.devmajor/],
    ] as Array<[Partial<TarHeader>, RegExp]>) {
      const err = bad(h);
      expect(err, JSON.stringify(h)).toBeInstanceOf(ImgsrvError);
      expect((err as Error).message).toMatch(msg);
    }
    expect(fromTarHeader({ name: 'x', type: 'file', uid: 0xfffffffe, mtime: new Date(0) }).entry.uid).toBe(0xfffffffe);
  });

  it('refuses NUL bytes where the name goes to a system call as a C string', () => {
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    expect(() => fromTarHeader({ name: 'l', type: 'symlink', linkname: 'x', pax: { 'IMGSRV.linkpathb64': b64('a\0b') } })).toThrow(/symlink target \(NUL byte\)/);
    expect(() => fromTarHeader({ name: 'f', type: 'file', pax: { [`IMGSRV.xattr.${Buffer.from('user.a\0b').toString('base64url')}`]: 'eA==' } })).toThrow(/xattr name \(NUL byte\)/);
  });

  it('refuses unsupported entry types and sparse formats', () => {
    expect(() => fromTarHeader({ name: 'x', type: null as unknown as undefined })).toThrow(/unsupported tar entry type/);
    expect(() => fromTarHeader({ name: 'x', type: 'file', pax: { 'GNU.sparse.major': '0', 'GNU.sparse.minor': '1' } })).toThrow(/GNU sparse format 1\.0/);
  });
});
