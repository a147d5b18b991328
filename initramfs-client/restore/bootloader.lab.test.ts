// installBootloader on real disks booted by real firmware: the disk of a
// restored node (default GPT layout or MBR) gets its boot loader from our
// code, then QEMU boots that disk under SeaBIOS or OVMF and the restored
// system's /init prints its kernel command line. Needs root, loop devices,
// qemu-system-x86, ovmf, grub-pc-bin, grub-efi-amd64-bin, extlinux and the
// Debian kernel in /boot.
//
// BIOS installs run on the host (grub-install and extlinux accept loop
// devices). The UEFI install needs the ESP mounted, and the host cannot
// mount vfat, so a helper VM (the same kernel, a tiny initramfs with busybox,
// grub and the disk drivers, no udev: the netboot environment's situation)
// runs the grub-install command line that installBootloader chose.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addParentDirs, encodeCpio, type CpioEntry } from '../../server/netboot-env/cpio.ts';
import { HostFiles } from '../../server/netboot-env/host-files.ts';
import { parseModulesDep, resolveModules } from '../../server/netboot-env/modules.ts';
import { silentLogger } from '../../core/log.ts';
import { Lab, labAvailable, sweepStaleLabs } from '../../lab/netns.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';
import { compareVersions } from './boot-config.ts';
import { installBootloader, type BootloaderOptions } from './bootloader.ts';
import { GPT_TYPES, type PartitionMapping } from './layout.ts';
import { mountsUnder } from './mount.ts';
import { createRunner, type Runner } from './run.ts';

const MiB = 1024 * 1024;
const ROOT_UUID = '3f0b7c1e-2a4d-4e6f-8a9b-0c1d2e3f4a5b';
const ESP_UUID = '1234ABCD';
const available = await labAvailable();

let dir: string;
let lab: Lab;
let kver: string;
let sampleInitrd: string;
const vms: Vm[] = [];
const loops: string[] = [];

beforeAll(async () => {
  if (!available) return;
  await sweepStaleLabs();
  dir = await mkdtemp(join(tmpdir(), 'bootloader-lab-'));
  lab = await Lab.create();
  const kernels = (await readdir('/boot')).filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice(8));
  kver = kernels.sort(compareVersions).at(-1)!;
  // the restored system's initrd: prints its command line and powers off
  sampleInitrd = join(dir, 'sample-initrd');
  await writeFile(sampleInitrd, initramfs(await readFile('/bin/busybox'), '/bin/busybox mount -t proc proc /proc\necho "IMGSRV-BOOTED $(/bin/busybox cat /proc/cmdline)"\n'));
});

afterAll(async () => {
  if (!available) return;
  for (const vm of vms) await vm.stop().catch(() => undefined);
  for (const m of await mountsUnder(dir)) execFileSync('umount', ['-l', m]);
  for (const l of loops) execFileSync('losetup', ['-d', l]);
  await lab?.destroy();
  await rm(dir, { recursive: true, force: true });
});

/** A newc initramfs: static busybox and an /init running `body` then powering off. */
function initramfs(busybox: Buffer, body: string, extra: CpioEntry[] = []): Buffer {
  const init = `#!/bin/busybox sh\n${body}\n/bin/busybox sync\n/bin/busybox poweroff -f\n`;
  return encodeCpio(addParentDirs([
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: busybox },
    { path: 'init', type: 'file', mode: 0o755, data: Buffer.from(init) },
    { path: 'proc', type: 'dir', mode: 0o755 },
    { path: 'sys', type: 'dir', mode: 0o755 },
    { path: 'dev', type: 'dir', mode: 0o755 },
    { path: 'dev/console', type: 'char-device', mode: 0o600, major: 5, minor: 1 },
    ...extra,
  ]));
}

function losetup(args: string[]): string {
  const dev = execFileSync('losetup', ['-f', '--show', ...args], { encoding: 'utf8' }).trim();
  loops.push(dev);
  return dev;
}
function detach(dev: string): void {
  execFileSync('losetup', ['-d', dev]);
  loops.splice(loops.indexOf(dev), 1);
}

/** A restored node's disk: partitions, file systems, a kernel and initrd in root's /boot, mounted at `mnt`. */
async function restoredDisk(name: string, table: 'gpt' | 'dos'): Promise<{ disk: string; mnt: string; rootLoop: string; mapping: PartitionMapping[] }> {
  const disk = join(dir, `${name}.img`);
  execFileSync('truncate', ['-s', `${160 * MiB}`, disk]);
  // the default layout (bios_grub, ESP, root) or a one-partition MBR disk
  const gpt = `label: gpt\nstart=2048, size=2048, type=${GPT_TYPES.biosGrub}\nstart=4096, size=${64 * 2048}, type=${GPT_TYPES.esp}\nstart=${4096 + 64 * 2048}, type=${GPT_TYPES.linux}\n`;
  execFileSync('sfdisk', ['-q', disk], { input: table === 'gpt' ? gpt : 'label: dos\nstart=2048, type=83\n' });
  const parts = (JSON.parse(execFileSync('sfdisk', ['--json', disk], { encoding: 'utf8' })) as { partitiontable: { partitions: Array<{ start: number; size: number }> } }).partitiontable.partitions;
  const mapping: PartitionMapping[] = [];
  if (table === 'gpt') {
    const esp = losetup(['-o', String(parts[1]!.start * 512), '--sizelimit', String(parts[1]!.size * 512), disk]);
    execFileSync('mkfs.vfat', ['-F', '32', '-i', ESP_UUID, '-n', 'EFI', esp]);
    detach(esp);
    mapping.push({ device: '/dev/vda1', number: 1, role: 'bios_grub', fsType: '', newUuid: '', kept: false });
    mapping.push({ device: '/dev/vda2', number: 2, role: 'esp', mountpoint: '/boot/efi', fsType: 'vfat', newUuid: '1234-ABCD', kept: false });
  }
  const p = parts.at(-1)!;
  const rootLoop = losetup(['-o', String(p.start * 512), '--sizelimit', String(p.size * 512), disk]);
  execFileSync('mkfs.ext4', ['-q', '-U', ROOT_UUID, '-L', 'root', rootLoop]);
  mapping.push({ device: `/dev/vda${parts.length}`, number: parts.length, role: 'root', mountpoint: '/', fsType: 'ext4', newUuid: ROOT_UUID, kept: false });
  const mnt = join(dir, `${name}-mnt`);
  await mkdir(mnt);
  execFileSync('mount', [rootLoop, mnt]);
  await mkdir(join(mnt, 'boot/efi'), { recursive: true });
  await copyFile(`/boot/vmlinuz-${kver}`, join(mnt, `boot/vmlinuz-${kver}`));
  await copyFile(sampleInitrd, join(mnt, `boot/initrd.img-${kver}`));
  return { disk, mnt, rootLoop, mapping };
}

function unmount(mnt: string, rootLoop: string): void {
  execFileSync('umount', [mnt]);
  detach(rootLoop);
}

/** Boot the disk alone and wait for the restored system's /init to print a command line with the new root UUID. */
async function bootDisk(name: string, disk: string, firmware: 'bios' | 'uefi'): Promise<string> {
  const vm = await startVm(lab, { name, firmware, mac: '52:54:00:12:40:01', disk, memoryMiB: 384, serialLog: process.env.IMGSRV_LAB_LOGS ? join(process.env.IMGSRV_LAB_LOGS, `${name}.log`) : undefined });
  vms.push(vm);
  try {
    // fail fast on a firmware or boot loader dead end instead of waiting out the timeout
    const m = await vm.waitFor(/IMGSRV-BOOTED ([^\r\n]*)[\r\n]|grub rescue>|grub> |Boot failed|No bootable device|Kernel panic/, 240_000);
    expect(m[0], vm.serial).toMatch(/^IMGSRV-BOOTED/);
    expect(vm.serial).toMatch(/Linux version/);
    return m[1]!;
  } finally {
    await vm.stop();
  }
}

const base = (o: Pick<BootloaderOptions, 'root' | 'diskPath' | 'firmware' | 'mapping' | 'bootloader' | 'table'>): BootloaderOptions => ({
  ...o,
  kernelArgs: ['console=ttyS0,115200n8'],
  log: silentLogger,
  efivars: '/nonexistent',
});

describe.skipIf(!available)('installBootloader, booted by real firmware', () => {
  it('BIOS, default GPT layout, netboot grub with a generated grub.cfg: SeaBIOS boots the disk', async () => {
    const { disk, mnt, rootLoop, mapping } = await restoredDisk('bios-grub', 'gpt');
    // the whole disk as a loop without partitions, as /dev/vda is in the netboot environment without udev
    const whole = losetup([disk]);
    try {
      const res = await installBootloader(createRunner(silentLogger), base({ root: mnt, diskPath: whole, firmware: 'bios', mapping, bootloader: 'unknown', table: 'gpt' }));
      expect(res).toEqual({ method: 'grub-netboot', generated: 'boot/grub/grub.cfg' });
    } finally {
      unmount(mnt, rootLoop);
      detach(whole);
    }
    const cmdline = await bootDisk('blbios', disk, 'bios');
    expect(cmdline).toContain(`root=UUID=${ROOT_UUID} ro console=ttyS0,115200n8`);
  });

  it('BIOS, MBR, extlinux image: SeaBIOS boots the disk', async () => {
    const { disk, mnt, rootLoop, mapping } = await restoredDisk('bios-ext', 'dos');
    try {
      const res = await installBootloader(createRunner(silentLogger), base({ root: mnt, diskPath: disk, firmware: 'bios', mapping, bootloader: 'extlinux', table: 'dos' }));
      expect(res.method).toBe('extlinux');
    } finally {
      unmount(mnt, rootLoop);
    }
    const cmdline = await bootDisk('blext', disk, 'bios');
    expect(cmdline).toContain(`root=UUID=${ROOT_UUID} ro console=ttyS0,115200n8`);
  });

  it('UEFI, default GPT layout, netboot grub on the fallback path: OVMF boots the disk', async () => {
    const { disk, mnt, rootLoop, mapping } = await restoredDisk('uefi-grub', 'gpt');
    // record the commands installBootloader runs; the helper VM runs them with the ESP mounted
    const recorded: string[][] = [];
    const recorder: Runner = { run: async (_step, argv) => (recorded.push([...argv]), '') };
    try {
      const res = await installBootloader(recorder, base({ root: mnt, diskPath: '/dev/vda', firmware: 'uefi', mapping, bootloader: 'systemd-boot', table: 'gpt' }));
      expect(res).toEqual({ method: 'grub-netboot', generated: 'boot/grub/grub.cfg', efiEntry: false });
    } finally {
      unmount(mnt, rootLoop);
    }
    expect(recorded.map((a) => a[0])).toEqual(['grub-install']);
    const command = recorded[0]!.map((a) => a.replaceAll(mnt, '/mnt/target'));
    const out = await runInHelper(disk, command);
    expect(out).toMatch(/HELPER-RC=0/);
    const cmdline = await bootDisk('bluefi', disk, 'uefi');
    expect(cmdline).toContain(`root=UUID=${ROOT_UUID} ro console=ttyS0,115200n8`);
  });
});

/** Boot a helper VM that mounts the disk's root and ESP under /mnt/target and runs `argv`; its serial output. */
async function runInHelper(disk: string, argv: string[]): Promise<string> {
  const files = new HostFiles();
  for (const p of ['/usr/sbin/grub-install', '/usr/bin/grub-mkimage', '/usr/sbin/grub-probe', '/usr/bin/grub-editenv']) await files.addProgram(p);
  await files.addTree('/usr/lib/grub/x86_64-efi', (n) => !n.endsWith('.efi'));
  const modDir = `/lib/modules/${kver}`;
  const dep = parseModulesDep(await readFile(join(modDir, 'modules.dep'), 'utf8'));
  const mods = resolveModules(dep, ['virtio_pci', 'virtio_blk', 'crc32c_generic', 'ext4', 'vfat', 'nls_cp437', 'nls_ascii', 'nls_utf8']);
  expect(mods.missing).toEqual([]);
  for (const m of mods.loadOrder) await files.add(join(modDir, m));
  const q = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
  const B = '/bin/busybox';
  const script = [
    `${B} mount -t proc proc /proc`, `${B} mount -t sysfs sys /sys`, `${B} mount -t devtmpfs dev /dev`,
    ...mods.loadOrder.map((m) => `${B} insmod ${modDir}/${m}`),
    `n=0; while [ ! -b /dev/vda3 ] && [ $n -lt 100 ]; do ${B} sleep 0.1; n=$((n+1)); done`,
    `${B} mkdir -p /mnt/target /tmp`, `${B} mount -t ext4 /dev/vda3 /mnt/target`, `${B} mount -t vfat /dev/vda2 /mnt/target/boot/efi`,
    `${argv.map(q).join(' ')} 2>&1`, 'echo "HELPER-RC=$?"',
    `${B} ls -R /mnt/target/boot/efi`,
    `${B} umount /mnt/target/boot/efi`, `${B} umount /mnt/target`,
  ].join('\n');
  const initrd = join(dir, 'helper-initrd');
  await writeFile(initrd, initramfs(await readFile('/bin/busybox'), script, [...files.entries.values()]));
  const vm = await startVm(lab, { name: 'blhelp', firmware: 'bios', mac: '52:54:00:12:40:02', kernel: `/boot/vmlinuz-${kver}`, initrd, disk, memoryMiB: 512, append: 'console=ttyS0 panic=-1' });
  vms.push(vm);
  try {
    await vm.waitExit(300_000);
    expect(vm.serial).toMatch(/BOOTX64\.EFI/);
    return vm.serial;
  } finally {
    await vm.stop();
  }
}
