/**
 * The scratch area on a real disk file with the netboot environment's tools
 * (busybox mount/umount/mkdir, the host's sfdisk, mkfs, resize2fs and
 * xfs_growfs that the builder ships), needs root: partitions are offset loop
 * devices, as in partition.test.ts. Half the image's pieces go into the
 * area; the restore then starts over (the table written again, the file
 * system made again); the area still holds every one of them, verified;
 * the rest arrive; once the node has seeded, the area is given back and the
 * file system fills its partition again, checked by fsck, with the restored
 * files intact and nothing left to resume from.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { erasePieceArea, PieceArea } from '../../torrent/piece-area.ts';
import { decodeHeader } from '../../torrent/piece-journal.ts';
import { planLayout, type LayoutPlan } from './layout.ts';
import { unmountTarget } from './mount.ts';
import { applyLayout } from './partition.ts';
import { createRunner } from './run.ts';
import { layoutWithScratch, placeScratch, releaseScratch, type DiskScratch } from './scratch.ts';
import { netbootRunner } from './testdata/netboot-runner.ts';
import { treeFacts } from './testdata/facts.ts';

const MiB = 1 << 20;
const PIECE = 256 * 1024;
const runner = netbootRunner(createRunner(silentLogger));
// The test's own fixtures (disk files, loop devices standing in for partition nodes): the host's tools.
const host = createRunner(silentLogger);
let dir: string;
let loops: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsrv-scratch-'));
  loops = [];
});
afterEach(async () => {
  for (const m of ['mnt', 'grow']) await unmountTarget(runner, join(dir, m)).catch(() => {});
  for (const l of loops) await host.run('detach', ['losetup', '-d', l]).catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

function loopResolver(plan: LayoutPlan): (n: number) => Promise<string> {
  return async (n) => {
    const p = plan.partitions.find((x) => x.number === n)!;
    const dev = (await host.run('loop', ['losetup', '-f', '--show', '-o', String(p.startBytes), '--sizelimit', String(p.sizeBytes), plan.diskPath])).trim();
    loops.push(dev);
    return dev;
  };
}

async function detachAll(): Promise<void> {
  for (const l of loops.splice(0)) await host.run('detach', ['losetup', '-d', l]);
}

/** A fake image torrent: `mib` MiB of random bytes in 256 KiB pieces. */
function image(mib: number) {
  const data = randomBytes(mib * MiB);
  const pieces = Array.from({ length: mib * 4 }, (_, i) => createHash('sha1').update(data.subarray(i * PIECE, (i + 1) * PIECE)).digest('hex'));
  return { data, torrent: { infoHash: 'c0ffee'.padEnd(40, '0'), pieceLength: PIECE, length: data.length, pieces } };
}

async function putPieces(area: PieceArea, data: Buffer, indexes: number[]): Promise<void> {
  const store = new (area.storeConstructor())(PIECE);
  for (const i of indexes) await new Promise<void>((ok, fail) => store.put(i, data.subarray(i * PIECE, (i + 1) * PIECE), (e) => (e ? fail(e) : ok())));
}

/** Size in bytes of the file system on `dev`. */
function fsBytes(fsType: string, dev: string): number {
  if (fsType === 'xfs') {
    const out = execFileSync('xfs_db', ['-r', '-c', 'sb 0', '-c', 'p dblocks blocksize', dev], { encoding: 'utf8' });
    return Number(/dblocks = (\d+)/.exec(out)![1]) * Number(/blocksize = (\d+)/.exec(out)![1]);
  }
  const out = execFileSync('dumpe2fs', ['-h', dev], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return Number(/Block count:\s+(\d+)/.exec(out)![1]) * Number(/Block size:\s+(\d+)/.exec(out)![1]);
}

describe.skipIf(process.getuid?.() !== 0)('scratch area on the target disk', () => {
  for (const fsType of ['ext4', 'xfs'] as const) {
    it(`survives the restore starting over, then is given back to the ${fsType} file system`, async () => {
      const disk = join(dir, 'disk.img');
      await writeFile(disk, '');
      await host.run('size', ['truncate', '-s', '640M', disk]);
      const facts = { ...treeFacts, filesystems: treeFacts.filesystems.map((f) => ({ ...f, type: fsType })) };
      const img = image(96);
      const planned = planLayout(facts, { path: disk, sizeBytes: 640 * MiB });
      const scratch: DiskScratch = placeScratch(planned, Math.ceil((img.data.length + MiB) / MiB) * MiB + MiB);
      const partition = planned.partitions.find((p) => p.number === scratch.partition)!;
      const area = { path: disk, offset: scratch.offsetBytes, sizeBytes: scratch.sizeBytes, syncMs: 50 };

      // The restore's first run: partitions, short file system, and half the pieces arrive.
      await applyLayout(runner, layoutWithScratch(planLayout(facts, { path: disk, sizeBytes: 640 * MiB }), scratch), { partitionDevice: loopResolver(planned) });
      const first = await PieceArea.open(area, img.torrent, silentLogger);
      const half = Array.from({ length: img.torrent.pieces.length / 2 }, (_, i) => 2 * i); // every other piece, as rarest-first would
      await putPieces(first, img.data, half);
      await first.close();
      await detachAll();

      // The node reboots; the restore starts over: the same layout is written again, file systems made again.
      const mapping = await applyLayout(runner, layoutWithScratch(planLayout(facts, { path: disk, sizeBytes: 640 * MiB }), scratch), { partitionDevice: loopResolver(planned) });
      const device = mapping.find((m) => m.number === scratch.partition)!.device;
      expect(fsBytes(fsType, device)).toBe(scratch.fsBytes);
      const second = await PieceArea.open(area, img.torrent, silentLogger);
      expect(second.resumed).toEqual({ pieces: half.length, bytes: half.length * PIECE });
      await putPieces(second, img.data, img.torrent.pieces.map((_, i) => i).filter((i) => i % 2 === 1));
      await second.close();

      // The restore writes its files; the file system stays clean with the pieces behind it.
      const mnt = join(dir, 'mnt');
      await mkdir(mnt);
      await runner.run('mount', ['mount', '-t', fsType, device, mnt]);
      const file = randomBytes(3 * MiB);
      await writeFile(join(mnt, 'restored.bin'), file);
      await runner.run('umount', ['umount', mnt]);
      const raw = await readFile(disk);
      expect(raw.subarray(scratch.offsetBytes + MiB, scratch.offsetBytes + MiB + img.data.length).equals(img.data)).toBe(true);

      // Seeding done: the area goes back to the file system.
      await releaseScratch(runner, scratch, device, { mnt: join(dir, 'grow'), erase: erasePieceArea, log: silentLogger });
      const grown = fsBytes(fsType, device);
      expect(grown).toBeGreaterThan(partition.sizeBytes - MiB);
      expect(grown).toBeLessThanOrEqual(partition.sizeBytes);
      if (fsType === 'xfs') execFileSync('xfs_repair', ['-n', device], { stdio: 'ignore' });
      else execFileSync('e2fsck', ['-f', '-n', device], { stdio: 'ignore' }); // throws on any problem
      await runner.run('mount', ['mount', '-t', fsType, device, mnt]);
      expect((await readFile(join(mnt, 'restored.bin'))).equals(file)).toBe(true);
      await runner.run('umount', ['umount', mnt]);
      // Nothing resumes from a given-back area: no header there any more (the file system's own space now).
      expect(decodeHeader((await readFile(disk)).subarray(scratch.offsetBytes, scratch.offsetBytes + 4096))).toBeNull();
    });
  }
});
