/**
 * The network codecs as fuzz targets, so test/fuzz/soak.ts can run them for
 * long; their CI runs stay in netboot/dhcp/fuzz.test.ts and
 * netboot/tftp/codec.fuzz.test.ts with the budgets and checks they had.
 * - dhcp: mutations of real captured packets (netboot/dhcp/testdata/*.hex);
 *   dhcp-random: random buffers, half with a valid cookie and op. decode
 *   may only throw DhcpDecodeError; what it accepts re-encodes, decodes
 *   again (same xid) and goes through the handler (full and proxy, both
 *   ports) without throwing.
 * - tftp-codec: random and mutated datagrams decode or throw
 *   TftpDecodeError; whatever decodes survives encode → decode unchanged.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { selectBoot } from '../../../netboot/boot/select.ts';
import { DhcpDecodeError, decode as decodeDhcp, encode as encodeDhcp, MAGIC_COOKIE } from '../../../netboot/dhcp/codec.ts';
import { handleDhcp, type HandlerConfig } from '../../../netboot/dhcp/handler.ts';
import { LeasePool, MemoryLeaseStore } from '../../../netboot/dhcp/leases.ts';
import { subnetLeaseStore } from '../../../netboot/dhcp/subnets.ts';
import { TftpDecodeError, decode as decodeTftp, encode as encodeTftp, type TftpPacket } from '../../../netboot/tftp/codec.ts';
import { ACCEPTED, rejected, type FuzzTarget, type Verdict } from '../harness.ts';
import type { Rng } from '../mutators.ts';

const DHCP_TESTDATA = new URL('../../../netboot/dhcp/testdata/', import.meta.url);

/** The captured packets (hex files) of netboot/dhcp/testdata. */
export function dhcpFixtures(): Buffer[] {
  return readdirSync(DHCP_TESTDATA)
    .filter((f) => f.endsWith('.hex'))
    .map((f) => Buffer.from(readFileSync(new URL(f, DHCP_TESTDATA), 'utf8').replace(/\s+/g, ''), 'hex'));
}

const subnet = { address: '198.18.0.0', prefix: 24 };
const policy = { httpBase: 'http://198.18.0.1:8080', tftpServer: '198.18.0.1', biosLoader: 'ipxe', uefiLoader: 'ipxe.efi' } as const;
const base = { serverAddress: '198.18.0.1', subnet, leaseSeconds: 60, ports: { server: 67, client: 68, proxy: 4011 }, boot: (c: Parameters<typeof selectBoot>[0]) => selectBoot(c, policy) };
const far = { address: '198.18.1.0', prefix: 24 };
const leases = new MemoryLeaseStore();
// With a subnet behind a relay, so mutated giaddr, option 82 and option 118 exercise the subnet choice.
const full: HandlerConfig = {
  ...base,
  mode: 'full',
  pool: new LeasePool(subnetLeaseStore(leases, subnet), { first: '198.18.0.10', last: '198.18.0.20' }, subnet, { leaseMs: 60_000 }),
  relayed: [{ ...far, router: '198.18.1.1', leaseSeconds: 60, pool: new LeasePool(subnetLeaseStore(leases, far), { first: '198.18.1.10', last: '198.18.1.20' }, far, { leaseMs: 60_000 }) }],
};
const proxy: HandlerConfig = { ...base, mode: 'proxy' };

/** Decode, and if accepted, push the message through everything downstream. */
function exerciseDhcp(buf: Buffer): Verdict {
  let msg;
  try {
    msg = decodeDhcp(buf);
  } catch (err) {
    if (!(err instanceof DhcpDecodeError)) throw err;
    return rejected(err.reason);
  }
  const again = decodeDhcp(encodeDhcp(msg));
  if (again.xid !== msg.xid) throw new Error(`xid changed in encode → decode: ${msg.xid} → ${again.xid}`);
  const now = buf.length * 7919 + (buf[0] ?? 0);
  for (const cfg of [full, proxy]) {
    for (const localPort of [67, 4011]) handleDhcp(cfg, { msg, localPort, from: { address: '198.18.0.9', port: 68 } }, now);
  }
  return ACCEPTED;
}

/** The packet-aware mutations of the original DHCP fuzz test. */
function mutateDhcp(src: Buffer, rng: Rng): Buffer {
  let b = Buffer.from(src);
  for (let n = 1 + rng.below(8); n > 0; n--) {
    switch (rng.below(6)) {
      case 0: // flip a byte in the options area
        b[240 + rng.below(Math.max(1, b.length - 240))] = rng.below(256);
        break;
      case 1: // flip any byte
        b[rng.below(b.length)] = rng.below(256);
        break;
      case 2: // truncate
        b = b.subarray(0, 236 + rng.below(Math.max(1, b.length - 236)));
        break;
      case 3: // turn on option overload and scribble into file/sname
        b = Buffer.concat([b.subarray(0, 240), Buffer.from([52, 1, 1 + rng.below(3)]), b.subarray(240)]);
        b[44 + rng.below(192)] = rng.below(256);
        break;
      case 4: // insert a random option
        b = Buffer.concat([b.subarray(0, 240), Buffer.from([rng.below(256), rng.below(256)]), Buffer.alloc(rng.below(8), rng.below(256)), b.subarray(240)]);
        break;
      default: // append garbage
        b = Buffer.concat([b, Buffer.alloc(rng.below(40), rng.below(256))]);
    }
  }
  return b;
}

/** Mutated real DHCP packets through decode, encode and the handler. */
export const dhcpTarget: FuzzTarget = {
  name: 'dhcp',
  description: 'mutated captured DHCP packets → decode/encode/handleDhcp: DhcpDecodeError only, round trip keeps the xid',
  mix: { mutate: 0.7 },
  seeds: dhcpFixtures,
  mutate: (input, rng) => mutateDhcp(input, rng),
  exec: exerciseDhcp,
};

/** Random DHCP-sized buffers, half with a valid cookie and op so the option parser is reached. */
export const dhcpRandomTarget: FuzzTarget = {
  name: 'dhcp-random',
  description: 'random buffers (half with cookie and op) → decode/encode/handleDhcp: DhcpDecodeError only',
  mix: { generate: 1 },
  seeds: () => [],
  generate(rng) {
    const b = rng.bytes(rng.below(700));
    if (b.length >= 240 && rng.chance(0.5)) {
      b.writeUInt32BE(MAGIC_COOKIE, 236);
      b[0] = 1 + rng.below(2);
      b[2] = rng.below(17);
    }
    return b;
  },
  exec: exerciseDhcp,
};

const TFTP_SEEDS: TftpPacket[] = [
  { type: 'RRQ', filename: 'pxelinux.0', mode: 'octet', options: { blksize: '1468', tsize: '0', windowsize: '16' } },
  { type: 'WRQ', filename: 'a/b', mode: 'netascii', options: {} },
  { type: 'DATA', block: 65535, data: Buffer.from('payload') },
  { type: 'ACK', block: 1 },
  { type: 'ERROR', code: 8, message: 'option refused' },
  { type: 'OACK', options: { blksize: '512', timeout: '3' } },
];

/** The datagram mutations of the original TFTP codec fuzz test. */
function mutateTftp(buf: Buffer, rng: Rng): Buffer {
  const b = Buffer.from(buf);
  switch (rng.below(6)) {
    case 0: // flip bits
      for (let i = 0; i < 1 + rng.below(4); i++) if (b.length) b[rng.below(b.length)]! ^= 1 << rng.below(8);
      return b;
    case 1: // truncate
      return b.subarray(0, rng.below(b.length + 1));
    case 2: // zero a byte (splits strings)
      if (b.length) b[rng.below(b.length)] = 0;
      return b;
    case 3: // insert random bytes
      return Buffer.concat([b.subarray(0, rng.below(b.length)), rng.bytes(1 + rng.below(8)), b]);
    case 4: // change the opcode
      if (b.length >= 2) b.writeUInt16BE(rng.below(8), 0);
      return b;
    default: // remove terminators
      return Buffer.from(b.filter(() => rng.float() > 0.05));
  }
}

/** Random and mutated TFTP datagrams through decode and encode. */
export const tftpCodecTarget: FuzzTarget = {
  name: 'tftp-codec',
  description: 'random/mutated TFTP datagrams → decode: TftpDecodeError only; decoded packets survive encode → decode',
  mix: { generate: 0.3, mutate: 0.5 },
  seeds: () => TFTP_SEEDS.map((p) => encodeTftp(p)),
  generate: (rng) => rng.bytes(rng.below(80)),
  mutate: (input, rng) => mutateTftp(input, rng),
  exec(input) {
    let p: TftpPacket;
    try {
      p = decodeTftp(input);
    } catch (err) {
      if (!(err instanceof TftpDecodeError)) throw new Error(`non-TftpDecodeError for ${input.toString('hex')}: ${String(err)}`, { cause: err });
      return rejected(err.reason);
    }
    if (!isDeepStrictEqual(decodeTftp(encodeTftp(p)), p)) throw new Error(`encode → decode changed ${JSON.stringify(p)}`);
    return ACCEPTED;
  },
};
