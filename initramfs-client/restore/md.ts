/**
 * Make the plan's md RAID1 arrays on the node (mdadm --create over the same
 * partition of both disks), stop them before the reboot, and leave the
 * restored system able to assemble them: its mdadm.conf names the new array
 * UUIDs, and its own initramfs is rebuilt in a chroot so that the copy of
 * mdadm.conf inside it does too.
 *
 * The netboot environment has no udev: MDADM_NO_UDEV=1 makes mdadm create
 * /dev/mdN itself instead of waiting for udev to do it. md_mod and raid1
 * are loaded by /init with the other storage modules.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { freshUuid, type PartitionMapping } from './layout.ts';
import { mdadmConf, mdCreateArgv, type PlannedMd } from './md-plan.ts';
import { mkfsArgv, waitForPartition } from './partition.ts';
import { bindSystemDirs, unbindSystemDirs } from './mount.ts';
import { regularFileInRoot, resolveInRoot } from './root-path.ts';
import type { Runner } from './run.ts';

/** mdadm's environment in the netboot environment: no udev to wait for. */
export const MDADM_ENV = { MDADM_NO_UDEV: '1' } as const;

/** Make every array on its two members (array device → [first disk's partition, second disk's]). */
export async function createArrays(runner: Runner, arrays: readonly PlannedMd[], members: ReadonlyMap<string, string[]>): Promise<void> {
  for (const md of arrays) {
    const devs = members.get(md.device);
    if (devs?.length !== 2) throw new ImgsrvError('INTERNAL', `md array ${md.device}: expected two member partitions, have ${devs?.length ?? 0}`);
    await runner.run(`make md RAID1 ${md.device}`, mdCreateArgv(md, [devs[0]!, devs[1]!]), { env: MDADM_ENV });
  }
}

/** Stop the named arrays (before the reboot, and before a restore that starts over partitions again); `ignoreMissing`: an array not running is fine. */
export async function stopArrays(runner: Runner, devices: readonly string[], opts: { ignoreMissing?: boolean } = {}): Promise<void> {
  for (const dev of devices) {
    const run = runner.run(`stop md array ${dev}`, ['mdadm', '--stop', dev], { env: MDADM_ENV });
    if (opts.ignoreMissing) await run.catch(() => undefined);
    else await run;
  }
}

/**
 * Write the new arrays into the restored system's mdadm.conf (md-plan.ts
 * mdadmConf): Debian's /etc/mdadm/mdadm.conf when that directory exists,
 * else /etc/mdadm.conf; paths resolved inside the tree. Returns the host path written.
 */
export async function writeMdadmConf(root: string, arrays: readonly PlannedMd[]): Promise<string> {
  const etc = await resolveInRoot(root, 'etc');
  if (!etc) throw new ImgsrvError('DISK', `the restored tree at ${root} has no /etc`, { hint: 'the image is not a root file system: capture the sample again' });
  const debian = await resolveInRoot(root, 'etc/mdadm');
  const file = await regularFileInRoot(root, debian ? 'etc/mdadm/mdadm.conf' : 'etc/mdadm.conf');
  const path = file ?? join(debian ?? etc, 'mdadm.conf');
  await writeFile(path, mdadmConf(file ? await readFile(file, 'utf8') : undefined, arrays));
  return path;
}

/**
 * Rebuild the restored system's initramfs with its own tools in a chroot
 * (update-initramfs on Debian, dracut elsewhere), so the mdadm.conf inside
 * it names the new arrays. Returns the tool used, or undefined when the
 * image has neither (its initramfs then still names the sample's arrays).
 */
export async function rebuildInitramfs(runner: Runner, root: string, log: Logger): Promise<string | undefined> {
  const tool = (await regularFileInRoot(root, 'usr/sbin/update-initramfs')) ? ['/usr/sbin/update-initramfs', '-u', '-k', 'all']
    : (await regularFileInRoot(root, 'usr/bin/dracut')) ? ['/usr/bin/dracut', '-f', '--regenerate-all']
    : undefined;
  if (!tool) return undefined;
  await bindSystemDirs(runner, root);
  try {
    await runner.run('rebuild the initramfs (image, for the new md arrays)', ['chroot', root, ...tool], { timeoutMs: 20 * 60 * 1000 });
  } finally {
    await unbindSystemDirs(runner, root);
  }
  log.info({ tool: tool[0] }, 'initramfs rebuilt for the new md arrays');
  return tool[0];
}

/**
 * UEFI on an md RAID1 layout: the ESP stays a plain partition on each disk
 * (firmware reads FAT, not md; metadata 1.0 under an ESP works until the
 * firmware writes to one member). After the boot loader went onto the
 * first disk's ESP, the second disk's ESP (the same partition number) is
 * made FAT with its own id and gets a copy of the first's files, so either
 * disk boots through EFI/BOOT/BOOTX64.EFI. Returns the copy's device, or
 * undefined when the layout has no ESP.
 */
export async function mirrorEsp(runner: Runner, opts: { root: string; mapping: readonly PartitionMapping[]; mirrorDiskPath: string; mnt: string }): Promise<string | undefined> {
  const esp = opts.mapping.find((m) => m.role === 'esp' && m.mountpoint);
  if (!esp) return undefined;
  const device = await waitForPartition(opts.mirrorDiskPath, esp.number);
  const fs = { type: 'vfat', newUuid: freshUuid('vfat'), ...(esp.newLabel ? { label: esp.newLabel } : {}) };
  const variants = mkfsArgv({ number: esp.number, mountpoint: esp.mountpoint!, fs }, device) ?? [];
  for (const [i, argv] of variants.entries()) {
    try {
      await runner.run(`make the second disk's ESP (${device})`, argv);
      break;
    } catch (err) {
      if (i === variants.length - 1) throw err;
    }
  }
  await mkdir(opts.mnt, { recursive: true });
  await runner.run('mount the second ESP', ['mount', '-t', 'vfat', device, opts.mnt]);
  try {
    await runner.run('copy the ESP to the second disk', ['cp', '-a', `${join(opts.root, esp.mountpoint!)}/.`, `${opts.mnt}/`]);
  } finally {
    await runner.run('unmount the second ESP', ['umount', opts.mnt]);
  }
  return device;
}
