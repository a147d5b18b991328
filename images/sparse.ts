/**
 * GNU sparse format 1.0 bodies (the format GNU tar writes with
 * --sparse-version=1.0 under --format=posix): the entry's data begins with a
 * text map, "count\n" then "offset\nlength\n" per data segment, NUL-padded to
 * a 512-byte boundary, followed by the data segments back to back. Holes are
 * never stored. Pure: works on chunks, does no I/O.
 */
import { ImgsrvError } from '../core/errors.ts';

/** GNU sparse 1.0 map: decimal lines, NUL-padded to a 512-byte boundary. */
export function encodeSparseMap(segs: Array<[number, number]>): Buffer {
  const text = `${segs.length}\n${segs.map(([o, l]) => `${o}\n${l}\n`).join('')}`;
  const out = Buffer.alloc(Math.ceil(text.length / 512) * 512);
  out.write(text, 'latin1');
  return out;
}

const MAX_SPARSE_SEGMENTS = 1 << 20;

/**
 * Parse a GNU sparse 1.0 map from the start of an entry's data: the segments
 * and the padded map length, or undefined if `buf` doesn't hold it all yet.
 */
export function parseSparseMap(buf: Buffer, where: string): { segments: Array<[number, number]>; length: number } | undefined {
  const nums: number[] = [];
  let start = 0;
  let count = -1;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] !== 0x0a) continue;
    const s = buf.toString('latin1', start, i);
    if (!/^\d{1,16}$/.test(s)) throw new ImgsrvError('IO', `${where}: bad sparse map`, { hint: 'the archive is corrupt' });
    start = i + 1;
    if (count < 0) {
      count = Number(s);
      if (count > MAX_SPARSE_SEGMENTS) throw new ImgsrvError('IO', `${where}: sparse map with ${count} segments`, { hint: 'the archive is corrupt' });
    } else nums.push(Number(s));
    if (count >= 0 && nums.length === count * 2) {
      const segments: Array<[number, number]> = [];
      for (let j = 0; j < count; j++) segments.push([nums[2 * j]!, nums[2 * j + 1]!]);
      return { segments, length: Math.ceil(start / 512) * 512 };
    }
  }
  if (buf.length > 32 + MAX_SPARSE_SEGMENTS * 34) throw new ImgsrvError('IO', `${where}: sparse map too long`, { hint: 'the archive is corrupt' });
  return undefined;
}

/**
 * Turn the chunks of a sparse entry's body into (offset, data) pieces of the
 * logical file, checking the map: in order, within realSize, and exactly as
 * much data as it declares.
 */
export async function* sparsePieces(body: AsyncIterable<Buffer>, realSize: number, name: string): AsyncGenerator<{ offset: number; data: Buffer }> {
  const where = `entry ${JSON.stringify(name)}`;
  let head = Buffer.alloc(0);
  let segs: Array<[number, number]> | undefined;
  let seg = 0;
  let segPos = 0;
  for await (const chunk of body) {
    let data = chunk;
    if (!segs) {
      head = Buffer.concat([head, data]);
      const map = parseSparseMap(head, where);
      if (!map || head.length < map.length) continue; // map or its padding not complete yet
      checkSegments(map.segments, realSize, where);
      segs = map.segments;
      data = head.subarray(map.length);
      head = Buffer.alloc(0);
    }
    while (data.length > 0) {
      const s = segs[seg];
      if (!s) throw new ImgsrvError('IO', `${where}: more data than its sparse map declares`, { hint: 'the archive is corrupt' });
      const n = Math.min(s[1] - segPos, data.length);
      if (n > 0) yield { offset: s[0] + segPos, data: data.subarray(0, n) };
      segPos += n;
      data = data.subarray(n);
      if (segPos === s[1]) {
        seg++;
        segPos = 0;
      }
    }
  }
  while (segs && seg < segs.length && segs[seg]![1] === 0) seg++; // GNU tar ends a trailing hole with an empty segment
  if (!segs || seg < segs.length) throw new ImgsrvError('IO', `${where}: less data than its sparse map declares`, { hint: 'the archive is corrupt' });
}


function checkSegments(segs: Array<[number, number]>, size: number, where: string): void {
  let end = 0;
  for (const [off, len] of segs) {
    if (off < end || off + len > size) throw new ImgsrvError('IO', `${where}: sparse map out of order or past the file's end`, { hint: 'the archive is corrupt' });
    end = off + len;
  }
}
