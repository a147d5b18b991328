/**
 * UEFI Secure Boot (issue 26): a machine whose firmware has Secure Boot on
 * with Microsoft's keys enrolled (OVMF's secboot build, SMM, the .ms
 * variable store) and no iPXE option ROM on its NIC, so OVMF's own PXE loads
 * the first loader as a real machine's firmware does. With
 * `boot.uefiLoader: shimx64.efi` it loads the Microsoft-signed shim, which
 * loads Debian's signed network GRUB, which loads the netboot kernel
 * (Debian's, signed; shim checks it) and initrd over TFTP: the node boots
 * into the netboot environment with Secure Boot still on (the kernel says
 * so, and runs locked down) and registers. The same machine handed iPXE (the
 * default) is refused by its firmware: the test's Secure Boot is real. And
 * an image that can't boot under Secure Boot (the busybox sample: no shim,
 * no signed GRUB) is refused on such a node before anything is written.
 * (debian-secure-boot.heavy.test.ts restores one that can, and boots it.)
 */
import { mkdtempSync, openSync, readSync, closeSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { provideNetboot, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';
import { startDeployLab, type DeployLab } from '../../lab/deploy-lab.ts';

const ok = await labAvailable();
const BOOT_TIMEOUT = 600_000;

interface NodeJson {
  mac: string;
  ip: string | null;
  firmware: string | null;
  phase: string;
}

describe.skipIf(!ok)('UEFI Secure Boot: shim → signed GRUB → signed kernel, registered', () => {
  let lab: Lab;
  let srv: LabHost;
  let data: string;
  let server: LabServer | undefined;
  let vm: Vm | undefined;

  beforeAll(async () => {
    await sweepStaleLabs();
    data = mkdtempSync(join(tmpdir(), 'imgsrv-secure-boot-'));
    await provideNetboot(data);
    writeFileSync(join(data, 'shim.json'), JSON.stringify({ boot: { uefiLoader: 'shimx64.efi' } }));
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
  });
  afterEach(async () => {
    await vm?.stop();
    vm = undefined;
    await server?.stop();
    server = undefined;
  });
  afterAll(async () => {
    await lab?.destroy();
    if (data) rmSync(data, { recursive: true, force: true });
  });

  const serverArgs = ['--interface', 'eth0', '--dhcp', 'full', '--range', '198.18.0.100-198.18.0.150', '--http-port', '8080'];

  it('boots the signed chain with Secure Boot on, the kernel locked down, and registers', async () => {
    const mac = '52:54:00:00:5b:01';
    server = await startLabServer(srv, [...serverArgs, '--config', join(data, 'shim.json')], { data });
    const t0 = Date.now();
    vm = await startVm(lab, { name: 'sbshim', firmware: 'uefi', secureBoot: true, mac, netboot: true, nicRom: '' });
    const deadline = t0 + BOOT_TIMEOUT;
    let node: NodeJson | undefined;
    for (;;) {
      const nodes = JSON.parse(await server.cli(['nodes', 'ls', '--json'])) as NodeJson[];
      node = nodes.find((n) => n.mac === mac && n.phase === 'booted');
      if (node) break;
      if (Date.now() > deadline) {
        throw new Error(`not booted in time: ${JSON.stringify(nodes)}\n--- serial tail:\n${vm.serial.split('\n').slice(-40).join('\n')}\n--- server log tail:\n${server.log().split('\n').slice(-30).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 3000));
    }
    console.log(`Secure Boot: shim → GRUB → kernel registered after ${Math.round((Date.now() - t0) / 1000)} s`);
    expect(node).toMatchObject({ firmware: 'uefi', phase: 'booted' });
    const serial = vm.serial;
    // OVMF's own PXE, no iPXE anywhere
    expect(serial).toMatch(/Start PXE over IPv4/);
    expect(serial).not.toMatch(/iPXE/);
    // GRUB ran the node's own config, and the kernel found Secure Boot on and locked itself down
    expect(serial).toContain('imgsrv: loading the netboot environment (signed GRUB)');
    expect(serial).toMatch(/[Ss]ecure boot enabled/);
    expect(serial).toMatch(/Kernel is locked down from EFI Secure Boot/);
    // the loaders and the kernel went over TFTP, as the firmware asked
    const log = server.log();
    for (const f of ['shimx64.efi', 'grubx64.efi', 'grub/grub.cfg', `grub/imgsrv-${mac}.cfg`, 'imgsrv/vmlinuz', 'imgsrv/initrd.img']) {
      expect(log, f).toMatch(new RegExp(`"file":"/?${f.replace(/\./g, '\\.')}".*"msg":"transfer complete"`));
    }
  });

  it('is real Secure Boot: the same machine handed iPXE (unsigned) is refused by its firmware', async () => {
    const mac = '52:54:00:00:5b:02';
    server = await startLabServer(srv, serverArgs, { data });
    vm = await startVm(lab, { name: 'sbipxe', firmware: 'uefi', secureBoot: true, mac, netboot: true, nicRom: '' });
    // OVMF's boot manager: "failed to load Boot0001 "UEFI PXE v4 (MAC:…)" from …: Access Denied"
    await vm.waitFor(/Access Denied/, BOOT_TIMEOUT);
    expect(server.log()).toContain('"file":"ipxe.efi"');
    const nodes = JSON.parse(await server.cli(['nodes', 'ls', '--json'])) as NodeJson[];
    expect(nodes.find((n) => n.mac === mac)?.phase ?? 'none').not.toBe('booted');
  });
});

describe.skipIf(!ok)('UEFI Secure Boot: an image without a signed chain is refused before writing', () => {
  let d: DeployLab | undefined;
  let work: string;
  beforeAll(async () => {
    await sweepStaleLabs();
    work = mkdtempSync(join(tmpdir(), 'imgsrv-secure-boot-deploy-'));
    d = await startDeployLab({ work, promptTimeout: 5, uefiLoader: 'shimx64.efi' });
  }, 600_000);
  afterAll(async () => {
    await d?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the busybox sample (no shim, no signed GRUB) fails on the node with what to install, its disk untouched', async () => {
    const mac = '52:54:00:00:5b:03';
    const disk = join(work, 'sbrefuse.raw');
    // blankVm makes the sparse disk at <work>/<name>.raw
    const vm = await d!.blankVm({ name: 'sbrefuse', firmware: 'uefi', secureBoot: true, nicRom: '', mac, diskSize: '1G', diskBus: 'virtio' });
    const deadline = Date.now() + BOOT_TIMEOUT;
    let node: (NodeJson & { error: string | null }) | undefined;
    for (;;) {
      node = (await d!.nodes()).find((n) => n.mac === mac) as typeof node;
      if (node?.phase === 'failed') break;
      if (Date.now() > deadline) throw new Error(`no refusal in time: ${JSON.stringify(node)}\n--- serial tail:\n${vm.serial.split('\n').slice(-40).join('\n')}`);
      await new Promise((r) => setTimeout(r, 3000));
    }
    expect(node.error).toMatch(/Secure Boot node: the image has no signed shim \(shim-signed\) and no signed GRUB \(grub-efi-amd64-signed\)/);
    expect(vm.serial).toMatch(/refusing sample@1 on this Secure Boot node/);
    await vm.stop();
    // not one byte written: the sparse disk has no block allocated and reads as zeros
    expect(statSync(disk).blocks).toBe(0);
    const fd = openSync(disk, 'r');
    try {
      const buf = Buffer.alloc(1024 * 1024);
      readSync(fd, buf, 0, buf.length, 0);
      expect(buf.every((b) => b === 0)).toBe(true);
    } finally {
      closeSync(fd);
    }
  });
});
