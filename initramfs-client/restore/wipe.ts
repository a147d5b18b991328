/**
 * Erase a retired node's disk so that nothing boots from it and no tool finds
 * a partition table or file system on it. Not a secure erase (the data
 * blocks stay): it removes what makes the disk bootable and recognisable,
 * which is what "retire with wipe" promises, in seconds on any disk size.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import type { Runner } from './run.ts';

/**
 * Bytes zeroed at each end of the disk. The start holds the MBR, the primary
 * GPT and the boot loader's core image (BIOS boot partition or the gap before
 * 1 MiB); the end holds the backup GPT (header in the last LBA, its
 * 16 KiB entry array just before it) and the superblocks of md RAID 0.90/1.0
 * and the DDF RAID anchor, which firmware and blkid also look for there.
 */
export const END_BYTES = 2 * 1024 * 1024;

/** Where to look; tests point these elsewhere or name the partitions themselves. */
export interface WipeOptions {
  /** Partition devices to erase before the disk; default: the disk's partitions in sysfs. */
  partitions?: readonly string[];
  sysBlock?: string;
  dev?: string;
}

/** What was erased. */
export interface WipeResult {
  disk: string;
  partitions: string[];
  sizeBytes: number;
}

/** The /dev paths of the partitions the kernel knows on `diskPath`, in partition-number order. */
export async function partitionDevices(diskPath: string, opts: { sysBlock?: string; dev?: string } = {}): Promise<string[]> {
  const name = basename(diskPath);
  const dir = join(opts.sysBlock ?? '/sys/block', name);
  const found: Array<{ n: number; path: string }> = [];
  for (const e of await readdir(dir).catch(() => [] as string[])) {
    if (!e.startsWith(name)) continue;
    const n = Number(await readFile(join(dir, e, 'partition'), 'utf8').catch(() => ''));
    if (n > 0) found.push({ n, path: join(opts.dev ?? '/dev', e) });
  }
  return found.sort((a, b) => a.n - b.n).map((p) => p.path);
}

/** Write zeros over [start, end) of `path`, then fsync, so the erasure is on the disk before the node powers off. */
async function zeroRange(path: string, start: number, end: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const chunk = Buffer.alloc(Math.min(1024 * 1024, Math.max(0, end - start)));
    for (let pos = start; pos < end; pos += chunk.length) {
      const len = Math.min(chunk.length, end - pos);
      await fh.write(chunk, 0, len, pos);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Erase `diskPath` (a whole disk, or a disk image file in tests): wipefs every
 * partition (their file systems may start far beyond the zeroed ends), then
 * the disk; zero its first and last END_BYTES; make the kernel drop the
 * partitions; sync. Throws a StepError naming the failing step.
 */
export async function wipeDisk(runner: Runner, diskPath: string, opts: WipeOptions = {}): Promise<WipeResult> {
  const block = (await stat(diskPath)).isBlockDevice();
  const partitions = [...(opts.partitions ?? (block ? await partitionDevices(diskPath, opts) : []))];
  // --force: these are the node's own disks, never mounted (chooseTargetDisk refuses those), but a
  // leftover md or LVM may hold them open; wipefs then refuses without it.
  for (const p of partitions) await runner.run(`erase signatures on ${p}`, ['wipefs', '--all', '--force', p]);
  await runner.run(`erase signatures on ${diskPath}`, ['wipefs', '--all', '--force', diskPath]);

  const sizeBytes = block ? Number((await runner.run('disk size', ['blockdev', '--getsize64', diskPath])).trim()) : (await stat(diskPath)).size;
  const head = Math.min(END_BYTES, sizeBytes);
  const tail = Math.max(head, sizeBytes - END_BYTES);
  try {
    await zeroRange(diskPath, 0, head);
    await zeroRange(diskPath, tail, sizeBytes);
  } catch (err) {
    throw new ImgsrvError('DISK', `zeroing the ends of ${diskPath} failed: ${(err as Error).message}`, {
      hint: 'the disk may be failing or write-protected; check the kernel messages (dmesg)',
      cause: err,
    });
  }

  if (block) {
    try {
      await runner.run('re-read partition table', ['blockdev', '--rereadpt', diskPath]);
    } catch {
      // A disk something holds open refuses BLKRRPART; partx removes the partitions one by one instead.
      // Should that fail too, the disk is erased all the same: the stale partition nodes vanish at power-off.
      await runner.run('forget partitions', ['partx', '-d', diskPath]).catch(() => undefined);
    }
  }
  await runner.run('sync', ['sync']);
  return { disk: diskPath, partitions, sizeBytes };
}
