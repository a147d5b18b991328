/**
 * The DHCP socket loop: receive, decode, check the rate limits, ask the
 * handler, send. Bad packets and packets over a limit are dropped, counted,
 * and logged at a bounded rate; only socket errors at start (EADDRINUSE,
 * EACCES) reject. Node has no SO_BINDTODEVICE, so we receive broadcasts on
 * 0.0.0.0:67 and send from a socket bound to the stable server address: Linux
 * routes 255.255.255.255 out of the interface that owns a bound source.
 */
import dgram from 'node:dgram';
import type { Counter, Registry } from 'prom-client';
import { counter } from '../metrics.ts';
import type { Logger } from '../../core/log.ts';
import { bindToDevice } from '../bind-device.ts';
import { ImgsrvError } from '../../core/errors.ts';
import type { BootClient, BootDecision } from '../boot/select.ts';
import { DhcpDecodeError, decode, encode, peek, type DhcpMessage, type PacketHead } from './codec.ts';
import { handleDhcp, type ClientEvent, type HandlerConfig, type Outbound } from './handler.ts';
import { LeasePool, type LeaseStore } from './leases.ts';
import { buildPools, cidrOf, type RelayedSubnet, type ServedSubnet } from './subnets.ts';
import { LogThrottle } from '../log-throttle.ts';
import { MessageType, messageTypeName } from './options.ts';
import { DEFAULT_LIMITS, DhcpRateLimiter, type DhcpLimits } from './rate-limit.ts';

export type { RelayedSubnet } from './subnets.ts';

/** Options of the DHCP service (full server or proxyDHCP). */
export interface DhcpServerOptions {
  mode: 'full' | 'proxy';
  serverAddress: string; // the one stable IPv4 address we answer from (server identifier, siaddr); the interface may have several
  interfaceName: string; // for logs/metrics
  subnet: { address: string; prefix: number; router?: string | undefined; dns?: string[] | undefined; domain?: string | undefined };
  range?: { first: string; last: string } | undefined; // the local subnet's addresses; full mode needs it or `relayed`
  leaseSeconds: number;
  /** Full mode: subnets behind DHCP relays, each with its own range (and lease time, default `leaseSeconds`). */
  relayed?: readonly RelayedSubnet[] | undefined;
  leases: LeaseStore;
  boot: (client: BootClient) => BootDecision | null; // the server wires selectBoot with its policy
  onClient?: (ev: ClientEvent) => void; // node inventory hook
  logger: Logger;
  registry?: Registry | undefined;
  ports?: { server: number; client: number; proxy: number } | undefined; // defaults 67/68/4011; tests may override
  bindAddress?: string | undefined; // default '0.0.0.0'
  /** Restrict every socket to `interfaceName` (SO_BINDTODEVICE); default true. Off only for loopback unit tests. */
  bindToDevice?: boolean | undefined;
  /** Clock for lease times (tests); default Date.now. */
  now?: () => number;
  /**
   * Runs the decisions for a batch of packets (their lease writes and onClient
   * hooks) as one store transaction; replies go out only after it returns, so a
   * lease is committed before its OFFER or ACK leaves. A throw sends none of the
   * batch's replies (the clients retransmit). Default: no transaction (memory store).
   */
  transaction?: (<T>(fn: () => T) => T) | undefined;
  /** Rate limits (rate-limit.ts): DEFAULT_LIMITS, with the ones given replacing theirs; false for none. */
  limits?: Partial<DhcpLimits> | false | undefined;
}

/** A running DHCP service. */
export interface DhcpServer {
  close(): Promise<void>;
  readonly stats: Record<string, number>;
}

const DEFAULT_PORTS = { server: 67, client: 68, proxy: 4011 };
/** Log budget window: warnings (a limit hit, a full pool) once per key per window, per-packet lines 1,000 per window. */
const LOG_WINDOW_MS = 10_000;

/** A received datagram waiting for its batch. */
interface Inbound {
  buf: Buffer;
  rinfo: dgram.RemoteInfo;
  localPort: number;
  out: dgram.Socket;
}

/** A decided reply waiting for its batch's commit. */
interface Pending {
  r: Outbound;
  out: dgram.Socket;
  ctx: { mac: string; xid: number; type: string; port: number; subnet?: string | undefined };
}

/** Start the DHCP service; rejects on socket errors (port in use, no permission). */
export async function startDhcpServer(opts: DhcpServerOptions): Promise<DhcpServer> {
  const ports = opts.ports ?? DEFAULT_PORTS;
  const log = opts.logger;
  const now = opts.now ?? Date.now;
  const transaction = opts.transaction ?? (<T>(fn: () => T): T => fn());
  let pool: LeasePool | undefined;
  let relayed: ServedSubnet[] = [];
  if (opts.mode === 'full') {
    if (!opts.range && !opts.relayed?.length) throw new ImgsrvError('BAD_CONFIG', 'full DHCP mode needs an address range', { hint: 'set dhcp.range (or dhcp.subnets) or use proxy mode' });
    ({ local: pool, relayed } = buildPools(opts.leases, { ...opts.subnet, range: opts.range, serverAddress: opts.serverAddress, leaseSeconds: opts.leaseSeconds }, opts.relayed ?? []));
  }
  const pools = [...(pool ? [pool] : []), ...relayed.flatMap((r) => (r.pool ? [r.pool] : []))];
  const cfg: HandlerConfig = {
    mode: opts.mode,
    serverAddress: opts.serverAddress,
    subnet: {
      address: opts.subnet.address,
      prefix: opts.subnet.prefix,
      ...(opts.subnet.router ? { router: opts.subnet.router } : {}),
      ...(opts.subnet.dns ? { dns: opts.subnet.dns } : {}),
      ...(opts.subnet.domain ? { domain: opts.subnet.domain } : {}),
    },
    leaseSeconds: opts.leaseSeconds,
    ...(pool ? { pool } : {}),
    relayed,
    boot: opts.boot,
    ports,
  };
  const stats: Record<string, number> = {};
  const metrics = createMetrics(opts.registry);
  const iface = opts.interfaceName;
  const given = Object.entries(opts.limits || {}).filter(([, v]) => v !== undefined);
  const limiter = opts.limits === false ? undefined : new DhcpRateLimiter({ ...DEFAULT_LIMITS, ...Object.fromEntries(given) });
  // Per-packet lines and warnings under a budget each: a flood is summarised, not logged packet by packet.
  const perPacket = new LogThrottle(log, { intervalMs: LOG_WINDOW_MS, lines: 1000 });
  const warnings = new LogThrottle(log, { intervalMs: LOG_WINDOW_MS, lines: 1 });
  const logTimer = setInterval(() => {
    perPacket.flush();
    warnings.flush();
  }, LOG_WINDOW_MS).unref();
  const bump = (key: string, n = 1): void => {
    stats[key] = (stats[key] ?? 0) + n;
  };
  let queue: Inbound[] = [];
  let decodedInBatch = 0;
  let closed = false;

  const bindAddress = opts.bindAddress ?? '0.0.0.0';
  const sockets: dgram.Socket[] = [];
  try {
    // Broadcasts arrive only on a wildcard-bound socket; unicasts to serverAddress
    // (relays, renewals) prefer the more specific socket below.
    const recv = await bindSocket(bindAddress, ports.server);
    sockets.push(recv);
    // A rack powering on at once is a burst of broadcasts: ask for a deep receive queue
    // (the kernel caps it at net.core.rmem_max) so the burst waits instead of being dropped.
    recv.setRecvBufferSize(4 << 20);
    const sender = bindAddress === opts.serverAddress ? recv : await bindSocket(opts.serverAddress, ports.server);
    if (sender !== recv) sockets.push(sender);
    sender.setBroadcast(true);
    const proxySock = opts.mode === 'proxy' ? await bindSocket(opts.serverAddress, ports.proxy) : undefined;
    if (proxySock) sockets.push(proxySock);
    // The wildcard socket hears broadcasts from every network this host is on: pin all
    // of them to the one netboot interface so we never answer on another network.
    if (opts.bindToDevice !== false) for (const s of sockets) bindToDevice(s, iface);

    const malformed = ({ buf, rinfo }: Inbound, err: unknown): Pending[] => {
      const reason = err instanceof DhcpDecodeError ? err.reason : 'internal';
      bump(`dropped.${reason}`);
      metrics.dropped.inc({ reason, interface: iface });
      perPacket.write('debug', 'malformed', { from: rinfo.address, bytes: buf.length, reason, err: (err as Error).message }, 'dropped malformed DHCP packet');
      return [];
    };
    const received = (type: string): void => {
      bump(`received.${type}`);
      metrics.received.inc({ type, interface: iface });
    };
    /** Decide one packet (inside the batch's transaction); returns the replies to send after the commit. */
    const decide = (p: Inbound): Pending[] => {
      const { buf, rinfo, localPort, out } = p;
      let head: PacketHead;
      try {
        head = peek(buf);
      } catch (err) {
        return malformed(p, err);
      }
      // Before any other work on the packet, its options not even decoded: the limits are
      // there to keep a flood from the pool and the store, and to drop it cheaply.
      const ingress = head.giaddr === '0.0.0.0' ? 'local' : head.giaddr;
      // Proxy mode holds no state: there, every DISCOVER is a new client's.
      const newClient = opts.mode === 'full' ? !pools.some((p) => p.knows(head.chaddr) || p.holdsOffer(head.chaddr, now())) : head.messageType === MessageType.DISCOVER;
      const limited = limiter?.admit({ mac: head.chaddr, ingress, newClient }, performance.now());
      if (limited) {
        const type = messageTypeName(head.messageType);
        received(type);
        bump(`limited.${limited}`);
        metrics.limited.inc({ limit: limited, interface: iface });
        warnings.write('warn', `limited.${limited}`, { limit: limited, ingress, mac: head.chaddr, type }, `DHCP packets over the ${limited} rate limit dropped`);
        return [];
      }
      let msg: DhcpMessage;
      try {
        msg = decode(buf);
      } catch (err) {
        return malformed(p, err);
      }
      decodedInBatch++;
      const type = messageTypeName(msg.options.messageType);
      received(type);
      let result;
      try {
        result = handleDhcp(cfg, { msg, localPort, from: { address: rinfo.address, port: rinfo.port } }, now());
      } catch (err) {
        // The handler is written not to throw; if it does, one packet is lost, not the service.
        bump('dropped.internal');
        metrics.dropped.inc({ reason: 'internal', interface: iface });
        log.error({ err, mac: msg.chaddr, type }, 'DHCP handler failed');
        return [];
      }
      const ctx = { mac: msg.chaddr, xid: msg.xid, type, port: localPort };
      if (result.dropped) {
        bump(`dropped.${result.dropped}`);
        metrics.dropped.inc({ reason: result.dropped, interface: iface });
        perPacket.write('debug', 'dropped', { ...ctx, reason: result.dropped }, 'dropped DHCP request');
      }
      if (result.ignored) {
        bump('ignored');
        perPacket.write('debug', 'ignored', { ...ctx, reason: result.ignored }, 'not answering');
      }
      if (result.unknownSubnet) {
        // Relays we were not configured for (or a forged giaddr): counted, and logged once per window.
        bump('unknownSubnet');
        metrics.unknownSubnet.inc({ interface: iface });
        warnings.write('warn', 'unknown-subnet', { ...ctx, ...result.unknownSubnet, giaddr: msg.giaddr }, 'request from a subnet with no dhcp.subnets entry: no offer');
      }
      if (result.exhausted) {
        bump('exhausted');
        metrics.exhausted.inc({ interface: iface });
        warnings.write('warn', `exhausted.${result.subnet ?? 'local'}`, { ...ctx, subnet: result.subnet }, 'address pool exhausted: no offer (every address bound or offered to a known client)');
      }
      if (result.reclaimed) {
        bump('reclaimed');
        metrics.reclaimed.inc({ interface: iface });
        warnings.write('info', 'reclaimed', { ...ctx, from: result.reclaimed.mac, ip: result.reclaimed.ip }, 'pool full: an unrequested offer gave way to a new client');
      }
      if (result.client) {
        try {
          opts.onClient?.(result.client);
        } catch (err) {
          log.error({ err, mac: msg.chaddr }, 'onClient hook failed');
        }
      }
      return result.replies.map((r) => ({ r, out, ctx: { ...ctx, subnet: result.subnet } }));
    };
    const send = ({ r, out, ctx }: Pending): void => {
      const rtype = messageTypeName(r.msg.options.messageType);
      out.send(encode(r.msg), r.port, r.address, (err) => {
        if (err) {
          bump('sendErrors');
          log.warn({ ...ctx, err: err.message, to: r.address }, 'DHCP send failed');
          return;
        }
        bump(`sent.${rtype}`);
        metrics.sent.inc({ type: rtype, interface: iface });
      });
      perPacket.write('info', rtype, { ...ctx, reply: rtype, to: `${r.address}:${r.port}`, yiaddr: r.msg.yiaddr, subnet: ctx.subnet, file: r.msg.options.bootfile }, rtype);
    };
    // Packets that arrive together (a rack powering on) are decided together: one commit for the
    // batch instead of one per write, then the replies. The batch is what one turn of the event
    // loop read from the sockets, so no packet waits for more than that turn.
    const flush = (): void => {
      const batch = queue;
      queue = [];
      if (closed) return;
      decodedInBatch = 0;
      let replies: Pending[];
      try {
        replies = transaction(() => batch.flatMap(decide));
      } catch (err) {
        // Malformed ones were counted already; the others lost their decisions with the rollback.
        bump('dropped.uncommitted', decodedInBatch);
        metrics.dropped.inc({ reason: 'uncommitted', interface: iface }, decodedInBatch);
        log.error({ err, packets: decodedInBatch }, 'DHCP decisions not committed to the store: no replies sent');
        return;
      }
      for (const p of replies) send(p);
    };
    const onPacket = (buf: Buffer, rinfo: dgram.RemoteInfo, localPort: number, out: dgram.Socket): void => {
      if (queue.push({ buf, rinfo, localPort, out }) === 1) setImmediate(flush);
    };
    recv.on('message', (b, ri) => onPacket(b, ri, ports.server, sender));
    if (sender !== recv) sender.on('message', (b, ri) => onPacket(b, ri, ports.server, sender));
    proxySock?.on('message', (b, ri) => onPacket(b, ri, ports.proxy, proxySock));
    for (const s of sockets) s.on('error', (err) => log.error({ err }, 'DHCP socket error'));
  } catch (err) {
    clearInterval(logTimer);
    await Promise.all(sockets.map(closeSocket));
    throw err;
  }
  log.info({ mode: opts.mode, serverAddress: opts.serverAddress, interface: iface, ports, relayed: relayed.map(cidrOf) }, 'DHCP server listening');
  return {
    stats,
    close: async () => {
      closed = true;
      queue = [];
      clearInterval(logTimer);
      perPacket.flush(true);
      warnings.flush(true);
      await Promise.all(sockets.splice(0).map(closeSocket));
    },
  };
}

function bindSocket(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    s.once('error', (err) => {
      s.close();
      reject(new ImgsrvError('SOCKET', `cannot bind UDP ${address}:${port}: ${err.message}`, { cause: err }));
    });
    s.bind(port, address, () => {
      s.removeAllListeners('error');
      resolve(s);
    });
  });
}

function closeSocket(s: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

function createMetrics(registry: Registry | undefined): Record<'received' | 'sent' | 'dropped' | 'exhausted' | 'limited' | 'reclaimed' | 'unknownSubnet', Counter> {
  return {
    received: counter(registry, 'imgsrv_dhcp_received_total', 'DHCP messages received, by message type', ['type', 'interface']),
    sent: counter(registry, 'imgsrv_dhcp_sent_total', 'DHCP messages sent, by message type', ['type', 'interface']),
    dropped: counter(registry, 'imgsrv_dhcp_dropped_total', 'DHCP packets dropped as malformed or invalid, or unanswered because the store could not commit, by reason', ['reason', 'interface']),
    exhausted: counter(registry, 'imgsrv_dhcp_pool_exhausted_total', 'DISCOVERs left unanswered because the pool was full', ['interface']),
    limited: counter(registry, 'imgsrv_dhcp_rate_limited_total', 'DHCP packets dropped unanswered for exceeding a rate limit (per client MAC, per ingress, or in total)', ['limit', 'interface']),
    unknownSubnet: counter(registry, 'imgsrv_dhcp_unknown_subnet_total', 'Full-mode requests left unanswered because their relay (giaddr, link or subnet selection) is in no configured subnet', ['interface']),
    reclaimed: counter(registry, 'imgsrv_dhcp_offers_reclaimed_total', 'Unrequested OFFERs withdrawn, when the pool was full, to offer their address to another client', ['interface']),
  };
}
