/**
 * The fuzzer's randomness and its format-blind byte mutations. Everything is
 * driven by one seeded PRNG, so a run (seed, target) replays exactly: a hang
 * that killed the process can be found again from its seed and exec number.
 */

/** A seeded PRNG (sfc32): fast, 128-bit state, good enough to explore inputs. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [0, n); 0 when n <= 0. */
  below(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.float() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  /** Small sizes far more often than big ones (log-uniform up to max). */
  size(max: number): number {
    return Math.min(max, Math.floor(Math.exp(this.float() * Math.log(max + 1))) - 1 + this.below(2));
  }

  /** n random bytes. */
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

/** Boundary values that break length and offset arithmetic. */
export const INTERESTING_INTS: readonly number[] = [
  0, 1, 2, 7, 8, 16, 31, 32, 63, 64, 100, 127, 128, 255, 256, 511, 512, 513, 1023, 1024, 4095, 4096, 32767, 32768, 65535, 65536,
  0x7fffffff, 0x80000000, 0xffffffff, -1, -128, -32768,
];

/** Decimal strings that break parsers of numbers in text formats. */
export const INTERESTING_NUMBERS: readonly string[] = [
  '0', '-0', '1', '-1', '511', '512', '513', '4294967295', '4294967296', '9007199254740991', '9007199254740993', '1e309',
  '99999999999999999999999', '0.5', '-1e-7', 'NaN', '077777777777', '18446744073709551615', '',
];

/** A generic mutation: bytes in, bytes out (never mutates its input). */
export type Mutator = (b: Buffer, rng: Rng, corpus: readonly Buffer[]) => Buffer;

const at = (b: Buffer, rng: Rng): number => rng.below(b.length + 1);

/** Format-blind mutators: each name says what it does. */
export const GENERIC_MUTATORS: Readonly<Record<string, Mutator>> = {
  flipBit(b, rng) {
    if (b.length === 0) return rng.bytes(1);
    const o = Buffer.from(b);
    o[rng.below(o.length)]! ^= 1 << rng.below(8);
    return o;
  },
  setByte(b, rng) {
    if (b.length === 0) return rng.bytes(1);
    const o = Buffer.from(b);
    o[rng.below(o.length)] = rng.pick([0, 0xff, 0x7f, 0x80, 0x20, 0x0a, 0x2f, 0x2e, 0x3d, rng.below(256)]);
    return o;
  },
  insert(b, rng) {
    const i = at(b, rng);
    return Buffer.concat([b.subarray(0, i), rng.bytes(1 + rng.size(64)), b.subarray(i)]);
  },
  delete(b, rng) {
    const i = at(b, rng);
    return Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + rng.size(b.length))]);
  },
  truncate(b, rng) {
    return b.subarray(0, rng.below(b.length + 1));
  },
  splice(b, rng, corpus) {
    const other = corpus.length ? rng.pick(corpus) : b;
    const i = at(b, rng);
    const j = rng.below(other.length + 1);
    return Buffer.concat([b.subarray(0, i), other.subarray(j, j + rng.size(other.length))]);
  },
  crossover(b, rng, corpus) {
    const other = corpus.length ? rng.pick(corpus) : b;
    const i = at(b, rng);
    const j = rng.below(other.length + 1);
    return Buffer.concat([b.subarray(0, i), other.subarray(j, j + rng.size(other.length)), b.subarray(i)]);
  },
  interestingInt(b, rng) {
    const width = rng.pick([1, 2, 4, 8]);
    if (b.length < width) return Buffer.concat([b, Buffer.alloc(width)]);
    const o = Buffer.from(b);
    const i = rng.below(o.length - width + 1);
    const v = BigInt.asUintN(64, BigInt(rng.pick(INTERESTING_INTS)));
    const bytes = Buffer.alloc(8);
    bytes.writeBigUInt64BE(v);
    const field = bytes.subarray(8 - width);
    (rng.chance(0.5) ? field : Buffer.from(field).reverse()).copy(o, i);
    return o;
  },
  asciiNumber(b, rng) {
    // Text formats (pax records, octal fields, JSON): replace a run of digits with a boundary number.
    const runs: Array<[number, number]> = [];
    for (let i = 0; i < b.length && runs.length < 256; i++) {
      if (b[i]! < 0x30 || b[i]! > 0x39) continue;
      let j = i;
      while (j < b.length && b[j]! >= 0x30 && b[j]! <= 0x39) j++;
      runs.push([i, j]);
      i = j;
    }
    if (runs.length === 0) return GENERIC_MUTATORS.insert!(b, rng, []);
    const [i, j] = rng.pick(runs);
    return Buffer.concat([b.subarray(0, i), Buffer.from(rng.pick(INTERESTING_NUMBERS)), b.subarray(j)]);
  },
  repeatChunk(b, rng) {
    const i = rng.below(b.length + 1);
    const chunk = b.subarray(i, i + 1 + rng.size(64));
    const times = 1 + rng.size(rng.chance(0.1) ? 4096 : 16);
    return Buffer.concat([b.subarray(0, i), ...Array.from({ length: times }, () => chunk), b.subarray(i)]);
  },
};

const NAMES = Object.keys(GENERIC_MUTATORS);

/** Apply 1–4 generic mutations in a row. */
export function mutateBytes(b: Buffer, rng: Rng, corpus: readonly Buffer[]): Buffer {
  let out = b;
  for (let n = 1 + rng.size(3); n > 0; n--) out = GENERIC_MUTATORS[rng.pick(NAMES)]!(out, rng, corpus);
  return out;
}
