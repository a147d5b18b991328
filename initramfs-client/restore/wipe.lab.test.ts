/**
 * wipeDisk with the real tools on loop devices (needs root). The host's loop
 * driver does no partition scanning, so partitions are reached through offset
 * loop devices over the same disk file, the way partition.test.ts does. After
 * the wipe the disk file itself is examined: blkid finds no file system at
 * the disk's or any partition's offset, sfdisk finds no table, and both
 * ends are zeros.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { createRunner } from './run.ts';
import { netbootRunner } from './testdata/netboot-runner.ts';
import { END_BYTES, wipeDisk } from './wipe.ts';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
// What the node runs: busybox applets where the netboot environment links them.
const runner = netbootRunner(createRunner(silentLogger));
// The test's own fixtures (disk files, loop devices standing in for partition nodes): the host's tools.
const host = createRunner(silentLogger);
const execFileP = promisify(execFile);
let dir: string;
let loops: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsrv-wipe-'));
  loops = [];
});
afterEach(async () => {
  for (const l of loops.reverse()) await host.run('detach', ['losetup', '-d', l]).catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

async function diskFile(): Promise<string> {
  const f = join(dir, 'disk.img');
  await writeFile(f, '');
  await host.run('size', ['truncate', '-s', String(SIZE), f]);
  return f;
}

async function loop(file: string, offset?: number, size?: number): Promise<string> {
  const range = offset === undefined ? [] : ['-o', String(offset), '--sizelimit', String(size)];
  const dev = (await host.run('loop', ['losetup', '--find', '--show', ...range, file])).trim();
  loops.push(dev);
  return dev;
}

async function detachAll(): Promise<void> {
  for (const l of loops.splice(0).reverse()) await host.run('detach', ['losetup', '-d', l]);
}

/** What `blkid -p` finds at `offset` of the file: its TYPE/PTTYPE, or null when nothing (exit 2). */
async function probe(file: string, offset = 0): Promise<string | null> {
  try {
    const { stdout } = await execFileP('blkid', ['-p', '-o', 'export', '-O', String(offset), file]);
    return /^(?:PT)?TYPE=(.*)$/m.exec(stdout)?.[1] ?? stdout.trim();
  } catch (err) {
    if ((err as { code?: number }).code === 2) return null;
    throw err;
  }
}

async function partitionTable(file: string): Promise<string | null> {
  return execFileP('sfdisk', ['--dump', file]).then(
    (r) => r.stdout,
    () => null,
  );
}

async function allZero(file: string, start: number, length: number): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, start);
    return buf.every((b) => b === 0);
  } finally {
    await fh.close();
  }
}

describe.skipIf(process.getuid?.() !== 0)('wipeDisk on loop devices', () => {
  it('erases a GPT disk: partition file systems, both GPT headers, the boot gap', async () => {
    const file = await diskFile();
    // BIOS boot partition at 1 MiB, ext4 from 2 MiB, vfat in the rest: file systems well past the zeroed ends
    await runner.run('gpt', ['sgdisk', '-n', '1:2048:+1M', '-t', '1:ef02', '-n', '2:0:+24M', '-t', '2:8300', '-n', '3:0:0', '-t', '3:0700', file]);
    const table = JSON.parse((await runner.run('json', ['sfdisk', '--json', file]))) as { partitiontable: { sectorsize?: number; partitions: Array<{ start: number; size: number }> } };
    const parts = table.partitiontable.partitions.map((p) => ({ start: p.start * 512, size: p.size * 512 }));
    expect(parts).toHaveLength(3);
    await runner.run('boot code', ['dd', 'if=/dev/urandom', `of=${file}`, 'bs=4096', `seek=${parts[0]!.start / 4096}`, 'count=64', 'conv=notrunc']);
    const p2 = await loop(file, parts[1]!.start, parts[1]!.size);
    const p3 = await loop(file, parts[2]!.start, parts[2]!.size);
    await runner.run('mkfs', ['mkfs.ext4', '-q', '-F', p2]);
    await runner.run('mkfs', ['mkfs.vfat', p3]);
    const disk = await loop(file);
    expect(await probe(file)).toBe('gpt');
    expect(await probe(file, parts[1]!.start)).toBe('ext4');
    expect(await probe(file, parts[2]!.start)).toBe('vfat');

    const result = await wipeDisk(runner, disk, { partitions: [p2, p3] });
    expect(result).toEqual({ disk, partitions: [p2, p3], sizeBytes: SIZE });
    await detachAll();

    expect(await probe(file)).toBeNull();
    for (const p of parts) expect(await probe(file, p.start)).toBeNull();
    expect(await partitionTable(file)).toBeNull();
    expect(await allZero(file, 0, END_BYTES)).toBe(true);
    expect(await allZero(file, SIZE - END_BYTES, END_BYTES)).toBe(true);
  });

  it('erases a file system made on the whole disk (no partitions in sysfs)', async () => {
    const file = await diskFile();
    const disk = await loop(file);
    await runner.run('mkfs', ['mkfs.ext4', '-q', '-F', disk]);
    expect(await probe(file)).toBe('ext4');
    const result = await wipeDisk(runner, disk);
    expect(result.partitions).toEqual([]);
    await detachAll();
    expect(await probe(file)).toBeNull();
    expect(await partitionTable(file)).toBeNull();
    expect(await allZero(file, 0, END_BYTES)).toBe(true);
    expect(await allZero(file, SIZE - END_BYTES, END_BYTES)).toBe(true);
  });

  it('erases an MBR disk given as a file', async () => {
    const file = await diskFile();
    await runner.run('mbr', ['sfdisk', file], { input: 'label: dos\nstart=2048, size=40960, type=83, bootable\n' });
    expect(await probe(file)).toBe('dos');
    await wipeDisk(runner, file);
    expect(await probe(file)).toBeNull();
    expect(await partitionTable(file)).toBeNull();
  });
});
