/**
 * Lab: our full-mode DHCP server (runner in a namespace whose eth0 holds two
 * addresses; the second is the stable one we answer from) against real
 * clients: busybox udhcpc and ISC dhclient, each in its own namespace.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, stopChild, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { startRunner, type Runner } from '../../lab/dhcp/control.ts';
import type { RunnerConfig } from '../../lab/dhcp/runner.ts';

const ok = await labAvailable();
const STABLE = '198.18.0.2';

describe.skipIf(!ok)('DHCP server against real clients', () => {
  let lab: Lab;
  let srv: LabHost;
  let tmp: string;
  const runners: Runner[] = [];
  const cfg = (): RunnerConfig => ({
    mode: 'full',
    serverAddress: STABLE,
    subnet: { address: '198.18.0.0', prefix: 24, router: '198.18.0.1' },
    range: { first: '198.18.0.100', last: '198.18.0.110' },
    leaseSeconds: 600,
    leaseFile: join(tmp, 'leases.json'),
  });
  const start = async (): Promise<Runner> => {
    const r = await startRunner(srv, cfg());
    runners.push(r);
    return r;
  };

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = mkdtempSync(join(tmpdir(), 'imgsrv-dhcp-lab-'));
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
    await srv.exec('ip', ['addr', 'add', `${STABLE}/24`, 'dev', 'eth0']);
  });
  afterAll(async () => {
    for (const r of runners) await r.stop();
    await lab?.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Run udhcpc once in `host`; returns its stdout+stderr. */
  const udhcpc = async (host: LabHost, extra: string[] = [], configure = false): Promise<string> => {
    const script = join(tmp, configure ? 'udhcpc-conf.sh' : 'udhcpc.sh');
    // The script prints what udhcpc learnt; with `configure` it also sets the address
    // inside the client's namespace (a RELEASE is sent from the leased address).
    const conf = configure ? '[ "$1" = bound ] && ip addr add "$ip/\${mask:-24}" dev "$interface" 2>&1\n[ "$1" = deconfig ] && ip addr flush dev "$interface" 2>&1\n' : '';
    writeFileSync(script, `#!/bin/sh\necho "event=$1 ip=$ip serverid=$serverid boot_file=$boot_file"\n${conf}exit 0\n`);
    chmodSync(script, 0o755);
    // stderr folded into stdout: udhcpc narrates there ("sending release" …), useful when a test fails.
    const args = ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '4', '-T', '1', '-s', script, ...extra];
    return host.exec('sh', ['-c', 'exec busybox "$@" 2>&1', 'sh', ...args], { timeoutMs: 30_000 });
  };

  it('leases to udhcpc from the stable address, and renews after a restart from the persisted store', async () => {
    const first = await start();
    const a = await lab.addHost('ua', undefined, { mac: '02:00:00:00:0a:01' });
    const b = await lab.addHost('ub', undefined, { mac: '02:00:00:00:0a:02' });
    const outA = await udhcpc(a);
    expect(outA).toMatch(/event=bound ip=198\.18\.0\.100 serverid=198\.18\.0\.2/);
    const outB = await udhcpc(b);
    expect(outB).toMatch(/event=bound ip=198\.18\.0\.101 serverid=198\.18\.0\.2/);
    await first.stop();

    // A fresh allocator would hand out .100 first; the persisted store must remember B has .101.
    await start();
    expect(await udhcpc(b)).toMatch(/event=bound ip=198\.18\.0\.101 /);
    expect(await udhcpc(a)).toMatch(/event=bound ip=198\.18\.0\.100 /);
  });

  it('frees the address when udhcpc RELEASEs it (SIGUSR2)', async () => {
    const r = runners.at(-1)!;
    const c = await lab.addHost('uc', undefined, { mac: '02:00:00:00:0a:03' });
    // busybox -q -R quits before it reaches BOUND and sends no RELEASE; a running udhcpc
    // releases on SIGUSR2, unicast from the leased address (so the script configures it).
    const script = join(tmp, 'udhcpc-conf.sh');
    writeFileSync(script, '#!/bin/sh\necho "event=$1 ip=$ip"\n[ "$1" = bound ] && ip addr add "$ip/${mask:-24}" dev "$interface"\n[ "$1" = deconfig ] && ip addr flush dev "$interface"\nexit 0\n');
    chmodSync(script, 0o755);
    const child = c.spawn('busybox', ['udhcpc', '-i', 'eth0', '-f', '-t', '4', '-T', '1', '-s', script]);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const bound = await r.waitFor((l) => (l.event as { message?: string; mac?: string } | undefined)?.mac === '02:00:00:00:0a:03' && (l.event as { message: string }).message === 'bound', 15_000);
      expect((bound.event as { ip: string }).ip).toBe('198.18.0.102');
      await new Promise((res) => setTimeout(res, 300)); // let the script configure the address
      child.kill('SIGUSR2');
      await r
        .waitFor((l) => (l.event as { message?: string; mac?: string } | undefined)?.message === 'released' && (l.event as { mac: string }).mac === '02:00:00:00:0a:03', 10_000)
        .catch((err: Error) => {
          throw new Error(`${err.message.slice(0, 100)}\nudhcpc said:\n${out}`);
        });
    } finally {
      await stopChild(child);
    }
  });

  it('quarantines an address udhcpc DECLINEs after its ARP check finds it in use', async () => {
    const r = runners.at(-1)!;
    // A squatter holds the next free address without a lease.
    await lab.addHost('squat', '198.18.0.103/24');
    const d = await lab.addHost('ud', undefined, { mac: '02:00:00:00:0a:04' });
    const out = await udhcpc(d, ['-a']);
    await r.waitFor((l) => (l.event as { message?: string } | undefined)?.message === 'declined', 10_000);
    expect(out).toMatch(/event=bound ip=198\.18\.0\.104 /);
  });

  it('leases to dhclient (lease and pid files in a temp dir, no-op script)', async () => {
    const e = await lab.addHost('dc', undefined, { mac: '02:00:00:00:0a:05' });
    const dir = mkdtempSync(join(tmp, 'dhclient-'));
    const script = join(dir, 'script.sh');
    writeFileSync(script, '#!/bin/sh\necho "reason=$reason ip=$new_ip_address sid=$new_dhcp_server_identifier" >> ' + join(dir, 'events') + '\n');
    chmodSync(script, 0o755);
    const lf = join(dir, 'lease');
    const pf = join(dir, 'pid');
    const out = await e.exec('dhclient', ['-4', '-1', '-v', '-sf', script, '-lf', lf, '-pf', pf, 'eth0'], { timeoutMs: 60_000 }).catch((err: Error) => err.message);
    // dhclient forks to the background once bound: stop exactly that process, by its pid file.
    const pid = Number(readFileSync(pf, 'utf8').trim());
    if (pid > 1) process.kill(pid, 'SIGTERM');
    const events = (await e.exec('cat', [join(dir, 'events')])).trim();
    expect(events, out).toMatch(/reason=BOUND ip=198\.18\.0\.10\d sid=198\.18\.0\.2/);
    expect(readFileSync(lf, 'utf8')).toMatch(/dhcp-server-identifier 198\.18\.0\.2;/);
  });
});
