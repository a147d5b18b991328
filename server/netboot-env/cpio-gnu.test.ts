// Checks our archives against the real GNU cpio (the `cpio` Debian package):
// it must list and extract them with the types, modes and contents we wrote.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeCpio, type CpioEntry } from './cpio.ts';

const hasCpio = (() => {
  try {
    execFileSync('cpio', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const entries: CpioEntry[] = [
  { path: 'bin', type: 'dir', mode: 0o755 },
  { path: 'bin/busybox', type: 'file', mode: 0o755, data: Buffer.from('not really busybox\n') },
  { path: 'bin/sh', type: 'symlink', mode: 0o777, target: 'busybox' },
  { path: 'etc', type: 'dir', mode: 0o755 },
  { path: 'etc/odd-size', type: 'file', mode: 0o600, data: Buffer.alloc(4099, 0x61) },
  { path: 'init', type: 'file', mode: 0o755, data: Buffer.from('#!/bin/sh\n') },
];

describe.skipIf(!hasCpio)('GNU cpio reads our newc archives', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgsrv-cpio-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const archive = encodeCpio(entries, { mtime: 1_600_000_000 });

  it('lists every member in order (cpio -t)', () => {
    const out = execFileSync('cpio', ['-t', '--quiet'], { input: archive }).toString();
    expect(out.trim().split('\n')).toEqual(['bin', 'bin/busybox', 'bin/sh', 'etc', 'etc/odd-size', 'init']);
    const verbose = execFileSync('cpio', ['-tv', '--quiet'], { input: archive }).toString();
    expect(verbose).toMatch(/^lrwxrwxrwx\s+1 root\s+root\s+7 .* bin\/sh -> busybox$/m);
  });

  it('extracts files, modes, symlinks and mtimes (cpio -i)', () => {
    const out = join(dir, 'x');
    execFileSync('cpio', ['-i', '-d', '--quiet', '--preserve-modification-time', '-D', out], { input: archive });
    expect(readFileSync(join(out, 'bin/busybox'), 'utf8')).toBe('not really busybox\n');
    expect(readlinkSync(join(out, 'bin/sh'))).toBe('busybox');
    expect(readFileSync(join(out, 'etc/odd-size')).equals(Buffer.alloc(4099, 0x61))).toBe(true);
    expect(lstatSync(join(out, 'etc/odd-size')).mode & 0o7777).toBe(0o600);
    expect(lstatSync(join(out, 'init')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(out, 'init')).mtimeMs).toBe(1_600_000_000_000);
  });
});
