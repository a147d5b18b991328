/**
 * Runs inside a VM booted into the netboot environment (md.lab.test.ts):
 * the restore's own md RAID1 code with the environment's own binaries
 * (busybox, the shipped mdadm, sfdisk, mkfs) and its kernel (md_mod,
 * raid1, no udev). Picks the two disks with the restore's own choice over
 * the VM's disks (one of them too small), plans a sample laid out as
 * Debian's installer does it on two disks (bios_grub, an ESP, /boot on md1
 * with metadata 1.0, / on md0 with 1.2), applies it twice (the second time with
 * the arrays running, as a restore that starts over), mounts, writes,
 * copies the ESP to the second disk (the UEFI half of "both disks
 * bootable"), installs grub on both disks (the BIOS half; the test then
 * boots the second disk alone), unmounts, then proves each disk alone holds the data: stops the arrays
 * and assembles each array from the SECOND disk's member only. Prints the
 * probe's own md section and /proc/mdstat (real output for the capture's
 * parser tests) and one line `MDTEST {json}`, then `MDTEST-END`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '../../../core/log.ts';
import type { HostFacts } from '../../../images/meta.ts';
import { MD_PROBE } from '../../../server/capture/md-facts.ts';
import { installBootloader } from '../bootloader.ts';
import { chooseMirrorDisks, listDisks } from '../disks.ts';
import { planLayout } from '../layout.ts';
import { MDADM_ENV, mirrorEsp, stopArrays } from '../md.ts';
import { mountTarget, unmountTarget } from '../mount.ts';
import { applyLayout } from '../partition.ts';
import { createRunner } from '../run.ts';

const MiB = 1024 * 1024;
const runner = createRunner(silentLogger);
const RAID = 'A19D880F-05FC-4D3B-A006-743F0F84911E';

/** What grub runs when a disk boots: says so on the serial port, with the device it found /boot on, and powers off. */
const GRUB_CFG = `serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
echo "MDTEST-GRUB root=$root"
sleep 1
halt
`;

/** The sample: sda and sdb partitioned alike: bios_grub, an ESP (sda's mounted), md1 (/boot, ext4, metadata 1.0) on partition 3, md0 (/, ext4, 1.2) on partition 4, which grows. */
function facts(): HostFacts {
  const parts = [
    { number: 1, startBytes: MiB, sizeBytes: MiB, type: '21686148-6449-6E6F-744E-656564454649' },
    { number: 2, startBytes: 2 * MiB, sizeBytes: 64 * MiB, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' },
    { number: 3, startBytes: 66 * MiB, sizeBytes: 256 * MiB, type: RAID, fs: { type: 'linux_raid_member' } },
    { number: 4, startBytes: 322 * MiB, sizeBytes: 1500 * MiB, type: RAID, fs: { type: 'linux_raid_member' } },
  ];
  const esp = { ...parts[1]!, mountpoint: '/boot/efi', fs: { type: 'vfat', uuid: '7E4A-1B2C', label: 'EFI' } };
  const member = (disk: string, n: number, role: number) => ({ device: `/dev/${disk}${n}`, role, disk, partition: n });
  return {
    bootMode: 'bios', bootloader: 'grub', kernels: [], interfaces: [], partitionTable: 'gpt',
    disks: [{ name: 'sda', sizeBytes: 2048 * MiB, partitions: [parts[0]!, esp, parts[2]!, parts[3]!] }, { name: 'sdb', sizeBytes: 2048 * MiB, partitions: parts }],
    filesystems: [
      { mountpoint: '/', type: 'ext4', source: '/dev/md0', uuid: '22222222-2222-4222-8222-222222222222', options: 'defaults', usedBytes: 20 * MiB, sizeBytes: 1400 * MiB },
      { mountpoint: '/boot/efi', type: 'vfat', source: '/dev/sda2', uuid: '7E4A-1B2C', label: 'EFI', options: 'umask=0077', usedBytes: 0, sizeBytes: 60 * MiB },
      { mountpoint: '/boot', type: 'ext4', source: '/dev/md1', uuid: '11111111-1111-4111-8111-111111111111', label: 'boot', options: 'defaults', usedBytes: MiB, sizeBytes: 240 * MiB },
    ],
    swap: [],
    md: {
      arrays: [
        { device: '/dev/md0', name: 'sample:0', level: 'raid1', metadata: '1.2', uuid: 'aaaaaaaa:bbbbbbbb:cccccccc:dddddddd', raidDevices: 2, state: 'clean', degraded: false, members: [member('sda', 4, 0), member('sdb', 4, 1)], mountpoint: '/', fs: { type: 'ext4', uuid: '22222222-2222-4222-8222-222222222222' } },
        { device: '/dev/md1', name: 'sample:1', level: 'raid1', metadata: '1.0', uuid: 'eeeeeeee:ffffffff:00000000:11111111', raidDevices: 2, state: 'clean', degraded: false, members: [member('sda', 3, 0), member('sdb', 3, 1)], mountpoint: '/boot', fs: { type: 'ext4', uuid: '11111111-1111-4111-8111-111111111111', label: 'boot' } },
      ],
    },
  };
}

async function sh(argv: string[], env?: Record<string, string>): Promise<string> {
  return runner.run(argv.join(' '), argv, env ? { env } : {});
}

async function main(): Promise<Record<string, unknown>> {
  const disks = await listDisks();
  const f = facts();
  const any = planLayout(f, { path: '(any)', sizeBytes: 2 ** 40 });
  // the restore's own choice: 1 GiB is what this test asks of each disk; the small decoy must be passed over
  const [first, second] = chooseMirrorDisks(disks, { minBytes: 1024 * MiB });
  const layout = planLayout(f, { path: first.path, sizeBytes: Math.min(first.sizeBytes, second.sizeBytes) });
  layout.mirror = { diskPath: second.path, diskBytes: second.sizeBytes };
  const t0 = Date.now();
  await applyLayout(runner, layout);
  // the restore starts over in the same boot: both arrays are running on the disks
  const mapping = await applyLayout(runner, layout);
  const applyMs = Date.now() - t0;
  const probeMd = await sh(['sh', '-c', MD_PROBE]);
  const mdstat = await readFile('/proc/mdstat', 'utf8');
  const root = '/mnt/target';
  await mountTarget(runner, mapping, root);
  const file = randomBytes(8 * MiB);
  await writeFile(join(root, 'restored.bin'), file);
  await writeFile(join(root, 'boot', 'vmlinuz-test'), 'kernel\n');
  await mkdir(join(root, 'boot/efi/EFI/BOOT'), { recursive: true });
  await writeFile(join(root, 'boot/efi/EFI/BOOT/BOOTX64.EFI'), 'loader\n');
  const espCopy = await mirrorEsp(runner, { root, mapping, mirrorDiskPath: second.path, mnt: '/run/esp2' });
  // BIOS: the restore's own boot loader step on both disks (the tree has no grub of its own: the netboot environment's grub-install)
  await mkdir(join(root, 'boot/grub'), { recursive: true });
  await writeFile(join(root, 'boot/grub/grub.cfg'), GRUB_CFG);
  const boot = await installBootloader(runner, { root, diskPath: first.path, mirrorDiskPath: second.path, firmware: 'bios', mapping, bootloader: 'grub', table: 'gpt', kernelArgs: [], log: silentLogger });
  const df = await sh(['df', '-P', '-k', root]);
  await unmountTarget(runner, root);
  await mkdir('/run/esp2', { recursive: true });
  await sh(['mount', '-t', 'vfat', `${second.path}2`, '/run/esp2']);
  const espLoader = await readFile('/run/esp2/EFI/BOOT/BOOTX64.EFI', 'utf8').catch(() => '');
  await sh(['umount', '/run/esp2']);
  const blkid: Record<string, string> = {};
  for (const m of mapping) blkid[m.device] = (await sh(['blkid', '-o', 'value', '-s', 'UUID', m.device])).trim();
  const examine = await sh(['mdadm', '--examine', '--export', `${second.path}4`], MDADM_ENV);
  await stopArrays(runner, layout.md!.map((m) => m.device));
  const stopped = await readFile('/proc/mdstat', 'utf8');
  // each array from the second disk's member alone (the first disk gone): degraded, but it runs and holds the data
  for (const md of layout.md!) await sh(['mdadm', '--assemble', '--run', md.device, `${second.path}${md.partition}`], MDADM_ENV);
  const degraded = await readFile('/proc/mdstat', 'utf8');
  await mountTarget(runner, mapping, root);
  const fileBack = await readFile(join(root, 'restored.bin'));
  const kernelBack = await readFile(join(root, 'boot', 'vmlinuz-test'), 'utf8').catch(() => '');
  await unmountTarget(runner, root);
  await stopArrays(runner, layout.md!.map((m) => m.device));
  const end = await readFile('/proc/mdstat', 'utf8');
  return {
    disks: disks.map((d) => ({ path: d.path, sizeBytes: d.sizeBytes })),
    chosen: [first.path, second.path],
    anyHasMd: (any.md ?? []).map((m) => m.device),
    applyMs,
    plan: layout.partitions.map((p) => ({ number: p.number, startBytes: p.startBytes, sizeBytes: p.sizeBytes, role: p.role, md: p.md, grows: p.grows })),
    arrays: layout.md!.map((m) => ({ device: m.device, metadata: m.metadata, newUuid: m.newUuid, name: m.name })),
    mapping: mapping.map((m) => ({ device: m.device, mountpoint: m.mountpoint, fsType: m.fsType, newUuid: m.newUuid, md: m.md })),
    probeMd, mdstat, examine, stopped, degraded, end, df, blkid,
    espCopy, espLoader, bootMethod: boot.method,
    fileKept: fileBack.equals(file),
    kernelKept: kernelBack === 'kernel\n',
  };
}

try {
  console.log(`MDTEST ${JSON.stringify(await main())}`);
} catch (err) {
  console.log(`MDTEST ${JSON.stringify({ error: String((err as Error).stack ?? err), output: (err as { output?: string }).output })}`);
}
console.log('MDTEST-END');
