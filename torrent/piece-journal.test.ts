import { describe, expect, it } from 'vitest';
import { dataOffsetFor, decodeHeader, encodeHeader, HEADER_BYTES, headerFor, pieceAreaBytes, sameHeader } from './piece-journal.ts';

const T = { infoHash: 'ab'.repeat(20), pieceLength: 262144, length: 1_500_000_123 };

describe('piece area header', () => {
  it('round-trips and says where the pieces start', () => {
    const h = headerFor(T);
    expect(h.pieces).toBe(Math.ceil(T.length / T.pieceLength));
    const b = encodeHeader(h);
    expect(b.length).toBe(HEADER_BYTES);
    expect(decodeHeader(b)).toEqual(h);
    expect(sameHeader(decodeHeader(b)!, headerFor(T))).toBe(true);
    // 5723 pieces: a 716-byte bitfield after the 4 KiB header, data at 1 MiB.
    expect(h.dataOffset).toBe(1 << 20);
    expect(pieceAreaBytes(T)).toBe((1 << 20) + T.length);
    // 8 Mi pieces need a 1 MiB bitfield: data moves to the next MiB.
    expect(dataOffsetFor(8 << 20)).toBe(2 << 20);
  });

  it('finds no header in a blank or foreign area, or in one whose fields disagree', () => {
    expect(decodeHeader(Buffer.alloc(HEADER_BYTES))).toBeNull();
    expect(decodeHeader(Buffer.from('not a header at all'))).toBeNull();
    const b = encodeHeader(headerFor(T));
    b.writeUInt32BE(7, 48); // pieces no longer match length / piece length
    expect(decodeHeader(b)).toBeNull();
    const other = decodeHeader(encodeHeader(headerFor({ ...T, infoHash: 'cd'.repeat(20) })))!;
    expect(sameHeader(other, headerFor(T))).toBe(false);
  });
});
