/**
 * The Secure Boot path's GRUB configs, served over TFTP. UEFI firmware with
 * Secure Boot on runs only loaders signed by a key in its db (on most
 * machines Microsoft's): iPXE isn't, so such nodes get the Microsoft-signed
 * shim (shim-signed), which loads Debian's signed network GRUB
 * (grub-efi-amd64-signed's grubnetx64.efi, served as grubx64.efi beside
 * shim), which loads the netboot kernel (Debian's, signed by Debian, checked
 * by shim's verifier) and initrd over TFTP.
 *
 * Debian's network GRUB has its prefix at /grub on the server it came from
 * and a built-in config that reads `$prefix/grub.cfg`: that one is the same
 * for every node (GRUB_ENTRY_CONFIG) and sources the node's own config,
 * grub/imgsrv-<mac>.cfg, named by the MAC GRUB booted from. That file
 * carries the node's token, so it is served like the pxelinux config: only
 * to a requester tied to that MAC (server/tftp-files.ts).
 */
import { bootWord, buildKernelCmdline, type NodeBootParams } from './cmdline.ts';

/** The path of the config every node's GRUB reads first (Debian's grubnetx64: `$prefix/grub.cfg`, prefix /grub). */
export const GRUB_ENTRY_PATH = 'grub/grub.cfg';

/**
 * The first config: no menu, straight to the node's own (GRUB sets
 * $net_default_mac to the MAC it booted from, lower case with colons).
 * Single quotes leave the path to GRUB's variable expansion alone.
 */
export const GRUB_ENTRY_CONFIG = [
  '# imgsrv: every node reads this first; its own config carries its token',
  'set timeout=0',
  'source "$prefix/imgsrv-${net_default_mac}.cfg"',
  '',
].join('\n');

/** The TFTP path of a node's own config. */
export function grubNodeConfigPath(mac: string): string {
  return `grub/imgsrv-${mac.toLowerCase()}.cfg`;
}

/** The MAC a node config request asks for (`grub/imgsrv-aa:bb:…:ff.cfg`), or undefined. */
export function macFromGrubPath(name: string): string | undefined {
  const m = /^\/?grub\/imgsrv-([0-9a-f]{2}(?::[0-9a-f]{2}){5})\.cfg$/i.exec(name);
  return m ? m[1]!.toLowerCase() : undefined;
}

/** Paths relative to the TFTP root (GRUB reads them from the server it booted from). */
export interface GrubFiles {
  kernel: string;
  initrd: string;
}

/**
 * A node's config: the netboot environment at once. Each kernel argument
 * goes in single quotes, inside which GRUB expands and splits nothing
 * (bootWord already refuses quotes, spaces and backslashes in them).
 */
export function buildGrubConfig(files: GrubFiles, params: Omit<NodeBootParams, 'initrdName'> & { mac: string }): string {
  const path = (name: string, v: string): string => bootWord(name, v, { what: `GRUB ${name} path`, refuse: { re: /[$;{}|&<>#]/, why: 'contains a character GRUB reads as syntax' } });
  const args = buildKernelCmdline(params).split(' ');
  // BOOTIF as pxelinux's IPAPPEND 2 writes it: the client brings up the NIC the node booted from.
  args.push(`BOOTIF=01-${bootWord('mac', params.mac).toLowerCase().replace(/:/g, '-')}`);
  return [
    '# imgsrv: the netboot environment for this node (its token is below: served only to it)',
    'set timeout=0',
    "echo 'imgsrv: loading the netboot environment (signed GRUB)'",
    `linux /${path('kernel', files.kernel)} ${args.map((a) => `'${a}'`).join(' ')}`,
    `initrd /${path('initrd', files.initrd)}`,
    'boot',
    '',
  ].join('\n');
}

/**
 * An installed node's config: boot its disk. `exit` alone would hand the
 * machine back to the firmware's boot manager, which (OVMF, seen in the
 * lab) stops at its setup screen when the disk has no boot entry of its
 * own, as localboot.efi explains for iPXE; so GRUB chainloads the fallback
 * loader the restore wrote on the disk's ESP, as localboot.efi does. Under
 * Secure Boot that loader is the image's shim, which the firmware's db
 * vouches for (shim's verifier checks db too).
 */
export function buildGrubLocalBoot(): string {
  return [
    '# imgsrv: this node boots from its disk',
    "echo 'imgsrv: booting from the local disk'",
    'search --no-floppy --file --set=root /EFI/BOOT/BOOTX64.EFI',
    'chainloader /EFI/BOOT/BOOTX64.EFI',
    'boot',
    "echo 'imgsrv: no local disk has a bootable EFI/BOOT/BOOTX64.EFI; re-image this node (imgsrv nodes reimage)'",
    'sleep 30',
    'exit',
    '',
  ].join('\n');
}
