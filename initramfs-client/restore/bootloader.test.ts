import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { bootTarget, compareVersions, extlinuxConfig, grubConfig, newestKernel, serialConsole } from './boot-config.ts';
import { addKernelArgs, chooseBootMethod, installBootloader } from './bootloader.ts';
import type { PartitionMapping } from './layout.ts';
import { mountsUnder } from './mount.ts';
import { createRunner } from './run.ts';
import { netbootRunner } from './testdata/netboot-runner.ts';

let dir: string;
let root: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bootloader-'));
  root = join(dir, 'root');
  await mkdir(root);
});
afterEach(async () => {
  if ((await mountsUnder(dir)).length > 0) throw new Error(`mounts left under ${dir}`);
  await rm(dir, { recursive: true, force: true });
});
async function put(rel: string, text = ''): Promise<void> {
  await mkdir(dirname(join(root, rel)), { recursive: true });
  await writeFile(join(root, rel), text);
}

const ROOT_UUID = '0b9d3a52-6a43-4f2f-9b1a-2c0d3c9f7e11';
const BOOT_UUID = '5e1c0c1e-8d0a-4a8e-9f51-2b7f5d2b6b22';
const rootOnly: PartitionMapping[] = [
  { device: '/dev/vda1', number: 1, role: 'bios_grub', fsType: '', newUuid: '', kept: false },
  { device: '/dev/vda2', number: 2, role: 'esp', mountpoint: '/boot/efi', fsType: 'vfat', newUuid: 'ABCD-0001', kept: false },
  { device: '/dev/vda3', number: 3, role: 'root', mountpoint: '/', fsType: 'ext4', newUuid: ROOT_UUID, kept: false },
];
const separateBoot: PartitionMapping[] = [
  { device: '/dev/sda1', number: 1, role: 'data', mountpoint: '/boot', fsType: 'ext4', newUuid: BOOT_UUID, kept: false },
  { device: '/dev/sda2', number: 2, role: 'root', mountpoint: '/', fsType: 'xfs', newUuid: ROOT_UUID, kept: false },
];

describe('kernel selection', () => {
  it('orders versions as sort -V does', () => {
    const versions = ['6.1.0-9-amd64', '6.1.0-10-amd64', '5.10.0-20-amd64', '6.1.0-10-amd64+1', '6.10.2-arch1-1', '6.2.0', '4.19.0-25-amd64', '6.1.0-10-cloud-amd64'];
    const oracle = execFileSync('sort', ['-V'], { input: versions.join('\n') + '\n', encoding: 'utf8' }).trim().split('\n');
    expect([...versions].sort(compareVersions)).toEqual(oracle);
  });

  it('picks the newest kernel with its initrd, skipping rescue kernels', async () => {
    for (const f of ['vmlinuz-6.1.0-9-amd64', 'initrd.img-6.1.0-9-amd64', 'vmlinuz-6.1.0-10-amd64', 'initrd.img-6.1.0-10-amd64', 'vmlinuz-5.10.0-20-amd64', 'config-6.1.0-10-amd64']) await put(`boot/${f}`);
    expect(await newestKernel(root)).toEqual({ version: '6.1.0-10-amd64', kernel: 'vmlinuz-6.1.0-10-amd64', initrd: 'initrd.img-6.1.0-10-amd64' });
    await put('boot/vmlinuz-6.5.0-1.fc39.x86_64');
    await put('boot/initramfs-6.5.0-1.fc39.x86_64.img');
    await put('boot/vmlinuz-0-rescue-0123456789abcdef');
    expect(await newestKernel(root)).toEqual({ version: '6.5.0-1.fc39.x86_64', kernel: 'vmlinuz-6.5.0-1.fc39.x86_64', initrd: 'initramfs-6.5.0-1.fc39.x86_64.img' });
  });

  it('finds no kernel in an empty /boot', async () => {
    expect(await newestKernel(root)).toBeUndefined();
  });
});

/** The linux/initrd paths and search UUID of a generated grub.cfg. */
function parseGrub(cfg: string): { search?: string; linux?: string; args: string[]; initrd?: string } {
  const search = /search --no-floppy --fs-uuid --set=root (\S+)/.exec(cfg)?.[1];
  const linux = /^\s*linux\s+(\S+)\s*(.*)$/m.exec(cfg);
  const initrd = /^\s*initrd\s+(\S+)/m.exec(cfg)?.[1];
  return { search, linux: linux?.[1], args: linux?.[2]?.split(' ') ?? [], initrd };
}

describe('generated configs', () => {
  beforeEach(async () => {
    await put('boot/vmlinuz-6.1.0-10-amd64', 'kernel');
    await put('boot/initrd.img-6.1.0-10-amd64', 'initrd');
  });

  it('grub.cfg: valid grub script, kernel and initrd found on the file system it searches, root by UUID, serial when asked', async () => {
    const kernel = (await newestKernel(root))!;
    for (const [mapping, bootFsDir] of [[rootOnly, root], [separateBoot, join(root, 'boot')]] as const) {
      const target = bootTarget(mapping);
      const cfg = grubConfig(target, kernel, ['console=ttyS0,115200n8']);
      const file = join(dir, 'grub.cfg');
      await writeFile(file, cfg);
      execFileSync('grub-script-check', [file]);
      const p = parseGrub(cfg);
      expect(p.search).toBe(mapping === separateBoot ? BOOT_UUID : ROOT_UUID);
      // the paths are from the top of the searched file system
      expect((await stat(join(bootFsDir, p.linux!))).isFile()).toBe(true);
      expect((await stat(join(bootFsDir, p.initrd!))).isFile()).toBe(true);
      expect(p.args).toEqual([`root=UUID=${ROOT_UUID}`, 'ro', 'console=ttyS0,115200n8']);
      expect(cfg).toMatch(/^set timeout=1$/m);
      expect(cfg).toMatch(/^serial --unit=0 --speed=115200$/m);
      expect(cfg).toMatch(/^terminal_output serial console$/m);
    }
    expect(grubConfig(bootTarget(rootOnly), kernel, ['quiet'])).not.toMatch(/serial/);
  });

  it('extlinux.conf: SERIAL first, paths on the /boot file system', async () => {
    const kernel = (await newestKernel(root))!;
    const cfg = extlinuxConfig(bootTarget(separateBoot), kernel, ['console=ttyS1,9600']);
    expect(cfg.split('\n')[0]).toBe('SERIAL 1 9600');
    expect(cfg).toMatch(/^\s*LINUX \/vmlinuz-6\.1\.0-10-amd64$/m);
    expect(cfg).toMatch(/^\s*INITRD \/initrd\.img-6\.1\.0-10-amd64$/m);
    expect(cfg).toMatch(new RegExp(`^\\s*APPEND root=UUID=${ROOT_UUID} ro console=ttyS1,9600$`, 'm'));
    expect(serialConsole(['console=tty0', 'console=ttyS2'])).toEqual({ unit: 2, speed: 9600 });
  });
});

describe('chooseBootMethod', () => {
  it('uses the image grub in a chroot only when it has the platform modules', async () => {
    expect(await chooseBootMethod(root, 'bios', 'grub')).toBe('grub-netboot');
    await put('usr/sbin/grub-install', '#!/bin/sh\n');
    await mkdir(join(root, 'usr/lib/grub/i386-pc'), { recursive: true });
    expect(await chooseBootMethod(root, 'bios', 'grub')).toBe('grub-chroot');
    expect(await chooseBootMethod(root, 'uefi', 'grub')).toBe('grub-netboot');
    await mkdir(join(root, 'usr/lib/grub/x86_64-efi'));
    expect(await chooseBootMethod(root, 'uefi', 'systemd-boot')).toBe('grub-chroot');
  });

  it('uses extlinux for extlinux images on BIOS only, and never a grub-install outside the tree', async () => {
    expect(await chooseBootMethod(root, 'bios', 'extlinux')).toBe('extlinux');
    expect(await chooseBootMethod(root, 'uefi', 'extlinux')).toBe('grub-netboot');
    // a link to the host's grub-install is not the image's
    await mkdir(join(root, 'usr/sbin'), { recursive: true });
    await mkdir(join(root, 'usr/lib/grub/i386-pc'), { recursive: true });
    await symlink(join(dir, 'host-grub-install'), join(root, 'usr/sbin/grub-install'));
    await writeFile(join(dir, 'host-grub-install'), '');
    expect(await chooseBootMethod(root, 'bios', 'grub')).toBe('grub-netboot');
  });
});

describe('installBootloader (image grub in a chroot)', () => {
  it("makes /dev/disk/by-uuid links first, so the image's update-grub writes root=UUID=… (no udev on the node)", async () => {
    await put('usr/sbin/grub-install', '#!/bin/sh\n');
    await put('usr/sbin/update-grub', '#!/bin/sh\n');
    await mkdir(join(root, 'usr/lib/grub/i386-pc'), { recursive: true });
    await put('boot/grub/grub.cfg', '# made by update-grub\n');
    const dev = join(dir, 'dev');
    await mkdir(join(dev, 'disk/by-uuid'), { recursive: true });
    await symlink('../../vdb1', join(dev, 'disk/by-uuid', 'ABCD-0001'));
    const seen: string[] = [];
    const runner = {
      // no chroot, no mounts: what the links are when the image's update-grub would run
      run: async (step: string) => {
        if (step === 'grub config (image)') seen.push(...(await readdir(join(dev, 'disk/by-uuid'))).map((n) => `${n} -> ${readlinkSync(join(dev, 'disk/by-uuid', n))}`));
        return '';
      },
    };
    const res = await installBootloader(runner, { root, diskPath: '/dev/vda', firmware: 'bios', mapping: rootOnly, bootloader: 'grub', table: 'gpt', kernelArgs: [], log: silentLogger, devDir: dev });
    expect(res).toEqual({ method: 'grub-chroot' });
    // the new root's link, relative as udev makes it; a link already there (and bios_grub, no file system) left alone
    expect(seen.sort()).toEqual([`${ROOT_UUID} -> ../../vda3`, 'ABCD-0001 -> ../../vdb1']);
  });
});

describe('installBootloader on an md RAID1 layout', () => {
  const md: PartitionMapping[] = [
    { device: '/dev/vda1', number: 1, role: 'bios_grub', fsType: '', newUuid: '', kept: false },
    { device: '/dev/md0', number: 2, role: 'root', mountpoint: '/', fsType: 'ext4', newUuid: ROOT_UUID, kept: false, md: { uuid: '01234567:89abcdef:01234567:89abcdef', oldUuid: '76543210:fedcba98:76543210:fedcba98', metadata: '1.2', members: ['/dev/vda2', '/dev/vdb2'] } },
  ];
  const recorder = () => {
    const argvs: string[][] = [];
    return { argvs, runner: { run: async (_step: string, argv: readonly string[]) => (argvs.push([...argv]), '') } };
  };

  it("puts grub's BIOS boot code on both disks, with the image's grub-install in a chroot", async () => {
    await put('usr/sbin/grub-install', '#!/bin/sh\n');
    await mkdir(join(root, 'usr/lib/grub/i386-pc'), { recursive: true });
    await put('boot/grub/grub.cfg', '# made by update-grub\n');
    const dev = join(dir, 'dev');
    const { argvs, runner } = recorder();
    await installBootloader(runner, { root, diskPath: '/dev/vda', mirrorDiskPath: '/dev/vdb', firmware: 'bios', mapping: md, bootloader: 'grub', table: 'gpt', kernelArgs: [], log: silentLogger, devDir: dev });
    expect(argvs.filter((a) => a.includes('/usr/sbin/grub-install')).map((a) => a.at(-1))).toEqual(['/dev/vda', '/dev/vdb']);
  });

  it("and with the netboot environment's grub-install when the image has none", async () => {
    await put('boot/vmlinuz-6.1.0-10-amd64');
    await put('boot/initrd.img-6.1.0-10-amd64');
    const { argvs, runner } = recorder();
    await installBootloader(runner, { root, diskPath: '/dev/vda', mirrorDiskPath: '/dev/vdb', firmware: 'bios', mapping: md, bootloader: 'grub', table: 'gpt', kernelArgs: [], log: silentLogger });
    expect(argvs.filter((a) => a[0] === 'grub-install').map((a) => a.at(-1))).toEqual(['/dev/vda', '/dev/vdb']);
    // the generated config finds / on the array by its file system's UUID
    expect(await readFile(join(root, 'boot/grub/grub.cfg'), 'utf8')).toContain(ROOT_UUID);
  });
});

describe('installBootloader with Secure Boot on', () => {
  const recorder = () => {
    const argvs: string[][] = [];
    return { argvs, runner: { run: async (_step: string, argv: readonly string[]) => (argvs.push([...argv]), '') } };
  };
  it("asks the image's grub-install for the signed chain (shim at the fallback path)", async () => {
    await put('usr/sbin/grub-install', '#!/bin/sh\n');
    await mkdir(join(root, 'usr/lib/grub/x86_64-efi'), { recursive: true });
    await put('boot/grub/grub.cfg', '# made by update-grub\n');
    const { argvs, runner } = recorder();
    const opts = { root, diskPath: '/dev/vda', firmware: 'uefi' as const, mapping: rootOnly, bootloader: 'grub' as const, table: 'gpt' as const, kernelArgs: [], log: silentLogger, devDir: join(dir, 'dev'), efivars: join(dir, 'no-efivars') };
    await installBootloader(runner, { ...opts, secureBoot: true });
    expect(argvs.find((a) => a.includes('/usr/sbin/grub-install'))).toEqual(['chroot', root, '/usr/sbin/grub-install', '--target=x86_64-efi', '--efi-directory=/boot/efi', '--modules=part_gpt part_msdos', '--removable', '--no-nvram', '--uefi-secure-boot']);
    const off = recorder();
    await installBootloader(off.runner, opts);
    expect(off.argvs.find((a) => a.includes('/usr/sbin/grub-install'))).not.toContain('--uefi-secure-boot');
  });
  it("refuses the netboot environment's unsigned grub-install", async () => {
    await put('boot/vmlinuz-6.1.0-10-amd64');
    const { argvs, runner } = recorder();
    await expect(installBootloader(runner, { root, diskPath: '/dev/vda', firmware: 'uefi', secureBoot: true, mapping: rootOnly, bootloader: 'grub', table: 'gpt', kernelArgs: [], log: silentLogger })).rejects.toThrow(/Secure Boot is on and the image has no grub-install/);
    expect(argvs).toEqual([]);
  });
});

describe('addKernelArgs', () => {
  it("adds the node's console to GRUB_CMDLINE_LINUX once", async () => {
    await put('etc/default/grub', 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n');
    expect(await addKernelArgs(root, ['console=ttyS0,115200n8', 'quiet'])).toBe(true);
    expect(await readFile(join(root, 'etc/default/grub'), 'utf8')).toBe('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0,115200n8"\n');
    expect(await addKernelArgs(root, ['console=ttyS0,115200n8'])).toBe(false);
  });
});

describe('installBootloader (extlinux, real tools on a disk image)', () => {
  // Needs root: loop devices (no partition scanning: the partition is a loop at its offset) and mount.
  // What the node runs: busybox applets where the netboot environment links them.
  const runner = netbootRunner(createRunner(silentLogger));
  for (const table of ['dos', 'gpt'] as const) {
    it(`installs extlinux on a ${table} disk: boot code, MBR code, bootable flag, config`, async () => {
      const disk = join(dir, 'disk.img');
      execFileSync('truncate', ['-s', '48M', disk]);
      execFileSync('sfdisk', ['-q', disk], { input: `label: ${table}\nstart=2048, size=${40 * 2048}, type=${table === 'dos' ? '83' : 'linux'}\n` });
      const loop = execFileSync('losetup', ['-f', '--show', '-o', String(2048 * 512), '--sizelimit', String(40 * 1024 * 1024), disk], { encoding: 'utf8' }).trim();
      const mnt = join(dir, 'mnt');
      try {
        execFileSync('mkfs.ext4', ['-q', '-U', ROOT_UUID, loop]);
        await mkdir(mnt);
        execFileSync('mount', [loop, mnt]);
        try {
          await mkdir(join(mnt, 'boot'));
          await writeFile(join(mnt, 'boot/vmlinuz-6.1.0-10-amd64'), 'k');
          await writeFile(join(mnt, 'boot/initrd.img-6.1.0-10-amd64'), 'i');
          const mapping: PartitionMapping[] = [{ device: '/dev/sda1', number: 1, role: 'root', mountpoint: '/', fsType: 'ext4', newUuid: ROOT_UUID, kept: false }];
          const res = await installBootloader(runner, { root: mnt, diskPath: disk, firmware: 'bios', mapping, bootloader: 'extlinux', table, kernelArgs: ['console=ttyS0,115200'], log: silentLogger });
          expect(res).toEqual({ method: 'extlinux', generated: 'boot/extlinux/extlinux.conf' });
          expect((await stat(join(mnt, 'boot/extlinux/ldlinux.sys'))).size).toBeGreaterThan(0);
          const cfg = await readFile(join(mnt, 'boot/extlinux/extlinux.conf'), 'utf8');
          expect(cfg).toContain('LINUX /boot/vmlinuz-6.1.0-10-amd64');
        } finally {
          execFileSync('umount', [mnt]);
        }
        // the partition's boot sector now holds extlinux's (it names "SYSLINUX"/"EXTLINUX")
        const vbr = (await readFile(disk)).subarray(2048 * 512, 2048 * 512 + 512);
        expect(vbr.includes(Buffer.from('LINUX'))).toBe(true);
      } finally {
        execFileSync('losetup', ['-d', loop]);
      }
      const mbrCode = await readFile(`/usr/lib/syslinux/mbr/${table === 'dos' ? 'mbr.bin' : 'gptmbr.bin'}`);
      expect((await readFile(disk)).subarray(0, mbrCode.length).equals(mbrCode)).toBe(true);
      const pt = JSON.parse(execFileSync('sfdisk', ['--json', disk], { encoding: 'utf8' })) as { partitiontable: { partitions: Array<{ bootable?: boolean; attrs?: string }> } };
      const p1 = pt.partitiontable.partitions[0]!;
      if (table === 'dos') expect(p1.bootable).toBe(true);
      else expect(p1.attrs).toMatch(/LegacyBIOSBootable/);
    });
  }
});
