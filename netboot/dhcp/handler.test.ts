import { describe, expect, it } from 'vitest';
import { selectBoot } from '../boot/select.ts';
import { BOOTREPLY, BOOTREQUEST, FLAG_BROADCAST, decode, emptyMessage, encode, type DhcpMessage } from './codec.ts';
import { handleDhcp, type HandlerConfig } from './handler.ts';
import { LeasePool, MemoryLeaseStore } from './leases.ts';
import { MessageType, decodeSubOptions } from './options.ts';
import { LINK_SELECTION, subnetLeaseStore } from './subnets.ts';

const SERVER = '198.18.0.2';
const ports = { server: 67, client: 68, proxy: 4011 };
const policy = { httpBase: 'http://198.18.0.2:8080', tftpServer: SERVER, biosLoader: 'ipxe', uefiLoader: 'ipxe.efi' } as const;
const subnet = { address: '198.18.0.0', prefix: 24, router: '198.18.0.254', dns: ['198.18.0.2'] };

/** A subnet behind a relay whose agent address is 198.18.1.1 (its router). */
const far = { address: '198.18.1.0', prefix: 24, router: '198.18.1.1', dns: ['198.18.0.53'] };

function config(mode: 'full' | 'proxy', store = new MemoryLeaseStore()): HandlerConfig {
  const farPool = new LeasePool(subnetLeaseStore(store, far), { first: '198.18.1.100', last: '198.18.1.101' }, far, { leaseMs: 300_000 }, [far.router]);
  return {
    mode,
    serverAddress: SERVER,
    subnet,
    leaseSeconds: 600,
    ports,
    boot: (c) => selectBoot(c, policy),
    ...(mode === 'full'
      ? {
          pool: new LeasePool(subnetLeaseStore(store, subnet), { first: '198.18.0.100', last: '198.18.0.101' }, subnet, { leaseMs: 600_000 }, [SERVER]),
          relayed: [{ ...far, leaseSeconds: 300, pool: farPool }],
        }
      : {}),
  };
}

function req(type: number, mac: string, extra: Partial<DhcpMessage> & { opts?: DhcpMessage['options'] } = {}): DhcpMessage {
  const m = emptyMessage(BOOTREQUEST, 0x1234, mac);
  const { opts, ...rest } = extra;
  Object.assign(m, rest);
  m.options = { messageType: type, ...opts };
  // Everything the handler sees went through the codec first.
  return decode(encode(m));
}

const from = { address: '0.0.0.0', port: 68 };
const PXE_BIOS = { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0] };
const PXE_UEFI = { vendorClass: 'PXEClient:Arch:00007:UNDI:003016', clientArch: [7], clientUuid: Buffer.alloc(17, 1) };
/** OVMF's HttpBootDxe: architecture 16 and vendor class "HTTPClient" (UEFI 2.x §24.7.2). */
const HTTP_UEFI = { vendorClass: 'HTTPClient:Arch:00016:UNDI:003001', clientArch: [16], clientUuid: Buffer.alloc(17, 2) };

describe('full mode', () => {
  it('DISCOVER → broadcast OFFER with network config; REQUEST → ACK', () => {
    const cfg = config('full');
    const offer = handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:01'), localPort: 67, from }, 0);
    expect(offer.replies).toHaveLength(1);
    const o = offer.replies[0]!;
    expect(o).toMatchObject({ address: '255.255.255.255', port: 68 });
    expect(o.msg).toMatchObject({ op: BOOTREPLY, xid: 0x1234, yiaddr: '198.18.0.100', file: '' });
    expect(o.msg.options).toMatchObject({ messageType: MessageType.OFFER, serverId: SERVER, subnetMask: '255.255.255.0', router: ['198.18.0.254'], dns: [SERVER], leaseTime: 600 });
    expect(o.msg.options.bootfile).toBeUndefined(); // not a PXE client
    const ack = handleDhcp(cfg, { msg: req(MessageType.REQUEST, '52:54:00:00:00:01', { opts: { serverId: SERVER, requestedIp: '198.18.0.100' } }), localPort: 67, from }, 1);
    expect(ack.replies[0]?.msg.options.messageType).toBe(MessageType.ACK);
    expect(ack.client).toMatchObject({ mac: '52:54:00:00:00:01', ip: '198.18.0.100', message: 'bound' });
  });

  it('adds PXE boot info per architecture and the script URL for iPXE', () => {
    const cfg = config('full');
    const bios = handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:01', { opts: PXE_BIOS }), localPort: 67, from }, 0).replies[0]!.msg;
    expect(bios).toMatchObject({ siaddr: SERVER, file: 'undionly.kpxe' });
    expect(bios.options).toMatchObject({ bootfile: 'undionly.kpxe', tftpServer: SERVER });
    const uefi = handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:02', { opts: PXE_UEFI }), localPort: 67, from }, 0).replies[0]!.msg;
    expect(uefi.file).toBe('ipxe.efi');
    const ipxe = handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:02', { opts: { ...PXE_UEFI, userClass: 'iPXE' } }), localPort: 67, from }, 0);
    expect(ipxe.replies[0]!.msg.file).toBe('http://198.18.0.2:8080/boot/ipxe/52:54:00:00:00:02');
    expect(ipxe.replies[0]!.msg.options.tftpServer).toBeUndefined();
    expect(ipxe.client).toMatchObject({ firmware: 'uefi', arch: 7, isIpxe: true });
  });

  it('gives a UEFI HTTP Boot client an address, the loader URL and "HTTPClient" in option 60, no TFTP server', () => {
    const cfg = config('full');
    for (const type of [MessageType.DISCOVER, MessageType.REQUEST]) {
      const opts = type === MessageType.REQUEST ? { ...HTTP_UEFI, serverId: SERVER, requestedIp: '198.18.0.100' } : HTTP_UEFI;
      const r = handleDhcp(cfg, { msg: req(type, '52:54:00:00:00:03', { opts }), localPort: 67, from }, 0);
      const m = r.replies[0]!.msg;
      expect(m).toMatchObject({ yiaddr: '198.18.0.100', file: 'http://198.18.0.2:8080/boot/loaders/ipxe.efi' });
      expect(m.options).toMatchObject({ vendorClass: 'HTTPClient', bootfile: 'http://198.18.0.2:8080/boot/loaders/ipxe.efi', subnetMask: '255.255.255.0' });
      expect(m.options.tftpServer).toBeUndefined();
      expect(m.options.vendorSpecific).toBeUndefined();
      expect(r.client).toMatchObject({ firmware: 'uefi', arch: 16 });
    }
    // A PXE client's answer never says HTTPClient.
    expect(handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:04', { opts: PXE_UEFI }), localPort: 67, from }, 0).replies[0]!.msg.options.vendorClass).toBeUndefined();
  });

  it('answers relayed requests to giaddr:67 from the relay\'s subnet, and echoes option 82', () => {
    const agentInfo = [{ code: 1, data: Buffer.from('sw1/p7') }];
    const r = handleDhcp(config('full'), { msg: req(MessageType.DISCOVER, '52:54:00:00:00:01', { giaddr: '198.18.1.1', hops: 1, opts: { agentInfo } }), localPort: 67, from: { address: '198.18.1.1', port: 67 } }, 0);
    expect(r.replies[0]).toMatchObject({ address: '198.18.1.1', port: 67 });
    const m = r.replies[0]!.msg;
    expect(m.giaddr).toBe('198.18.1.1');
    expect(m.options.agentInfo).toEqual(agentInfo);
    // The far subnet's address, mask, router, DNS and lease time; the server's own address for everything it serves.
    expect(m.yiaddr).toBe('198.18.1.100');
    expect(m.options).toMatchObject({ subnetMask: '255.255.255.0', router: ['198.18.1.1'], dns: ['198.18.0.53'], leaseTime: 300, serverId: SERVER });
    expect(r.subnet).toBe('198.18.1.0/24');
  });

  it('relayed PXE and iPXE clients get boot info that points at the server, REQUEST → ACK through the relay', () => {
    const cfg = config('full');
    const relay = { address: '198.18.1.1', port: 67 };
    const o = handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:07', { giaddr: '198.18.1.1', hops: 1, opts: PXE_BIOS }), localPort: 67, from: relay }, 0).replies[0]!;
    expect(o.msg).toMatchObject({ yiaddr: '198.18.1.100', siaddr: SERVER, file: 'undionly.kpxe' });
    expect(o.msg.options.tftpServer).toBe(SERVER);
    const ack = handleDhcp(cfg, { msg: req(MessageType.REQUEST, '52:54:00:00:00:07', { giaddr: '198.18.1.1', hops: 1, opts: { ...PXE_BIOS, userClass: 'iPXE', serverId: SERVER, requestedIp: '198.18.1.100' } }), localPort: 67, from: relay }, 1);
    expect(ack.replies[0]).toMatchObject({ address: '198.18.1.1', port: 67 });
    expect(ack.replies[0]!.msg.options.messageType).toBe(MessageType.ACK);
    expect(ack.replies[0]!.msg.file).toBe('http://198.18.0.2:8080/boot/ipxe/52:54:00:00:00:07');
    expect(ack.client).toMatchObject({ ip: '198.18.1.100', message: 'bound' });
  });

  it('picks the subnet by link selection (82/5) over subnet selection (118) over giaddr, and echoes 118', () => {
    const cfg = config('full');
    const link = { code: LINK_SELECTION, data: Buffer.from([198, 18, 1, 0]) };
    // The relay's own address is on the local subnet; the link it names is the far one.
    const byLink = handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:11', { giaddr: '198.18.0.254', opts: { agentInfo: [link], subnetSelection: '198.18.0.0' } }), localPort: 67, from }, 0);
    expect(byLink.replies[0]).toMatchObject({ address: '198.18.0.254', port: 67 });
    expect(byLink.replies[0]!.msg.yiaddr).toBe('198.18.1.100');
    expect(byLink.replies[0]!.msg.options.agentInfo).toEqual([link]);
    const bySel = handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:12', { giaddr: '198.18.0.254', opts: { subnetSelection: '198.18.1.77' } }), localPort: 67, from }, 0);
    expect(bySel.replies[0]!.msg.yiaddr).toBe('198.18.1.101');
    expect(bySel.replies[0]!.msg.options.subnetSelection).toBe('198.18.1.77');
    const byGiaddr = handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:13', { giaddr: '198.18.0.254' }), localPort: 67, from }, 0);
    expect(byGiaddr.replies[0]!.msg.yiaddr).toMatch(/^198\.18\.0\.10[01]$/);
  });

  it('offers nothing to a relay (or selection) in no configured subnet', () => {
    const cfg = config('full');
    const r = handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:21', { giaddr: '198.19.5.1', hops: 1 }), localPort: 67, from: { address: '198.19.5.1', port: 67 } }, 0);
    expect(r).toMatchObject({ replies: [], unknownSubnet: { link: '198.19.5.1', by: 'giaddr' } });
    const link = { code: LINK_SELECTION, data: Buffer.from([10, 9, 9, 0]) };
    expect(handleDhcp(cfg, { msg: req(MessageType.REQUEST, '52:54:00:00:00:21', { giaddr: '198.18.1.1', opts: { agentInfo: [link], requestedIp: '10.9.9.9' } }), localPort: 67, from }, 0)).toMatchObject({
      replies: [],
      unknownSubnet: { link: '10.9.9.0', by: 'link-selection' },
    });
    expect(handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:21', { opts: { subnetSelection: '203.0.113.0' } }), localPort: 67, from }, 0).unknownSubnet).toEqual({ link: '203.0.113.0', by: 'subnet-selection' });
    // Proxy mode hands out no addresses: the subnet doesn't matter.
    expect(handleDhcp(config('proxy'), { msg: req(MessageType.DISCOVER, '52:54:00:00:00:21', { giaddr: '198.19.5.1', opts: PXE_BIOS }), localPort: 67, from }, 0).replies).toHaveLength(1);
  });

  it('keeps one lease per subnet for a MAC, and renews a routed client (giaddr 0, ciaddr in a relayed subnet) by unicast', () => {
    const store = new MemoryLeaseStore();
    const cfg = config('full', store);
    const mac = '52:54:00:00:00:31';
    const bind = (giaddr: string, ip: string) => {
      handleDhcp(cfg, { msg: req(MessageType.DISCOVER, mac, { giaddr }), localPort: 67, from }, 0);
      return handleDhcp(cfg, { msg: req(MessageType.REQUEST, mac, { giaddr, opts: { serverId: SERVER, requestedIp: ip } }), localPort: 67, from }, 0);
    };
    expect(bind('0.0.0.0', '198.18.0.100').client).toMatchObject({ message: 'bound', ip: '198.18.0.100' });
    expect(bind('198.18.1.1', '198.18.1.100').client).toMatchObject({ message: 'bound', ip: '198.18.1.100' });
    expect(store.leasesOf(mac).map((l) => l.ip).sort()).toEqual(['198.18.0.100', '198.18.1.100']);
    const renew = handleDhcp(cfg, { msg: req(MessageType.REQUEST, mac, { ciaddr: '198.18.1.100' }), localPort: 67, from: { address: '198.18.1.100', port: 68 } }, 1000);
    expect(renew.replies[0]).toMatchObject({ address: '198.18.1.100', port: 68 });
    expect(renew.replies[0]!.msg.options).toMatchObject({ messageType: MessageType.ACK, router: ['198.18.1.1'], leaseTime: 300 });
    expect(renew.subnet).toBe('198.18.1.0/24');
  });

  it('honours a reservation only on the subnet its address is in', () => {
    const cfg = config('full', new MemoryLeaseStore([{ mac: '52:54:00:00:00:51', ip: '198.18.1.10' }]));
    const at = (giaddr: string) => handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:51', { giaddr }), localPort: 67, from }, 0).replies[0]!.msg.yiaddr;
    expect(at('198.18.1.1')).toBe('198.18.1.10');
    expect(at('0.0.0.0')).toMatch(/^198\.18\.0\.10[01]$/);
  });

  it('serves relayed subnets only when there is no local range', () => {
    const cfg = config('full');
    delete cfg.pool;
    expect(handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:41'), localPort: 67, from }, 0)).toMatchObject({ replies: [], ignored: 'no-range-on-this-subnet' });
    expect(handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:41', { giaddr: '198.18.1.1' }), localPort: 67, from }, 0).replies[0]!.msg.yiaddr).toBe('198.18.1.100');
  });

  it('unicasts renewals to ciaddr and broadcasts NAKs', () => {
    const cfg = config('full');
    handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:01'), localPort: 67, from }, 0);
    handleDhcp(cfg, { msg: req(MessageType.REQUEST, '52:54:00:00:00:01', { opts: { serverId: SERVER, requestedIp: '198.18.0.100' } }), localPort: 67, from }, 0);
    const renew = handleDhcp(cfg, { msg: req(MessageType.REQUEST, '52:54:00:00:00:01', { ciaddr: '198.18.0.100' }), localPort: 67, from: { address: '198.18.0.100', port: 68 } }, 1000);
    expect(renew.replies[0]).toMatchObject({ address: '198.18.0.100', port: 68 });
    expect(renew.replies[0]!.msg.options.messageType).toBe(MessageType.ACK);
    const steal = handleDhcp(cfg, { msg: req(MessageType.REQUEST, '52:54:00:00:00:02', { ciaddr: '198.18.0.100' }), localPort: 67, from }, 1000);
    expect(steal.replies[0]).toMatchObject({ address: '255.255.255.255', port: 68 });
    expect(steal.replies[0]!.msg.options.messageType).toBe(MessageType.NAK);
    expect(steal.replies[0]!.msg.yiaddr).toBe('0.0.0.0');
    const relayedNak = handleDhcp(cfg, { msg: req(MessageType.REQUEST, '52:54:00:00:00:03', { giaddr: '198.18.1.1', opts: { requestedIp: '10.1.1.1' } }), localPort: 67, from }, 1000);
    expect(relayedNak.replies[0]).toMatchObject({ address: '198.18.1.1', port: 67 });
    expect(relayedNak.replies[0]!.msg.flags & FLAG_BROADCAST).toBe(FLAG_BROADCAST);
  });

  it('handles INFORM without an address, DECLINE and RELEASE without a reply', () => {
    const store = new MemoryLeaseStore();
    const cfg = config('full', store);
    const inform = handleDhcp(cfg, { msg: req(MessageType.INFORM, '52:54:00:00:00:09', { ciaddr: '198.18.0.50' }), localPort: 67, from }, 0);
    expect(inform.replies[0]).toMatchObject({ address: '198.18.0.50', port: 68 });
    expect(inform.replies[0]!.msg.yiaddr).toBe('0.0.0.0');
    expect(inform.replies[0]!.msg.options.leaseTime).toBeUndefined();
    handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:01'), localPort: 67, from }, 0);
    handleDhcp(cfg, { msg: req(MessageType.REQUEST, '52:54:00:00:00:01', { opts: { serverId: SERVER, requestedIp: '198.18.0.100' } }), localPort: 67, from }, 0);
    const decline = handleDhcp(cfg, { msg: req(MessageType.DECLINE, '52:54:00:00:00:01', { opts: { serverId: SERVER, requestedIp: '198.18.0.100' } }), localPort: 67, from }, 1);
    expect(decline.replies).toEqual([]);
    expect(store.byIp('198.18.0.100')?.state).toBe('declined');
    const again = handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '52:54:00:00:00:01'), localPort: 67, from }, 2);
    expect(again.replies[0]!.msg.yiaddr).toBe('198.18.0.101');
    handleDhcp(cfg, { msg: req(MessageType.REQUEST, '52:54:00:00:00:01', { opts: { serverId: SERVER, requestedIp: '198.18.0.101' } }), localPort: 67, from }, 2);
    const rel = handleDhcp(cfg, { msg: req(MessageType.RELEASE, '52:54:00:00:00:01', { ciaddr: '198.18.0.101', opts: { serverId: SERVER } }), localPort: 67, from }, 3);
    expect(rel.replies).toEqual([]);
    expect(store.byIp('198.18.0.101')?.state).toBe('released');
  });

  it('reclaims the oldest unrequested offer when the pool is full, and reports an exhausted pool once all are bound', () => {
    const cfg = config('full');
    const discover = (n: number) => handleDhcp(cfg, { msg: req(MessageType.DISCOVER, `52:54:00:00:00:0${n}`), localPort: 67, from }, 0);
    for (const n of [1, 2]) discover(n);
    const r = discover(3);
    expect(r.replies[0]?.msg.yiaddr).toBe('198.18.0.100');
    expect(r.reclaimed).toEqual({ mac: '52:54:00:00:00:01', ip: '198.18.0.100' });
    for (const [n, ip] of [[2, '198.18.0.101'], [3, '198.18.0.100']] as const) {
      const ack = handleDhcp(cfg, { msg: req(MessageType.REQUEST, `52:54:00:00:00:0${n}`, { opts: { serverId: SERVER, requestedIp: ip } }), localPort: 67, from }, 0);
      expect(ack.replies[0]?.msg.options.messageType).toBe(MessageType.ACK);
    }
    expect(discover(4)).toMatchObject({ replies: [], exhausted: true });
  });

  it('drops replies, empty chaddr, and ignores BOOTP', () => {
    const cfg = config('full');
    const reply = req(MessageType.OFFER, '52:54:00:00:00:01');
    reply.op = BOOTREPLY;
    expect(handleDhcp(cfg, { msg: reply, localPort: 67, from }, 0).dropped).toBe('wrong-op');
    expect(handleDhcp(cfg, { msg: req(MessageType.DISCOVER, '00:00:00:00:00:00'), localPort: 67, from }, 0).dropped).toBe('no-chaddr');
    const bootp = req(MessageType.DISCOVER, '52:54:00:00:00:01');
    delete bootp.options.messageType;
    expect(handleDhcp(cfg, { msg: bootp, localPort: 67, from }, 0).ignored).toBeDefined();
  });
});

describe('proxy mode', () => {
  it('ignores clients that are not PXE', () => {
    expect(handleDhcp(config('proxy'), { msg: req(MessageType.DISCOVER, '52:54:00:00:00:01'), localPort: 67, from }, 0)).toMatchObject({ replies: [], ignored: 'not-pxe' });
  });

  it('offers boot info without an address, with option 60 and PXE option 43', () => {
    const r = handleDhcp(config('proxy'), { msg: req(MessageType.DISCOVER, '52:54:00:00:00:01', { opts: PXE_UEFI }), localPort: 67, from }, 0);
    const m = r.replies[0]!.msg;
    expect(r.replies[0]).toMatchObject({ address: '255.255.255.255', port: 68 });
    expect(m).toMatchObject({ yiaddr: '0.0.0.0', siaddr: SERVER, file: 'ipxe.efi' });
    expect(m.options).toMatchObject({ messageType: MessageType.OFFER, serverId: SERVER, vendorClass: 'PXEClient', clientUuid: PXE_UEFI.clientUuid });
    expect(m.options.leaseTime).toBeUndefined();
    expect(m.options.subnetMask).toBeUndefined();
    const pxe = decodeSubOptions(m.options.vendorSpecific!)!;
    expect(pxe.find((s) => s.code === 6)?.data).toEqual(Buffer.from([8]));
    expect(pxe.map((s) => s.code)).toEqual([6]);
  });

  it('ACKs a REQUEST on port 4011 back to its sender; ignores REQUESTs on 67', () => {
    const cfg = config('proxy');
    const sender = { address: '198.18.0.77', port: 68 };
    const r = handleDhcp(cfg, { msg: req(MessageType.REQUEST, '52:54:00:00:00:01', { ciaddr: '198.18.0.77', opts: PXE_BIOS }), localPort: 4011, from: sender }, 0);
    expect(r.replies[0]).toMatchObject(sender);
    expect(r.replies[0]!.msg.options.messageType).toBe(MessageType.ACK);
    expect(r.replies[0]!.msg.file).toBe('undionly.kpxe');
    expect(handleDhcp(cfg, { msg: req(MessageType.REQUEST, '52:54:00:00:00:01', { opts: PXE_BIOS }), localPort: 67, from }, 0).replies).toEqual([]);
  });

  it('answers a relayed PXE client with boot info only, through its relay', () => {
    const r = handleDhcp(config('proxy'), { msg: req(MessageType.DISCOVER, '52:54:00:00:00:01', { giaddr: '198.18.1.1', hops: 1, opts: PXE_BIOS }), localPort: 67, from: { address: '198.18.1.1', port: 67 } }, 0);
    expect(r.replies[0]).toMatchObject({ address: '198.18.1.1', port: 67 });
    const m = r.replies[0]!.msg;
    expect(m).toMatchObject({ yiaddr: '0.0.0.0', giaddr: '198.18.1.1', siaddr: SERVER, file: 'undionly.kpxe' });
    for (const k of ['subnetMask', 'router', 'dns', 'leaseTime'] as const) expect(m.options[k]).toBeUndefined();
    // The client then asks on 4011, routed: the ACK goes straight back to it.
    const ack = handleDhcp(config('proxy'), { msg: req(MessageType.REQUEST, '52:54:00:00:00:01', { ciaddr: '198.18.1.50', opts: PXE_BIOS }), localPort: 4011, from: { address: '198.18.1.50', port: 68 } }, 0);
    expect(ack.replies[0]).toMatchObject({ address: '198.18.1.50', port: 68 });
  });

  it('offers a UEFI HTTP Boot client the loader URL with "HTTPClient" and no PXE options; nothing on 4011', () => {
    const r = handleDhcp(config('proxy'), { msg: req(MessageType.DISCOVER, '52:54:00:00:00:01', { opts: HTTP_UEFI }), localPort: 67, from }, 0);
    const m = r.replies[0]!.msg;
    expect(r.replies[0]).toMatchObject({ address: '255.255.255.255', port: 68 });
    expect(m).toMatchObject({ yiaddr: '0.0.0.0', file: 'http://198.18.0.2:8080/boot/loaders/ipxe.efi' });
    expect(m.options).toMatchObject({ messageType: MessageType.OFFER, vendorClass: 'HTTPClient', clientUuid: HTTP_UEFI.clientUuid });
    expect(m.options.vendorSpecific).toBeUndefined();
    expect(m.options.tftpServer).toBeUndefined();
    const on4011 = handleDhcp(config('proxy'), { msg: req(MessageType.REQUEST, '52:54:00:00:00:01', { ciaddr: '198.18.0.77', opts: HTTP_UEFI }), localPort: 4011, from: { address: '198.18.0.77', port: 68 } }, 0);
    expect(on4011.replies).toEqual([]);
  });

  it('skips architectures without a loader', () => {
    const r = handleDhcp(config('proxy'), { msg: req(MessageType.DISCOVER, '52:54:00:00:00:01', { opts: { vendorClass: 'PXEClient:Arch:00011', clientArch: [11] } }), localPort: 67, from }, 0);
    expect(r).toMatchObject({ replies: [], ignored: 'unknown-arch' });
  });
});
