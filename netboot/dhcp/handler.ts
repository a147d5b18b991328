/**
 * DHCP decisions, free of sockets: a decoded request + context in, replies
 * (with their destination) and notes out. Full mode allocates leases (RFC
 * 2131 §4.3) from the subnet the request comes from (subnets.ts: the local
 * one, or one behind a relay); proxy mode answers only PXE clients with boot information (PXE
 * 2.1 spec §2.2.5 "proxyDHCP", RFC 4578) and never hands out addresses.
 */
import type { BootClient, BootDecision } from '../boot/select.ts';
import { firmwareOf, isHttpBootClient } from '../boot/select.ts';
import { BOOTREPLY, BOOTREQUEST, FLAG_BROADCAST, emptyMessage, type DhcpMessage } from './codec.ts';
import type { LeasePool, RequestState } from './leases.ts';
import { MessageType, encodeSubOptions, type DhcpOptions } from './options.ts';
import { selectSubnet, type SelectedBy, type ServedSubnet } from './subnets.ts';

/** What the handler needs to know about the server. */
export interface HandlerConfig {
  mode: 'full' | 'proxy';
  /**
   * Server identifier (option 54), siaddr and option 66, for every subnet: the
   * one address relays forward to and routed clients renew with (see
   * docs/architecture.md, "Relayed subnets").
   */
  serverAddress: string;
  /** The local subnet: the interface's network, with the old single-range keys. */
  subnet: { address: string; prefix: number; router?: string; dns?: string[]; domain?: string };
  leaseSeconds: number;
  /** The local subnet's addresses (full mode); absent when only relayed subnets hand out addresses. */
  pool?: LeasePool;
  /** Subnets behind relays (full mode), each with its own pool. */
  relayed?: readonly ServedSubnet[];
  boot: (client: BootClient) => BootDecision | null;
  ports: { server: number; client: number; proxy: number };
}

/** A received request: the message, the local port it arrived on, and its sender. */
export interface Inbound {
  msg: DhcpMessage;
  localPort: number;
  from: { address: string; port: number };
}

/** A reply and where to send it. */
export interface Outbound {
  msg: DhcpMessage;
  address: string;
  port: number;
}

/** The node inventory event (see DhcpServerOptions.onClient). */
export interface ClientEvent {
  mac: string;
  arch?: number;
  firmware?: 'bios' | 'uefi';
  isIpxe: boolean;
  ip?: string;
  message: string;
}

/** What to do: replies to send, why nothing was sent, and what to report. */
export interface HandlerResult {
  replies: Outbound[];
  /** Set when the request was dropped as invalid (metrics label). */
  dropped?: string;
  /** Set when the request was valid but deliberately not answered (log only). */
  ignored?: string;
  /** The pool had no address for a DISCOVER. */
  exhausted?: boolean;
  /** The pool was full and this OFFER took the address of another MAC's unrequested offer. */
  reclaimed?: { mac: string; ip: string };
  /** Full mode: the request's link (giaddr, 82/5 or 118) is in no configured subnet, so nothing was offered. */
  unknownSubnet?: { link: string; by: SelectedBy };
  /** The subnet that served the request (full mode), for logs: '198.18.1.0/24'. */
  subnet?: string;
  client?: ClientEvent;
}

const BROADCAST = '255.255.255.255';
const ZERO = '0.0.0.0';

/** What a request says about its sender's boot environment. */
export function bootClientOf(msg: DhcpMessage): BootClient {
  const vendorClass = msg.options.vendorClass;
  return {
    mac: msg.chaddr,
    arch: msg.options.clientArch?.[0],
    isIpxe: msg.options.userClass === 'iPXE' || msg.options.ipxe !== undefined,
    ...(vendorClass !== undefined ? { vendorClass } : {}),
  };
}

/** PXE clients announce themselves with option 60 "PXEClient…" (PXE 2.1 §2.2.1). */
export function isPxeClient(msg: DhcpMessage): boolean {
  return msg.options.vendorClass?.startsWith('PXEClient') ?? false;
}

/** A firmware booting over the network: PXE, or UEFI HTTP Boot ("HTTPClient…", select.ts). */
function isNetbootFirmware(msg: DhcpMessage): boolean {
  return isPxeClient(msg) || isHttpBootClient(msg.options);
}

/** Decide the replies for one request. Never throws for any decoded message. */
export function handleDhcp(cfg: HandlerConfig, req: Inbound, now: number): HandlerResult {
  const { msg } = req;
  if (msg.op !== BOOTREQUEST) return { replies: [], dropped: 'wrong-op' };
  if (msg.hlen === 0 || /^(00:)*00$/.test(msg.chaddr)) return { replies: [], dropped: 'no-chaddr' };
  const type = msg.options.messageType;
  if (type === undefined) return { replies: [], ignored: 'bootp-not-supported' };
  const client = bootClientOf(msg);
  const firmware = firmwareOf(client.arch ?? (isPxeClient(msg) ? 0 : undefined));
  const event = (message: string, ip?: string): ClientEvent => ({
    mac: client.mac,
    isIpxe: client.isIpxe,
    message,
    ...(client.arch !== undefined ? { arch: client.arch } : {}),
    ...(firmware !== undefined ? { firmware } : {}),
    ...(ip !== undefined ? { ip } : {}),
  });
  if (cfg.mode === 'proxy') return proxy(cfg, req, type, client, event);
  return full(cfg, req, type, client, now, event);
}

function full(
  cfg: HandlerConfig,
  req: Inbound,
  type: number,
  client: BootClient,
  now: number,
  event: (m: string, ip?: string) => ClientEvent,
): HandlerResult {
  const { msg } = req;
  if (req.localPort !== cfg.ports.server) return { replies: [], ignored: 'proxy-port-in-full-mode' };
  const choice = selectSubnet(localSubnet(cfg), cfg.relayed ?? [], msg);
  // A link we have no subnet for: any address we gave would not work there (RFC 2131 §4.3.1).
  if (!choice.subnet) return { replies: [], unknownSubnet: { link: choice.link, by: choice.by } };
  const net = choice.subnet;
  const pool = net.pool;
  const name = `${net.address}/${net.prefix}`;
  if (!pool) return { replies: [], ignored: 'no-range-on-this-subnet', subnet: name };
  const boot = isNetbootFirmware(msg) || client.isIpxe ? cfg.boot(client) : null;
  const done = (r: HandlerResult): HandlerResult => ({ ...r, subnet: name });
  switch (type) {
    case MessageType.DISCOVER: {
      const lease = pool.offer(client.mac, msg.options.requestedIp, now);
      if (!lease) return done({ replies: [], exhausted: true, client: event('pool exhausted') });
      const reply = answer(cfg, net, msg, MessageType.OFFER, lease.ip, boot);
      const reclaimed = lease.reclaimedFrom !== undefined ? { reclaimed: { mac: lease.reclaimedFrom, ip: lease.ip } } : {};
      return done({ replies: [route(cfg, msg, reply)], client: event('offered', lease.ip), ...reclaimed });
    }
    case MessageType.REQUEST: {
      const sid = msg.options.serverId;
      let state: RequestState;
      let ip: string | undefined;
      if (sid !== undefined) [state, ip] = ['selecting', msg.options.requestedIp ?? nonZero(msg.ciaddr)];
      else if (msg.options.requestedIp !== undefined && msg.ciaddr === ZERO) [state, ip] = ['init-reboot', msg.options.requestedIp];
      else [state, ip] = ['renewing', nonZero(msg.ciaddr)];
      if (ip === undefined) return done({ replies: [], dropped: 'request-without-address' });
      const out = pool.request(client.mac, state, ip, sid === undefined ? undefined : sid === cfg.serverAddress, now, msg.options.hostname);
      if (out.kind === 'ignore') return done({ replies: [], ignored: out.why });
      if (out.kind === 'nak') {
        const nak = reply(cfg, msg, MessageType.NAK);
        nak.options.message = out.why;
        return done({ replies: [route(cfg, msg, nak)], client: event(`nak: ${out.why}`, ip) });
      }
      const ack = answer(cfg, net, msg, MessageType.ACK, out.lease.ip, boot);
      return done({ replies: [route(cfg, msg, ack)], client: event('bound', out.lease.ip) });
    }
    case MessageType.DECLINE: {
      const ip = msg.options.requestedIp;
      if (ip === undefined || !pool.decline(client.mac, ip, now)) return done({ replies: [], ignored: 'decline-not-ours' });
      return done({ replies: [], client: event('declined', ip) });
    }
    case MessageType.RELEASE: {
      if (!pool.release(client.mac, msg.ciaddr, now)) return done({ replies: [], ignored: 'release-not-ours' });
      return done({ replies: [], client: event('released', msg.ciaddr) });
    }
    case MessageType.INFORM: {
      // RFC 2131 §4.3.5: configuration only; no yiaddr, no lease time; unicast to ciaddr.
      const ack = answer(cfg, net, msg, MessageType.ACK, ZERO, boot);
      delete ack.options.leaseTime;
      delete ack.options.renewalTime;
      delete ack.options.rebindingTime;
      return done({ replies: [route(cfg, msg, ack)], client: event('informed', nonZero(msg.ciaddr)) });
    }
    default:
      return { replies: [], ignored: `unexpected message type ${type}` };
  }
}

function proxy(
  cfg: HandlerConfig,
  req: Inbound,
  type: number,
  client: BootClient,
  event: (m: string, ip?: string) => ClientEvent,
): HandlerResult {
  const { msg } = req;
  if (!isNetbootFirmware(msg)) return { replies: [], ignored: 'not-pxe' };
  const onProxyPort = req.localPort === cfg.ports.proxy;
  // UEFI HTTP Boot has no port-4011 step: the firmware takes the boot URI from a proxy OFFER on 68
  // (an offer without an address, "HTTPClient" in option 60) beside the real server's address offer.
  if (isHttpBootClient(msg.options) && onProxyPort) return { replies: [], ignored: `proxy ignores HTTP Boot clients on ${req.localPort}` };
  // PXE 2.1 §2.2.5: the proxy OFFERs on 67 alongside the real server, then ACKs the
  // client's unicast REQUEST on 4011. Everything else belongs to the real server.
  const expected = onProxyPort ? MessageType.REQUEST : MessageType.DISCOVER;
  if (type !== expected) return { replies: [], ignored: `proxy ignores ${type} on ${req.localPort}` };
  const boot = cfg.boot(client);
  if (!boot) return { replies: [], ignored: 'unknown-arch', client: event('no boot file for this architecture') };
  // Addresses belong to the other DHCP server, so the subnet doesn't matter: a relayed PXE client gets the
  // same boot information through its relay (the reply goes to giaddr, route below).
  const out = answer(cfg, localSubnet(cfg), msg, onProxyPort ? MessageType.ACK : MessageType.OFFER, ZERO, boot);
  for (const k of ['subnetMask', 'router', 'dns', 'domainName', 'leaseTime', 'renewalTime', 'rebindingTime'] as const) {
    delete out.options[k];
  }
  if (boot.httpBoot) out.options.vendorClass = 'HTTPClient';
  else {
    out.options.vendorClass = 'PXEClient';
    out.options.vendorSpecific = pxeVendorOptions();
  }
  // PXE 2.1 §2.2.5: echo the client's UUID/GUID so it can match the proxy offer.
  if (msg.options.clientUuid) out.options.clientUuid = msg.options.clientUuid;
  if (onProxyPort) return { replies: [{ msg: out, address: req.from.address, port: req.from.port }], client: event(`proxy ack ${boot.filename}`) };
  return { replies: [route(cfg, msg, out)], client: event(`proxy offer ${boot.filename}`) };
}

/**
 * Option 43 for PXE clients (PXE 2.1 §2.4, "PXE vendor options"): discovery
 * control 8 = "boot the file named in this offer, no boot-server discovery".
 * Tested in the lab (proxy.lab.test.ts): OVMF's EDK2 PxeBc boots from this
 * alone, so no boot menu (9) or menu prompt (10) is sent. The End sub-option
 * closes the list as the PXE spec shows it.
 */
export function pxeVendorOptions(): Buffer {
  return Buffer.concat([encodeSubOptions([{ code: 6, data: Buffer.from([8]) }]), Buffer.from([255])]);
}

/** The local subnet as a ServedSubnet (the config keeps the old single-range shape). */
function localSubnet(cfg: HandlerConfig): ServedSubnet {
  return { ...cfg.subnet, leaseSeconds: cfg.leaseSeconds, pool: cfg.pool };
}

/**
 * A reply skeleton: same xid, flags, chaddr and giaddr; relay info echoed
 * (RFC 3046 §2.2, which carries an RFC 3527 link selection back with it);
 * subnet selection echoed (RFC 3011 §3: "MUST return an identical copy").
 */
function reply(cfg: HandlerConfig, req: DhcpMessage, type: number): DhcpMessage {
  const r = emptyMessage(BOOTREPLY, req.xid, req.chaddr);
  r.htype = req.htype;
  r.hlen = req.hlen;
  r.flags = req.flags;
  r.giaddr = req.giaddr;
  r.options = { messageType: type, serverId: cfg.serverAddress };
  if (req.options.agentInfo) r.options.agentInfo = req.options.agentInfo;
  if (req.options.subnetSelection) r.options.subnetSelection = req.options.subnetSelection;
  return r;
}

/** OFFER/ACK with the subnet's network configuration, lease times and boot information. */
function answer(cfg: HandlerConfig, net: ServedSubnet, req: DhcpMessage, type: number, yiaddr: string, boot: BootDecision | null): DhcpMessage {
  const r = reply(cfg, req, type);
  r.yiaddr = yiaddr;
  r.ciaddr = req.ciaddr;
  const o: DhcpOptions = r.options;
  o.subnetMask = prefixToMask(net.prefix);
  if (net.router) o.router = [net.router];
  if (net.dns?.length) o.dns = net.dns;
  if (net.domain) o.domainName = net.domain;
  o.leaseTime = net.leaseSeconds;
  // RFC 2131 §4.4.5 defaults: T1 = 0.5, T2 = 0.875 of the lease.
  o.renewalTime = Math.floor(net.leaseSeconds / 2);
  o.rebindingTime = Math.floor((net.leaseSeconds * 7) / 8);
  if (boot) {
    r.siaddr = boot.tftpServer ?? cfg.serverAddress;
    // The file field holds 127 characters; a longer URL travels only in option 67.
    if (boot.filename.length < 128) r.file = boot.filename;
    o.bootfile = boot.filename;
    // Option 66 only for TFTP names; a URL already says where to fetch from.
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(boot.filename)) o.tftpServer = boot.tftpServer ?? cfg.serverAddress;
    // UEFI 2.x §24.7.2: an offer to an HTTP Boot client carries "HTTPClient" in option 60, or the firmware ignores it.
    if (boot.httpBoot) o.vendorClass = 'HTTPClient';
  }
  return r;
}

/** RFC 2131 §4.1 reply routing; broadcast stands in for unicast-to-yiaddr (Node cannot seed ARP). */
function route(cfg: HandlerConfig, req: DhcpMessage, r: DhcpMessage): Outbound {
  if (req.giaddr !== ZERO) {
    // Through a relay: to its server port; a NAK asks the relay to broadcast.
    if (r.options.messageType === MessageType.NAK) r.flags |= FLAG_BROADCAST;
    return { msg: r, address: req.giaddr, port: cfg.ports.server };
  }
  if (r.options.messageType !== MessageType.NAK && req.ciaddr !== ZERO) {
    return { msg: r, address: req.ciaddr, port: cfg.ports.client };
  }
  return { msg: r, address: BROADCAST, port: cfg.ports.client };
}

function nonZero(ip: string): string | undefined {
  return ip === ZERO ? undefined : ip;
}

/** 24 → '255.255.255.0'. */
export function prefixToMask(prefix: number): string {
  const n = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

