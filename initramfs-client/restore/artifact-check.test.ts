import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { checkArtifact } from './artifact-check.ts';

const data = Buffer.from('imgsrv artifact bytes '.repeat(1000));
const want = { sha256: createHash('sha256').update(data).digest('hex'), compressedBytes: data.length };
const chunks = (b: Buffer) => Readable.from([b.subarray(0, 100), b.subarray(100, 5000), b.subarray(5000)]);
const readAll = async (r: Readable) => {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
};

describe('artifact check', () => {
  it('passes the bytes through unchanged and accepts the published artifact', async () => {
    const c = checkArtifact(chunks(data), want);
    expect((await readAll(c.stream)).equals(data)).toBe(true);
    await expect(c.verify()).resolves.toBeUndefined();
  });

  it('refuses one flipped byte, and a truncated or longer artifact', async () => {
    const flipped = Buffer.from(data);
    flipped[4321] = flipped[4321]! ^ 1;
    for (const bad of [flipped, data.subarray(0, data.length - 1), Buffer.concat([data, Buffer.from('x')])]) {
      const c = checkArtifact(chunks(bad), want);
      await readAll(c.stream);
      await expect(c.verify()).rejects.toThrow(/not the one published/);
    }
  });

  it('reads what the unpacker left unread before judging', async () => {
    const c = checkArtifact(chunks(data), want);
    const it = c.stream[Symbol.asyncIterator]();
    await it.next(); // the unpacker stops early (tar end marker)
    await expect(c.verify()).resolves.toBeUndefined();
  });

  it('passes a source error on', async () => {
    const src = new Readable({ read() {} });
    const c = checkArtifact(src, want);
    src.destroy(new Error('peer gone'));
    await expect(readAll(c.stream)).rejects.toThrow(/peer gone/);
  });
});
