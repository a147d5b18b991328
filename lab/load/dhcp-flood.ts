/**
 * A flood of mutated DHCPDISCOVERs (issue 25: a broken or hostile host), each
 * from a MAC invented for it, sent on one socket as fast as the kernel takes
 * them. The mutations: random chaddr, xid, secs and broadcast flag; a random
 * mix of options (PXE vendor class and architecture, iPXE user class, host
 * name, requested address, client identifier, parameter list); and in one
 * packet in ten a few random bytes of the options overwritten, which the
 * server may decode or drop as malformed. The packets are built before the
 * clock starts, so the send time is the send alone. Run it inside a
 * namespace with no address (port 68, broadcast), like dhcp-herd.ts:
 *   node dhcp-flood.ts --count N [--seed S]       → {"sent":N} the moment the last packet
 *     has left (so a test can start a client right then), then a FloodResult line
 *   node dhcp-flood.ts --probe MAC [--pxe]        → one JSON line (ProbeResult):
 *     a DISCOVER every 500 ms until an OFFER for it arrives (proxy mode's check)
 */
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import { BOOTREQUEST, FLAG_BROADCAST, decode, emptyMessage, encode, type DhcpMessage } from '../../netboot/dhcp/codec.ts';
import { MessageType, type DhcpOptions } from '../../netboot/dhcp/options.ts';

/** What a flood run did. */
export interface FloodResult {
  sent: number;
  /** From the first send to the last send's completion. */
  sendMs: number;
  /** Packets with bytes overwritten after encoding. */
  mangled: number;
  /** OFFERs for our xids seen on port 68 up to 500 ms after the last send. */
  offersSeen: number;
}

/** What a probe saw: the first OFFER for its MAC, and how long after its first DISCOVER. */
export interface ProbeResult {
  ms: number | null;
  discovers: number;
  offer?: { serverId?: string; yiaddr: string; file: string; vendorClass?: string };
}

/** A small seeded generator (mulberry32), so a failing run can be replayed with its seed. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) >>> 0;
  };
}

const hex = (b: number): string => b.toString(16).padStart(2, '0');

/** The `i`-th packet of a flood seeded with `seed`. */
export function floodPacket(r: (n: number) => number): { buf: Buffer; xid: number; mangled: boolean } {
  const mac = Array.from({ length: 6 }, () => r(256));
  mac[5] = (mac[5]! | 1) & 0xff; // never all zero (the server drops those before any work)
  const xid = (r(0x10000) * 0x10000 + r(0x10000)) >>> 0;
  const m: DhcpMessage = emptyMessage(BOOTREQUEST, xid, mac.map(hex).join(':'));
  m.secs = r(4) === 0 ? r(0x10000) : 0;
  m.flags = r(2) ? FLAG_BROADCAST : 0;
  const o: DhcpOptions = { messageType: MessageType.DISCOVER };
  if (r(2)) {
    const arch = [0, 6, 7, 9, 10, 11, 16, r(0x10000)][r(8)]!;
    o.vendorClass = `PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:00${r(4)}0${r(20)}`;
    o.clientArch = [arch];
    o.clientNdi = { type: 1, major: 2 + r(2), minor: r(32) };
  }
  if (r(4) === 0) o.userClass = 'iPXE';
  if (r(3) === 0) o.hostname = Array.from({ length: 1 + r(30) }, () => 'abcdefghijklmnopqrstuvwxyz0123456789-'[r(37)]).join('');
  if (r(3) === 0) o.requestedIp = `198.18.${r(256)}.${r(256)}`;
  if (r(3) === 0) o.clientId = Buffer.from(Array.from({ length: 2 + r(20) }, () => r(256)));
  if (r(2)) o.paramList = Array.from({ length: 1 + r(20) }, () => 1 + r(254));
  m.options = o;
  const buf = encode(m);
  const mangled = r(10) === 0;
  // Past the fixed header and magic cookie (240 bytes), keeping option 53 (first) intact.
  if (mangled) for (let k = 1 + r(3); k > 0; k--) buf[243 + r(Math.max(1, buf.length - 243))] = r(256);
  return { buf, xid, mangled };
}

/** The namespace has no address; like a ROM, the sender still needs a way to 255.255.255.255. */
function broadcastRoute(): void {
  execFileSync('ip', ['route', 'replace', '255.255.255.255/32', 'dev', 'eth0']);
}

async function port68(): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => sock.bind(68, '0.0.0.0', r));
  sock.setBroadcast(true);
  return sock;
}

/** Send `count` flood packets; resolves once the last has left (`onSent` is called then) and stragglers had 500 ms to be answered. */
export async function flood(count: number, seed: number, onSent: () => void = () => {}): Promise<FloodResult> {
  const r = rng(seed);
  const packets = Array.from({ length: count }, () => floodPacket(r));
  const xids = new Set(packets.map((p) => p.xid));
  const sock = await port68();
  sock.setSendBufferSize(4 << 20);
  let offersSeen = 0;
  sock.on('message', (b) => {
    try {
      const m = decode(b);
      if (m.options.messageType === MessageType.OFFER && xids.has(m.xid)) offersSeen++;
    } catch {
      /* not a DHCP reply */
    }
  });
  const t0 = performance.now();
  // In slices of 256, each slice waiting for its last send: as fast as the kernel takes them.
  for (let i = 0; i < count; i += 256) {
    const slice = packets.slice(i, i + 256);
    await new Promise<void>((resolve) => slice.forEach((p, k) => sock.send(p.buf, 67, '255.255.255.255', k === slice.length - 1 ? () => resolve() : undefined)));
  }
  const sendMs = performance.now() - t0;
  onSent();
  await new Promise((res) => setTimeout(res, 500));
  sock.close();
  return { sent: count, sendMs, mangled: packets.filter((p) => p.mangled).length, offersSeen };
}

/** One DISCOVER from `mac` every 500 ms until an OFFER for it arrives or `deadlineMs` passes. */
export async function probe(mac: string, pxe: boolean, deadlineMs: number): Promise<ProbeResult> {
  const sock = await port68();
  const xid = (Math.random() * 2 ** 32) >>> 0;
  const m = emptyMessage(BOOTREQUEST, xid, mac);
  m.flags = FLAG_BROADCAST;
  m.options = { messageType: MessageType.DISCOVER, ...(pxe ? { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0], clientNdi: { type: 1, major: 2, minor: 1 } } : {}) };
  const buf = encode(m);
  const t0 = performance.now();
  let discovers = 0;
  const result = await new Promise<ProbeResult>((resolve) => {
    const send = (): void => {
      discovers++;
      sock.send(buf, 67, '255.255.255.255');
    };
    const timer = setInterval(send, 500);
    const deadline = setTimeout(() => done({ ms: null, discovers }), deadlineMs);
    const done = (res: ProbeResult): void => {
      clearInterval(timer);
      clearTimeout(deadline);
      resolve(res);
    };
    sock.on('message', (b) => {
      let o: DhcpMessage;
      try {
        o = decode(b);
      } catch {
        return;
      }
      if (o.xid !== xid || o.options.messageType !== MessageType.OFFER) return;
      const offer = { yiaddr: o.yiaddr, file: o.file, ...(o.options.serverId ? { serverId: o.options.serverId } : {}), ...(o.options.vendorClass ? { vendorClass: o.options.vendorClass } : {}) };
      done({ ms: performance.now() - t0, discovers, offer });
    });
    send();
  });
  sock.close();
  return result;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '50000' },
      seed: { type: 'string', default: String(Date.now() & 0x7fffffff) },
      probe: { type: 'string' },
      pxe: { type: 'boolean', default: false },
      'deadline-ms': { type: 'string', default: '10000' },
    },
  });
  broadcastRoute();
  const out = values.probe
    ? await probe(values.probe, values.pxe, Number(values['deadline-ms']))
    : { seed: Number(values.seed), ...(await flood(Number(values.count), Number(values.seed), () => process.stdout.write(`${JSON.stringify({ sent: Number(values.count) })}\n`))) };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
