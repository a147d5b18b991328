/**
 * End to end: blank QEMU VMs with real firmware (SeaBIOS + iPXE ROM, OVMF)
 * network-boot from `imgsrv serve`, load kernel and initrd, and register;
 * the CLI then lists them. Two set-ups: proxyDHCP beside dnsmasq as "the
 * existing DHCP server", and TFTP-only with pxelinux. Full DHCP over HTTP
 * with both firmwares is deploy.lab.test.ts (whose nodes go on to restore),
 * UEFI HTTP Boot http-boot.lab.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Lab, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { provideNetboot, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';

interface NodeJson {
  mac: string;
  ip: string | null;
  firmware: string | null;
  hostname: string | null;
  phase: string;
}

const BIOS_MAC = '52:54:00:00:b1:05';
const UEFI_MAC = '52:54:00:00:ef:01';
// A bound for a failure, not a speed: a TFTP-only boot moves the whole initramfs over TFTP, which took over
// 240 s under TCG on a machine shared with four other VMs.
const BOOT_TIMEOUT = 480_000;

/** Poll `imgsrv nodes ls --json` until every MAC has reached phase booted. */
async function waitForNodes(server: LabServer, macs: string[], vms: Vm[], timeoutMs = BOOT_TIMEOUT): Promise<NodeJson[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = JSON.parse(await server.cli(['nodes', 'ls', '--json'])) as NodeJson[];
    const booted = nodes.filter((n) => macs.includes(n.mac) && n.phase === 'booted');
    if (booted.length === macs.length) return booted;
    if (Date.now() > deadline) {
      const consoles = vms.map((v) => `--- serial tail:\n${v.serial.split('\n').slice(-30).join('\n')}`).join('\n');
      throw new Error(`nodes not booted in time: ${JSON.stringify(nodes)}\n${consoles}\n--- server log tail:\n${server.log().split('\n').slice(-30).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

describe('network boot with real firmware', () => {
  let lab: Lab;
  let srv: LabHost;
  let server: LabServer | undefined;
  let data: string;
  const vms: Vm[] = [];
  /** Other temp dirs of the test, removed with the data dir. */
  const scratch: string[] = [];

  beforeEach(async () => {
    await sweepStaleLabs();
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
    data = mkdtempSync(join(tmpdir(), 'imgsrv-netboot-'));
    await provideNetboot(data);
  });
  afterEach(async () => {
    await Promise.all(vms.splice(0).map((v) => v.stop()));
    await server?.stop();
    server = undefined;
    await lab.destroy();
    for (const dir of [data, ...scratch.splice(0)]) rmSync(dir, { recursive: true, force: true });
  });

  it('proxyDHCP beside dnsmasq: dnsmasq gives the addresses, imgsrv the boot files (OVMF\'s own PXE and SeaBIOS+iPXE)', async () => {
    // "The existing DHCP server": addresses only, no PXE options, in its own namespace.
    const dhcp = await lab.addHost('dhcp', '198.18.0.2/24');
    const dnsmasqDir = mkdtempSync(join(tmpdir(), 'imgsrv-dnsmasq-'));
    scratch.push(dnsmasqDir);
    writeFileSync(join(dnsmasqDir, 'leases'), '');
    dhcp.spawn('dnsmasq', [
      '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces',
      '--dhcp-range=198.18.0.160,198.18.0.199,255.255.255.0,1h', `--dhcp-leasefile=${join(dnsmasqDir, 'leases')}`,
      '--dhcp-authoritative', '--log-dhcp',
    ]);
    server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'proxy', '--http-port', '8080'], { data });
    // No iPXE option ROM on the UEFI VM: EDK2's own PXE client (the picky one) must accept our proxy offer.
    const uefi = await startVm(lab, { name: 'uefi', firmware: 'uefi', mac: UEFI_MAC, netboot: true, nicRom: '' });
    vms.push(uefi);
    vms.push(await startVm(lab, { name: 'bios', firmware: 'bios', mac: BIOS_MAC, netboot: true }));
    const nodes = await waitForNodes(server, [BIOS_MAC, UEFI_MAC], vms);
    for (const n of nodes) expect(n.ip, 'address from dnsmasq').toMatch(/^198\.18\.0\.1[6-9]\d$/);
    // EDK2 loaded ipxe.efi from us over TFTP: it was firmware PXE, not an iPXE ROM.
    expect(uefi.serial).toMatch(/iPXE/);
    expect(server.log()).toMatch(/ipxe\.efi/);
    expect(nodes.find((n) => n.mac === UEFI_MAC)?.firmware).toBe('uefi');
  });

  it('TFTP only: pxelinux loads kernel and initrd over TFTP', async () => {
    server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'full', '--range', '198.18.0.100-198.18.0.150', '--http-port', '8080', '--boot', 'tftp'], { data });
    const vm = await startVm(lab, { name: 'pxel', firmware: 'bios', mac: BIOS_MAC, netboot: true });
    vms.push(vm);
    await vm.waitFor(/PXELINUX/, BOOT_TIMEOUT);
    const [node] = await waitForNodes(server, [BIOS_MAC], vms);
    expect(node).toMatchObject({ firmware: 'bios', phase: 'booted' });
    const events = JSON.parse(await server.cli(['nodes', 'show', BIOS_MAC, '--json'])) as NodeJson;
    expect(events.mac).toBe(BIOS_MAC);
    expect(server.log()).not.toMatch(/"GET \/boot\/files\//);
  });
});
