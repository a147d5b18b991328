/**
 * A herd of simulated DHCP clients on one socket (our codec, each client its
 * own chaddr and xid), all starting at once like a rack powering on. Each runs
 * DISCOVER → OFFER → REQUEST → ACK, or with `mode: 'reboot'` the INIT-REBOOT
 * REQUEST for its previous address (RFC 2131 §4.3.2), and retransmits like a
 * real client: exponential backoff with jitter (§4.1), back to DISCOVER after
 * a NAK or after unanswered REQUESTs. Used by bench/dhcp.ts and the load lab
 * test; run it inside a namespace with no address (port 68, broadcast):
 *   node herd.ts --clients N [--mode discover|reboot] [--previous FILE] [--pxe]
 * prints one JSON line (HerdResult).
 */
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BOOTREQUEST, FLAG_BROADCAST, decode, emptyMessage, encode, type DhcpMessage } from '../../netboot/dhcp/codec.ts';
import { MessageType, type DhcpOptions } from '../../netboot/dhcp/options.ts';

/** Options of one herd run. */
export interface HerdOptions {
  clients: number;
  /** First three bytes of every MAC (the client index fills the other three); default 02:00:00. */
  macPrefix?: string;
  mode?: 'discover' | 'reboot';
  /** MAC → address each client held before (reboot mode). */
  previous?: Record<string, string>;
  /** Announce a BIOS PXE ROM (options 60, 93, 94) so the server also picks a boot file. */
  pxe?: boolean;
  /** First retransmission timeout; doubles up to maxTimeoutMs, ±25% jitter. */
  firstTimeoutMs?: number;
  maxTimeoutMs?: number;
  /** Give up on the clients still unanswered after this long. */
  deadlineMs?: number;
}

/** What a herd run saw. Times in ms from the first packet. */
export interface HerdResult {
  clients: number;
  done: number;
  totalMs: number;
  p50Ms: number;
  p99Ms: number;
  retransmits: number;
  naks: number;
  /** ACKs that named a boot file (pxe runs). */
  bootfiles: number;
  /** OFFERs or ACKs of an address already offered or acknowledged to another client of the herd. */
  conflicts: number;
  /** MAC → acknowledged address, for every client that finished. */
  leases: Record<string, string>;
}

/** The MAC of client `i`. */
export function herdMac(i: number, prefix = '02:00:00'): string {
  return `${prefix}:${[16, 8, 0].map((s) => ((i >> s) & 0xff).toString(16).padStart(2, '0')).join(':')}`;
}

/** Attempts at one REQUEST before starting over with DISCOVER (dhclient and udhcpc do the same). */
const REQUEST_TRIES = 4;

interface Client {
  mac: string;
  xid: number;
  stage: 'discover' | 'request' | 'reboot' | 'done';
  ip?: string;
  serverId?: string;
  tries: number;
  startedAt: number;
  due: number;
  doneMs?: number;
}

/** Run the herd from this namespace; resolves when every client is bound or the deadline passes. */
export async function runHerd(o: HerdOptions): Promise<HerdResult> {
  const first = o.firstTimeoutMs ?? 2000;
  const max = o.maxTimeoutMs ?? 16_000;
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => sock.bind(68, '0.0.0.0', r));
  sock.setBroadcast(true);
  sock.setRecvBufferSize(4 << 20);
  sock.setSendBufferSize(4 << 20);
  const base = (Math.random() * 2 ** 31) >>> 0;
  const clients: Client[] = Array.from({ length: o.clients }, (_, i) => {
    const mac = herdMac(i, o.macPrefix);
    const ip = o.previous?.[mac];
    const reboot = o.mode === 'reboot' && ip !== undefined;
    return { mac, xid: (base + i) >>> 0, stage: reboot ? 'reboot' : 'discover', ...(reboot ? { ip } : {}), tries: 0, startedAt: 0, due: 0 };
  });
  const byXid = new Map(clients.map((c) => [c.xid, c]));
  const pxe: DhcpOptions = o.pxe ? { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0], clientNdi: { type: 1, major: 2, minor: 1 } } : {};
  let retransmits = 0;
  let naks = 0;
  let bootfiles = 0;
  let conflicts = 0;
  /** Address → the client it was last offered or acknowledged to; a conflict if that client still holds it. */
  const holder = new Map<string, Client>();
  const claim = (ip: string, c: Client): void => {
    const other = holder.get(ip);
    if (other !== undefined && other !== c && other.ip === ip) conflicts++;
    holder.set(ip, c);
  };
  let done = 0;
  const t0 = performance.now();

  const send = (c: Client): void => {
    const m = emptyMessage(BOOTREQUEST, c.xid, c.mac);
    m.flags = FLAG_BROADCAST; // no address yet: unicast to us could not be received
    const common: DhcpOptions = { paramList: [1, 3, 6, 51, 66, 67], ...pxe };
    if (c.stage === 'discover') m.options = { messageType: MessageType.DISCOVER, ...common };
    else if (c.stage === 'request') m.options = { messageType: MessageType.REQUEST, serverId: c.serverId!, requestedIp: c.ip!, ...common };
    else m.options = { messageType: MessageType.REQUEST, requestedIp: c.ip!, ...common };
    const now = performance.now();
    if (c.tries === 0 && c.startedAt === 0) c.startedAt = now;
    if (c.tries > 0) retransmits++;
    const timeout = Math.min(first * 2 ** c.tries, max);
    c.due = now + timeout * (0.75 + Math.random() * 0.5);
    c.tries++;
    sock.send(encode(m), 67, '255.255.255.255');
  };
  const restart = (c: Client, stage: Client['stage']): void => {
    c.stage = stage;
    c.tries = 0;
    send(c);
  };

  const finished = new Promise<void>((resolve) => {
    if (o.clients === 0) resolve();
    sock.on('message', (b) => {
      let m: DhcpMessage;
      try {
        m = decode(b);
      } catch {
        return;
      }
      const c = byXid.get(m.xid);
      if (!c || c.stage === 'done' || m.chaddr !== c.mac) return;
      const type = m.options.messageType;
      if (c.stage === 'discover' && type === MessageType.OFFER) {
        claim(m.yiaddr, c);
        c.ip = m.yiaddr;
        c.serverId = m.options.serverId;
        restart(c, 'request');
      } else if ((c.stage === 'request' || c.stage === 'reboot') && type === MessageType.ACK && m.yiaddr === c.ip) {
        claim(m.yiaddr, c);
        c.stage = 'done';
        c.doneMs = performance.now() - c.startedAt;
        if (m.options.bootfile) bootfiles++;
        if (++done === o.clients) resolve();
      } else if ((c.stage === 'request' || c.stage === 'reboot') && type === MessageType.NAK) {
        naks++;
        restart(c, 'discover');
      }
    });
  });
  for (const c of clients) send(c);
  const timer = setInterval(() => {
    const now = performance.now();
    for (const c of clients) {
      if (c.stage === 'done' || now < c.due) continue;
      if (c.stage !== 'discover' && c.tries >= REQUEST_TRIES) restart(c, 'discover');
      else send(c);
    }
  }, 100);
  let deadline: NodeJS.Timeout | undefined;
  await Promise.race([finished, new Promise((r) => (deadline = setTimeout(r, o.deadlineMs ?? 60_000)))]);
  clearTimeout(deadline);
  clearInterval(timer);
  sock.close();
  const times = clients.map((c) => c.doneMs ?? Infinity).sort((a, b) => a - b);
  const pct = (p: number): number => times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? 0;
  const leases = Object.fromEntries(clients.filter((c) => c.stage === 'done').map((c) => [c.mac, c.ip!]));
  return { clients: o.clients, done, totalMs: performance.now() - t0, p50Ms: pct(0.5), p99Ms: pct(0.99), retransmits, naks, bootfiles, conflicts, leases };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '1000' },
      mode: { type: 'string', default: 'discover' },
      previous: { type: 'string' },
      'mac-prefix': { type: 'string' },
      pxe: { type: 'boolean', default: false },
      'deadline-ms': { type: 'string', default: '60000' },
    },
  });
  // The namespace has no address; like a ROM, the herd still needs a way to 255.255.255.255.
  execFileSync('ip', ['route', 'replace', '255.255.255.255/32', 'dev', 'eth0']);
  const r = await runHerd({
    clients: Number(values.clients),
    mode: values.mode === 'reboot' ? 'reboot' : 'discover',
    ...(values.previous ? { previous: JSON.parse(readFileSync(values.previous, 'utf8')) as Record<string, string> } : {}),
    ...(values['mac-prefix'] ? { macPrefix: values['mac-prefix'] } : {}),
    pxe: values.pxe,
    deadlineMs: Number(values['deadline-ms']),
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
}
