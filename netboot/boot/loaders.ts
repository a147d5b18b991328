/**
 * Boot loaders from Debian's packages, copied into the TFTP root at start.
 * Copied, not symlinked: the TFTP server refuses symlinks that leave its root.
 */
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../core/log.ts';

/** A loader: the name served over TFTP, where Debian ships it, and the package. */
export interface LoaderSource {
  name: string;
  from: string;
  pkg: string;
}

/** Every loader imgsrv may hand out (RFC 4578 architecture → file is decided in select.ts). */
export const LOADERS: readonly LoaderSource[] = [
  { name: 'undionly.kpxe', from: '/usr/lib/ipxe/undionly.kpxe', pkg: 'ipxe' },
  { name: 'ipxe.efi', from: '/usr/lib/ipxe/ipxe.efi', pkg: 'ipxe' },
  { name: 'snponly.efi', from: '/usr/lib/ipxe/snponly.efi', pkg: 'ipxe' },
  { name: 'pxelinux.0', from: '/usr/lib/PXELINUX/pxelinux.0', pkg: 'pxelinux' },
  // pxelinux loads its core module from the same directory it came from.
  { name: 'ldlinux.c32', from: '/usr/lib/syslinux/modules/bios/ldlinux.c32', pkg: 'syslinux-common' },
  // The Secure Boot path (grub.ts): Microsoft-signed shim, which loads grubx64.efi from its own directory,
  // here Debian's signed network GRUB.
  { name: 'shimx64.efi', from: '/usr/lib/shim/shimx64.efi.signed', pkg: 'shim-signed' },
  { name: 'grubx64.efi', from: '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed', pkg: 'grub-efi-amd64-signed' },
];

/** Copy loaders that are missing or changed into `tftpRoot`; returns the names that are available. */
export function installLoaders(tftpRoot: string, log: Logger, loaders: readonly LoaderSource[] = LOADERS): string[] {
  mkdirSync(tftpRoot, { recursive: true });
  const available: string[] = [];
  for (const l of loaders) {
    const dest = join(tftpRoot, l.name);
    if (!existsSync(l.from)) {
      log.warn({ loader: l.name, from: l.from }, `boot loader missing: apt-get install ${l.pkg}`);
      continue;
    }
    const src = statSync(l.from);
    const cur = existsSync(dest) ? statSync(dest) : undefined;
    if (!cur || cur.size !== src.size || cur.mtimeMs < src.mtimeMs) copyFileSync(l.from, dest);
    available.push(l.name);
  }
  return available;
}
