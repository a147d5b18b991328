/**
 * A scripted PXE client for lab tests, built on our codec; runs inside a
 * client namespace. DISCOVER (with PXE options 60/93/94/97), collect every
 * OFFER for a while, REQUEST the address offer, configure the address, then
 * ask the proxyDHCP server on port 4011 for the boot file, like a PXE ROM.
 * Prints one JSON result line.
 */
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { BOOTREQUEST, FLAG_BROADCAST, decode, emptyMessage, encode, type DhcpMessage } from '../codec.ts';
import { MessageType } from '../options.ts';

const args = JSON.parse(process.argv[2] ?? '{}') as { mac: string; arch: number; collectMs?: number; iface?: string };
const xid = (Math.random() * 2 ** 32) >>> 0;
const arch = args.arch;
const pxeOptions = (m: DhcpMessage): void => {
  m.options.vendorClass = `PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:003016`;
  m.options.clientArch = [arch];
  m.options.clientNdi = { type: 1, major: 3, minor: 16 };
  m.options.clientUuid = Buffer.from('00' + '42'.repeat(16), 'hex');
  m.options.paramList = [1, 3, 6, 43, 54, 60, 66, 67, 97];
};

// An unconfigured namespace has no route at all, not even for the limited broadcast;
// a PXE ROM sends raw frames. Give eth0 a host route for 255.255.255.255 (this namespace only).
execFileSync('ip', ['route', 'replace', '255.255.255.255/32', 'dev', args.iface ?? 'eth0']);
const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
await new Promise<void>((r) => sock.bind(68, '0.0.0.0', r));
sock.setBroadcast(true);
const inbox: DhcpMessage[] = [];
const waiters = new Set<() => void>();
sock.on('message', (b) => {
  try {
    const m = decode(b);
    if (m.xid === xid) inbox.push(m);
  } catch {
    return;
  }
  for (const w of waiters) w();
});
const send = (m: DhcpMessage, address: string, port: number): Promise<void> =>
  new Promise((res, rej) => sock.send(encode(m), port, address, (e) => (e ? rej(e) : res())));
const waitFor = (pred: (m: DhcpMessage) => boolean, ms: number): Promise<DhcpMessage | undefined> =>
  new Promise((resolve) => {
    const check = (): void => {
      const hit = inbox.find(pred);
      if (hit) done(hit);
    };
    const done = (v: DhcpMessage | undefined): void => {
      waiters.delete(check);
      clearTimeout(t);
      resolve(v);
    };
    const t = setTimeout(() => done(undefined), ms);
    waiters.add(check);
    check();
  });
const summary = (m: DhcpMessage | undefined) =>
  m && { type: m.options.messageType, serverId: m.options.serverId, yiaddr: m.yiaddr, siaddr: m.siaddr, file: m.file, bootfile: m.options.bootfile, vendorClass: m.options.vendorClass, vendorSpecific: m.options.vendorSpecific?.toString('hex'), uuid: m.options.clientUuid?.toString('hex') };

const discover = emptyMessage(BOOTREQUEST, xid, args.mac);
discover.flags = FLAG_BROADCAST;
discover.options.messageType = MessageType.DISCOVER;
pxeOptions(discover);
await send(discover, '255.255.255.255', 67);
await new Promise((r) => setTimeout(r, args.collectMs ?? 2000));
const offers = inbox.filter((m) => m.options.messageType === MessageType.OFFER);
const addressOffer = offers.find((m) => m.yiaddr !== '0.0.0.0');
const proxyOffer = offers.find((m) => m.yiaddr === '0.0.0.0' && m.options.vendorClass === 'PXEClient');
let ack: DhcpMessage | undefined;
let proxyAck: DhcpMessage | undefined;
if (addressOffer) {
  const req = emptyMessage(BOOTREQUEST, xid, args.mac);
  req.flags = FLAG_BROADCAST;
  req.options.messageType = MessageType.REQUEST;
  req.options.serverId = addressOffer.options.serverId!;
  req.options.requestedIp = addressOffer.yiaddr;
  pxeOptions(req);
  await send(req, '255.255.255.255', 67);
  ack = await waitFor((m) => m.options.messageType === MessageType.ACK && m.yiaddr === addressOffer.yiaddr, 3000);
}
if (ack && proxyOffer) {
  // PXE 2.1 §2.2.5: with its address configured, the client asks the proxy on 4011.
  execFileSync('ip', ['addr', 'add', `${ack.yiaddr}/24`, 'dev', args.iface ?? 'eth0']);
  const req = emptyMessage(BOOTREQUEST, xid, args.mac);
  req.ciaddr = ack.yiaddr;
  req.options.messageType = MessageType.REQUEST;
  pxeOptions(req);
  await send(req, proxyOffer.options.serverId!, 4011);
  proxyAck = await waitFor((m) => m.options.messageType === MessageType.ACK && m.options.serverId === proxyOffer.options.serverId, 3000);
}
process.stdout.write(`${JSON.stringify({ offers: offers.map(summary), ack: summary(ack), proxyAck: summary(proxyAck) })}\n`);
sock.close();
