import { describe, expect, it } from 'vitest';
import { addParentDirs, CpioError, decodeCpio, encodeCpio, type CpioEntry } from './cpio.ts';

const sample: CpioEntry[] = [
  { path: 'init', type: 'file', mode: 0o755, data: Buffer.from('#!/bin/sh\necho hi\n') },
  { path: 'bin', type: 'dir', mode: 0o755 },
  { path: 'bin/sh', type: 'symlink', mode: 0o777, target: 'busybox' },
  { path: 'bin/busybox', type: 'file', mode: 0o755, data: Buffer.alloc(1001, 7) },
  { path: 'dev', type: 'dir', mode: 0o755 },
  { path: 'dev/console', type: 'char-device', mode: 0o600, major: 5, minor: 1 },
  { path: 'empty', type: 'file', mode: 0o644 },
];

describe('encodeCpio', () => {
  it('round-trips every entry type through decodeCpio', () => {
    const buf = encodeCpio(sample, { mtime: 1_700_000_000 });
    const back = decodeCpio(buf);
    expect(back.map((e) => e.path)).toEqual(['bin', 'bin/busybox', 'bin/sh', 'dev', 'dev/console', 'empty', 'init']);
    const byPath = new Map(back.map((e) => [e.path, e]));
    expect(byPath.get('bin/sh')).toMatchObject({ type: 'symlink', target: 'busybox', mode: 0o777 });
    expect(byPath.get('dev/console')).toMatchObject({ type: 'char-device', major: 5, minor: 1, mode: 0o600 });
    expect(byPath.get('bin')).toMatchObject({ type: 'dir', nlink: 2 });
    expect(Buffer.from(byPath.get('bin/busybox')?.data ?? [])).toEqual(Buffer.alloc(1001, 7));
    expect(byPath.get('empty')?.data?.length).toBe(0);
    for (const e of back) expect(e).toMatchObject({ uid: 0, gid: 0, mtime: 1_700_000_000 });
    expect(new Set(back.map((e) => e.ino)).size).toBe(back.length);
  });

  it('is byte-for-byte reproducible whatever the input order', () => {
    const a = encodeCpio(sample, { mtime: 5 });
    const b = encodeCpio([...sample].reverse(), { mtime: 5 });
    expect(a.equals(b)).toBe(true);
    expect(encodeCpio(sample, { mtime: 6 }).equals(a)).toBe(false);
  });

  it('writes the newc layout: 4-byte aligned members and a trailer', () => {
    const buf = encodeCpio([{ path: 'a', type: 'file', mode: 0o644, data: Buffer.from('xyz') }]);
    expect(buf.subarray(0, 6).toString()).toBe('070701');
    // 110-byte header + "a\0" = 112 (aligned), data 3 bytes + 1 pad, then the trailer header.
    expect(buf.subarray(112, 115).toString()).toBe('xyz');
    expect(buf.subarray(116, 122).toString()).toBe('070701');
    expect(buf.subarray(116 + 110, 116 + 120).toString()).toBe('TRAILER!!!');
    expect(buf.length % 4).toBe(0);
  });

  it('refuses duplicates, absolute paths, dot-dot and type bits in mode', () => {
    const f = (path: string, mode = 0o644): CpioEntry => ({ path, type: 'file', mode });
    expect(() => encodeCpio([f('a'), f('a')])).toThrow(CpioError);
    expect(() => encodeCpio([f('/etc/passwd')])).toThrow(CpioError);
    expect(() => encodeCpio([f('a/../b')])).toThrow(CpioError);
    expect(() => encodeCpio([f('a', 0o100644)])).toThrow(CpioError);
    expect(() => encodeCpio([{ path: 'l', type: 'symlink', mode: 0o777 }])).toThrow(CpioError);
  });
});

describe('addParentDirs', () => {
  it('adds each missing parent once, keeping existing ones', () => {
    const out = addParentDirs([
      { path: 'lib/modules/6.1/kernel/a.ko', type: 'file', mode: 0o644 },
      { path: 'lib/modules/6.1/kernel/b.ko', type: 'file', mode: 0o644 },
      { path: 'lib', type: 'dir', mode: 0o700 },
    ]);
    const dirs = out.filter((e) => e.type === 'dir').map((e) => `${e.path}:${e.mode.toString(8)}`);
    expect(dirs.sort()).toEqual(['lib/modules/6.1/kernel:755', 'lib/modules/6.1:755', 'lib/modules:755', 'lib:700']);
  });
});

describe('decodeCpio', () => {
  it('rejects garbage and truncation with CpioError', () => {
    expect(() => decodeCpio(Buffer.from('hello'))).toThrow(CpioError);
    const buf = encodeCpio(sample);
    expect(() => decodeCpio(buf.subarray(0, 200))).toThrow(CpioError);
    const bad = Buffer.from(buf);
    bad.write('x', 0);
    expect(() => decodeCpio(bad)).toThrow(/bad magic/);
  });
});
