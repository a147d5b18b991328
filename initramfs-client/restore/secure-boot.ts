/**
 * Secure Boot on the node. The netboot environment reads the firmware's
 * SecureBoot variable; with Secure Boot on, the restored system must boot
 * through its own signed chain (shim → signed GRUB → signed kernel), which
 * the image's grub-install puts on the ESP with --uefi-secure-boot. An
 * image that lacks any part of that chain is refused before anything is
 * written: restoring it would leave a disk the firmware won't boot.
 */
import { readFile } from 'node:fs/promises';
import type { HostFacts } from '../../images/meta.ts';
import { compareVersions } from './boot-config.ts';

/** The SecureBoot variable of the EFI global-variable GUID (UEFI 2.x §3.3). */
export const SECURE_BOOT_VAR = '/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c';

/** Whether the firmware booted with Secure Boot on: the variable's data byte (after 4 attribute bytes) is 1. */
export async function secureBootEnabled(file = SECURE_BOOT_VAR): Promise<boolean> {
  const buf = await readFile(file).catch(() => undefined);
  return buf !== undefined && buf.length >= 5 && buf[4] === 1;
}

/** Why this image can't boot under Secure Boot (one line, with what to do), or undefined when it can. */
export function secureBootRefusal(facts: HostFacts): string | undefined {
  const install = 'install shim-signed and grub-efi-amd64-signed (and a signed kernel, such as Debian\'s linux-image-amd64) on the sample and capture it again, or turn Secure Boot off on this node';
  const sb = facts.secureBoot;
  if (!sb) return `the image was captured before imgsrv recorded its Secure Boot files: capture it again (it needs shim-signed and grub-efi-amd64-signed)`;
  const missing = [...(sb.shim ? [] : ['signed shim (shim-signed)']), ...(sb.signedGrub ? [] : ['signed GRUB (grub-efi-amd64-signed)']), ...(sb.grubInstall ? [] : ['grub-install (grub2-common)'])];
  if (missing.length) return `the image has no ${missing.join(' and no ')}: ${install}`;
  if (facts.bootloader === 'systemd-boot' || facts.bootloader === 'extlinux') return `the image boots with ${facts.bootloader}, and imgsrv installs a Secure Boot chain only through the image's own GRUB: ${install}`;
  if (sb.kernels.length === 0) return `the image has no kernel in /boot: ${install}`;
  // update-grub boots the newest kernel by default; it must be signed (older unsigned ones only fail when picked)
  const newest = [...sb.kernels].sort((a, b) => compareVersions(b.file.replace(/^\/boot\/vmlinuz-/, ''), a.file.replace(/^\/boot\/vmlinuz-/, '')))[0]!;
  if (!newest.signed) return `the image's kernel ${newest.file} is not signed: ${install}`;
  return undefined;
}
