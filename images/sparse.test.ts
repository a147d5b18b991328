// GNU sparse 1.0 bodies: map parsing across chunk boundaries and corrupt maps.
import { describe, expect, it } from 'vitest';
import { encodeSparseMap, parseSparseMap, sparsePieces } from './sparse.ts';

async function collect(chunks: Buffer[], size: number): Promise<Array<[number, string]>> {
  const out: Array<[number, string]> = [];
  for await (const p of sparsePieces((async function* () { yield* chunks; })(), size, 'f')) out.push([p.offset, p.data.toString()]);
  return out;
}

describe('sparse bodies', () => {
  it('encodes and parses a map', () => {
    const m = encodeSparseMap([[0, 3], [100, 2]]);
    expect(m.length).toBe(512);
    expect(parseSparseMap(m, 'f')).toEqual({ segments: [[0, 3], [100, 2]], length: 512 });
    expect(parseSparseMap(m.subarray(0, 5), 'f')).toBeUndefined();
  });

  it('yields pieces at their offsets whatever the chunking', async () => {
    const body = Buffer.concat([encodeSparseMap([[0, 3], [100, 2], [200, 0]]), Buffer.from('abcde')]);
    for (const step of [1, 7, 511, 513, body.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < body.length; i += step) chunks.push(body.subarray(i, i + step));
      const pieces = await collect(chunks, 200);
      expect(pieces.map(([o]) => o)[0]).toBe(0);
      expect(pieces.reduce((s, [, d]) => s + d, '')).toBe('abcde');
      expect(pieces.filter(([o]) => o >= 100).reduce((s, [, d]) => s + d, '')).toBe('de');
    }
  });

  it('rejects maps that lie', async () => {
    await expect(collect([Buffer.concat([encodeSparseMap([[0, 3]]), Buffer.from('abcdef')])], 10)).rejects.toThrow(/more data than its sparse map/);
    await expect(collect([Buffer.concat([encodeSparseMap([[0, 3]]), Buffer.from('a')])], 10)).rejects.toThrow(/less data than its sparse map/);
    await expect(collect([encodeSparseMap([[5, 3], [0, 1]])], 10)).rejects.toThrow(/out of order/);
    await expect(collect([encodeSparseMap([[5, 30]])], 10)).rejects.toThrow(/past the file's end/);
    expect(() => parseSparseMap(Buffer.from('2\nxx\n'), 'f')).toThrow(/bad sparse map/);
    expect(() => parseSparseMap(Buffer.from('99999999999\n'), 'f')).toThrow(/segments/);
  });
});
