import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Runner } from './run.ts';
import { END_BYTES, partitionDevices, wipeDisk } from './wipe.ts';

const MiB = 1024 * 1024;
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsrv-wipe-unit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A runner that records argv instead of running anything. */
function recorder(): Runner & { calls: string[][] } {
  const calls: string[][] = [];
  return { calls, run: async (_step, argv) => (calls.push([...argv]), '') };
}

describe('partitionDevices', () => {
  it('lists the partitions sysfs shows under the disk, in partition-number order', async () => {
    const disk = join(dir, 'sys/block/nvme0n1');
    for (const [name, n] of [['nvme0n1p10', 10], ['nvme0n1p2', 2], ['nvme0n1p1', 1]] as const) {
      await mkdir(join(disk, name), { recursive: true });
      await writeFile(join(disk, name, 'partition'), `${n}\n`);
    }
    await mkdir(join(disk, 'queue'), { recursive: true }); // not a partition
    await mkdir(join(disk, 'nvme0n1p9'), { recursive: true }); // no `partition` file: not one either
    expect(await partitionDevices('/dev/nvme0n1', { sysBlock: join(dir, 'sys/block'), dev: '/dev' })).toEqual(['/dev/nvme0n1p1', '/dev/nvme0n1p2', '/dev/nvme0n1p10']);
    expect(await partitionDevices('/dev/sdz', { sysBlock: join(dir, 'sys/block') })).toEqual([]);
  });
});

describe('wipeDisk on a disk image file', () => {
  it('wipefs each partition, then the disk, zeroes both ends, leaves the middle, syncs', async () => {
    const file = join(dir, 'disk.img');
    const size = 8 * MiB + 4096;
    await writeFile(file, Buffer.alloc(size, 0xa5));
    const runner = recorder();
    const result = await wipeDisk(runner, file, { partitions: ['/dev/fake1', '/dev/fake2'] });
    expect(result).toEqual({ disk: file, partitions: ['/dev/fake1', '/dev/fake2'], sizeBytes: size });
    // a file is no block device: no partition table re-read, size from stat
    expect(runner.calls).toEqual([
      ['wipefs', '--all', '--force', '/dev/fake1'],
      ['wipefs', '--all', '--force', '/dev/fake2'],
      ['wipefs', '--all', '--force', file],
      ['sync'],
    ]);
    const after = await readFile(file);
    expect(after.length).toBe(size);
    expect(after.subarray(0, END_BYTES).every((b) => b === 0)).toBe(true);
    expect(after.subarray(size - END_BYTES).every((b) => b === 0)).toBe(true);
    expect(after.subarray(END_BYTES, size - END_BYTES).every((b) => b === 0xa5)).toBe(true);
  });

  it('zeroes all of a disk smaller than both ends together', async () => {
    const file = join(dir, 'small.img');
    await writeFile(file, Buffer.alloc(3 * MiB, 0xff));
    await wipeDisk(recorder(), file);
    const after = await readFile(file);
    expect(after.length).toBe(3 * MiB);
    expect(after.every((b) => b === 0)).toBe(true);
  });

  it('a failing wipefs stops before anything is zeroed and names the step', async () => {
    const file = join(dir, 'disk.img');
    await writeFile(file, Buffer.alloc(5 * MiB, 1));
    const runner: Runner = {
      run: async (step) => {
        throw new Error(`${step}: boom`);
      },
    };
    await expect(wipeDisk(runner, file)).rejects.toThrow(/erase signatures on .*disk\.img: boom/);
    expect((await readFile(file))[0]).toBe(1);
  });
});
