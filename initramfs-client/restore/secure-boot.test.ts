import { readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostFacts } from '../../images/meta.ts';
import { GRUB_INSTALL, peSigned, secureBootFacts, SIGNED_GRUB, SIGNED_SHIM } from '../../server/capture/secure-boot-facts.ts';
import { secureBootEnabled, secureBootRefusal } from './secure-boot.ts';

const base: HostFacts = { partitionTable: 'gpt', disks: [], filesystems: [], swap: [], bootMode: 'uefi', bootloader: 'grub', kernels: [], interfaces: [] };
const ready = { shim: true, signedGrub: true, grubInstall: true, kernels: [{ file: '/boot/vmlinuz-6.1.0-9-amd64', signed: false }, { file: '/boot/vmlinuz-6.1.0-10-amd64', signed: true }] };

describe('Secure Boot readiness of an image', () => {
  it('accepts an image with signed shim, signed GRUB and a signed newest kernel', () => {
    expect(secureBootRefusal({ ...base, secureBoot: ready })).toBeUndefined();
  });
  it('refuses, saying what to install, when a link of the chain is missing', () => {
    expect(secureBootRefusal({ ...base, secureBoot: { ...ready, shim: false } })).toMatch(/has no signed shim \(shim-signed\): install shim-signed/);
    expect(secureBootRefusal({ ...base, secureBoot: { ...ready, shim: false, signedGrub: false } })).toMatch(/signed shim \(shim-signed\) and no signed GRUB/);
    expect(secureBootRefusal({ ...base, secureBoot: { ...ready, grubInstall: false } })).toMatch(/has no grub-install \(grub2-common\)/);
    // 6.1.0-10 is newer than 6.1.0-9 (version order, not text order)
    expect(secureBootRefusal({ ...base, secureBoot: { ...ready, kernels: [{ file: '/boot/vmlinuz-6.1.0-10-amd64', signed: false }, { file: '/boot/vmlinuz-6.1.0-9-amd64', signed: true }] } })).toMatch(/kernel \/boot\/vmlinuz-6\.1\.0-10-amd64 is not signed/);
    expect(secureBootRefusal({ ...base, secureBoot: { ...ready, kernels: [] } })).toMatch(/no kernel/);
    expect(secureBootRefusal({ ...base, bootloader: 'systemd-boot', secureBoot: ready })).toMatch(/boots with systemd-boot/);
    expect(secureBootRefusal(base)).toMatch(/captured before imgsrv recorded/);
  });
  it('reads the firmware variable: attributes, then 1 for on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-'));
    try {
      const v = join(dir, 'SecureBoot');
      await writeFile(v, Buffer.from([6, 0, 0, 0, 1]));
      expect(await secureBootEnabled(v)).toBe(true);
      await writeFile(v, Buffer.from([6, 0, 0, 0, 0]));
      expect(await secureBootEnabled(v)).toBe(false);
      expect(await secureBootEnabled(join(dir, 'absent'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Secure Boot facts from the staged tree', () => {
  it('finds the signed loaders and grub-install as regular files, and reads real signatures', async () => {
    // the build host's Debian kernel is signed; shim-unsigned's shimx64.efi is not (both come with setup.sh's packages)
    const kernel = readdirSync('/boot').find((n) => n.startsWith('vmlinuz-'));
    expect(kernel, 'a Debian kernel in /boot (setup.sh installs linux-image-amd64)').toBeDefined();
    const root = await mkdtemp(join(tmpdir(), 'sb-tree-'));
    try {
      await mkdir(join(root, 'boot'));
      await copyFile(join('/boot', kernel!), join(root, 'boot/vmlinuz-6.1.0-10-amd64'));
      await copyFile('/usr/lib/shim/shimx64.efi', join(root, 'boot/vmlinuz-6.1.0-9-amd64'));
      await writeFile(join(root, 'boot/vmlinuz-old'), 'not a PE image');
      for (const f of [SIGNED_SHIM, GRUB_INSTALL]) {
        await mkdir(join(root, dirname(f)), { recursive: true });
        await writeFile(join(root, f), 'x');
      }
      // a link is not the file (it may point outside the tree)
      await mkdir(join(root, dirname(SIGNED_GRUB)), { recursive: true });
      await symlink('/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed', join(root, SIGNED_GRUB));
      expect(await secureBootFacts(root)).toEqual({
        shim: true, signedGrub: false, grubInstall: true,
        kernels: [{ file: '/boot/vmlinuz-6.1.0-10-amd64', signed: true }, { file: '/boot/vmlinuz-6.1.0-9-amd64', signed: false }, { file: '/boot/vmlinuz-old', signed: false }],
      });
      expect(peSigned(await readFile('/usr/lib/shim/shimx64.efi.signed'))).toBe(true);
      expect(peSigned(Buffer.from('MZ'))).toBeUndefined();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
