/**
 * Runs inside a VM booted into the netboot environment (lvm.lab.test.ts):
 * the restore's own LVM code with the environment's own binaries (busybox,
 * the shipped lvm, mkfs, resize2fs, xfs_growfs) and its kernel (dm-mod, no
 * udev). For each disk named on the command line: plan an LVM layout with a
 * scratch area after a short PV, apply it twice (a restore that starts over
 * in the same boot, its VG still active), keep bytes in the scratch area,
 * make and mount the file systems, write files, give the area back, check
 * what lvm, blkid and the file systems say, deactivate. Prints one line
 * `LVMTEST {json}` per disk and `LVMTEST-END`.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, readlink, realpath, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../../core/log.ts';
import type { HostFacts } from '../../../images/meta.ts';
import { planLayout } from '../layout.ts';
import { deactivateVolumeGroups, lvmArgv } from '../lvm.ts';
import { mountTarget, unmountTarget } from '../mount.ts';
import { applyLayout } from '../partition.ts';
import { createRunner } from '../run.ts';
import { layoutWithScratch, placeScratch, releaseScratch } from '../scratch.ts';

const MiB = 1024 * 1024;
const runner = createRunner(silentLogger);

/** A sample on LVM: GPT bios_grub, /boot ext4, then the PV of vg-lab (4 MiB extents): home ext4 64 MiB, swap-1 32 MiB, root `rootFs` (grows). */
function facts(rootFs: string): HostFacts {
  const pvStart = 66 * MiB;
  return {
    bootMode: 'bios', bootloader: 'grub', kernels: [], interfaces: [], partitionTable: 'gpt',
    disks: [{
      name: 'sda', sizeBytes: 2048 * MiB, partitions: [
        { number: 1, startBytes: MiB, sizeBytes: MiB, type: '21686148-6449-6E6F-744E-656564454649' },
        { number: 2, startBytes: 2 * MiB, sizeBytes: 64 * MiB, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', mountpoint: '/boot', fs: { type: 'ext4', uuid: '11111111-1111-4111-8111-111111111111', label: 'boot' } },
        { number: 3, startBytes: pvStart, sizeBytes: 2048 * MiB - pvStart - MiB, type: 'E6D6D379-F507-44C2-A23C-238F2A3DF928', fs: { type: 'LVM2_member' } },
      ],
    }],
    filesystems: [
      { mountpoint: '/', type: rootFs, source: '/dev/mapper/vg--lab-root', uuid: '22222222-2222-4222-8222-222222222222', options: 'defaults', usedBytes: 20 * MiB, sizeBytes: 400 * MiB },
      { mountpoint: '/boot', type: 'ext4', source: '/dev/sda2', uuid: '11111111-1111-4111-8111-111111111111', label: 'boot', options: 'defaults', usedBytes: MiB, sizeBytes: 60 * MiB },
      { mountpoint: '/home', type: 'ext4', source: '/dev/mapper/vg--lab-home', uuid: '33333333-3333-4333-8333-333333333333', options: 'defaults', usedBytes: MiB, sizeBytes: 60 * MiB },
    ],
    swap: [],
    lvm: {
      vgs: [{
        name: 'vg-lab', extentBytes: 4 * MiB, sizeBytes: 1900 * MiB,
        pvs: [{ device: '/dev/sda3', sizeBytes: 1900 * MiB, disk: 'sda', partition: 3 }],
        lvs: [
          { name: 'root', sizeBytes: 400 * MiB, layout: 'linear', role: 'public', mountpoint: '/', fs: { type: rootFs, uuid: '22222222-2222-4222-8222-222222222222' } },
          { name: 'home', sizeBytes: 64 * MiB, layout: 'linear', role: 'public', mountpoint: '/home', fs: { type: 'ext4', uuid: '33333333-3333-4333-8333-333333333333', label: 'home' } },
          { name: 'swap-1', sizeBytes: 32 * MiB, layout: 'linear', role: 'public', fs: { type: 'swap', uuid: '44444444-4444-4444-8444-444444444444' } },
        ],
      }],
    },
  };
}

async function sh(argv: string[]): Promise<string> {
  return runner.run(argv.join(' '), argv);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

async function one(disk: string, rootFs: string): Promise<Record<string, unknown>> {
  const sizeBytes = Number((await sh(['blockdev', '--getsize64', disk])).trim());
  const planned = planLayout(facts(rootFs), { path: disk, sizeBytes });
  const scratch = placeScratch(planned, 128 * MiB);
  const layout = layoutWithScratch(planned, scratch);
  const t0 = Date.now();
  await applyLayout(runner, layout);
  // the restore starts over in the same boot: vg-lab is still active on the disk
  const mapping = await applyLayout(runner, layout);
  const applyMs = Date.now() - t0;
  // bytes in the scratch area, after the short PV: mkfs, mount and files must leave them alone
  const marker = randomBytes(2 * MiB);
  const fh = await open(disk, 'r+');
  await fh.write(marker, 0, marker.length, scratch.offsetBytes + MiB);
  await fh.sync();
  const root = '/mnt/target';
  await mountTarget(runner, mapping, root);
  const file = randomBytes(8 * MiB);
  await writeFile(join(root, 'restored.bin'), file);
  await writeFile(join(root, 'home', 'user.txt'), 'home\n');
  const dfShort = await sh(['df', '-P', '-k', root]);
  await unmountTarget(runner, root);
  const back = Buffer.alloc(marker.length);
  await fh.read(back, 0, back.length, scratch.offsetBytes + MiB);
  await fh.close();
  const pvs = mapping.find((m) => m.lv)!.lv!.pvs;
  const lvs = async () => JSON.parse(await sh(lvmArgv('lvs', pvs.map((p) => p.device), ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'lv_name,lv_size,lv_dm_path']))) as { report: Array<{ lv: Array<Record<string, string>> }> };
  const pvReport = async () => JSON.parse(await sh(lvmArgv('pvs', pvs.map((p) => p.device), ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'pv_name,pv_size,pv_free']))) as { report: Array<{ pv: Array<Record<string, string>> }> };
  const before = { lvs: (await lvs()).report[0]!.lv, pvs: (await pvReport()).report[0]!.pv };
  const rootMap = mapping.find((m) => m.mountpoint === '/')!;
  const erase = async (path: string, offset: number) => {
    const h = await open(path, 'r+');
    await h.write(Buffer.alloc(MiB), 0, MiB, offset);
    await h.close();
  };
  await releaseScratch(runner, scratch, rootMap.device, { mnt: '/run/grow', erase, log: silentLogger, pvs });
  const after = { lvs: (await lvs()).report[0]!.lv, pvs: (await pvReport()).report[0]!.pv };
  // the grown file system: mounted again, file intact, size from df
  await mountTarget(runner, mapping, root);
  const fileBack = await readFile(join(root, 'restored.bin'));
  const dfGrown = await sh(['df', '-P', '-k', root]);
  const links = { mapper: await exists('/dev/mapper/vg--lab-root'), vgLink: await readlink('/dev/vg-lab/root').catch(() => null), same: (await realpath('/dev/vg-lab/root').catch(() => 'none')) === (await realpath('/dev/mapper/vg--lab-root').catch(() => 'missing')) };
  await unmountTarget(runner, root);
  const blkid: Record<string, string> = {};
  for (const m of mapping) blkid[m.device] = (await sh(['blkid', '-o', 'value', '-s', 'UUID', m.device])).trim();
  const swapLabelOk = (await sh(['blkid', '-o', 'value', '-s', 'TYPE', '/dev/mapper/vg--lab-swap--1'])).trim();
  await deactivateVolumeGroups(runner, ['vg-lab'], pvs.map((p) => p.device));
  const goneAfterDeactivate = !(await exists('/dev/mapper/vg--lab-root'));
  return {
    disk, rootFs, sizeBytes, applyMs,
    partition: planned.partitions.find((p) => p.number === 3),
    scratch,
    mapping: mapping.map((m) => ({ device: m.device, mountpoint: m.mountpoint, fsType: m.fsType, newUuid: m.newUuid, lv: m.lv })),
    markerKept: back.equals(marker),
    fileKept: fileBack.equals(file),
    dfShort, dfGrown, before, after, links, blkid, swapType: swapLabelOk, goneAfterDeactivate,
  };
}

const disks = process.argv.slice(2);
for (const [i, disk] of disks.entries()) {
  try {
    console.log(`LVMTEST ${JSON.stringify(await one(disk, i % 2 === 0 ? 'ext4' : 'xfs'))}`);
  } catch (err) {
    console.log(`LVMTEST ${JSON.stringify({ disk, error: String((err as Error).stack ?? err), output: (err as { output?: string }).output })}`);
  }
}
console.log('LVMTEST-END');
