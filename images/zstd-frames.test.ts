// The frame tracker accepts whole zstd streams from Node's encoder (single- and
// multi-threaded, any chunking) and rejects every truncation.
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { zstdParams } from './pack.ts';
import { ZstdFrameTracker } from './zstd-frames.ts';

const data = Buffer.concat([randomBytes(200_000), Buffer.alloc(300_000, 9), Buffer.from('tail')]);

function track(buf: Buffer, step: number): void {
  const t = new ZstdFrameTracker();
  for (let i = 0; i < buf.length; i += step) t.push(buf.subarray(i, i + step));
  t.end();
}

describe('ZstdFrameTracker', () => {
  it.each([[1, 0], [3, 0], [3, 2], [19, 0]])('accepts level %i with %i workers, any chunking, and rejects every cut', (level, threads) => {
    const z = zlib.zstdCompressSync(data, { params: zstdParams(level, threads) });
    for (const step of [1, 13, 4096, z.length]) track(z, step);
    for (let cut = 0; cut < z.length; cut += 97) expect(() => track(z.subarray(0, cut), 4096), `cut ${cut}`).toThrow(cut === 0 ? /empty/ : /truncated/);
  });

  it('accepts concatenated and skippable frames', () => {
    const a = zlib.zstdCompressSync(Buffer.from('one'));
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    track(Buffer.concat([a, skippable, a]), 5);
  });

  it('rejects non-zstd bytes', () => {
    expect(() => track(Buffer.from('GET / HTTP/1.1\r\n'), 4)).toThrow(/not zstd/);
  });
});
