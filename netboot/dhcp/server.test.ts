/**
 * The socket loop's rate limits over loopback, full and proxy mode: requests
 * come "through a relay" (giaddr 127.0.0.2), so every reply is a unicast to it.
 */
import dgram from 'node:dgram';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { BOOTREQUEST, decode, emptyMessage, encode, type DhcpMessage } from './codec.ts';
import { MemoryLeaseStore } from './leases.ts';
import { MessageType } from './options.ts';
import { startDhcpServer, type DhcpServer, type DhcpServerOptions } from './server.ts';

const SERVER = '127.0.0.1';
const RELAY = '127.0.0.2';
const PXE = { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0] };
const mac = (i: number): string => `02:66:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

interface Rig {
  dhcp: DhcpServer;
  registry: Registry;
  replies: DhcpMessage[];
  ports: { server: number; client: number; proxy: number };
  send(m: DhcpMessage, port?: number): void;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

async function rig(o: Partial<DhcpServerOptions>): Promise<Rig> {
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const ports = { server: port, client: port + 1, proxy: port + 2 };
    const relay = dgram.createSocket('udp4');
    try {
      await new Promise<void>((ok, fail) => {
        relay.once('error', fail);
        relay.bind(port, RELAY, () => ok());
      });
      const registry = new Registry();
      const dhcp = await startDhcpServer({
        mode: 'full',
        serverAddress: SERVER,
        bindAddress: SERVER,
        bindToDevice: false,
        interfaceName: 'lo',
        subnet: { address: SERVER, prefix: 8 },
        range: { first: '127.1.0.10', last: '127.1.0.19' },
        leaseSeconds: 600,
        leases: new MemoryLeaseStore(),
        boot: () => ({ filename: 'undionly.kpxe', via: 'tftp', firmware: 'bios' }),
        logger: silentLogger,
        registry,
        ports,
        ...o,
      });
      open.push(() => dhcp.close(), () => new Promise<void>((r) => relay.close(() => r())));
      const replies: DhcpMessage[] = [];
      relay.on('message', (b) => replies.push(decode(b)));
      return { dhcp, registry, replies, ports, send: (m, to = port) => relay.send(encode(m), to, SERVER) };
    } catch (err) {
      try {
        relay.close();
      } catch {
        /* never bound */
      }
      if (attempt > 5) throw err;
    }
  }
}

function packet(i: number, type: number, extra: DhcpMessage['options'] = {}): DhcpMessage {
  const m = emptyMessage(BOOTREQUEST, 0x2500 + i, mac(i));
  m.giaddr = RELAY;
  m.hops = 1;
  m.options = { messageType: type, ...extra };
  return m;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

async function limitedMetric(r: Rig): Promise<Record<string, number>> {
  const m = (await r.registry.getSingleMetric('imgsrv_dhcp_rate_limited_total')!.get()).values;
  return Object.fromEntries(m.map((v) => [String(v.labels.limit), v.value]));
}

const LIMITS = { perMac: { rate: 0.001, burst: 3 }, perIngress: { rate: 0.001, burst: 1000 }, newClients: { rate: 0.001, burst: 20 }, total: { rate: 1e6, burst: 1e6 } };

describe('DHCP server rate limits (issue 25)', () => {
  it('full mode: drops and counts what a flood sends over the limits, and still answers the REQUEST of a client it offered to', async () => {
    const r = await rig({ limits: LIMITS });
    for (let i = 0; i < 100; i++) r.send(packet(i, MessageType.DISCOVER));
    await until(() => (r.dhcp.stats['received.DHCPDISCOVER'] ?? 0) === 100, 'the flood');
    await until(() => r.replies.length === 20, 'the OFFERs');
    expect(r.dhcp.stats['limited.new-client']).toBe(80);
    expect(r.dhcp.stats['reclaimed']).toBe(10); // 10 addresses, 20 offers
    // The new clients' budget is spent; a client holding an offer is not a new client.
    const offer = r.replies.at(-1)!;
    const i = Number.parseInt(offer.chaddr.slice(-5).replace(':', ''), 16);
    r.send(packet(i, MessageType.REQUEST, { serverId: SERVER, requestedIp: offer.yiaddr }));
    await until(() => r.replies.length === 21, 'the ACK');
    expect(r.replies[20]).toMatchObject({ yiaddr: offer.yiaddr, options: { messageType: MessageType.ACK } });
    // One MAC over its own limit, from another relay address (giaddr is the ingress).
    for (let n = 0; n < 5; n++) r.send({ ...packet(500, MessageType.DISCOVER), giaddr: '127.0.0.3' });
    await until(() => (r.dhcp.stats['limited.mac'] ?? 0) === 2, 'the MAC limit');
    // REQUESTs from MACs holding nothing are new clients too (they would take an address).
    for (let n = 0; n < 5; n++) r.send(packet(900 + n, MessageType.REQUEST, { serverId: SERVER, requestedIp: '127.1.0.15' }));
    await until(() => (r.dhcp.stats['limited.new-client'] ?? 0) === 85, 'the REQUESTs from new clients');
    expect(await limitedMetric(r)).toEqual({ 'new-client': 85, mac: 2 });
    // Nor is one with a binding.
    r.send(packet(i, MessageType.DISCOVER));
    await until(() => r.replies.length === 22, 'the OFFER to a known client');
    expect(r.replies[21]).toMatchObject({ yiaddr: offer.yiaddr, options: { messageType: MessageType.OFFER } });
  });

  it('proxy mode: the same limits, and the proxy still ACKs on 4011', async () => {
    const r = await rig({ mode: 'proxy', range: undefined, limits: LIMITS });
    for (let i = 0; i < 100; i++) r.send(packet(i, MessageType.DISCOVER, PXE));
    await until(() => (r.dhcp.stats['received.DHCPDISCOVER'] ?? 0) === 100, 'the flood');
    await until(() => r.replies.length === 20, 'the proxy OFFERs');
    expect(r.dhcp.stats['limited.new-client']).toBe(80);
    r.send(packet(7, MessageType.REQUEST, PXE), r.ports.proxy);
    await until(() => r.replies.length === 21, 'the proxy ACK');
    expect(r.replies[20]?.options.messageType).toBe(MessageType.ACK);
  });

  it('limits: false turns them off', async () => {
    const r = await rig({ limits: false });
    for (let i = 0; i < 100; i++) r.send(packet(0, MessageType.DISCOVER));
    await until(() => r.replies.length === 100, 'every OFFER');
    expect(await limitedMetric(r)).toEqual({});
  });
});

describe('DHCP server with subnets behind relays', () => {
  const relayed = [{ address: '10.0.0.0', prefix: 24, range: { first: '10.0.0.100', last: '10.0.0.109' }, router: '10.0.0.1', leaseSeconds: 120 }];
  const link = (a: number[]) => ({ agentInfo: [{ code: 5, data: Buffer.from(a) }] });

  it('serves a relayed subnet, and counts (not answers) a link in no subnet', async () => {
    // Only relayed subnets hand out addresses here: no local range.
    const r = await rig({ subnet: { address: '127.0.0.0', prefix: 24 }, range: undefined, relayed });
    r.send(packet(1, MessageType.DISCOVER, link([10, 0, 0, 0])));
    await until(() => r.replies.length === 1, 'the OFFER');
    expect(r.replies[0]).toMatchObject({ yiaddr: '10.0.0.100', giaddr: RELAY, options: { router: ['10.0.0.1'], leaseTime: 120, serverId: SERVER } });
    for (let i = 0; i < 3; i++) r.send(packet(2, MessageType.DISCOVER, link([10, 9, 0, 0])));
    await until(() => r.dhcp.stats['unknownSubnet'] === 3, 'the unknown subnet count');
    const m = (await r.registry.getSingleMetric('imgsrv_dhcp_unknown_subnet_total')!.get()).values;
    expect(m[0]?.value).toBe(3);
    // The local segment has no range: nothing for it, and the service goes on.
    r.send({ ...packet(3, MessageType.DISCOVER), giaddr: '0.0.0.0' });
    r.send(packet(4, MessageType.DISCOVER, link([10, 0, 0, 0])));
    await until(() => r.replies.length === 2, 'the next OFFER');
    expect(r.replies[1]?.yiaddr).toBe('10.0.0.101');
  });

  it('refuses subnets that overlap the local one or each other, or a router outside its subnet', async () => {
    const start = (o: Partial<DhcpServerOptions>) => rig({ subnet: { address: '127.0.0.0', prefix: 24 }, range: undefined, ...o }).then(() => 'started', (e: Error) => e.message);
    expect(await start({ relayed: [{ ...relayed[0]!, address: '127.0.0.0', prefix: 16, range: { first: '127.0.5.1', last: '127.0.5.9' } }] })).toMatch(/dhcp\.subnets\.0 \(127\.0\.0\.0\/16\) overlaps the netboot interface's own subnet/);
    expect(await start({ relayed: [relayed[0]!, { ...relayed[0]!, prefix: 25 }] })).toMatch(/dhcp\.subnets\.1 \(10\.0\.0\.0\/25\) overlaps dhcp\.subnets\.0/);
    expect(await start({ relayed: [{ ...relayed[0]!, router: '10.0.1.1' }] })).toMatch(/router 10\.0\.1\.1 is outside the subnet/);
  });
});
