// The tar blocks we write, read back by tar-stream (createTarExtract) and checked byte by byte.
import { describe, expect, it } from 'vitest';
import { decodePaxRecords, encodePaxRecords, encodeTarHeader, TAR_BLOCK, TAR_END, type TarHeader } from './tar-header.ts';
import { readTarHeaders } from './testdata/helpers.ts';
import { ImgsrvError } from '../core/errors.ts';

const base: TarHeader = { name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: new Date(1_700_000_000_000), size: 0 };

/** The pax records written before an entry's ustar block (none: undefined). */
function paxOf(blocks: Buffer): Record<string, string> | undefined {
  if (blocks[156] !== 0x78) return undefined; // 'x'
  const size = parseInt(blocks.toString('latin1', 124, 135), 8);
  return decodePaxRecords(blocks.subarray(TAR_BLOCK, TAR_BLOCK + size));
}

describe('pax records', () => {
  it('count their own length digits, across every digit boundary', () => {
    for (let n = 0; n < 1100; n++) {
      const body = encodePaxRecords([['k', 'v'.repeat(n)]]);
      expect(Number(body.toString('latin1').split(' ')[0]), `value of ${n} bytes`).toBe(body.length);
      expect(decodePaxRecords(body).k).toBe('v'.repeat(n));
    }
  });

  it('carry any byte in values and keys, and a later record wins', () => {
    const v = Buffer.from([0, 0x0a, 0x3d, 0xff, 0x20]).toString('latin1');
    const r = decodePaxRecords(encodePaxRecords([['SCHILY.xattr.user.\n x', v], ['path', 'a'], ['path', 'b']]));
    expect(r['SCHILY.xattr.user.\n x']).toBe(v);
    expect(r.path).toBe('b');
    expect(Object.getPrototypeOf(decodePaxRecords(encodePaxRecords([['__proto__', 'x']])))).toBe(null);
  });

  it.each([
    ['no length', '  path=x\n'],
    ['length past the end', '99 path=x\n'],
    ['length not at a newline', '9 path=xy\n'],
    ['no keyword', '7 =abc\n'],
    ['no "="', '9 pathxyz\n'],
  ])('refuse a malformed record (%s) with ImgsrvError', (_what, text) => {
    expect(() => decodePaxRecords(Buffer.from(text, 'latin1'))).toThrow(ImgsrvError);
  });
});

describe('encodeTarHeader', () => {
  it('writes a short ASCII entry as one ustar block, no pax', async () => {
    const b = encodeTarHeader(base);
    expect(b.length).toBe(TAR_BLOCK);
    expect(b.toString('latin1', 257, 265)).toBe('ustar\x0000');
    const [h] = await readTarHeaders(Buffer.concat([b, TAR_END]));
    expect(h).toMatchObject({ name: 'f', type: 'file', mode: 0o644, size: 0 });
  });

  it('puts a non-UTF-8 name and target in raw path/linkpath records after hdrcharset=BINARY', async () => {
    const name = 'dir/bad\xff\xfe';
    const b = encodeTarHeader({ ...base, type: 'symlink', name, linkname: 't\xe9' });
    expect(Object.entries(paxOf(b) ?? {}).slice(0, 3)).toEqual([['hdrcharset', 'BINARY'], ['path', name], ['linkpath', 't\xe9']]);
    const [h] = await readTarHeaders(Buffer.concat([b, TAR_END]));
    expect([h?.name, h?.linkname]).toEqual([name, 't\xe9']);
  });

  it('declares nothing for UTF-8 names and long ASCII ones, which still need path/linkpath', () => {
    const utf8 = Buffer.from('名前').toString('latin1');
    expect(paxOf(encodeTarHeader({ ...base, name: utf8 }))).toEqual({ path: utf8 });
    const long = `${'d'.repeat(200)}/${'n'.repeat(120)}`;
    expect(paxOf(encodeTarHeader({ ...base, type: 'link', name: 'l', linkname: long }))).toEqual({ linkpath: long });
    expect(paxOf(encodeTarHeader({ ...base, name: long }))).toEqual({ path: long });
  });

  it('splits a long ASCII path into ustar prefix and name when it fits', async () => {
    const name = `${'p'.repeat(150)}/${'n'.repeat(100)}`;
    const b = encodeTarHeader({ ...base, name });
    expect(b.length).toBe(TAR_BLOCK);
    expect((await readTarHeaders(Buffer.concat([b, TAR_END])))[0]?.name).toBe(name);
  });

  it('keeps numbers in 7-digit fields and drops records those fields hold', async () => {
    const b = encodeTarHeader({ ...base, type: 'character-device', uid: 0, devmajor: 259, devminor: 0o777777, pax: { uid: '3000000', 'SCHILY.devminor': '300000', mtime: '1.5' } });
    expect(paxOf(b)).toEqual({ uid: '3000000', mtime: '1.5' }); // GNU tar does not read SCHILY.devminor
    const [h] = await readTarHeaders(Buffer.concat([b, TAR_END]));
    expect([h?.devmajor, h?.devminor, h?.pax?.uid]).toEqual([259, 300000, '3000000']);
  });

  it('writes sizes past 8 GiB as a size record and a base-256 field', () => {
    const size = 2 ** 40 + 5;
    const b = encodeTarHeader({ ...base, size });
    expect(paxOf(b)?.size).toBe(String(size));
    const field = b.subarray(b.length - TAR_BLOCK + 124, b.length - TAR_BLOCK + 136);
    expect(field[0]).toBe(0x80);
    expect(field.readUIntBE(6, 6)).toBe(size);
  });
});
