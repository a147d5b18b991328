import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostFiles, parseLdd, sharedLibraries } from './host-files.ts';

// ldd's output for Node 24 on Debian 12 (glibc 2.36).
const LDD = `	linux-vdso.so.1 (0x00007f6ba9689000)
	libdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f6ba9672000)
	libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f6ba9400000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f6ba913e000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f6ba968b000)
`;

describe('parseLdd', () => {
  it('takes the libraries and the loader, not the vDSO', () => {
    expect(parseLdd(LDD)).toEqual({
      paths: ['/lib/x86_64-linux-gnu/libdl.so.2', '/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2'],
      missing: [],
    });
  });
  it('reports libraries ldd could not find', () => {
    expect(parseLdd('\tlibfoo.so.1 => not found\n').missing).toEqual(['libfoo.so.1']);
  });
  it('gives nothing for a static program', () => {
    expect(parseLdd('\tnot a dynamic executable\n').paths).toEqual([]);
  });
});

describe('sharedLibraries (real ldd)', () => {
  it('finds libc and the loader for a dynamic program, nothing for static busybox', async () => {
    const libs = await sharedLibraries('/usr/bin/ls');
    expect(libs).toContain('/lib64/ld-linux-x86-64.so.2');
    expect(libs.some((l) => l.endsWith('/libc.so.6'))).toBe(true);
    expect(await sharedLibraries('/bin/busybox')).toEqual([]);
  });
});

describe('HostFiles', () => {
  const root = mkdtempSync(join(tmpdir(), 'imgsrv-hostfiles-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  // A merged-/usr layout: /lib -> usr/lib, an absolute link, a relative link chain.
  mkdirSync(join(root, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
  mkdirSync(join(root, 'usr/lib64'), { recursive: true });
  mkdirSync(join(root, 'usr/sbin'), { recursive: true });
  symlinkSync('usr/lib', join(root, 'lib'));
  symlinkSync('usr/lib64', join(root, 'lib64'));
  writeFileSync(join(root, 'usr/lib/x86_64-linux-gnu/ld-2.so'), 'loader');
  symlinkSync('/lib/x86_64-linux-gnu/ld-2.so', join(root, 'usr/lib64/ld-linux.so.2'));
  writeFileSync(join(root, 'usr/sbin/mke2fs'), 'mke2fs', { mode: 0o755 });
  symlinkSync('mke2fs', join(root, 'usr/sbin/mkfs.ext4'));

  it('recreates every symlink on the way and puts the file at its real path', async () => {
    const h = new HostFiles(root);
    expect(await h.add('/lib64/ld-linux.so.2')).toBe('/usr/lib/x86_64-linux-gnu/ld-2.so');
    expect(await h.add('/usr/sbin/mkfs.ext4')).toBe('/usr/sbin/mke2fs');
    expect(Object.fromEntries([...h.entries].map(([p, e]) => [p, e.type === 'symlink' ? `-> ${e.target}` : `${e.mode.toString(8)} ${Buffer.from(e.data ?? []).toString()}`]))).toEqual({
      lib64: '-> usr/lib64',
      'usr/lib64/ld-linux.so.2': '-> /lib/x86_64-linux-gnu/ld-2.so',
      lib: '-> usr/lib',
      'usr/lib/x86_64-linux-gnu/ld-2.so': '644 loader',
      'usr/sbin/mkfs.ext4': '-> mke2fs',
      'usr/sbin/mke2fs': '755 mke2fs',
    });
  });

  it('fails with the missing path named', async () => {
    await expect(new HostFiles(root).add('/usr/sbin/nope')).rejects.toThrow(/\/usr\/sbin\/nope not found/);
  });
});
