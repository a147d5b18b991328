/**
 * The per-node iPXE script (served at /boot/ipxe/<mac>): fetch kernel and
 * initrd over HTTP (or TFTP in tftp boot mode) and boot the netboot
 * environment, retrying a failed fetch instead of falling back to disk.
 */
import { bootWord, buildKernelCmdline, type NodeBootParams } from './cmdline.ts';

/** Where the loader fetches kernel and initrd from. */
export interface BootFiles {
  /** URL of the kernel, http:// or tftp:// */
  kernelUrl: string;
  /** URL of the initrd */
  initrdUrl: string;
}

export const INITRD_NAME = 'initrd.img';

/** Check a URL that goes into a script line: one plain word, and not an option of kernel/initrd/chain (iPXE's getopt reads a leading "-"). */
export function scriptUrl(name: string, url: string): string {
  return bootWord(name, url, { what: `iPXE script URL for ${name}`, refuse: { re: /^-/, why: 'starts with "-" (iPXE would read it as an option)' } });
}

/**
 * Build an iPXE script for one node. The MAC is the one its token speaks
 * for (the script URL's), not iPXE's ${mac}, which on a machine with several
 * NICs may name another one.
 */
export function buildIpxeScript(files: BootFiles, params: Omit<NodeBootParams, 'initrdName'> & { mac: string }): string {
  const cmdline = buildKernelCmdline({ ...params, initrdName: INITRD_NAME });
  const kernelUrl = scriptUrl('kernel', files.kernelUrl);
  const initrdUrl = scriptUrl('initrd', files.initrdUrl);
  return [
    '#!ipxe',
    '# imgsrv netboot environment',
    'set attempt:int32 0',
    ':fetch',
    'inc attempt',
    `kernel ${kernelUrl} ${cmdline} || goto retry`,
    `initrd --name ${INITRD_NAME} ${initrdUrl} || goto retry`,
    'boot || goto retry',
    ':retry',
    // Back off instead of hammering a busy server; a blank node has nothing better to do.
    'echo imgsrv: fetch failed (attempt ${attempt}), retrying in 5 s',
    'sleep 5',
    'goto fetch',
    '',
  ].join('\n');
}

/**
 * The script for a node that is installed. BIOS: `exit` hands the machine
 * back to the BIOS, which boots the next device, its disk. UEFI: `exit`
 * would leave it to the boot manager (slow PXEv6/HTTP timeouts, or its
 * setup screen), so iPXE chains localboot.efi, which boots the local ESP.
 */
export function buildLocalBootIpxeScript(reason: string, localBootEfiUrl: string): string {
  // The reason is ours (image names, MACs) but echo must not see iPXE syntax from it either.
  const safe = reason.replace(/[^A-Za-z0-9 ._@:/-]/g, '');
  const efi = scriptUrl('localboot.efi', localBootEfiUrl);
  return [
    '#!ipxe',
    `echo imgsrv: ${safe}`,
    'echo imgsrv: booting from local disk',
    'iseq ${platform} efi || exit',
    `chain ${efi} || echo imgsrv: cannot load the local boot loader; exiting to the firmware`,
    'exit 1',
    '',
  ].join('\n');
}
