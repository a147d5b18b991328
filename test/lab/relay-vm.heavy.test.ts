/**
 * A real machine behind a relay (issue 26): a SeaBIOS + iPXE VM on the far
 * segment (198.18.1.0/24) network-boots from `imgsrv serve` on
 * 198.18.0.0/24 through a router running ISC dhcrelay. Its iPXE ROM and then
 * the netboot environment's udhcpc get addresses of the far subnet through
 * the relay; the iPXE script, kernel and initrd come over HTTP through the
 * router; the node registers ('booted') from its far address with its own
 * token. Then the same with OVMF's own PXE (no iPXE option ROM), which
 * loads ipxe.efi over TFTP through the router. One VM at a time: the lab
 * machine has two cores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepStaleLabs } from '../../lab/netns.ts';
import { provideNetboot, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';
import { RELAY_LAB, RelayLab } from '../../lab/relay-lab.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MAC = '52:54:00:00:1e:01';
const BOOT_TIMEOUT = 480_000;

interface NodeJson {
  mac: string;
  ip: string | null;
  firmware: string | null;
  phase: string;
}

describe('a VM behind dhcrelay netboots and registers', () => {
  let lab: RelayLab;
  let server: LabServer | undefined;
  let vm: Vm | undefined;
  let data: string;

  beforeAll(async () => {
    await sweepStaleLabs();
    data = mkdtempSync(join(tmpdir(), 'imgsrv-relay-vm-'));
    await provideNetboot(data);
    lab = await RelayLab.create();
  });
  afterAll(async () => {
    await vm?.stop();
    await server?.stop();
    await lab?.destroy();
    if (data) rmSync(data, { recursive: true, force: true });
  });

  it('SeaBIOS + iPXE on the far segment: far address, kernel and initrd over HTTP through the router, booted', async () => {
    const started = Date.now();
    server = await startLabServer(
      lab.server,
      [
        '--interface', 'eth0', '--dhcp', 'full', '--range', '198.18.0.100-198.18.0.150',
        '--subnet', `${RELAY_LAB.farSubnet},range=198.18.1.100-198.18.1.150,router=${RELAY_LAB.routerFar},dns=${RELAY_LAB.server}`,
        '--http-port', '8080',
      ],
      { data },
    );
    const relay = await lab.startRelay();
    vm = await startVm(lab.far, { name: 'rbios', firmware: 'bios', mac: MAC, netboot: true });
    const deadline = Date.now() + BOOT_TIMEOUT;
    let node: NodeJson | undefined;
    for (;;) {
      const nodes = JSON.parse(await server.cli(['nodes', 'ls', '--json'])) as NodeJson[];
      node = nodes.find((n) => n.mac === MAC && n.phase === 'booted');
      if (node) break;
      if (Date.now() > deadline) {
        throw new Error(
          `not booted in time: ${JSON.stringify(nodes)}\n--- serial tail:\n${vm.serial.split('\n').slice(-40).join('\n')}\n--- dhcrelay tail:\n${relay.output().slice(-2000)}\n--- server log tail:\n${server.log().split('\n').slice(-30).join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 3000));
    }
    console.log(`relayed VM booted and registered after ${Math.round((Date.now() - started) / 1000)} s`);
    expect(node).toMatchObject({ firmware: 'bios', phase: 'booted' });
    expect(node.ip).toMatch(/^198\.18\.1\.1[0-4]\d$/);
    // Every DHCP answer to it went through the relay (to giaddr on the far segment), from the far subnet.
    const acks = server.log().split('\n').filter((l) => l.includes('"msg":"DHCPACK"') && l.includes(`"mac":"${MAC}"`));
    expect(acks.length).toBeGreaterThanOrEqual(2); // the iPXE ROM's and the netboot environment's
    for (const a of acks) expect(a).toContain(`"to":"${RELAY_LAB.routerFar}:67"`);
    // The kernel and initrd came over HTTP from the far address (the boot script with its token too).
    const initrd = server.log().split('\n').find((l) => l.includes('/boot/files/initrd.img') && l.includes('"remoteAddress"'));
    expect(initrd, 'the initrd request in the server log').toBeDefined();
    expect(initrd).toContain(`"remoteAddress":"${node.ip}"`);
    expect(server.log()).not.toMatch(/boot script refused/);
    await vm.stop();
    vm = undefined;
  });

  it('OVMF\'s own PXE (no iPXE ROM) on the far segment: ipxe.efi over TFTP from next-server through the router, booted', async () => {
    const started = Date.now();
    const mac = '52:54:00:00:1e:02';
    vm = await startVm(lab.far, { name: 'ruefi', firmware: 'uefi', mac, netboot: true, nicRom: '' });
    const deadline = Date.now() + BOOT_TIMEOUT;
    let node: NodeJson | undefined;
    for (;;) {
      const nodes = JSON.parse(await server!.cli(['nodes', 'ls', '--json'])) as NodeJson[];
      node = nodes.find((n) => n.mac === mac && n.phase === 'booted');
      if (node) break;
      if (Date.now() > deadline) throw new Error(`not booted in time: ${JSON.stringify(nodes)}\n--- serial tail:\n${vm.serial.split('\n').slice(-40).join('\n')}\n--- server log tail:\n${server!.log().split('\n').slice(-30).join('\n')}`);
      await new Promise((r) => setTimeout(r, 3000));
    }
    console.log(`relayed OVMF VM booted and registered after ${Math.round((Date.now() - started) / 1000)} s`);
    expect(node).toMatchObject({ firmware: 'uefi', phase: 'booted' });
    expect(node.ip).toMatch(/^198\.18\.1\.1[0-4]\d$/);
    // EDK2's PXE took the relayed offer and loaded ipxe.efi from next-server (the server) over TFTP.
    expect(vm.serial).toMatch(/iPXE/);
    expect(server!.log()).toMatch(/ipxe\.efi/);
  });
});
