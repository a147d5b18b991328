// The compressor: both paths produce a zstd stream that decodes to the input;
// and the reason the multi-threaded path uses the zstd command.
import { randomBytes } from 'node:crypto';
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createCompressor, zstdParams } from './compressor.ts';

async function compress(stream: Duplex, chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), stream, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

const input = (): Buffer[] => Array.from({ length: 64 }, (_, i) => (i % 2 ? randomBytes(64 << 10) : Buffer.alloc(1 << 20, i)));

describe('createCompressor', () => {
  it.each([0, 2])('round-trips with %i threads', async (threads) => {
    const chunks = input();
    const z = await compress(createCompressor(3, threads), chunks);
    expect(zlib.zstdDecompressSync(z).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('documents the bug it avoids: Node zstd with nbWorkers ends a long stream early', async () => {
    // 1 MiB zero chunks, 4 GiB in all: Node 24.11 emits 'end' well before the input ends.
    // If this starts passing, Node fixed it and threads could go back to the built-in.
    const z = zlib.createZstdCompress({ params: zstdParams(3, 2) });
    const chunk = Buffer.alloc(1 << 20);
    let fed = 0;
    const src = (async function* () {
      for (; fed < 4096; fed++) yield chunk;
    })();
    const result = await pipeline(src, z, async (s: AsyncIterable<Buffer>) => {
      for await (const c of s) void c;
    }).then(() => 'complete', (e: Error) => `failed after ${fed} MiB: ${e.message}`);
    expect(result).toMatch(/^failed/);
    console.log(`Node built-in zstd, 2 workers, 4 GiB stream: ${result}`);
  }, 60_000);
});
