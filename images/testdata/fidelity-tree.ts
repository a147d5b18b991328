/**
 * Builds a tree with everything an OS image must carry faithfully, for the
 * pack/unpack tests and the benchmark. Needs root (device nodes, owners,
 * trusted.* and security.* xattrs) and the setfacl/setcap tools (Debian
 * packages acl and libcap2-bin).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { lsetxattr, lutimensNs, mknod } from '../libc.ts';

const b = (s: string): Buffer => Buffer.from(s);
const cat = (...parts: Array<string | Buffer>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? b(p) : p)));

/** Names used by the tests to look at particular paths. */
export const NON_UTF8_NAME = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74]); // "bad\xff\xfe.txt"
export const SPARSE_SIZE = 64 << 20;

/** Create the fidelity tree under `root` (which must exist and be empty). */
export function buildFidelityTree(root: string): void {
  const p = (rel: string | Buffer): Buffer => cat(root, '/', rel);
  fs.mkdirSync(p('etc'));
  fs.writeFileSync(p('etc/empty'), '');
  fs.writeFileSync(p('etc/small'), 'hello\n');
  fs.writeFileSync(p('big.bin'), randomBytes(5 << 20));

  // Odd modes and special bits, set after chown (chown clears setuid).
  fs.mkdirSync(p('odd'));
  fs.mkdirSync(p('odd/sticky'));
  fs.chmodSync(p('odd/sticky'), 0o1777);
  fs.mkdirSync(p('odd/setgid-dir'));
  fs.chmodSync(p('odd/setgid-dir'), 0o2750);
  fs.mkdirSync(p('odd/locked'));
  fs.writeFileSync(p('odd/locked/inside'), 'x');
  fs.writeFileSync(p('odd/suid'), '#!/bin/sh\n');
  fs.chownSync(p('odd/suid'), 1234, 5678);
  fs.chmodSync(p('odd/suid'), 0o4755);
  fs.writeFileSync(p('odd/sgid'), 'g');
  fs.chmodSync(p('odd/sgid'), 0o2711);
  fs.writeFileSync(p('odd/none'), 'n');
  fs.chmodSync(p('odd/none'), 0o000);
  fs.writeFileSync(p('odd/bigids'), 'ids');
  fs.lchownSync(p('odd/bigids'), 3_000_000, 4_000_000);

  // Hard link set of three names in two directories.
  fs.writeFileSync(p('etc/linked'), 'shared content\n');
  fs.linkSync(p('etc/linked'), p('etc/linked2'));
  fs.linkSync(p('etc/linked'), p('odd/linked3'));

  // Symlinks: relative, absolute, dangling, and one owned by someone else.
  fs.symlinkSync('small', p('etc/rel-link'));
  fs.symlinkSync('/etc/passwd', p('etc/abs-link'));
  fs.symlinkSync('../nowhere/at/all', p('etc/dangling'));
  fs.lchownSync(p('etc/dangling'), 42, 43);

  // Device nodes and a fifo (minor above tar's 6 octal digits).
  fs.mkdirSync(p('dev'));
  mknod(p('dev/null'), fs.constants.S_IFCHR | 0o666, 1, 3);
  mknod(p('dev/bigminor'), fs.constants.S_IFCHR | 0o600, 259, 300_000);
  mknod(p('dev/loop7'), fs.constants.S_IFBLK | 0o660, 7, 7);
  mknod(p('dev/fifo'), fs.constants.S_IFIFO | 0o644, 0, 0);

  // Sparse file: 64 MiB with two 1 MiB data regions, ending in a hole.
  const fd = fs.openSync(p('sparse.img'), 'w');
  fs.writeSync(fd, randomBytes(1 << 20), 0, 1 << 20, 4 << 20);
  fs.writeSync(fd, randomBytes(1 << 20), 0, 1 << 20, 32 << 20);
  fs.ftruncateSync(fd, SPARSE_SIZE);
  fs.closeSync(fd);

  // xattrs in every namespace, file capabilities, POSIX ACLs.
  fs.writeFileSync(p('xattr.txt'), 'attrs');
  lsetxattr(p('xattr.txt'), 'user.comment', b('a text value'));
  lsetxattr(p('xattr.txt'), 'user.binary', Buffer.from([0, 1, 0xff, 0x80, 10]));
  lsetxattr(p('xattr.txt'), 'user.empty', Buffer.alloc(0));
  lsetxattr(p('xattr.txt'), 'trusted.overlay.opaque', b('y'));
  lsetxattr(p('xattr.txt'), 'user.a=b%3Dc', b('name with "=" and "%"'));
  lsetxattr(p('xattr.txt'), 'user.newline', b('two\nlines\n'));
  lsetxattr(p('etc/abs-link'), 'trusted.on-a-symlink', b('1'));
  fs.writeFileSync(p('ping'), 'not really ping');
  fs.chmodSync(p('ping'), 0o755);
  execFileSync('setcap', ['cap_net_raw,cap_setuid+ep', p('ping').toString()]);
  fs.mkdirSync(p('acl'));
  execFileSync('setfacl', ['-m', 'u:1234:rwx,g:5678:r-x', p('acl').toString()]);
  execFileSync('setfacl', ['-d', '-m', 'u:1234:rw-', p('acl').toString()]);
  fs.writeFileSync(p('acl/file'), 'acl');
  execFileSync('setfacl', ['-m', 'u:99:r--', p('acl/file').toString()]);

  // Long paths: one 200-byte name, and a path over 255 bytes in total.
  const long200 = 'n'.repeat(200);
  fs.writeFileSync(p(long200), 'long name');
  let deep = 'deep';
  for (let i = 0; i < 8; i++) deep = path.join(deep, `level-${i}-${'x'.repeat(40)}`);
  fs.mkdirSync(p(deep), { recursive: true });
  fs.writeFileSync(p(`${deep}/leaf`), 'deep leaf');
  fs.symlinkSync(`${deep}/leaf`, p('deep-link'));
  fs.linkSync(p(`${deep}/leaf`), p('z-link-to-deep')); // a hard link whose target is over 100 bytes

  // Awkward names: non-UTF-8 bytes, newlines, spaces, UTF-8, a non-UTF-8 symlink target.
  fs.writeFileSync(cat(root, '/', NON_UTF8_NAME), 'latin1 name');
  fs.mkdirSync(cat(root, '/', Buffer.from([0xc0, 0xaf]), '-dir'));
  fs.writeFileSync(cat(root, '/', Buffer.from([0xc0, 0xaf]), '-dir/x'), 'overlong slash');
  fs.symlinkSync(NON_UTF8_NAME, p('to-bad'));
  const longBad = cat('long-', Buffer.alloc(120, 0xe9)); // over 100 bytes and not UTF-8
  fs.writeFileSync(cat(root, '/', longBad), 'long latin1 name');
  fs.symlinkSync(cat(deep, '/', longBad), p('to-long-bad'));
  fs.writeFileSync(p('line\nbreak and  spaces '), 'nl');
  fs.writeFileSync(p('ünïcödé-名前'), 'utf8');

  // Times: old, recent, before 1970, nanoseconds; directories last (writing a child changes them).
  lutimensNs(p('etc/small'), 0n, 631_152_000_123_456_789n); // 1990
  lutimensNs(p('etc/rel-link'), 0n, 1_700_000_000_987_654_321n);
  lutimensNs(p('etc/empty'), 0n, -86_400_000_000_001n); // 1969
  fs.chmodSync(p('odd/locked'), 0o500);
  lutimensNs(p('odd'), 0n, 946_684_800_000_000_001n);
  lutimensNs(p('etc'), 0n, 1_000_000_000_000_000_000n);
}
