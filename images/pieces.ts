/**
 * BitTorrent piece hashes (BEP 3: SHA-1 of each `piece length` slice of the
 * payload), computed while the artifact is written so that publishing an
 * image never reads it again just to make its torrent.
 *
 * The piece length depends on the final size, which is unknown until zstd
 * has finished. The packer knows the uncompressed size up front, and the
 * compressed size lies between it and a fraction of it, so it hashes at the
 * few candidate lengths that size range can select (at most four), and keeps
 * the one the final size selects. SHA-1 runs at ~1.8 GB/s here against
 * zstd's ~100-250 MB/s of output: four passes cost a few percent of a pack.
 */
import { createHash, type Hash } from 'node:crypto';

/** Smallest piece we use: smaller pieces mean more HAVE messages and a bigger torrent for no gain on a LAN. */
export const MIN_PIECE_LENGTH = 256 * 1024;
/** Largest piece: bigger pieces delay the first verified byte and raise the cost of one corrupt piece. */
export const MAX_PIECE_LENGTH = 16 * 1024 * 1024;

/**
 * The piece length for a payload of `bytes`: the power of two giving about
 * 1024 pieces (the rule create-torrent uses), clamped to 256 KiB-16 MiB.
 */
export function pieceLengthFor(bytes: number): number {
  const target = bytes < 1024 ? 1 : bytes / 1024;
  const exp = Math.round(Math.log2(target));
  return Math.min(MAX_PIECE_LENGTH, Math.max(MIN_PIECE_LENGTH, 2 ** exp));
}

/**
 * Candidate lengths for an output of at most `upperBytes` and at least
 * upperBytes / 8 (zstd rarely does better than 8:1 on an OS tree; beyond
 * that the smallest candidate is used, which only means more pieces).
 */
export function candidatePieceLengths(upperBytes: number): number[] {
  const set = new Set<number>();
  for (let div = 1; div <= 8; div *= 2) set.add(pieceLengthFor(upperBytes / div));
  return [...set].sort((a, b) => a - b);
}

/** Piece hashes for one piece length: `hashes` is the concatenation of 20-byte SHA-1 digests (the `pieces` field). */
export interface Pieces {
  pieceLength: number;
  length: number;
  hashes: Buffer;
}

class OneLength {
  readonly pieceLength: number;
  private hash: Hash = createHash('sha1');
  private filled = 0;
  private readonly digests: Buffer[] = [];

  constructor(pieceLength: number) {
    this.pieceLength = pieceLength;
  }

  update(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(this.pieceLength - this.filled, chunk.length - off);
      this.hash.update(chunk.subarray(off, off + take));
      this.filled += take;
      off += take;
      if (this.filled === this.pieceLength) {
        this.digests.push(this.hash.digest());
        this.hash = createHash('sha1');
        this.filled = 0;
      }
    }
  }

  finish(): Buffer {
    if (this.filled > 0) this.digests.push(this.hash.digest());
    this.filled = 0;
    return Buffer.concat(this.digests);
  }
}

/** Hashes a byte stream at several piece lengths at once; `finish` keeps the one its total length selects. */
export class PieceHasher {
  private readonly lengths: OneLength[];
  private total = 0;

  constructor(candidates: number[]) {
    if (candidates.length === 0) throw new Error('PieceHasher needs at least one piece length');
    this.lengths = [...new Set(candidates)].sort((a, b) => a - b).map((l) => new OneLength(l));
  }

  /** Feed the next bytes of the payload. */
  update(chunk: Buffer): void {
    this.total += chunk.length;
    for (const l of this.lengths) l.update(chunk);
  }

  /** The hashes at the candidate closest to pieceLengthFor(total length). */
  finish(): Pieces {
    const want = pieceLengthFor(this.total);
    let best = this.lengths[0]!;
    for (const l of this.lengths) if (Math.abs(Math.log2(l.pieceLength / want)) < Math.abs(Math.log2(best.pieceLength / want))) best = l;
    return { pieceLength: best.pieceLength, length: this.total, hashes: best.finish() };
  }
}
