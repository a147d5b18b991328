// Manifest lines round-trip every field; diffs name the path and field.
import { describe, expect, it } from 'vitest';
import { decodeManifestLine, diffManifests, encodeManifestLine, type ManifestEntry } from './manifest-codec.ts';

const e: ManifestEntry = {
  path: Buffer.from([0x62, 0xff, 0x0a]), type: 'file', mode: 0o4755, uid: 1234, gid: 5678, mtimeNs: -5n, size: 10,
  sha256: 'a'.repeat(64), xattrs: new Map([['security.capability', Buffer.from([1, 0, 0, 2])]]), sparse: [[0, 4096]],
};

describe('manifest lines', () => {
  it('round-trip every field, raw bytes included', () => {
    const line = encodeManifestLine(e);
    expect(JSON.parse(line)).toMatchObject({ pathB64: 'Yv8K', mode: 0o4755, mtime: '-5' });
    expect(decodeManifestLine(line)).toEqual(e);
    const s: ManifestEntry = { path: Buffer.from('a'), type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: 1n, target: Buffer.from([0xff]) };
    expect(decodeManifestLine(encodeManifestLine(s))).toEqual(s);
    const d: ManifestEntry = { path: Buffer.from('dev/sda'), type: 'block', mode: 0o660, uid: 0, gid: 6, mtimeNs: 1n, rdev: { major: 8, minor: 0 } };
    expect(decodeManifestLine(encodeManifestLine(d))).toEqual(d);
  });

  it('reject bad lines naming where', () => {
    expect(() => decodeManifestLine('{"path":"a","type":"socket","mode":0,"uid":0,"gid":0,"mtime":"0"}', 'line 7')).toThrow(/bad manifest line 7: type socket/);
    expect(() => decodeManifestLine('{"path":"a","type":"file","mode":-1,"uid":0,"gid":0,"mtime":"0"}')).toThrow(/mode/);
    expect(() => decodeManifestLine('nope')).toThrow(/not JSON/);
    expect(() => decodeManifestLine('{"path":"d","type":"char","mode":0,"uid":0,"gid":0,"mtime":"0","rdev":[-1,0]}')).toThrow(/rdev/);
    expect(() => decodeManifestLine('{"path":"f","type":"file","mode":0,"uid":0,"gid":0,"mtime":"0","sparse":[[-4,1]]}')).toThrow(/sparse/);
    expect(() => decodeManifestLine('{"path":"f","type":"file","mode":0,"uid":0,"gid":0,"mtime":"0","xattrs":["AA=="]}')).toThrow(/xattrs/);
  });

  it('decode what encode would write again (fuzz-found: -0 and empty xattrs did not round-trip)', () => {
    const e = decodeManifestLine('{"path":"d","type":"block","mode":-0,"uid":0,"gid":0,"mtime":"-0","rdev":[-0,0],"xattrs":{}}');
    expect(e).toEqual({ path: Buffer.from('d'), type: 'block', mode: 0, uid: 0, gid: 0, mtimeNs: 0n, rdev: { major: 0, minor: 0 } });
    expect(Object.is(e.mode, 0) && Object.is(e.rdev!.major, 0)).toBe(true);
    expect(decodeManifestLine(encodeManifestLine(e))).toEqual(e);
  });

  it('diff names path and field', () => {
    const other = { ...e, mode: 0o755, xattrs: new Map() };
    expect(diffManifests([e], [other])).toEqual([
      'b64:Yv8K: mode 04755 != 00755',
      'b64:Yv8K: xattr security.capability AQAAAg== != (none)',
    ]);
    expect(diffManifests([e], [])).toEqual(['b64:Yv8K: only in the first']);
    expect(diffManifests([], [e])).toEqual(['b64:Yv8K: only in the second']);
  });
});
