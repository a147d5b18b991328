/**
 * Native UEFI HTTP Boot (issue 26): OVMF's own HTTP Boot client (HttpBootDxe,
 * no iPXE option ROM on the NIC, its PXE entries switched off as on a machine
 * set up to boot over HTTP) gets the loader's URL from imgsrv, loads iPXE
 * over HTTP, and the node registers from the netboot environment, with the
 * server's TFTP service off: nothing travels over TFTP. Once with imgsrv as
 * the DHCP server (full mode), once as proxyDHCP beside dnsmasq, which hands
 * out the address while imgsrv adds only the boot URI. One VM at a time: the
 * lab machine has two cores.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, stopChild, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { provideNetboot, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';
import type { ChildProcess } from 'node:child_process';

const ok = await labAvailable();
const BOOT_TIMEOUT = 480_000;
/** OVMF's fw_cfg switches for its PXE boot entries (OvmfPkg PlatformPei): off, so HTTP Boot is the only network boot left. */
const HTTP_ONLY = { 'opt/org.tianocore/IPv4PXESupport': 'n', 'opt/org.tianocore/IPv6PXESupport': 'n' };

interface NodeJson {
  mac: string;
  ip: string | null;
  firmware: string | null;
  phase: string;
}

describe.skipIf(!ok)('UEFI HTTP Boot: OVMF loads iPXE over HTTP, TFTP off', () => {
  let lab: Lab;
  let srv: LabHost;
  let data: string;
  let server: LabServer | undefined;
  let vm: Vm | undefined;
  let dnsmasq: ChildProcess | undefined;
  let dnsmasqLog = '';

  beforeAll(async () => {
    await sweepStaleLabs();
    data = mkdtempSync(join(tmpdir(), 'imgsrv-http-boot-'));
    await provideNetboot(data);
    writeFileSync(join(data, 'config.json'), JSON.stringify({ tftp: { enabled: false } }));
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
  });
  afterEach(async () => {
    await vm?.stop();
    vm = undefined;
    await server?.stop();
    server = undefined;
    if (dnsmasq) await stopChild(dnsmasq);
    dnsmasq = undefined;
  });
  afterAll(async () => {
    await lab?.destroy();
    if (data) rmSync(data, { recursive: true, force: true });
  });

  /** Boot a blank HTTP-only OVMF VM and wait until the node registers; returns its record and the seconds it took. */
  async function bootAndRegister(name: string, mac: string): Promise<{ node: NodeJson; seconds: number }> {
    const t0 = Date.now();
    vm = await startVm(lab, { name, firmware: 'uefi', mac, netboot: true, nicRom: '', fwCfg: HTTP_ONLY });
    const deadline = t0 + BOOT_TIMEOUT;
    for (;;) {
      const nodes = JSON.parse(await server!.cli(['nodes', 'ls', '--json'])) as NodeJson[];
      const node = nodes.find((n) => n.mac === mac && n.phase === 'booted');
      if (node) return { node, seconds: Math.round((Date.now() - t0) / 1000) };
      if (Date.now() > deadline) {
        throw new Error(`not booted in time: ${JSON.stringify(nodes)}\n--- serial tail:\n${vm.serial.split('\n').slice(-30).join('\n')}\n--- server log tail:\n${server!.log().split('\n').slice(-30).join('\n')}${dnsmasqLog ? `\n--- dnsmasq:\n${dnsmasqLog.slice(-1500)}` : ''}`);
      }
      await new Promise((r) => setTimeout(r, 3000));
    }
  }

  /** What the server's log says: no TFTP service, and the loader fetched over HTTP. */
  function expectHttpOnly(log: string): void {
    expect(log).not.toContain('TFTP server listening');
    expect(log).not.toMatch(/"msg":"(tftp|TFTP) (read|transfer)/);
    expect(log).toMatch(/"url":"\/boot\/loaders\/ipxe\.efi"/);
  }

  it('full mode: an address and the loader URL from imgsrv; iPXE, kernel and initrd over HTTP; registered', async () => {
    const mac = '52:54:00:00:4b:01';
    server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'full', '--range', '198.18.0.100-198.18.0.150', '--http-port', '8080', '--config', join(data, 'config.json')], { data });
    const { node, seconds } = await bootAndRegister('hbfull', mac);
    console.log(`HTTP Boot (full mode) registered after ${seconds} s`);
    expect(node).toMatchObject({ firmware: 'uefi', phase: 'booted' });
    expect(node.ip).toMatch(/^198\.18\.0\.1[0-4]\d$/);
    // The firmware saw the title it gave: OVMF prints this line for its HTTP Boot entry.
    expect(vm!.serial).toMatch(/Start HTTP Boot over IPv4/);
    expect(vm!.serial).not.toMatch(/Start PXE over IPv4/);
    const log = server.log();
    expectHttpOnly(log);
    // The firmware's own DHCP exchange was answered with the loader's URL (and "HTTPClient", without which OVMF ignores the offer).
    expect(log.split('\n').some((l) => l.includes(`"mac":"${mac}"`) && l.includes('"file":"http://198.18.0.1:8080/boot/loaders/ipxe.efi"'))).toBe(true);
  });

  it('proxy mode beside dnsmasq: the address from dnsmasq, only the boot URI from imgsrv; registered', async () => {
    const mac = '52:54:00:00:4b:02';
    const dhcp = await lab.addHost('dnsmasq', '198.18.0.3/24');
    dnsmasqLog = '';
    // "The existing DHCP server": addresses only, no boot options, no DNS, nothing on disk.
    dnsmasq = dhcp.spawn('dnsmasq', [
      '--no-daemon', '--port=0', '--conf-file=/dev/null', '--leasefile-ro', '--bind-interfaces', '--interface=eth0',
      '--pid-file=', '--dhcp-range=198.18.0.160,198.18.0.199,255.255.255.0,10m', '--log-dhcp', '--log-facility=-',
    ]);
    dnsmasq.stderr?.on('data', (d: Buffer) => (dnsmasqLog += d.toString()));
    dnsmasq.stdout?.on('data', (d: Buffer) => (dnsmasqLog += d.toString()));
    server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'proxy', '--http-port', '8080', '--config', join(data, 'config.json')], { data });
    const { node, seconds } = await bootAndRegister('hbproxy', mac);
    console.log(`HTTP Boot (proxy mode beside dnsmasq) registered after ${seconds} s`);
    expect(node).toMatchObject({ firmware: 'uefi', phase: 'booted' });
    expect(node.ip).toMatch(/^198\.18\.0\.1[6-9]\d$/);
    expectHttpOnly(server.log());
    expect(dnsmasqLog).toMatch(new RegExp(`DHCPACK\\(eth0\\) 198\\.18\\.0\\.1[6-9]\\d ${mac}`));
  });
});
