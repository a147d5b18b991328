/**
 * The layout of a piece area: a byte range of a disk (or file) that holds one
 * torrent's verified pieces, so a node keeps the image on its own disk rather
 * than in RAM, and finds them again after a reboot. Pure: the header's
 * encoding and the offsets; torrent/piece-area.ts does the I/O.
 *
 *   0        header (HEADER_BYTES): magic, info hash, piece length, length, pieces, data offset
 *   4096     bitfield: one bit per piece, set once the piece is written and synced
 *   dataOffset (1 MiB aligned)  piece i at dataOffset + i × pieceLength
 */
import { ImgsrvError } from '../core/errors.ts';

const MAGIC = Buffer.from('imgsrv pieces v1', 'ascii'); // 16 bytes
/** Bytes of the header block (the bitfield starts here). */
export const HEADER_BYTES = 4096;
const ALIGN = 1 << 20;

/** What a piece area holds: one torrent's pieces. */
export interface PieceAreaHeader {
  /** 40 hex digits. */
  infoHash: string;
  pieceLength: number;
  /** The torrent's length in bytes. */
  length: number;
  pieces: number;
  /** Offset of piece 0 from the start of the area. */
  dataOffset: number;
}

/** The header for a torrent, with its data offset. */
export function headerFor(t: { infoHash: string; pieceLength: number; length: number }): PieceAreaHeader {
  const pieces = Math.ceil(t.length / t.pieceLength);
  return { infoHash: t.infoHash.toLowerCase(), pieceLength: t.pieceLength, length: t.length, pieces, dataOffset: dataOffsetFor(pieces) };
}

/** Offset of piece 0: past the header and the bitfield, 1 MiB aligned. */
export function dataOffsetFor(pieces: number): number {
  return Math.ceil((HEADER_BYTES + bitfieldBytes(pieces)) / ALIGN) * ALIGN;
}

/** Bytes of the bitfield of `pieces` pieces. */
export function bitfieldBytes(pieces: number): number {
  return Math.ceil(pieces / 8);
}

/** Bytes a piece area for this torrent needs: header, bitfield, every piece. */
export function pieceAreaBytes(t: { pieceLength: number; length: number }): number {
  return dataOffsetFor(Math.ceil(t.length / t.pieceLength)) + t.length;
}

/** The header block (HEADER_BYTES, zero-padded). */
export function encodeHeader(h: PieceAreaHeader): Buffer {
  if (!/^[0-9a-f]{40}$/.test(h.infoHash)) throw new ImgsrvError('INTERNAL', `piece area: bad info hash ${JSON.stringify(h.infoHash)}`);
  const b = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(b, 0);
  Buffer.from(h.infoHash, 'hex').copy(b, 16);
  b.writeUInt32BE(h.pieceLength, 36);
  b.writeBigUInt64BE(BigInt(h.length), 40);
  b.writeUInt32BE(h.pieces, 48);
  b.writeUInt32BE(h.dataOffset, 52);
  return b;
}

/** The header in `b`, or null when `b` holds none (a blank area, or anything else). */
export function decodeHeader(b: Buffer): PieceAreaHeader | null {
  if (b.length < 56 || !b.subarray(0, 16).equals(MAGIC)) return null;
  const length = b.readBigUInt64BE(40);
  if (length > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  const h = { infoHash: b.subarray(16, 36).toString('hex'), pieceLength: b.readUInt32BE(36), length: Number(length), pieces: b.readUInt32BE(48), dataOffset: b.readUInt32BE(52) };
  if (h.pieceLength === 0 || h.pieces !== Math.ceil(h.length / h.pieceLength) || h.dataOffset !== dataOffsetFor(h.pieces)) return null;
  return h;
}

/** Whether two headers describe the same torrent in the same layout. */
export function sameHeader(a: PieceAreaHeader, b: PieceAreaHeader): boolean {
  return a.infoHash === b.infoHash && a.pieceLength === b.pieceLength && a.length === b.length && a.pieces === b.pieces && a.dataOffset === b.dataOffset;
}
