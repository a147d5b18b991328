/**
 * The per-node pxelinux config (served over TFTP as pxelinux.cfg/01-<mac>):
 * the TFTP-only path, kernel and initrd fetched by pxelinux itself.
 */
import { bootWord, buildKernelCmdline, type NodeBootParams } from './cmdline.ts';

/** Paths relative to the TFTP root. */
export interface PxelinuxFiles {
  kernel: string;
  initrd: string;
}

/** Build a pxelinux config that boots the netboot environment at once. */
export function buildPxelinuxConfig(files: PxelinuxFiles, params: Omit<NodeBootParams, 'initrdName'> & { mac: string }): string {
  // One word each; INITRD takes a comma-separated list, so a comma would add an initrd.
  const file = (name: string, v: string): string => bootWord(name, v, { what: `pxelinux ${name} path`, refuse: { re: /,/, why: 'contains "," (INITRD reads a list)' } });
  const kernel = file('kernel', files.kernel);
  const initrd = file('initrd', files.initrd);
  return [
    'DEFAULT imgsrv',
    'PROMPT 0',
    'TIMEOUT 0',
    'LABEL imgsrv',
    `  KERNEL ${kernel}`,
    `  INITRD ${initrd}`,
    `  APPEND ${buildKernelCmdline(params)}`,
    // IPAPPEND 2 adds BOOTIF=01-<mac> so the client brings up the NIC it booted from.
    '  IPAPPEND 2',
    '',
  ].join('\n');
}

/** The MAC a pxelinux config request asks for (`pxelinux.cfg/01-aa-bb-…`), or undefined. */
export function macFromPxelinuxPath(name: string): string | undefined {
  const m = /^\/?pxelinux\.cfg\/01-([0-9a-f]{2}(?:-[0-9a-f]{2}){5})$/i.exec(name);
  return m ? m[1]!.toLowerCase().replace(/-/g, ':') : undefined;
}

/** A pxelinux config that boots the first local disk (installed nodes). */
export function buildPxelinuxLocalBoot(): string {
  return ['DEFAULT local', 'PROMPT 0', 'TIMEOUT 0', 'LABEL local', '  LOCALBOOT 0', ''].join('\n');
}
