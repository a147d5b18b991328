/**
 * Runs inside a VM booted into the netboot environment (btrfs.lab.test.ts):
 * the restore's own btrfs code with the environment's own binaries
 * (busybox mount, the shipped mkfs.btrfs and btrfs) and its kernel's btrfs
 * module. On the disk named on the command line: plan the layout of a
 * Debian on btrfs (testdata/facts.ts btrfsFacts: bios_grub, ESP, btrfs with
 * @ at / and @home at /home, @ the default) with a scratch area, apply it
 * twice (a restore that starts over in the same boot), keep bytes in the
 * scratch area, mount every subvolume at its place, write files as the
 * unpack does, then look at the top level with the shipped btrfs, give the
 * scratch area back and check the size. Prints `BTRFSTEST {json}` and
 * `BTRFSTEST-END`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../../core/log.ts';
import { planLayout } from '../layout.ts';
import { mountTarget, unmountTarget } from '../mount.ts';
import { applyLayout } from '../partition.ts';
import { createRunner } from '../run.ts';
import { layoutWithScratch, placeScratch, releaseScratch } from '../scratch.ts';
import { btrfsFacts } from './facts.ts';

const MiB = 1024 * 1024;
const runner = createRunner(silentLogger);
const sh = (argv: string[]): Promise<string> => runner.run(argv.join(' '), argv);

async function run(disk: string): Promise<Record<string, unknown>> {
  const sizeBytes = Number((await sh(['blockdev', '--getsize64', disk])).trim());
  const planned = planLayout(btrfsFacts, { path: disk, sizeBytes });
  const scratch = placeScratch(planned, 128 * MiB);
  const layout = layoutWithScratch(planned, scratch);
  const t0 = Date.now();
  await applyLayout(runner, layout);
  const mapping = await applyLayout(runner, layout);
  const applyMs = Date.now() - t0;
  const marker = randomBytes(2 * MiB);
  const fh = await open(disk, 'r+');
  await fh.write(marker, 0, marker.length, scratch.offsetBytes + MiB);
  await fh.sync();
  const root = '/mnt/target';
  await mountTarget(runner, mapping, root);
  const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => l.includes(' /mnt/target'));
  await mkdir(join(root, 'home', 'user'), { recursive: true });
  await writeFile(join(root, 'home', 'user', 'notes.txt'), 'kept in @home\n');
  await writeFile(join(root, 'etc-marker'), 'in @\n');
  await unmountTarget(runner, root);
  const back = Buffer.alloc(marker.length);
  await fh.read(back, 0, back.length, scratch.offsetBytes + MiB);
  await fh.close();
  const dev = mapping.find((m) => m.mountpoint === '/')!.device;
  const size = async () => Number(/devid\s+1 size (\d+)/.exec(await sh(['btrfs', 'filesystem', 'show', '--raw', dev]))![1]);
  const sizeShort = await size();
  const top = '/run/check';
  await mkdir(top, { recursive: true });
  await sh(['mount', '-t', 'btrfs', '-o', 'subvolid=5', dev, top]);
  const list = await sh(['btrfs', 'subvolume', 'list', top]);
  const getDefault = await sh(['btrfs', 'subvolume', 'get-default', top]);
  const inHome = await readFile(join(top, '@home', 'user', 'notes.txt'), 'utf8').catch(() => null);
  const inRoot = await readFile(join(top, '@', 'etc-marker'), 'utf8').catch(() => null);
  const homeInRoot = await stat(join(top, '@', 'home', 'user')).then(() => true, () => false);
  await sh(['umount', top]);
  // the default subvolume is what a plain mount (no subvol=) shows: @
  await sh(['mount', '-t', 'btrfs', dev, top]);
  const plainMount = await stat(join(top, 'etc-marker')).then(() => true, () => false);
  await sh(['umount', top]);
  const erase = async (path: string, offset: number) => {
    const h = await open(path, 'r+');
    await h.write(Buffer.alloc(MiB), 0, MiB, offset);
    await h.close();
  };
  await releaseScratch(runner, scratch, dev, { mnt: '/run/grow', erase, log: silentLogger });
  const sizeGrown = await size();
  const blkid = (await sh(['blkid', '-o', 'value', '-s', 'UUID', dev])).trim();
  return {
    disk, sizeBytes, applyMs, scratch, partition: planned.partitions.find((p) => p.number === 3),
    mapping: mapping.map((m) => ({ device: m.device, mountpoint: m.mountpoint, fsType: m.fsType, newUuid: m.newUuid, subvolume: m.subvolume })),
    mounts, markerKept: back.equals(marker), sizeShort, sizeGrown, list, getDefault, inHome, inRoot, homeInRoot, plainMount, blkid,
  };
}

const disk = process.argv[2]!;
try {
  console.log(`BTRFSTEST ${JSON.stringify(await run(disk))}`);
} catch (err) {
  console.log(`BTRFSTEST ${JSON.stringify({ disk, error: String((err as Error).stack ?? err), output: (err as { output?: string }).output })}`);
}
console.log('BTRFSTEST-END');
