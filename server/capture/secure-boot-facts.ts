/**
 * What a captured image needs to boot under UEFI Secure Boot, read from the
 * capture's staging tree on the server (so rsync:// captures have it too,
 * and nothing runs on the sample): Debian's signed shim and signed GRUB
 * (the files the image's grub-install copies to the ESP with
 * --uefi-secure-boot), that grub-install itself, and for each kernel in
 * /boot whether it carries an Authenticode signature at all: the PE
 * optional header's certificate-table entry is non-empty. Whose key signed
 * it is the firmware's and shim's business; imgsrv refuses on a Secure Boot
 * node only what can't boot there at all (initramfs-client/restore/secure-boot.ts).
 */
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostFacts } from '../../images/meta.ts';

/** Debian's paths (shim-signed, grub-efi-amd64-signed, grub2-common), relative to the tree. */
export const SIGNED_SHIM = 'usr/lib/shim/shimx64.efi.signed';
export const SIGNED_GRUB = 'usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed';
export const GRUB_INSTALL = 'usr/sbin/grub-install';

export type SecureBootFacts = NonNullable<HostFacts['secureBoot']>;

/** Whether `rel` is a regular file in the tree (no symlink followed: a link may point outside it). */
async function regularFile(root: string, rel: string): Promise<boolean> {
  const st = await lstat(join(root, rel)).catch(() => undefined);
  return st?.isFile() ?? false;
}

/**
 * Whether a PE/COFF image (an EFI binary, a kernel with its EFI stub) carries
 * a signature: "MZ", the PE header's offset at 0x3c, "PE\0\0", the optional
 * header's magic (0x10b PE32, 0x20b PE32+), then data directory 4, the
 * certificate table, whose size is non-zero when signed. Undefined when the
 * file is no PE image (an old kernel without an EFI stub).
 */
export function peSigned(head: Buffer): boolean | undefined {
  if (head.length < 0x40 || head.toString('latin1', 0, 2) !== 'MZ') return undefined;
  const pe = head.readUInt32LE(0x3c);
  if (pe + 24 + 2 > head.length || head.toString('latin1', pe, pe + 4) !== 'PE\0\0') return undefined;
  const magic = head.readUInt16LE(pe + 24);
  // the data directories follow 96 (PE32) or 112 (PE32+) bytes of the optional header; entry 4 is 8 bytes (address, size)
  const dirs = pe + 24 + (magic === 0x20b ? 112 : magic === 0x10b ? 96 : -1);
  if (dirs < pe + 24 || dirs + 5 * 8 > head.length) return undefined;
  return head.readUInt32LE(dirs + 4 * 8 + 4) > 0;
}

/** The facts, from the tree the capture staged. */
export async function secureBootFacts(root: string): Promise<SecureBootFacts> {
  const kernels: SecureBootFacts['kernels'] = [];
  for (const name of (await readdir(join(root, 'boot')).catch(() => [] as string[])).filter((n) => n.startsWith('vmlinuz-')).sort()) {
    if (!(await regularFile(root, `boot/${name}`))) continue;
    const fh = await open(join(root, 'boot', name), 'r');
    try {
      const head = Buffer.alloc(4096);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      kernels.push({ file: `/boot/${name}`, signed: peSigned(head.subarray(0, bytesRead)) ?? false });
    } finally {
      await fh.close();
    }
  }
  return { shim: await regularFile(root, SIGNED_SHIM), signedGrub: await regularFile(root, SIGNED_GRUB), grubInstall: await regularFile(root, GRUB_INSTALL), kernels };
}
