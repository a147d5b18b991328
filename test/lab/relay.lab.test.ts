/**
 * DHCP across a real relay (issue 26): `imgsrv serve` in full mode on
 * 198.18.0.0/24 with a relayed subnet 198.18.1.0/24, ISC dhcrelay in a
 * router between them, and real clients on the far segment (busybox udhcpc,
 * ISC dhclient). Each gets an address of its own subnet with its router,
 * fetches its boot script (with its node token) over HTTP through the
 * router, and reports with that token from the far address. A client on a
 * segment the server has no subnet for gets nothing.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labAvailable, stopChild, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { RELAY_LAB, RelayLab, type Relay } from '../../lab/relay-lab.ts';

const ok = await labAvailable();
const HTTP = `http://${RELAY_LAB.server}:8080`;

interface NodeJson {
  mac: string;
  ip: string | null;
  phase: string;
}

describe.skipIf(!ok)('DHCP relay across subnets (real dhcrelay)', () => {
  let lab: RelayLab;
  let server: LabServer;
  let relay: Relay | undefined;
  let tmp: string;

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = mkdtempSync(join(tmpdir(), 'imgsrv-relay-test-'));
    lab = await RelayLab.create();
    server = await startLabServer(lab.server, [
      '--interface', 'eth0', '--dhcp', 'full', '--range', '198.18.0.100-198.18.0.150',
      '--subnet', `${RELAY_LAB.farSubnet},range=198.18.1.100-198.18.1.150,router=${RELAY_LAB.routerFar},dns=${RELAY_LAB.server}`,
      '--http-port', '8080',
    ]);
  });
  afterAll(async () => {
    await server?.stop();
    await lab?.destroy();
    if (server) rmSync(server.data, { recursive: true, force: true });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** A udhcpc script that prints what it learnt and configures the address and default route in the client's namespace. */
  const udhcpcScript = (): string => {
    const script = join(tmp, 'udhcpc.sh');
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        'echo "event=$1 ip=$ip mask=$mask router=$router serverid=$serverid dns=$dns"',
        '[ "$1" = bound ] && ip addr add "$ip/$mask" dev "$interface" && ip route add default via "$router"',
        'exit 0',
        '',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    return script;
  };

  /** Fetch the MAC's boot script from the far client, through the router; its token, if the server gave one. */
  const fetchScript = async (host: LabHost, mac: string): Promise<{ status: string; body: string; token: string | undefined }> => {
    const out = await host.exec('curl', ['-s', '-w', '\n%{http_code}', '--max-time', '10', `${HTTP}/boot/ipxe/${mac}`]);
    const lines = out.trimEnd().split('\n');
    const status = lines.pop() ?? '';
    const body = lines.join('\n');
    return { status, body, token: /imgsrv\.token=(\S+)/.exec(body)?.[1] };
  };

  /** Report phase booted as the netboot environment does, with the node token, from the client's address. */
  const report = (host: LabHost, mac: string, token: string, ip: string): Promise<string> =>
    host.exec('curl', [
      '-s', '-w', '\n%{http_code}', '--max-time', '10', '-X', 'POST', '-H', 'content-type: application/json', '-H', `authorization: Bearer ${token}`,
      '--data', JSON.stringify({ mac, ip, phase: 'booted', firmware: 'bios' }), `${HTTP}/api/v1/nodes/report`,
    ]);

  it('udhcpc on the far segment (relay sets giaddr): its own subnet\'s address and router, boot script and report through the router, unicast renewal', async () => {
    relay = await lab.startRelay();
    const mac = '02:00:00:00:1a:01';
    const client = await lab.addFarClient('ua', mac);
    const script = udhcpcScript();
    // Stays running (no -q), so a SIGUSR1 makes it renew: a unicast REQUEST to the server, routed, giaddr 0.
    const child = client.spawn('busybox', ['udhcpc', '-i', 'eth0', '-f', '-t', '5', '-T', '2', '-s', script]);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const waitOut = async (re: RegExp, ms: number): Promise<RegExpMatchArray> => {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = re.exec(out);
        if (m) return m;
        if (Date.now() > deadline) throw new Error(`udhcpc: no ${re} in ${ms} ms:\n${out}\n--- dhcrelay:\n${relay?.output()}\n--- server:\n${server.log().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      const bound = await waitOut(/event=bound ip=(\S+) mask=(\S+) router=(\S+) serverid=(\S+) dns=(\S*)/, 30_000);
      const [, ip, mask, router, serverId, dns] = bound;
      expect(ip).toMatch(/^198\.18\.1\.1[0-4]\d$/);
      expect({ mask, router, serverId, dns }).toEqual({ mask: '24', router: RELAY_LAB.routerFar, serverId: RELAY_LAB.server, dns: RELAY_LAB.server });
      await new Promise((r) => setTimeout(r, 300)); // the script configures the address and route

      // The boot script, with this node's token: the server ties the routed requester to the MAC by its lease.
      const script1 = await fetchScript(client, mac);
      expect(script1.status).toBe('200');
      expect(script1.body).toContain(`imgsrv.server=${HTTP}`);
      expect(script1.token).toMatch(/^n1\./);
      // The boot loader a PXE ROM there would load (next-server = the server), over TFTP through the router.
      const tftpBytes = await client.exec('curl', ['-s', '--max-time', '20', '-o', '/dev/null', '-w', '%{size_download}', `tftp://${RELAY_LAB.server}/undionly.kpxe`]);
      expect(Number(tftpBytes)).toBeGreaterThan(10_000);
      // Another MAC's script from this address: refused, no token.
      const other = await fetchScript(client, '02:00:00:00:1a:99');
      expect(other.status).toBe('403');
      expect(other.token).toBeUndefined();
      // The node speaks for itself from its far address (requireSelf accepts its lease's address).
      const rep = await report(client, mac, script1.token!, ip!);
      expect(rep.trim().split('\n').pop()).toBe('200');
      const nodes = JSON.parse(await server.cli(['nodes', 'ls', '--json'])) as NodeJson[];
      expect(nodes.find((n) => n.mac === mac)).toMatchObject({ ip, phase: 'booted' });

      // Renewal: unicast from the far address straight to the server (no relay), answered from the far subnet.
      const before = out.length;
      child.kill('SIGUSR1');
      await waitOut(new RegExp(`[\\s\\S]{${before}}[\\s\\S]*event=renew ip=${ip!.replace(/\./g, '\\.')} mask=24 router=${RELAY_LAB.routerFar.replace(/\./g, '\\.')}`), 20_000);
    } finally {
      await stopChild(child);
    }
  });

  it('a client on a segment with no subnet configured gets no offer; the server counts it and keeps serving', async () => {
    const stray = await lab.addStrayClient('us', '02:00:00:00:1b:01');
    const out = await stray
      .exec('sh', ['-c', 'exec busybox "$@" 2>&1', 'sh', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '3', '-T', '1', '-s', udhcpcScript()], { timeoutMs: 30_000 })
      .catch((err: Error) => err.message);
    expect(out).not.toMatch(/event=bound/);
    const metrics = await lab.server.exec('curl', ['-s', `${HTTP}/metrics`]);
    const unknown = /imgsrv_dhcp_unknown_subnet_total\{[^}]*\} (\d+)/.exec(metrics);
    expect(Number(unknown?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
    expect(server.log()).toMatch(/request from a subnet with no dhcp.subnets entry/);
    expect(server.log()).toMatch(new RegExp(`"link":"${RELAY_LAB.strayRouter.replace(/\./g, '\\.')}"`));
  });

  it('dhclient on the far segment through dhcrelay -U (RFC 3527 link selection: giaddr on the server\'s own subnet)', async () => {
    await relay?.stop();
    relay = await lab.startRelay({ linkSelection: true });
    const mac = '02:00:00:00:1a:02';
    const client = await lab.addFarClient('dc', mac);
    const dir = mkdtempSync(join(tmp, 'dhclient-'));
    const events = join(dir, 'events');
    const script = join(dir, 'script.sh');
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        `echo "reason=$reason ip=$new_ip_address mask=$new_subnet_mask routers=$new_routers sid=$new_dhcp_server_identifier" >> ${events}`,
        'case "$reason" in BOUND) ip addr add "$new_ip_address/24" dev "$interface"; ip route add default via "$new_routers";; esac',
        '',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    const lf = join(dir, 'lease');
    const pf = join(dir, 'pid');
    const out = await client.exec('dhclient', ['-4', '-1', '-v', '-sf', script, '-lf', lf, '-pf', pf, 'eth0'], { timeoutMs: 60_000 }).catch((err: Error) => err.message);
    // dhclient forks to the background once bound: stop exactly that process, by its pid file.
    try {
      const pid = Number(readFileSync(pf, 'utf8').trim());
      if (pid > 1) process.kill(pid, 'SIGTERM');
    } catch {
      /* it never bound */
    }
    const got = readFileSync(events, 'utf8');
    const m = /reason=BOUND ip=(\S+) mask=(\S+) routers=(\S+) sid=(\S+)/.exec(got);
    expect(m, `${got}\n${out}\n--- dhcrelay:\n${relay.output()}`).not.toBeNull();
    expect(m![1]).toMatch(/^198\.18\.1\.1[0-4]\d$/);
    expect(m!.slice(2)).toEqual(['255.255.255.0', RELAY_LAB.routerFar, RELAY_LAB.server]);
    // The requests came with giaddr = the router's near address (the replies went there): only the link selection named the far subnet.
    const acks = server.log().split('\n').filter((l) => l.includes('"msg":"DHCPACK"') && l.includes(`"mac":"${mac}"`));
    expect(acks.length, server.log().slice(-3000)).toBeGreaterThanOrEqual(1);
    expect(acks[0]).toContain(`"to":"${RELAY_LAB.routerNear}:67"`);
    expect(acks[0]).toContain('"subnet":"198.18.1.0/24"');
    const s = await fetchScript(client, mac);
    expect(s.status).toBe('200');
    expect(s.token).toMatch(/^n1\./);
  });

  it('proxy mode across the relay: a PXE client on the far segment gets boot information only, through the relay', async () => {
    await server.stop();
    rmSync(server.data, { recursive: true, force: true });
    server = await startLabServer(lab.server, ['--interface', 'eth0', '--dhcp', 'proxy', '--http-port', '8080']);
    await relay?.stop();
    relay = await lab.startRelay();
    const mac = '02:00:00:00:1a:03';
    const client = await lab.addFarClient('px', mac);
    // busybox udhcpc as a BIOS PXE ROM would announce itself (option 60 and 93); there is no address server here.
    await client
      .exec('sh', ['-c', 'exec busybox "$@" 2>&1', 'sh', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '2', '-T', '1', '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000', '-s', udhcpcScript()], { timeoutMs: 30_000 })
      .catch((err: Error) => err.message);
    const offers = server.log().split('\n').filter((l) => l.includes('"msg":"DHCPOFFER"') && l.includes(`"mac":"${mac}"`));
    expect(offers.length, server.log().slice(-3000)).toBeGreaterThanOrEqual(1);
    expect(offers[0]).toContain(`"to":"${RELAY_LAB.routerFar}:67"`);
    expect(offers[0]).toContain('"yiaddr":"0.0.0.0"');
    expect(offers[0]).toContain('"file":"undionly.kpxe"');
    // dhcrelay passed the proxy offer on to the client.
    expect(relay!.output()).toMatch(new RegExp(`Forwarded BOOTREPLY for ${mac}`));
  });
});
