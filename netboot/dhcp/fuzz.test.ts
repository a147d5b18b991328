/**
 * Fuzz: random buffers and mutations of real captured packets. decode may only
 * throw DhcpDecodeError; whatever it accepts must re-encode, decode again, and
 * go through the handler (full and proxy) without throwing. Time-bounded.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { selectBoot } from '../boot/select.ts';
import { DhcpDecodeError, decode, encode, MAGIC_COOKIE } from './codec.ts';
import { handleDhcp, type HandlerConfig } from './handler.ts';
import { LeasePool, MemoryLeaseStore } from './leases.ts';

const TESTDATA = new URL('./testdata/', import.meta.url);
const fixtures = readdirSync(TESTDATA)
  .filter((f) => f.endsWith('.hex'))
  .map((f) => Buffer.from(readFileSync(new URL(f, TESTDATA), 'utf8').replace(/\s+/g, ''), 'hex'));

const subnet = { address: '198.18.0.0', prefix: 24 };
const policy = { httpBase: 'http://198.18.0.1:8080', tftpServer: '198.18.0.1', biosLoader: 'ipxe', uefiLoader: 'ipxe.efi' } as const;
const base = { serverAddress: '198.18.0.1', subnet, leaseSeconds: 60, ports: { server: 67, client: 68, proxy: 4011 }, boot: (c: Parameters<typeof selectBoot>[0]) => selectBoot(c, policy) };
const full: HandlerConfig = { ...base, mode: 'full', pool: new LeasePool(new MemoryLeaseStore(), { first: '198.18.0.10', last: '198.18.0.20' }, subnet, { leaseMs: 60_000 }) };
const proxy: HandlerConfig = { ...base, mode: 'proxy' };

let seed = 0x1234567;
const rnd = (n: number): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};

/** Decode, and if accepted, push the message through everything downstream. */
function exercise(buf: Buffer, stats: { ok: number; rejected: number }): void {
  let msg;
  try {
    msg = decode(buf);
  } catch (err) {
    if (!(err instanceof DhcpDecodeError)) throw err;
    stats.rejected++;
    return;
  }
  stats.ok++;
  const again = decode(encode(msg));
  expect(again.xid).toBe(msg.xid);
  for (const cfg of [full, proxy]) {
    for (const localPort of [67, 4011]) handleDhcp(cfg, { msg, localPort, from: { address: '198.18.0.9', port: 68 } }, rnd(1e9));
  }
}

function mutate(src: Buffer): Buffer {
  let b = Buffer.from(src);
  const n = 1 + rnd(8);
  for (let i = 0; i < n; i++) {
    switch (rnd(6)) {
      case 0: // flip a byte in the options area
        b[240 + rnd(Math.max(1, b.length - 240))] = rnd(256);
        break;
      case 1: // flip any byte
        b[rnd(b.length)] = rnd(256);
        break;
      case 2: // truncate
        b = b.subarray(0, 236 + rnd(Math.max(1, b.length - 236)));
        break;
      case 3: // turn on option overload and scribble into file/sname
        b = Buffer.concat([b.subarray(0, 240), Buffer.from([52, 1, 1 + rnd(3)]), b.subarray(240)]);
        b[44 + rnd(192)] = rnd(256);
        break;
      case 4: // insert a random option
        b = Buffer.concat([b.subarray(0, 240), Buffer.from([rnd(256), rnd(256)]), Buffer.alloc(rnd(8), rnd(256)), b.subarray(240)]);
        break;
      case 5: // append garbage
        b = Buffer.concat([b, Buffer.alloc(rnd(40), rnd(256))]);
        break;
    }
  }
  return b;
}

describe('fuzz', () => {
  it('random buffers: only DhcpDecodeError, never a crash (3 s)', () => {
    const stats = { ok: 0, rejected: 0 };
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      const b = Buffer.alloc(rnd(700));
      for (let i = 0; i < b.length; i++) b[i] = rnd(256);
      // Half of them get a valid cookie and op so the option parser is reached.
      if (b.length >= 240 && rnd(2)) {
        b.writeUInt32BE(MAGIC_COOKIE, 236);
        b[0] = 1 + rnd(2);
        b[2] = rnd(17);
      }
      exercise(b, stats);
    }
    expect(stats.rejected).toBeGreaterThan(0);
  });

  it('mutated real fixtures: decoder and handler stay up (5 s)', () => {
    expect(fixtures.length).toBeGreaterThan(0);
    const stats = { ok: 0, rejected: 0 };
    const end = Date.now() + 5000;
    while (Date.now() < end) exercise(mutate(fixtures[rnd(fixtures.length)]!), stats);
    // Mutations must still reach the handler often enough to mean something.
    expect(stats.ok).toBeGreaterThan(100);
    expect(stats.rejected).toBeGreaterThan(100);
  });
});
