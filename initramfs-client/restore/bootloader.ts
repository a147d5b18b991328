/**
 * Make the node's disk bootable for its firmware. Three ways, in this order:
 * - extlinux images on BIOS: `extlinux --install`, syslinux's MBR code, the
 *   boot partition marked active (MBR) or legacy-BIOS-bootable (GPT).
 * - images that ship grub: the image's own grub-install and update-grub in a
 *   chroot (modules, config and kernel hooks all of one grub version).
 * - otherwise the netboot environment's grub-install, with a generated
 *   grub.cfg when the image has none. UEFI images with systemd-boot (or
 *   extlinux) also come here: grub on the ESP's fallback path boots them
 *   without the image's loader, and its own entries stay as they were.
 * UEFI installs always use the removable fallback path EFI/BOOT/BOOTX64.EFI,
 * which firmware boots without an NVRAM entry; an entry is added on top when
 * the netboot environment sees efivars (best effort).
 */
import { access, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostFacts } from '../../images/meta.ts';
import type { Logger } from '../../core/log.ts';
import { bootTarget, extlinuxConfig, grubConfig, newestKernel } from './boot-config.ts';
import type { PartitionMapping } from './layout.ts';
import { bindSystemDirs, linkDisksByUuid, unbindSystemDirs } from './mount.ts';
import { regularFileInRoot, resolveInRoot } from './root-path.ts';
import { StepError, type Runner } from './run.ts';

/** Options for installBootloader. */
export interface BootloaderOptions {
  /** Where the restored tree is mounted (with /boot and the ESP mounted below it). */
  root: string;
  /** The whole disk, e.g. /dev/nvme0n1. */
  diskPath: string;
  /** The second disk of an md RAID1 layout: on BIOS it gets grub too, so the node boots from either disk. */
  mirrorDiskPath?: string;
  firmware: 'bios' | 'uefi';
  /** Secure Boot is on: only the image's grub-install with its signed shim and GRUB can make a disk this firmware boots. */
  secureBoot?: boolean;
  mapping: readonly PartitionMapping[];
  /** The sample's boot loader, from the captured facts. */
  bootloader: HostFacts['bootloader'];
  table: 'gpt' | 'dos';
  /** Kernel arguments carried from the netboot command line (console=ttyS0,115200n8). */
  kernelArgs: string[];
  log: Logger;
  /** Where to look for efivars (tests); default /sys/firmware/efi/efivars. */
  efivars?: string;
  /** The /dev bound into the chroot, where by-uuid links are made (tests); default /dev. */
  devDir?: string;
}

/** How the disk was made bootable. */
export type BootMethod = 'extlinux' | 'grub-chroot' | 'grub-netboot';

/** What installBootloader did: the method, and the config file it generated (path inside the tree), if any. */
export interface BootloaderResult {
  method: BootMethod;
  generated?: string;
  efiEntry?: boolean;
}

/**
 * Partition maps preloaded into core.img. grub-install adds the one it
 * detects for /boot's disk; naming both keeps the search for /boot's UUID
 * working when detection sees /boot on another device than the install disk
 * (a loop device in tests, a device-mapper node) and costs a few KiB.
 */
const PARTMAPS = '--modules=part_gpt part_msdos';

/** grub's platform directory names for each firmware. */
const GRUB_TARGET = { bios: 'i386-pc', uefi: 'x86_64-efi' } as const;

/** Where syslinux's MBR code lives (Debian, then Fedora/Arch). */
const SYSLINUX_MBR_DIRS = ['/usr/lib/syslinux/mbr', '/usr/share/syslinux', '/usr/lib/syslinux/bios'];

/** The install method for this image and firmware (see the file comment). */
export async function chooseBootMethod(root: string, firmware: 'bios' | 'uefi', bootloader: HostFacts['bootloader']): Promise<BootMethod> {
  if (bootloader === 'extlinux' && firmware === 'bios') return 'extlinux';
  if ((await imageGrubInstall(root)) && (await resolveInRoot(root, `usr/lib/grub/${GRUB_TARGET[firmware]}`))) return 'grub-chroot';
  return 'grub-netboot';
}

/** The image's grub-install (Debian name, then Fedora's grub2-install), as a path inside the tree. */
async function imageGrubInstall(root: string): Promise<string | undefined> {
  for (const p of ['usr/sbin/grub-install', 'usr/sbin/grub2-install', 'usr/bin/grub-install']) if (await regularFileInRoot(root, p)) return `/${p}`;
  return undefined;
}

/** Install the boot loader for the node's firmware onto `diskPath` (see the file comment); StepError with the tool's output on failure. */
export async function installBootloader(runner: Runner, opts: BootloaderOptions): Promise<BootloaderResult> {
  const method = await chooseBootMethod(opts.root, opts.firmware, opts.bootloader);
  opts.log.info({ method, firmware: opts.firmware, secureBoot: opts.secureBoot ?? false, disk: opts.diskPath }, 'installing boot loader');
  // The deployment refused images without a signed chain before writing (secure-boot.ts); this is the last line.
  if (opts.secureBoot && method !== 'grub-chroot') {
    throw new StepError('boot loader', ['grub-install', '--uefi-secure-boot'], '', `Secure Boot is on and the image has no grub-install of its own for ${GRUB_TARGET[opts.firmware]}: the netboot environment's unsigned GRUB would not boot`);
  }
  if (method === 'extlinux') return installExtlinux(runner, opts);
  if (method === 'grub-chroot') return installGrubChroot(runner, opts);
  return installGrubNetboot(runner, opts);
}

/** The disks that get grub's BIOS boot code: the target, and the mirror of an md RAID1 layout (its own bios_grub partition holds its own core.img). */
function biosDisks(opts: BootloaderOptions): string[] {
  return [opts.diskPath, ...(opts.mirrorDiskPath ? [opts.mirrorDiskPath] : [])];
}

/** The ESP's mount point inside the tree (default layout: /boot/efi). */
function espMountpoint(mapping: readonly PartitionMapping[]): string {
  return mapping.find((m) => m.role === 'esp')?.mountpoint ?? '/boot/efi';
}

async function installGrubChroot(runner: Runner, opts: BootloaderOptions): Promise<BootloaderResult> {
  const { root } = opts;
  const grubInstall = (await imageGrubInstall(root))!;
  await addKernelArgs(root, opts.kernelArgs);
  const res: BootloaderResult = { method: 'grub-chroot' };
  // So the image's update-grub names the root by UUID (see linkDisksByUuid).
  await linkDisksByUuid(opts.mapping, opts.devDir);
  await bindSystemDirs(runner, root);
  try {
    if (opts.firmware === 'bios') {
      for (const disk of biosDisks(opts)) await runner.run(`grub-install (image, BIOS) on ${disk}`, ['chroot', root, grubInstall, '--target=i386-pc', PARTMAPS, disk]);
    } else {
      const esp = espMountpoint(opts.mapping);
      // --uefi-secure-boot (Debian's grub-install): shim at the fallback path, the signed GRUB beside it; it fails when they are missing.
      const sb = opts.secureBoot ? ['--uefi-secure-boot'] : [];
      await runner.run(`grub-install (image, UEFI${opts.secureBoot ? ', Secure Boot' : ''})`, ['chroot', root, grubInstall, '--target=x86_64-efi', `--efi-directory=${esp}`, PARTMAPS, '--removable', '--no-nvram', ...sb]);
      res.efiEntry = await addEfiEntry(runner, opts);
    }
    const mkconfig = await chrootMkconfig(root);
    if (mkconfig) await runner.run('grub config (image)', ['chroot', root, ...mkconfig]);
  } finally {
    await unbindSystemDirs(runner, root);
  }
  if (!(await regularFileInRoot(root, 'boot/grub/grub.cfg')) && !(await regularFileInRoot(root, 'boot/grub2/grub.cfg'))) {
    res.generated = await writeGrubConfig(opts);
  }
  return res;
}

/** update-grub when the image has it (Debian), else grub-mkconfig / grub2-mkconfig. */
async function chrootMkconfig(root: string): Promise<string[] | undefined> {
  if (await regularFileInRoot(root, 'usr/sbin/update-grub')) return ['/usr/sbin/update-grub'];
  if (await regularFileInRoot(root, 'usr/sbin/grub-mkconfig')) return ['/usr/sbin/grub-mkconfig', '-o', '/boot/grub/grub.cfg'];
  if (await regularFileInRoot(root, 'usr/sbin/grub2-mkconfig')) return ['/usr/sbin/grub2-mkconfig', '-o', '/boot/grub2/grub.cfg'];
  return undefined;
}

/**
 * The node's console arguments (from the netboot command line) into the
 * image's GRUB_CMDLINE_LINUX, so update-grub's entries talk on the same
 * serial port the node was deployed through. Arguments already there stay once.
 */
export async function addKernelArgs(root: string, kernelArgs: readonly string[]): Promise<boolean> {
  const file = await regularFileInRoot(root, 'etc/default/grub');
  if (!file || kernelArgs.length === 0) return false;
  const text = await readFile(file, 'utf8');
  const m = /^GRUB_CMDLINE_LINUX=(["']?)(.*?)\1[ \t]*$/m.exec(text);
  const present = new Set(`${m?.[2] ?? ''} ${/^GRUB_CMDLINE_LINUX_DEFAULT=(["']?)(.*?)\1\s*$/m.exec(text)?.[2] ?? ''}`.split(/\s+/));
  const missing = kernelArgs.filter((a) => !present.has(a));
  if (missing.length === 0) return false;
  const value = [m?.[2] ?? '', ...missing].filter(Boolean).join(' ');
  const next = m ? text.replace(m[0], `GRUB_CMDLINE_LINUX="${value}"`) : `${text.replace(/\n?$/, '\n')}GRUB_CMDLINE_LINUX="${value}"\n`;
  await writeFile(file, next);
  return true;
}

async function installGrubNetboot(runner: Runner, opts: BootloaderOptions): Promise<BootloaderResult> {
  const { root } = opts;
  const bootDir = join(root, 'boot');
  const res: BootloaderResult = { method: 'grub-netboot' };
  if (opts.firmware === 'bios') {
    for (const disk of biosDisks(opts)) await runner.run(`grub-install (BIOS) on ${disk}`, ['grub-install', '--target=i386-pc', `--boot-directory=${bootDir}`, PARTMAPS, disk]);
  } else {
    const esp = join(root, espMountpoint(opts.mapping));
    await runner.run('grub-install (UEFI)', ['grub-install', '--target=x86_64-efi', `--efi-directory=${esp}`, `--boot-directory=${bootDir}`, PARTMAPS, '--removable', '--no-nvram']);
    res.efiEntry = await addEfiEntry(runner, opts);
  }
  if (!(await regularFileInRoot(root, 'boot/grub/grub.cfg'))) res.generated = await writeGrubConfig(opts);
  return res;
}

/** Write boot/grub/grub.cfg for the newest kernel; its path inside the tree. */
async function writeGrubConfig(opts: BootloaderOptions): Promise<string> {
  const kernel = await newestKernel(opts.root);
  if (!kernel) throw noKernel(opts.root);
  await mkdir(join(opts.root, 'boot/grub'), { recursive: true });
  await writeFile(join(opts.root, 'boot/grub/grub.cfg'), grubConfig(bootTarget(opts.mapping), kernel, opts.kernelArgs));
  return 'boot/grub/grub.cfg';
}

function noKernel(root: string): StepError {
  return new StepError('boot config', ['ls', join(root, 'boot')], '', 'found no kernel (boot/vmlinuz-<version>) in the image');
}

/** Best effort: an NVRAM entry for the fallback loader when this environment can write efivars. */
async function addEfiEntry(runner: Runner, opts: BootloaderOptions): Promise<boolean> {
  const esp = opts.mapping.find((m) => m.role === 'esp');
  const efivars = opts.efivars ?? '/sys/firmware/efi/efivars';
  if (!esp || !(await access(efivars).then(() => true, () => false))) return false;
  try {
    await runner.run('efibootmgr', ['efibootmgr', '--create', '--disk', opts.diskPath, '--part', String(esp.number), '--label', 'imgsrv', '--loader', '\\EFI\\BOOT\\BOOTX64.EFI']);
    return true;
  } catch (err) {
    // the fallback path boots anyway; some firmware refuses NVRAM writes
    opts.log.warn({ err }, 'could not add a UEFI boot entry; the fallback path EFI/BOOT/BOOTX64.EFI remains');
    return false;
  }
}

async function installExtlinux(runner: Runner, opts: BootloaderOptions): Promise<BootloaderResult> {
  const { root } = opts;
  const res: BootloaderResult = { method: 'extlinux' };
  const dir = join(root, 'boot/extlinux');
  await mkdir(dir, { recursive: true });
  await runner.run('extlinux --install', ['extlinux', '--install', dir]);
  await writeMbrCode(opts.diskPath, opts.table === 'gpt' ? 'gptmbr.bin' : 'mbr.bin');
  // the partition holding /boot: syslinux's MBR code boots the active (or legacy-BIOS-bootable) one
  const boot = opts.mapping.find((m) => m.mountpoint === '/boot') ?? opts.mapping.find((m) => m.mountpoint === '/');
  if (!boot) throw noKernel(root);
  if (opts.table === 'dos') await runner.run('mark boot partition active', ['sfdisk', '--activate', opts.diskPath, String(boot.number)]);
  else await runner.run('mark boot partition legacy-BIOS-bootable', ['sgdisk', `--attributes=${boot.number}:set:2`, opts.diskPath]);
  if (!(await regularFileInRoot(root, 'boot/extlinux/extlinux.conf')) && !(await regularFileInRoot(root, 'boot/syslinux/syslinux.cfg'))) {
    const kernel = await newestKernel(root);
    if (!kernel) throw noKernel(root);
    await writeFile(join(dir, 'extlinux.conf'), extlinuxConfig(bootTarget(opts.mapping), kernel, opts.kernelArgs));
    res.generated = 'boot/extlinux/extlinux.conf';
  }
  return res;
}

/** Write syslinux's MBR boot code into the disk's first 440 bytes (the partition table after them stays). */
async function writeMbrCode(diskPath: string, file: string): Promise<void> {
  let code: Buffer | undefined;
  for (const d of SYSLINUX_MBR_DIRS) {
    code = await readFile(join(d, file)).catch(() => undefined);
    if (code) break;
  }
  const argv = ['write-mbr', file, diskPath];
  if (!code) throw new StepError('syslinux MBR', argv, '', `found no ${file} in ${SYSLINUX_MBR_DIRS.join(', ')}`);
  if (code.length > 440) throw new StepError('syslinux MBR', argv, '', `${file} is ${code.length} bytes, more than the 440 of boot code`);
  const fh = await open(diskPath, 'r+').catch((err: unknown) => {
    throw new StepError('syslinux MBR', argv, String(err), 'could not open the disk', err);
  });
  try {
    await fh.write(code, 0, code.length, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
