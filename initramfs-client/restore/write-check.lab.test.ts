/**
 * A node's disk failing mid-write, on a real ext4 over a loop device whose
 * backing file sits on a small tmpfs: once the image is partly written the
 * tmpfs is shrunk to what it holds, so every later block the disk stores fails
 * (ENOSPC on the host, EIO in ext4's writeback): a disk that dies in the
 * middle of a restore. The unpacker's write() calls may all succeed (the page
 * cache takes them) and sync(1) exits 0; the write check must still fail the
 * restore, naming the disk, so the node never reboots into it. The control
 * run, on a disk that keeps working, passes the same check.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packImage } from '../../images/pack.ts';
import { unpackImage } from '../../images/unpack.ts';
import { ImgsrvError } from '../../core/errors.ts';
import { mountsUnder } from './mount.ts';
import { openWriteCheck } from './write-check.ts';

const MiB = 1024 * 1024;
const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' }).trim();

describe.skipIf(process.getuid?.() !== 0)('write check on a disk that fails mid-write', () => {
  let work: string;
  let artifact: string;
  const loops: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'imgsrv-write-check-'));
    const src = join(work, 'src');
    mkdirSync(join(src, 'data'), { recursive: true });
    // Incompressible, so the disk really receives 24 MiB.
    for (let i = 0; i < 24; i++) writeFileSync(join(src, 'data', `f${i}`), randomBytes(MiB));
    mkdirSync(join(work, 'out'));
    artifact = (await packImage({ root: src, outDir: join(work, 'out') })).artifact;
  });

  afterAll(async () => {
    if (!work) return;
    for (const m of await mountsUnder(work)) execFileSync('umount', ['-l', m]);
    for (const l of loops) execFileSync('losetup', ['-d', l]);
    rmSync(work, { recursive: true, force: true });
  });

  /** A 256 MiB ext4 disk backed by a file on its own tmpfs, mounted; returns the paths. */
  function disk(name: string): { backing: string; dev: string; mnt: string } {
    const backing = join(work, `${name}-backing`);
    const mnt = join(work, `${name}-mnt`);
    mkdirSync(backing);
    mkdirSync(mnt);
    run('mount', ['-t', 'tmpfs', '-o', 'size=128M', 'tmpfs', backing]);
    run('truncate', ['-s', '256M', join(backing, 'disk.raw')]);
    const dev = run('losetup', ['--find', '--show', join(backing, 'disk.raw')]);
    loops.push(dev);
    run('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=1,lazy_journal_init=1', dev]);
    run('mount', ['-t', 'ext4', dev, mnt]);
    return { backing, dev, mnt };
  }

  let unpackedCleanly = false;

  /**
   * What restore() does with the disk: watch it, unpack the image as it
   * streams in (in 256 KiB chunks, like the swarm's in-order stream), check.
   * `atFraction` runs once when that share of the image has arrived.
   */
  async function restoreOnto(d: { dev: string; mnt: string }, fault?: { atFraction: number; run: () => void }): Promise<void> {
    const writes = openWriteCheck(d.dev, [d.mnt]);
    const image = readFileSync(artifact);
    async function* arriving(): AsyncGenerator<Buffer> {
      for (let at = 0; at < image.length; at += 256 * 1024) {
        if (fault && at >= fault.atFraction * image.length && at - 256 * 1024 < fault.atFraction * image.length) fault.run();
        yield image.subarray(at, at + 256 * 1024);
        await new Promise((r) => setImmediate(r));
      }
    }
    try {
      await unpackImage({ input: Readable.from(arriving()), target: d.mnt });
      unpackedCleanly = true;
      run('sync', []); // exits 0 whatever the disk did
      writes.check('after the image was written');
    } finally {
      writes.close();
    }
  }

  it('passes on a disk that keeps working', async () => {
    const d = disk('good');
    await restoreOnto(d);
    expect(unpackedCleanly).toBe(true);
  });

  it('fails the restore with a DISK error naming the disk when the disk stops storing blocks mid-write', async () => {
    const d = disk('failing');
    let failedAtUsedKiB = 0;
    const failDisk = (): void => {
      // What arrived so far reaches the disk; then the tmpfs shrinks to what it holds, and every later write fails.
      run('sync', []);
      const s = statfsSync(d.backing);
      failedAtUsedKiB = Math.ceil(((s.blocks - s.bfree) * s.bsize) / 1024);
      run('mount', ['-o', `remount,size=${failedAtUsedKiB + 256}k`, d.backing]);
    };
    unpackedCleanly = false;
    const err = await restoreOnto(d, { atFraction: 0.4, run: failDisk }).then(() => null, (e: unknown) => e);
    console.log(
      `disk failed at 40 % of the image (${(failedAtUsedKiB / 1024).toFixed(1)} MiB on disk); ` +
        `${unpackedCleanly ? "every write() of the unpacker succeeded and sync exited 0; " : ''}the restore failed with: ${String((err as Error | null)?.message)}`,
    );
    expect(failedAtUsedKiB).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(ImgsrvError);
    expect((err as ImgsrvError).code).toBe('DISK');
    expect((err as ImgsrvError).message).toContain(d.dev);
  });
});
