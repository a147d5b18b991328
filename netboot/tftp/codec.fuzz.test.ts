/**
 * Fuzz the codec for a bounded time (FUZZ_MS, default 5 s): random and
 * mutated datagrams either decode or throw TftpDecodeError, nothing else; and
 * whatever decodes survives encode → decode unchanged.
 */
import { describe, expect, it } from 'vitest';
import { TftpDecodeError, decode, encode, type TftpPacket } from './codec.ts';
import { seededRandom } from './testdata/raw-peer.ts';

const BUDGET_MS = Number(process.env['FUZZ_MS'] ?? 5000);

const seedPackets: TftpPacket[] = [
    { type: 'RRQ', filename: 'pxelinux.0', mode: 'octet', options: { blksize: '1468', tsize: '0', windowsize: '16' } },
    { type: 'WRQ', filename: 'a/b', mode: 'netascii', options: {} },
    { type: 'DATA', block: 65535, data: Buffer.from('payload') },
    { type: 'ACK', block: 1 },
    { type: 'ERROR', code: 8, message: 'option refused' },
    { type: 'OACK', options: { blksize: '512', timeout: '3' } },
];
const seeds = seedPackets.map((p) => encode(p));

function mutate(buf: Buffer, rnd: () => number): Buffer {
  const b = Buffer.from(buf);
  const pick = (n: number) => Math.floor(rnd() * n);
  switch (pick(6)) {
    case 0: // flip bits
      for (let i = 0; i < 1 + pick(4); i++) if (b.length) b[pick(b.length)]! ^= 1 << pick(8);
      return b;
    case 1: // truncate
      return b.subarray(0, pick(b.length + 1));
    case 2: // zero a byte (splits strings)
      if (b.length) b[pick(b.length)] = 0;
      return b;
    case 3: // insert random bytes
      return Buffer.concat([b.subarray(0, pick(b.length)), Buffer.from(Array.from({ length: 1 + pick(8) }, () => pick(256))), b]);
    case 4: // change the opcode
      if (b.length >= 2) b.writeUInt16BE(pick(8), 0);
      return b;
    default: // remove terminators
      return Buffer.from(b.filter(() => rnd() > 0.05));
  }
}

describe('tftp codec fuzz', () => {
  it(`decodes or throws TftpDecodeError only (${BUDGET_MS} ms)`, () => {
    const rnd = seededRandom(Number(process.env['FUZZ_SEED'] ?? 1));
    const end = Date.now() + BUDGET_MS;
    let n = 0;
    const reasons = new Set<string>();
    while (Date.now() < end) {
      for (let k = 0; k < 200; k++, n++) {
        const input =
          rnd() < 0.3
            ? Buffer.from(Array.from({ length: Math.floor(rnd() * 80) }, () => Math.floor(rnd() * 256)))
            : mutate(seeds[Math.floor(rnd() * seeds.length)]!, rnd);
        let p: TftpPacket;
        try {
          p = decode(input);
        } catch (err) {
          if (!(err instanceof TftpDecodeError)) throw new Error(`non-TftpDecodeError for ${input.toString('hex')}: ${String(err)}`);
          reasons.add(err.reason);
          continue;
        }
        expect(decode(encode(p))).toEqual(p);
      }
    }
    expect(n).toBeGreaterThan(1000);
    expect(reasons.size).toBeGreaterThan(3); // the mutations reach several error paths
  });
});
