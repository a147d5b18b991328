/**
 * The full proof of one-click re-image with a real BMC protocol: a blank
 * QEMU VM whose power and one-time boot device belong to OpenIPMI's
 * ipmi_sim (QEMU attached to it with `ipmi-bmc-extern`). `imgsrv nodes
 * reimage --now` powers it on through IPMI with a one-time PXE boot; it
 * network-boots (SeaBIOS + iPXE) and registers; the CLI confirms. Without
 * the override the VM boots its blank disk and never reports.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { IMGSRV, provideNetboot, runCli, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { startIpmiSim, type SimBmc } from '../../lab/ipmi-sim.ts';
import { qemuArgs } from '../../lab/qemu.ts';

const MAC = '52:54:00:b5:c0:02';
const USER = 'imgsrv-ops';
const PASSWORD = 'Lab-Vm-Bmc-Pw-19';
const BMC_ADDRESS = '198.18.0.50';
const lab_ok = await labAvailable();

describe.skipIf(!lab_ok)('reimage --now powers a blank VM into a network boot through ipmi_sim', () => {
  let lab: Lab;
  let srv: LabHost;
  let bmc: SimBmc;
  let server: LabServer;
  let data: string;
  let scratch: string;

  beforeAll(async () => {
    await sweepStaleLabs();
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
    data = mkdtempSync(join(tmpdir(), 'imgsrv-bmc-vm-'));
    scratch = mkdtempSync(join(tmpdir(), 'imgsrv-bmc-vm-disk-'));
    await provideNetboot(data);
    server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'full', '--range', '198.18.0.100-198.18.0.150', '--http-port', '8080'], { data });
    // The BMC sits beside the VM's tap in the switch namespace (QEMU must reach the bridge), on an address of the bridge.
    await lab.switch.exec('ip', ['addr', 'add', `${BMC_ADDRESS}/24`, 'dev', 'br0']);
    const tap = await lab.addTap('tbmcvm');
    const disk = join(scratch, 'blank.raw');
    writeFileSync(disk, '');
    truncateSync(disk, 64 << 20); // blank: without the override, SeaBIOS finds nothing to boot
    bmc = await startIpmiSim(lab.switch, {
      user: USER,
      password: PASSWORD,
      address: BMC_ADDRESS,
      vm: { argv: (boot) => ['qemu-system-x86_64', ...qemuArgs({ name: 'bmcvm', firmware: 'bios', mac: MAC, netboot: boot === 'pxe', disk }, tap, undefined)] },
    });
  }, 600_000);
  afterAll(async () => {
    await server?.stop();
    await bmc?.stop();
    await lab?.destroy();
    for (const d of [data, scratch]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('sets the BMC, finds the VM off, re-images it now, and powers it off again', async () => {
    const set = await new Promise<number>((resolve) => {
      const c = spawn('ip', ['netns', 'exec', srv.ns, IMGSRV, '--data', data, 'nodes', 'bmc', 'set', MAC, '--address', BMC_ADDRESS, '--user', USER, '--password-stdin'], { stdio: ['pipe', 'ignore', 'inherit'] });
      c.once('close', (code) => resolve(code ?? 1));
      c.stdin.end(`${PASSWORD}\n`);
    });
    expect(set).toBe(0);
    expect(JSON.parse((await runCli(srv, data, ['nodes', 'power', 'status', MAC, '--json'])).stdout)[0]).toMatchObject({ state: 'off' });

    const t0 = Date.now();
    const r = await runCli(srv, data, ['nodes', 'reimage', MAC, '--now', '--timeout', '400', '--json'], 900_000);
    const seconds = Math.round((Date.now() - t0) / 1000);
    expect(r.code, `${r.stdout}\n${r.stderr}\n--- VM serial tail:\n${bmc.serial().split('\n').slice(-30).join('\n')}\n--- server log tail:\n${server.log().split('\n').slice(-20).join('\n')}`).toBe(0);
    const [job] = JSON.parse(r.stdout) as Array<{ state: string; attempt: number; message: string }>;
    expect(job).toMatchObject({ state: 'booted', attempt: 1 });
    console.log(`reimage --now: ${job!.message}; ${seconds} s for the command`);
    // The VM booted once, from the network, and the override was spent by that boot.
    expect(bmc.boots()).toEqual(['pxe']);
    expect(bmc.bootDevice()).toBe('default');
    expect(bmc.serial()).toMatch(/iPXE/);
    const node = JSON.parse((await runCli(srv, data, ['nodes', 'show', MAC, '--json'])).stdout) as { phase: string; install: string };
    expect(node.phase).toBe('booted');

    expect((await runCli(srv, data, ['nodes', 'power', 'off', MAC])).code).toBe(0);
    expect(JSON.parse((await runCli(srv, data, ['nodes', 'power', 'status', MAC, '--json'])).stdout)[0]).toMatchObject({ state: 'off' });
  }, 1_000_000);
});
