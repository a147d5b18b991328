/**
 * Proof that what the restore wrote reached the disk. Writes land in the page
 * cache and a failing disk only says so at writeback, where `write(2)` has long
 * returned and `sync(1)` exits 0 regardless: a node would reboot into a disk
 * that never got its files. Each target file system is opened before anything
 * is written, so syncfs(2) on that descriptor reports every writeback error
 * since, even one the kernel already logged or someone else saw.
 */
import { closeSync, openSync } from 'node:fs';
import { ImgsrvError } from '../../core/errors.ts';
import { syncfs, SysError } from '../../images/libc.ts';

/** Open descriptors on the target's mounted file systems; `check` flushes and throws on any write error since `open`. */
export interface WriteCheck {
  check(stage: string): void;
  close(): void;
}

/** Start watching `dirs` (mount points) for write errors; call before writing to them. */
export function openWriteCheck(diskPath: string, dirs: readonly string[]): WriteCheck {
  const fds: Array<{ dir: string; fd: number }> = [];
  try {
    for (const dir of dirs) fds.push({ dir, fd: openSync(dir, 'r') });
  } catch (err) {
    for (const f of fds) closeSync(f.fd);
    throw err;
  }
  return {
    check(stage) {
      for (const { dir, fd } of fds) {
        try {
          syncfs(fd);
        } catch (err) {
          if (!(err instanceof SysError)) throw err;
          throw new ImgsrvError('DISK', `the disk ${diskPath} failed to store what was written to ${dir} (${err.code}, ${stage})`, {
            hint: 'the disk may be failing: the node will not boot from it. Check or replace the disk (the node\'s kernel log names the I/O errors), then: imgsrv nodes reimage MAC',
            cause: err,
          });
        }
      }
    },
    close() {
      for (const f of fds.splice(0)) closeSync(f.fd);
    },
  };
}
