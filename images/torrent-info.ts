/**
 * The torrent's info dictionary (BEP 3, single-file mode) for an image
 * artifact. It is written once, at pack time, as `info.bencode` in the
 * version directory; its SHA-1 is the swarm's info hash. Announce URL and
 * web seed are not part of it (they depend on where the server runs): the
 * server wraps this dictionary into a `.torrent` at start-up (see
 * torrent/torrent-file.ts), so moving the server never changes the hash.
 */
import { createHash } from 'node:crypto';
import bencode from 'bencode';
import type { Pieces } from './pieces.ts';
import { ImgsrvError } from '../core/errors.ts';

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

function badInfo(what: string, cause?: unknown): ImgsrvError {
  return new ImgsrvError('IMAGE_INVALID', `bad ${INFO_FILE}: ${what}`, { hint: 'the image is damaged: publish it again (or export it again from its source server)', cause });
}

const MAX_DEPTH = 32;

/**
 * Whether `buf` is exactly one well-formed bencode value (BEP 3 numbers,
 * dictionary keys byte strings, string lengths within the buffer, nesting
 * at most MAX_DEPTH). Checked before bencode.decode, whose parser (4.0.1) walks
 * backwards on a negative string length and never returns (fuzz-found).
 */
export function wellFormedBencode(buf: Buffer): boolean {
  const stack: Array<{ dict: boolean; key: boolean }> = []; // key: a dictionary expects a key next
  let i = 0;
  do {
    const c = buf[i];
    const top = stack[stack.length - 1];
    if (c === undefined) return false;
    if (c === 0x65) { // 'e' ends a list, or a dictionary between entries
      if (!top || (top.dict && !top.key)) return false;
      stack.pop();
      i++;
    } else if (top?.dict && top.key && (c < 0x30 || c > 0x39)) {
      return false;
    } else if (c === 0x64 || c === 0x6c) { // 'd', 'l'
      if (stack.length >= MAX_DEPTH) return false;
      stack.push({ dict: c === 0x64, key: true });
      i++;
      continue; // the new container's first item is decided next round
    } else if (c === 0x69) { // 'i' -?digits 'e'
      const m = /^i(0|-?[1-9]\d{0,19})e/.exec(buf.toString('latin1', i, i + 24)); // BEP 3: no "-0", no leading zeros
      if (!m) return false;
      i += m[0].length;
    } else if (c >= 0x30 && c <= 0x39) { // digits ':' bytes
      const m = /^(0|[1-9]\d{0,14}):/.exec(buf.toString('latin1', i, i + 17));
      if (!m) return false;
      i += m[0].length + Number(m[1]);
      if (i > buf.length) return false;
    } else {
      return false;
    }
    const parent = stack[stack.length - 1];
    if (parent?.dict) parent.key = !parent.key;
  } while (stack.length > 0);
  return i === buf.length;
}

/** Decode and check an info dictionary (single file, consistent piece count); ImgsrvError IMAGE_INVALID on anything else. */
export function decodeInfo(buf: Buffer): InfoFields {
  if (!wellFormedBencode(buf)) throw badInfo('not bencode');
  let d: unknown;
  try {
    d = bencode.decode(buf);
  } catch (err) {
    // bencode throws whatever its parser hits (Error, TypeError, RangeError) on damaged bytes.
    throw badInfo('not bencode', err);
  }
  if (d === null || typeof d !== 'object' || Array.isArray(d) || d instanceof Uint8Array) throw badInfo('not a dictionary');
  const dict = d as Record<string, unknown>;
  const name = dict.name instanceof Uint8Array ? Buffer.from(dict.name).toString('utf8') : undefined;
  const length = dict.length;
  const pieceLength = dict['piece length'];
  const pieces = dict.pieces;
  if (!name || !Number.isSafeInteger(length) || !Number.isSafeInteger(pieceLength) || !(pieces instanceof Uint8Array) || 'files' in dict) {
    throw badInfo('not a single-file info dictionary');
  }
  const [len, plen] = [length as number, pieceLength as number];
  if (len < 0 || plen <= 0 || pieces.length !== Math.ceil(len / plen) * 20) throw badInfo('piece hashes do not match the length');
  return { name, length: len, pieceLength: plen, pieceCount: pieces.length / 20 };
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
