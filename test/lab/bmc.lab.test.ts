/**
 * Power control against a real BMC protocol: OpenIPMI's ipmi_sim serving
 * IPMI 2.0 over LAN+ in a lab namespace, driven by imgsrv's IPMI driver
 * (the real ipmitool) and by the CLI through a running `imgsrv serve`.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { runCli, startLabServer, IMGSRV, type LabServer } from '../../lab/imgsrv.ts';
import { startIpmiSim, type SimBmc } from '../../lab/ipmi-sim.ts';
import { IpmiDriver } from '../../server/power/ipmi.ts';
import { spawn } from 'node:child_process';
import { nodeTokenOf } from '../../server/data-dir.ts';

const MAC = '52:54:00:b5:c0:01';
const USER = 'imgsrv-ops';
const PASSWORD = 'Lab-Bmc-Pw-7731';
const lab_ok = await labAvailable();

/** Run the CLI in `host` with `input` on its stdin. */
function cliWithStdin(host: LabHost, data: string, args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', host.ns, IMGSRV, '--data', data, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe.skipIf(!lab_ok)('IPMI power control against ipmi_sim', () => {
  let lab: Lab;
  let srv: LabHost;
  let bmcHost: LabHost;
  let bmc: SimBmc;
  let server: LabServer;

  beforeAll(async () => {
    await sweepStaleLabs();
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
    bmcHost = await lab.addHost('bmc', '198.18.0.50/24');
    bmc = await startIpmiSim(bmcHost, { user: USER, password: PASSWORD });
    server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'off', '--http-port', '8080']);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await bmc?.stop();
    await lab?.destroy();
    if (server) rmSync(server.data, { recursive: true, force: true });
  });

  it('the driver powers the simulated chassis and sets a one-time PXE boot, with ipmitool never shown the password in argv', async () => {
    const argvs: string[][] = [];
    // ipmitool runs in the server's namespace (nsRunner); what is checked is the argv the driver builds.
    const inNs = new IpmiDriver({
      run: (args, env) => {
        argvs.push([...args]);
        return nsRunner(srv.ns)(args, env);
      },
    });
    const creds = { address: bmc.address, user: USER, password: PASSWORD };
    expect((await inNs.status(creds)).state).toBe('off');
    expect((await inNs.power(creds, 'on')).answer).toBe('Chassis Power Control: Up/On');
    expect(bmc.power()).toBe('on');
    expect((await inNs.status(creds)).state).toBe('on');
    await inNs.power(creds, 'off');
    expect(bmc.power()).toBe('off');
    await inNs.power(creds, 'on');
    const cycle = await inNs.power(creds, 'cycle');
    expect(cycle.answer).toBe('Chassis Power Control: Cycle');
    expect(bmc.calls()).toContain('set power 0');
    // ipmi_sim powers back on a moment after the off half of the cycle.
    await expect.poll(() => bmc.power(), { timeout: 10_000 }).toBe('on');
    expect((await inNs.power(creds, 'reset')).answer).toBe('Chassis Power Control: Reset');
    expect((await inNs.bootOnce(creds, 'pxe')).answer).toMatch(/next boot: pxe/);
    expect(bmc.bootDevice()).toBe('pxe');
    for (const a of argvs) expect(a.join(' ')).not.toContain(PASSWORD);
  }, 60_000);

  it('a wrong password is a clear BMC_AUTH error, tried once', async () => {
    const calls: string[][] = [];
    const d = new IpmiDriver({ run: (args, env) => (calls.push([...args]), nsRunner(srv.ns)(args, env)) });
    await expect(d.status({ address: bmc.address, user: USER, password: 'not-the-password' })).rejects.toMatchObject({
      code: 'BMC_AUTH',
      message: expect.stringMatching(/^BMC 198\.18\.0\.50 refused the user name or password \(RAKP 2 HMAC is invalid\)/),
    });
    await expect(d.status({ address: bmc.address, user: 'nobody', password: PASSWORD })).rejects.toThrow(/refused the user name \(/);
    expect(calls).toHaveLength(2);
  }, 60_000);

  it('the CLI sets the credentials, powers the node and shows no password anywhere', async () => {
    const set = await cliWithStdin(srv, server.data, ['nodes', 'bmc', 'set', MAC, '--address', bmc.address, '--user', USER, '--password-stdin'], `${PASSWORD}\n`);
    expect(set.stderr).toBe('');
    expect(set.stdout).toBe(`${MAC} BMC 198.18.0.50 user ${USER}, password set\n`);
    const off = await runCli(srv, server.data, ['nodes', 'power', 'off', MAC]);
    expect(off.code, off.stderr).toBe(0);
    const st = await runCli(srv, server.data, ['nodes', 'power', 'status', MAC, '--json']);
    expect(JSON.parse(st.stdout)).toEqual([{ mac: MAC, action: 'status', state: 'off', answer: 'Chassis Power is off', attempts: 1 }]);
    for (const action of ['on', 'cycle']) expect((await runCli(srv, server.data, ['nodes', 'power', action, MAC])).code).toBe(0);
    await expect.poll(() => bmc.power(), { timeout: 10_000 }).toBe('on');
    const boot = await runCli(srv, server.data, ['nodes', 'boot-once', 'pxe', MAC]);
    expect(boot.stdout).toMatch(/Set Boot Device to pxe; next boot: pxe/);

    const shown = [
      (await runCli(srv, server.data, ['nodes', 'bmc', 'show', MAC, '--json'])).stdout,
      (await runCli(srv, server.data, ['nodes', 'show', MAC, '--json'])).stdout,
      (await runCli(srv, server.data, ['nodes', 'ls', '--json'])).stdout,
      (await srv.exec('curl', ['-s', '-H', `authorization: Bearer ${readFileSync(join(server.data, 'admin.token'), 'utf8').trim()}`, 'http://198.18.0.1:8080/api/v1/events?limit=1000'])),
      server.log(),
    ];
    expect(JSON.parse(shown[0]!)).toMatchObject({ address: '198.18.0.50', user: USER, passwordSet: true });
    expect(JSON.parse(shown[1]!).bmc).toMatchObject({ address: '198.18.0.50', user: USER, passwordSet: true });
    expect((await runCli(srv, server.data, ['nodes', 'show', MAC])).stdout).toMatch(/^bmc: 198\.18\.0\.50 user imgsrv-ops, password set$/m);
    // Bulk by group: every node of rack1.
    expect((await runCli(srv, server.data, ['groups', 'set', 'rack1'])).code).toBe(0);
    expect((await runCli(srv, server.data, ['nodes', 'set', MAC, '--group', 'rack1'])).code).toBe(0);
    const byGroup = await runCli(srv, server.data, ['nodes', 'power', 'status', '--group', 'rack1', '--json']);
    expect(JSON.parse(byGroup.stdout)).toEqual([expect.objectContaining({ mac: MAC, state: 'on' })]);
    for (const s of shown) expect(s).not.toContain(PASSWORD);
    // Every power action is an event with the BMC's answer.
    expect(shown[3]).toMatch(/"kind":"node.power","mac":"52:54:00:b5:c0:01","message":"cycle: Chassis Power Control: Cycle"/);
  }, 60_000);

  it('a wrong stored password is one clear line and exit 1; no ipmitool argv carries it', async () => {
    await cliWithStdin(srv, server.data, ['nodes', 'bmc', 'set', MAC, '--address', bmc.address, '--user', USER, '--password-stdin'], 'Wrong-Password-99\n');
    const r = await runCli(srv, server.data, ['nodes', 'power', 'status', MAC]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/refused the user name or password/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^imgsrv: 1 of 1 node\(s\) failed/);
    await cliWithStdin(srv, server.data, ['nodes', 'bmc', 'set', MAC, '--address', bmc.address, '--user', USER, '--password-stdin'], `${PASSWORD}\n`);
  }, 60_000);

  it('reimage --now: off, one-time PXE, on through the BMC, then done at the node\'s netboot report', async () => {
    await runCli(srv, server.data, ['nodes', 'power', 'on', MAC]);
    const callsBefore = bmc.calls().length;
    const run = runCli(srv, server.data, ['nodes', 'reimage', MAC, '--now', '--timeout', '60', '--json']);
    // The node: once its BMC has it powered on after the override, it network-boots and reports (played here by curl with its own token).
    await expect
      .poll(() => {
        const calls = bmc.calls().slice(callsBefore);
        return calls.includes('set power 0') && calls.includes('set boot pxe') && calls.lastIndexOf('set power 1') > calls.indexOf('set boot pxe');
      }, { timeout: 30_000, interval: 250 })
      .toBe(true);
    const token = nodeTokenOf(server.data, MAC);
    const report = await srv.exec('curl', ['-s', '-H', `authorization: Bearer ${token}`, '-H', 'content-type: application/json', '-d', JSON.stringify({ mac: MAC, phase: 'booted' }), 'http://198.18.0.1:8080/api/v1/nodes/report']);
    expect(report).toMatch(/"ok":true/);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ mac: MAC, state: 'booted', attempt: 1, message: expect.stringMatching(/^network-booted: reported booted \d+ s after power-on$/) })]);
    const seq = bmc.calls().slice(callsBefore).filter((c) => c.startsWith('set'));
    expect(seq).toEqual(['set power 0', 'set boot pxe', 'set power 1']);
  }, 120_000);

  it('reimage --now with no netboot report: a second power sequence, then a clear failure and exit 1', async () => {
    const t0 = Date.now();
    const r = await runCli(srv, server.data, ['nodes', 'reimage', MAC, '--now', '--timeout', '10']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/failed\s+2\s+node 52:54:00:b5:c0:01 did not network-boot after 2 power cycles of 10 s each: check its console/);
    expect(r.stderr).toMatch(/power sequence 2 of 2/);
    expect(r.stderr.trim().split('\n').at(-1)).toBe('imgsrv: 1 of 1 node(s) failed (see above)');
    expect(Date.now() - t0).toBeGreaterThan(20_000);
  }, 120_000);

  it('the database and its WAL never hold the password in clear', async () => {
    for (const f of readdirSync(server.data).filter((n) => n.startsWith('imgsrv.db'))) {
      expect(readFileSync(join(server.data, f)).includes(PASSWORD), f).toBe(false);
      expect(readFileSync(join(server.data, f)).includes('Wrong-Password-99'), f).toBe(false);
    }
  });
});

/** A ToolRunner that runs ipmitool inside namespace `ns` (the server's side of the lab). */
function nsRunner(ns: string) {
  return (args: readonly string[], env: Readonly<Record<string, string>>) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('ip', ['netns', 'exec', ns, 'ipmitool', ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
}
