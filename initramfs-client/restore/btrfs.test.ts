/**
 * btrfs subvolumes: the plan (pure), then the real thing on a disk file with
 * the netboot environment's commands (busybox mount, the btrfs-progs it
 * ships) and the host's btrfs as the oracle. Needs root: the partition is
 * reached through an offset loop device (the host's loop driver does no
 * partition scanning).
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { bootTarget, grubConfig } from './boot-config.ts';
import { planBtrfs, restoreMountOptions, subvolumeCommands } from './btrfs.ts';
import { mappingFor, planLayout, requiredBytes, type LayoutPlan } from './layout.ts';
import { mountTarget, mountsUnder, unmountTarget } from './mount.ts';
import { applyLayout } from './partition.ts';
import { rewriteIdentifiers } from './rewrite.ts';
import { layoutWithScratch, placeScratch, releaseScratch, scratchPossible } from './scratch.ts';
import { erasePieceArea } from '../../torrent/piece-area.ts';
import { createRunner } from './run.ts';
import { netbootRunner } from './testdata/netboot-runner.ts';
import { btrfsFacts, metaFor } from './testdata/facts.ts';

const MiB = 1024 * 1024;
const UUID = '6b1d2f3e-4a5b-4c6d-8e7f-901a2b3c4d5e';

describe('btrfs plan', () => {
  it('makes @ and @home, @ the default again, and mounts them by path with the options that decide how files are written', () => {
    expect(planBtrfs(btrfsFacts, UUID.toUpperCase())).toEqual({
      subvolumes: ['@', '@home'],
      defaultSubvolume: '@',
      mounts: [
        { mountpoint: '/', subvolume: '@', options: 'subvol=/@,compress=zstd' },
        { mountpoint: '/home', subvolume: '@home', options: 'subvol=/@home,compress=zstd' },
      ],
    });
    expect(restoreMountOptions('', 'rw,noatime,compress-force=zstd:3,nodatacow,space_cache=v2,subvolid=5,subvol=/')).toBe('subvol=/,compress-force=zstd:3,nodatacow');
    expect(planBtrfs(btrfsFacts, 'another-uuid')).toBeUndefined();
    const topDefault = structuredClone(btrfsFacts);
    topDefault.btrfs![0]!.defaultId = 5;
    expect(planBtrfs(topDefault, UUID)?.defaultSubvolume).toBeUndefined();
    topDefault.btrfs![0]!.defaultId = 300;
    expect(() => planBtrfs(topDefault, UUID)).toThrow(/default subvolume id 300, which its subvolume list lacks/);
  });

  it('creates parents before nested subvolumes, then sets the default by path', () => {
    const facts = structuredClone(btrfsFacts);
    const fs = facts.btrfs![0]!;
    fs.subvolumes.unshift({ id: 258, parentId: 256, path: '@/var/lib/machines' });
    fs.mounts.push({ mountpoint: '/var/lib/machines', subvolume: '@/var/lib/machines', options: 'subvol=@/var/lib/machines' });
    const cmds = subvolumeCommands(planBtrfs(facts, UUID)!, '/t');
    expect(cmds.map((c) => c.argv.join(' '))).toEqual([
      'btrfs subvolume create /t/@',
      'btrfs subvolume create /t/@home',
      'btrfs subvolume create /t/@/var/lib/machines',
      'btrfs subvolume set-default /t/@',
    ]);
  });

  it('puts the partition at /, one mapping per mounted subvolume, grub at /@/boot with rootflags=subvol=@', () => {
    const plan = planLayout(btrfsFacts, { path: '/dev/vda', sizeBytes: 8 * 1024 * MiB });
    const p3 = plan.partitions.find((p) => p.number === 3)!;
    expect(p3).toMatchObject({ role: 'root', mountpoint: '/', grows: true, fs: { type: 'btrfs', oldUuid: UUID, label: 'sysroot' } });
    const mapping = mappingFor(plan, new Map([[2, '/dev/vda2'], [3, '/dev/vda3']]));
    expect(mapping.map((m) => [m.device, m.mountpoint, m.role, m.subvolume?.path, m.newUuid === p3.fs!.newUuid])).toEqual([
      ['/dev/vda2', '/boot/efi', 'esp', undefined, false],
      ['/dev/vda3', '/', 'root', '@', true],
      ['/dev/vda3', '/home', 'data', '@home', true],
    ]);
    const target = bootTarget(mapping);
    expect(target).toEqual({ rootUuid: p3.fs!.newUuid, bootUuid: p3.fs!.newUuid, prefix: '/@/boot', rootSubvolume: '@' });
    expect(grubConfig(target, { version: '6.1', kernel: 'vmlinuz-6.1', initrd: 'initrd.img-6.1' }, [])).toContain(`\tlinux /@/boot/vmlinuz-6.1 root=UUID=${p3.fs!.newUuid} rootflags=subvol=@ ro\n\tinitrd /@/boot/initrd.img-6.1`);
    // no scratch area on btrfs: the disk must still hold the image, or it is refused before writing
    expect(requiredBytes(metaFor(btrfsFacts, 700 * MiB), plan)).toBeGreaterThan(66 * MiB + 700 * MiB);
  });
});

// What the node runs: busybox applets where the netboot environment links them, its own btrfs-progs.
const runner = netbootRunner(createRunner(silentLogger));
const host = createRunner(silentLogger);
let dir: string;
let loops: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsrv-btrfs-'));
  loops = [];
});
afterEach(async () => {
  await unmountTarget(runner, dir).catch(() => {});
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

describe('btrfs on a disk', () => {
  it('makes the subvolumes short of a scratch area, mounts each at its place for the unpack, fstab keeps subvol= with the new UUID, then grows over the area', async () => {
    const file = join(dir, 'disk.img');
    await writeFile(file, '');
    await host.run('size', ['truncate', '-s', '400M', file]);
    const full = planLayout(btrfsFacts, { path: file, sizeBytes: 400 * MiB });
    expect(scratchPossible(full, [])).toEqual({ ok: true });
    const scratch = placeScratch(full, 64 * MiB);
    expect(scratch).toMatchObject({ partition: 3, fsType: 'btrfs' });
    const plan = layoutWithScratch(full, scratch);
    const mapping = await applyLayout(runner, plan, { partitionDevice: loopResolver(plan), btrfsTop: join(dir, 'top') });
    const root = join(dir, 'target');
    // the host kernel mounts no vfat: the btrfs mounts only
    const btrfs = mapping.filter((m) => m.fsType === 'btrfs');
    const dev = btrfs[0]!.device;
    await mountTarget(runner, btrfs, root);
    expect((await mountsUnder(root)).sort()).toEqual([root, join(root, 'home')]);
    // what the unpack does: files as they were mounted on the sample
    await mkdir(join(root, 'etc'), { recursive: true });
    await mkdir(join(root, 'home', 'user'), { recursive: true });
    await writeFile(join(root, 'home', 'user', 'notes.txt'), 'kept in @home\n');
    await writeFile(join(root, 'etc', 'fstab'), [
      `UUID=${UUID} /     btrfs subvol=@,compress=zstd,noatime     0 0`,
      `UUID=${UUID} /home btrfs subvol=@home,compress=zstd,noatime 0 0`,
      '',
    ].join('\n'));
    await rewriteIdentifiers(root, mapping, { log: silentLogger });
    const newUuid = btrfs[0]!.newUuid;
    const esp = mapping.find((m) => m.role === 'esp')!.newUuid;
    expect(await readFile(join(root, 'etc', 'fstab'), 'utf8')).toBe([
      `UUID=${newUuid} /     btrfs subvol=@,compress=zstd,noatime     0 0`,
      `UUID=${newUuid} /home btrfs subvol=@home,compress=zstd,noatime 0 0`,
      // the ESP had no line: one is added, as for any partition the fstab lacks
      `UUID=${esp} /boot/efi vfat umask=0077,nofail 0 2`,
      '',
    ].join('\n'));
    const mounts = await readFile('/proc/mounts', 'utf8');
    expect(mounts).toMatch(new RegExp(`^${dev} ${root} btrfs \\S*compress=zstd\\S*subvol=/@ `, 'm'));
    expect(mounts).toMatch(new RegExp(`^${dev} ${root}/home btrfs \\S*compress=zstd\\S*subvol=/@home `, 'm'));
    await unmountTarget(runner, root);

    // the oracle: the host's btrfs on the top level
    const top = join(dir, 'check');
    await mkdir(top);
    await host.run('mount', ['mount', '-o', 'subvolid=5', dev, top]);
    try {
      expect((await host.run('list', ['btrfs', 'subvolume', 'list', top])).trim().split('\n').map((l) => l.replace(/^ID \d+ gen \d+ top level (\d+) path /, '$1 '))).toEqual(['5 @', '5 @home']);
      expect(await host.run('default', ['btrfs', 'subvolume', 'get-default', top])).toMatch(/ path @\n$/);
      expect(await readFile(join(top, '@home', 'user', 'notes.txt'), 'utf8')).toBe('kept in @home\n');
      expect(await stat(join(top, '@', 'home', 'user')).catch(() => undefined)).toBeUndefined();
      expect((await stat(join(top, '@', 'etc', 'fstab'))).isFile()).toBe(true);
      expect(await host.run('fs uuid', ['blkid', '-o', 'value', '-s', 'UUID', dev])).toBe(`${newUuid}\n`);
    } finally {
      await host.run('unmount', ['umount', top]);
    }
    // the file system was made short by the area, and is given the whole partition back
    const size = async () => Number(/devid\s+1 size (\d+)/.exec(await host.run('show', ['btrfs', 'filesystem', 'show', '--raw', dev]))![1]);
    expect(await size()).toBe(scratch.fsBytes);
    await releaseScratch(runner, scratch, dev, { mnt: join(dir, 'grow'), erase: erasePieceArea, log: silentLogger });
    const p3 = plan.partitions.find((p) => p.number === 3)!;
    expect(await size()).toBe(p3.sizeBytes);
    expect(await mountsUnder(join(dir, 'grow'))).toEqual([]);
  });
});
