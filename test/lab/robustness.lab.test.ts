/**
 * The real `imgsrv serve` under bad input and restarts: malformed DHCP and
 * TFTP datagrams are dropped and counted in /metrics without disturbing
 * service, and leases survive a restart (SQLite store).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { REPO, startLabServer, type LabServer } from '../../lab/imgsrv.ts';

const NODE = join(REPO, 'node_modules', '.bin', 'node');
const SEND = join(REPO, 'test', 'lab', 'testdata', 'send-udp.ts');

/** A BOOTREQUEST header (236 bytes) + magic cookie + the given option bytes. */
function dhcpPacket(options: string, magic = '63825363'): string {
  const hdr = Buffer.alloc(236);
  hdr[0] = 1; // BOOTREQUEST
  hdr[1] = 1; // Ethernet
  hdr[2] = 6;
  hdr.writeUInt32BE(0x12345678, 4);
  Buffer.from('525400aaaaaa', 'hex').copy(hdr, 28);
  return hdr.toString('hex') + magic + options;
}

/** Run udhcpc once in `host`; returns the address it obtained. */
async function lease(host: LabHost): Promise<string> {
  const out = await host.exec('udhcpc', ['-i', 'eth0', '-f', '-q', '-n', '-t', '5', '-T', '2', '-s', '/bin/true'], { timeoutMs: 60_000, withStderr: true }).catch((e: Error) => e.message);
  const m = /lease of (\S+) obtained/.exec(out);
  if (!m) throw new Error(`udhcpc got no lease:\n${out}`);
  return m[1]!;
}

async function metric(srv: LabHost, pattern: RegExp): Promise<number> {
  const text = await srv.exec('curl', ['-sf', 'http://198.18.0.1:8080/metrics']);
  let sum = 0;
  for (const line of text.split('\n')) if (pattern.test(line)) sum += Number(line.split(' ').pop());
  return sum;
}

describe('imgsrv serve under bad input and restarts', () => {
  let lab: Lab;
  let srv: LabHost;
  let server: LabServer;
  const args = ['--interface', 'eth0', '--dhcp', 'full', '--range', '198.18.0.100-198.18.0.120', '--http-port', '8080'];

  beforeAll(async () => {
    await sweepStaleLabs();
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
    server = await startLabServer(srv, args);
  });
  afterAll(async () => {
    await server?.stop();
    await lab?.destroy();
    if (server) rmSync(server.data, { recursive: true, force: true });
  });

  it('drops and counts malformed DHCP and TFTP packets, and keeps serving', async () => {
    const evil = await lab.addHost('evil', '198.18.0.66/24');
    await evil.exec(NODE, [SEND, '198.18.0.1', '67',
      '00',                                     // short
      dhcpPacket('350101ff', 'deadbeef'),       // bad magic cookie
      dhcpPacket('3501'),                       // option runs past the end
      dhcpPacket('340303ff'),                   // overload pointing at fields full of garbage
      'ff'.repeat(600),                         // noise
    ]);
    await evil.exec(NODE, [SEND, '198.18.0.1', '69',
      '0001',                                   // RRQ with no file name
      '0063aabbcc',                             // unknown opcode
      '00016600',                               // RRQ without mode
    ]);
    // Give the server a moment to count them, then check it still answers real clients.
    await new Promise((r) => setTimeout(r, 500));
    expect(await metric(srv, /^imgsrv_dhcp_dropped_total\{/)).toBeGreaterThanOrEqual(4);
    expect(await metric(srv, /^imgsrv_tftp_dropped_total\{/)).toBeGreaterThanOrEqual(3);
    const client = await lab.addHost('c1', undefined, { mac: '52:54:00:00:00:c1' });
    expect(await lease(client)).toMatch(/^198\.18\.0\.1[0-2]\d$/);
    expect(server.child.exitCode).toBeNull();
  });

  it('answers DHCP only on its own interface, even when the host is on another network too', async () => {
    // A second network (its own bridge) that the server's host is also on, with a client asking there.
    const other = await Lab.create();
    try {
      await other.attach(srv, 'eth1', '198.19.0.1/24');
      const stranger = await other.addHost('x', undefined, { mac: '52:54:00:00:00:ee' });
      const out = await stranger.exec('udhcpc', ['-i', 'eth0', '-f', '-q', '-n', '-t', '3', '-T', '1', '-s', '/bin/true'], { withStderr: true }).catch((e: Error) => e.message);
      expect(out).not.toMatch(/lease of/);
      expect(out).toMatch(/no lease/);
      // Nothing about the stranger reached the server: no offer made, no address held for it.
      const leases = JSON.parse(await srv.exec('curl', ['-sf', '-H', `Authorization: Bearer ${await adminToken(server)}`, 'http://198.18.0.1:8080/api/v1/leases'])) as Array<{ mac: string }>;
      expect(leases.map((l) => l.mac)).not.toContain('52:54:00:00:00:ee');
      const local = await lab.addHost('c2', undefined, { mac: '52:54:00:00:00:c2' });
      expect(await lease(local)).toMatch(/^198\.18\.0\./);
    } finally {
      await other.destroy();
    }
  });

  it('keeps leases across a restart: a new client never gets a bound address', async () => {
    const a = await lab.addHost('ca', undefined, { mac: '52:54:00:00:00:ca' });
    const first = await lease(a);
    await server.stop();
    server = await startLabServer(srv, args, { data: server.data });
    const b = await lab.addHost('cb', undefined, { mac: '52:54:00:00:00:cb' });
    const second = await lease(b);
    expect(second).not.toBe(first);
    // And the first client gets its own address back.
    expect(await lease(a)).toBe(first);
    const leases = (JSON.parse(await srv.exec('curl', ['-sf', '-H', `Authorization: Bearer ${await adminToken(server)}`, 'http://198.18.0.1:8080/api/v1/leases'])) as Array<{ ip: string; mac: string }>);
    expect(new Set(leases.map((l) => l.ip)).size).toBe(leases.length);
  });

  it('applies DHCP settings changed through the API at once, without a restart', async () => {
    const put = async (body: object) =>
      JSON.parse(
        await srv.exec('curl', ['-s', '-X', 'PUT', '-H', `Authorization: Bearer ${await adminToken(server)}`, '-H', 'content-type: application/json', '-d', JSON.stringify(body), 'http://198.18.0.1:8080/api/v1/settings']),
      ) as { dhcp?: { range: string }; error?: string; message?: string };
    const changed = await put({ dhcp: { range: '198.18.0.150-198.18.0.160', reservations: [{ mac: '52:54:00:00:00:d1', ip: '198.18.0.77' }] } });
    expect(changed.dhcp?.range).toBe('198.18.0.150-198.18.0.160');
    const fresh = await lab.addHost('cd0', undefined, { mac: '52:54:00:00:00:d0' });
    expect(await lease(fresh)).toMatch(/^198\.18\.0\.1(5\d|60)$/);
    const reserved = await lab.addHost('cd1', undefined, { mac: '52:54:00:00:00:d1' });
    expect(await lease(reserved)).toBe('198.18.0.77');
    // Off: no answer at all; a bad change is refused and changes nothing.
    await put({ dhcp: { mode: 'off' } });
    const quiet = await fresh.exec('udhcpc', ['-i', 'eth0', '-f', '-q', '-n', '-t', '2', '-T', '1', '-s', '/bin/true'], { withStderr: true }).catch((e: Error) => e.message);
    expect(quiet).toMatch(/no lease/);
    expect((await put({ dhcp: { mode: 'full', range: '198.18.0.160-198.18.0.150' } })).message).toMatch(/dhcp\.range/);
    await put({ dhcp: { mode: 'full' } });
    expect(await lease(fresh)).toMatch(/^198\.18\.0\.1(5\d|60)$/);
    expect(server.child.exitCode).toBeNull();
  });
});

async function adminToken(server: LabServer): Promise<string> {
  const { readFileSync } = await import('node:fs');
  return readFileSync(join(server.data, 'admin.token'), 'utf8').trim();
}
