/**
 * Secure Boot end to end (issue 26): the Debian sample (with Debian's
 * shim-signed and grub-efi-amd64-signed, as its installer adds them on
 * amd64) captured over ssh, restored onto a blank machine with Secure Boot
 * on (OVMF's secboot build, Microsoft's keys enrolled, SMM, no iPXE ROM):
 * the firmware's own PXE loads the signed shim, Debian's signed network
 * GRUB and the signed netboot kernel (boot.uefiLoader: shimx64.efi); the
 * restore sees Secure Boot on and has the image's grub-install put the
 * image's own signed chain on the ESP (--uefi-secure-boot); the node
 * reboots, the firmware's PXE hands it to GRUB, which sends it to its disk,
 * and the restored Debian boots through its own shim, GRUB and kernel with
 * Secure Boot still on, answers ssh and its application, and reports done.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debianSsh, DEBIAN_LOGIN, startDebianDeployLab, waitForDone, type DebianDeployLab } from '../../lab/debian-lab.ts';
import { labAvailable } from '../../lab/netns.ts';
import { sampleAppResponse } from '../../lab/sample-os.ts';

const run = (await labAvailable()) && existsSync('/usr/bin/qemu-system-x86_64') && existsSync('/usr/sbin/debootstrap') && existsSync('/usr/share/OVMF/OVMF_CODE_4M.secboot.fd') ? describe : describe.skip;

const MAC = '52:54:00:de:b1:61';
const HOSTNAME = 'deb-sb';
const NODE_TIMEOUT = 1_800_000;

run('debian under Secure Boot: netbooted through shim, restored with its own signed chain, booted with Secure Boot on', () => {
  let d: DebianDeployLab;
  let work: string;
  const t0 = Date.now();
  const figures: Record<string, number | string | boolean> = {};

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'imgsrv-debian-sb-'));
    d = await startDebianDeployLab({ work, promptTimeout: 600, signing: true, nodeMemoryMiB: 1536, uefiLoader: 'shimx64.efi', say: (s) => process.stderr.write(`${s}\n`) });
    Object.assign(figures, { sampleBuiltNow: d.sample.built, captureSeconds: d.captureSeconds, imageCompressedMB: +(d.image.compressedSize / 1e6).toFixed(1), setupSeconds: (Date.now() - t0) / 1000 });
    await d.server.cli(['nodes', 'assign', MAC, HOSTNAME]);
  }, 2_400_000);

  afterAll(async () => {
    figures.totalSeconds = (Date.now() - t0) / 1000;
    process.stderr.write(`debian-secure-boot figures: ${JSON.stringify(figures)}\n`);
    await d?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('records the signed chain at capture', async () => {
    const meta = JSON.parse(await d.server.cli(['images', 'show', 'debian@1', '--json'])) as { meta: { host: { secureBoot?: { shim: boolean; signedGrub: boolean; grubInstall: boolean; kernels: Array<{ signed: boolean }> } } } };
    expect(meta.meta.host.secureBoot).toMatchObject({ shim: true, signedGrub: true, grubInstall: true });
    expect(meta.meta.host.secureBoot!.kernels.length).toBeGreaterThan(0);
    expect(meta.meta.host.secureBoot!.kernels.every((k) => k.signed)).toBe(true);
  });

  it('restores and boots the image with Secure Boot on', async () => {
    const start = Date.now();
    const vm = await d.blankVm({ name: 'debsb', firmware: 'uefi', secureBoot: true, nicRom: '', mac: MAC, diskSize: '4G', diskBus: 'nvme' });
    const diagnose = async (err: unknown): Promise<never> => {
      const nodes = await d.server.cli(['nodes', 'ls', '--json']).catch(() => '?');
      throw new Error(`${(err as Error).message}\n--- nodes: ${nodes}\n--- node:\n${vm.serial.split('\n').slice(-60).join('\n')}\n--- server:\n${d.server.log().split('\n').slice(-30).join('\n')}`);
    };
    await vm.waitFor(/Secure Boot is on: the image boots through its own shim and signed GRUB/, NODE_TIMEOUT).catch(diagnose);
    const rebooted = await vm.waitFor(/imgsrv: rebooting into the restored system/, NODE_TIMEOUT).catch(diagnose);
    figures.restoreSeconds = (Date.now() - start) / 1000;
    const after = (rebooted.index ?? 0) + rebooted[0].length;
    // the netboot GRUB hands an installed node back to the firmware, which boots the disk
    await vm.waitFor(/imgsrv: booting from the local disk/, 600_000, after).catch(diagnose);
    const login = await vm.waitFor(DEBIAN_LOGIN, NODE_TIMEOUT, after).catch(diagnose);
    figures.loginSeconds = (Date.now() - start) / 1000;
    expect(login[1]).toBe(HOSTNAME);
    const node = await waitForDone(d, MAC, 600_000).catch(diagnose);
    figures.doneSeconds = (Date.now() - start) / 1000;
    expect(node).toMatchObject({ hostname: HOSTNAME, phase: 'done', install: 'installed', error: null });
    const ip = node.ip!;
    expect(await d.srv.exec('curl', ['-sS', '--max-time', '20', `http://${ip}/`])).toMatch(sampleAppResponse(HOSTNAME));
    const out = await debianSsh(d.srv, d.key, ip, [
      'echo "sbvar=$(od -An -tu1 -j4 -N1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c | tr -d " ")"',
      'echo "lockdown=$(cat /sys/kernel/security/lockdown 2>/dev/null)"',
      'echo "dmesg=$(dmesg | grep -m1 -o "Secure boot enabled")"',
      'echo "shim=$(cmp -s /boot/efi/EFI/BOOT/BOOTX64.EFI /usr/lib/shim/shimx64.efi.signed && echo same)"',
      'echo "grub=$(cmp -s /boot/efi/EFI/BOOT/grubx64.efi /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed && echo same)"',
      'echo "state=$(systemctl is-system-running)"',
      'echo "failed=$(systemctl --failed --no-legend --plain | cut -d" " -f1 | tr "\\n" " ")"',
    ].join('; '));
    const f = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    process.stderr.write(`debian-secure-boot node facts: ${JSON.stringify(f)}\n`);
    expect(f.sbvar).toBe('1');
    expect(f.dmesg).toBe('Secure boot enabled');
    expect(f.lockdown).toMatch(/\[(integrity|confidentiality)\]/);
    // the image's own signed chain at the fallback path: its shim, its signed GRUB
    expect(f.shim).toBe('same');
    expect(f.grub).toBe('same');
    expect(`${f.state} ${f.failed}`.trim()).toBe('running');
  }, 2 * NODE_TIMEOUT);
});
