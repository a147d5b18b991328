/**
 * The torrent's info dictionary (BEP 3, single-file mode) for an image
 * artifact. It is written once, at pack time, as `info.bencode` in the
 * version directory; its SHA-1 is the swarm's info hash. Announce URL and
 * web seed are not part of it (they depend on where the server runs): the
 * server wraps this dictionary into a `.torrent` at start-up (see
 * server/swarm/torrent-file.ts), so moving the server never changes the hash.
 */
import { createHash } from 'node:crypto';
import bencode from 'bencode';
import type { Pieces } from './pieces.ts';

/** File name of the bencoded info dictionary inside a version directory. */
export const INFO_FILE = 'info.bencode';

/** The name peers see for an image version's payload (what aria2c saves it as). */
export function payloadName(image: string, version: number): string {
  return `${image}-${version}.tar.zst`;
}

/** Bencode the info dictionary for one file of `pieces.length` bytes. */
export function encodeInfo(name: string, pieces: Pieces): Buffer {
  if (pieces.hashes.length !== Math.ceil(pieces.length / pieces.pieceLength) * 20) {
    throw new Error(`piece hashes (${pieces.hashes.length / 20}) do not cover ${pieces.length} bytes at ${pieces.pieceLength}`);
  }
  // Keys are emitted sorted by bencode; `name` is a UTF-8 byte string.
  return Buffer.from(bencode.encode({ length: pieces.length, name, 'piece length': pieces.pieceLength, pieces: pieces.hashes }));
}

/** The decoded fields of an info dictionary we wrote. */
export interface InfoFields {
  name: string;
  length: number;
  pieceLength: number;
  pieceCount: number;
}

/** Decode and check an info dictionary (single file, consistent piece count). Throws on anything else. */
export function decodeInfo(buf: Buffer): InfoFields {
  const d = bencode.decode(buf) as Record<string, unknown>;
  const name = d.name instanceof Uint8Array ? Buffer.from(d.name).toString('utf8') : undefined;
  const length = d.length;
  const pieceLength = d['piece length'];
  const pieces = d.pieces;
  if (!name || typeof length !== 'number' || typeof pieceLength !== 'number' || !(pieces instanceof Uint8Array) || 'files' in d) {
    throw new Error('not a single-file info dictionary');
  }
  if (pieceLength <= 0 || pieces.length !== Math.ceil(length / pieceLength) * 20) throw new Error('piece hashes do not match the length');
  return { name, length, pieceLength, pieceCount: pieces.length / 20 };
}

/** The info hash (hex SHA-1 of the bencoded info dictionary). */
export function infoHash(info: Buffer): string {
  return createHash('sha1').update(info).digest('hex');
}

/** Replace the name in an info dictionary (an unchanged recapture shares bytes and pieces with its predecessor). */
export function renameInfo(info: Buffer, name: string): Buffer {
  const d = bencode.decode(info) as Record<string, unknown>;
  d.name = name;
  return Buffer.from(bencode.encode(d));
}
