/**
 * `localboot.efi`: what an installed UEFI node runs instead of the netboot
 * environment. iPXE's `exit` hands a UEFI machine back to its boot manager,
 * which then walks the rest of BootOrder (PXE over IPv6, HTTP boot…, slow
 * timeouts each) or, on a success status, stops at its setup screen; the
 * NVRAM entries it would need are not ours to rely on either (firmware such
 * as OVMF rewrites BootOrder at every boot). So iPXE chains this small grub
 * image instead: it finds the EFI system partition that holds the fallback
 * loader our restore writes (EFI/BOOT/BOOTX64.EFI) and chainloads it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImgsrvError } from '../../core/errors.ts';

const execFileP = promisify(execFile);

/** Its file name beside vmlinuz and initrd.img. */
export const LOCALBOOT_EFI = 'localboot.efi';

/** grub modules the embedded config needs (partition tables, FAT, search, chainloader). */
const MODULES = ['part_gpt', 'part_msdos', 'fat', 'search', 'search_fs_file', 'chain', 'echo', 'sleep', 'test', 'reboot'];

/** The embedded grub script: boot the first local ESP with a fallback loader, else say so and give the machine back. */
export const LOCALBOOT_CFG = [
  // No `normal` module here (it would be fetched from the network prefix): the rescue parser has no if/fi,
  // so the script is straight-line: on success `boot` never returns; on failure the lines after it explain.
  'echo "imgsrv: installed node, booting the local disk"',
  'search --no-floppy --file --set=root /EFI/BOOT/BOOTX64.EFI',
  'echo "imgsrv: chainloading ($root)/EFI/BOOT/BOOTX64.EFI"',
  'chainloader /EFI/BOOT/BOOTX64.EFI',
  'boot',
  'echo "imgsrv: no local disk has a bootable EFI/BOOT/BOOTX64.EFI; re-image this node (imgsrv nodes reimage)"',
  'sleep 30',
  'exit',
  '',
].join('\n');

/** Build localboot.efi with the host's grub-mkimage (grub-efi-amd64-bin); returns its bytes. */
export async function buildLocalBootEfi(grubDir = '/usr/lib/grub/x86_64-efi'): Promise<Buffer> {
  const tmp = await mkdtemp(join(tmpdir(), 'imgsrv-localboot-'));
  try {
    const cfg = join(tmp, 'localboot.cfg');
    const out = join(tmp, 'localboot.efi');
    await writeFile(cfg, LOCALBOOT_CFG);
    await execFileP('grub-mkimage', ['-d', grubDir, '-O', 'x86_64-efi', '-p', '/EFI/BOOT', '-c', cfg, '-o', out, ...MODULES]).catch((err: unknown) => {
      throw new ImgsrvError('NETBOOT_BUILD', `grub-mkimage failed: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, {
        hint: 'install grub-efi-amd64-bin (./setup.sh)',
        cause: err,
      });
    });
    return await readFile(out);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
