/**
 * A torrent's pieces kept in a byte range of a disk (the node's scratch area
 * on its target disk) instead of a file in RAM: webtorrent's chunk store
 * (abstract-chunk-store: put, get, close) over one file descriptor, plus a
 * bitfield of the pieces written, so a node that reboots or loses its link
 * resumes from what it already has. Layout and header: piece-journal.ts.
 *
 * Durability: webtorrent puts a piece only once its SHA-1 matched. Written
 * pieces are synced (fdatasync) every `syncMs` and only then marked in the
 * on-disk bitfield, so a bit never claims a piece the disk may not hold; a
 * power cut loses at most the last few seconds. On open, every marked piece
 * is read back and hashed again before it counts: what a node resumes from
 * is checked against the torrent's hashes, as every downloaded piece is.
 * Memory: nothing here holds pieces; webtorrent's cache in front of the store
 * (storeCacheSlots) is the bounded in-memory part.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { ImgsrvError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { bitfieldBytes, decodeHeader, encodeHeader, HEADER_BYTES, headerFor, pieceAreaBytes, sameHeader, type PieceAreaHeader } from './piece-journal.ts';

const fdatasync = promisify(fs.fdatasync);
const close = promisify(fs.close);

/** Where the area is. */
export interface PieceAreaOptions {
  /** The disk (or file) holding the area. */
  path: string;
  /** Byte offset of the area in `path`. */
  offset: number;
  /** Bytes the area may use; at least pieceAreaBytes of the torrent. */
  sizeBytes: number;
  /** How often written pieces are synced and marked (default 2000 ms). */
  syncMs?: number;
}

/** The torrent an area is opened for. */
export interface AreaTorrent {
  infoHash: string;
  pieceLength: number;
  length: number;
  /** SHA-1 of each piece, hex (parse-torrent's `pieces`). */
  pieces: readonly string[];
}

type Cb<T = void> = (err: Error | null, value?: T) => void;

/** The chunk store webtorrent's `store` option constructs (abstract-chunk-store). */
export interface AreaChunkStore {
  chunkLength: number;
  put(index: number, buf: Uint8Array, cb?: Cb): void;
  /** `opts` may be left out: get(index, cb). */
  get(index: number, opts: { offset?: number; length?: number } | null | undefined | Cb<Buffer>, cb?: Cb<Buffer>): void;
  close(cb?: Cb): void;
  destroy(cb?: Cb): void;
}

/** One open piece area. */
export class PieceArea {
  readonly opts: PieceAreaOptions;
  readonly header: PieceAreaHeader;
  /** Pieces held and verified when the area was opened (webtorrent's start bitfield). */
  readonly bitfield: Uint8Array;
  /** What a resumed area already held: pieces and bytes. */
  readonly resumed: { pieces: number; bytes: number };
  readonly #fd: number;
  readonly #persisted: Uint8Array;
  #pending: number[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | null = null;

  private constructor(opts: PieceAreaOptions, fd: number, header: PieceAreaHeader, bitfield: Uint8Array) {
    this.opts = opts;
    this.#fd = fd;
    this.header = header;
    this.bitfield = bitfield;
    this.#persisted = new Uint8Array(bitfield);
    let pieces = 0;
    let bytes = 0;
    for (let i = 0; i < header.pieces; i++) {
      if (!getBit(bitfield, i)) continue;
      pieces++;
      bytes += this.pieceBytes(i);
    }
    this.resumed = { pieces, bytes };
  }

  /**
   * Open the area for `t`: resume what a previous run left for the same
   * torrent (every marked piece hashed again), or start it blank (a fresh
   * header, an empty bitfield) when it holds anything else.
   */
  static async open(opts: PieceAreaOptions, t: AreaTorrent, log: Logger): Promise<PieceArea> {
    const want = headerFor(t);
    const need = pieceAreaBytes(t);
    if (opts.sizeBytes < need) throw new ImgsrvError('INTERNAL', `piece area at ${opts.path}+${opts.offset} has ${opts.sizeBytes} bytes, the torrent needs ${need}`);
    let fd: number;
    try {
      fd = fs.openSync(opts.path, 'r+');
    } catch (err) {
      throw new ImgsrvError('DISK', `cannot open ${opts.path} for the image's pieces: ${(err as Error).message}`, { cause: err });
    }
    try {
      const found = decodeHeader(await readAt(fd, HEADER_BYTES, opts.offset));
      const bitfield = new Uint8Array(bitfieldBytes(want.pieces));
      if (found && sameHeader(found, want)) {
        const marked = await readAt(fd, bitfield.length, opts.offset + HEADER_BYTES);
        const checked = await verifyMarked(fd, opts.offset, want, marked, t.pieces, bitfield);
        log.info({ marked: checked.marked, verified: checked.verified, path: opts.path, offset: opts.offset }, 'piece area: resuming from the pieces it holds');
      } else {
        // A blank area (or another image's): the bitfield goes first, so no old header ever points at new data.
        await writeAt(fd, Buffer.alloc(bitfield.length), opts.offset + HEADER_BYTES);
        await writeAt(fd, encodeHeader(want), opts.offset);
        await fdatasync(fd);
        log.info({ path: opts.path, offset: opts.offset, bytes: need }, found ? 'piece area: held another image, starting over' : 'piece area: new');
      }
      return new PieceArea(opts, fd, want, bitfield);
    } catch (err) {
      fs.closeSync(fd);
      throw err instanceof ImgsrvError ? err : new ImgsrvError('DISK', `piece area on ${opts.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Length of piece `i` (the last one may be short). */
  pieceBytes(i: number): number {
    const { pieceLength, length } = this.header;
    return i === this.header.pieces - 1 ? length - i * pieceLength : pieceLength;
  }

  /** A constructor for webtorrent's `store` option; every store it makes is this area. */
  storeConstructor(): new (chunkLength: number, opts?: unknown) => AreaChunkStore {
    const store: AreaChunkStore = {
      chunkLength: this.header.pieceLength,
      put: (index, buf, cb) => this.#put(index, buf, cb ?? (() => {})),
      get: (index, o, cb) => (typeof o === 'function' ? this.#get(index, {}, o) : this.#get(index, o ?? {}, cb!)),
      close: (cb) => void this.close().then(() => cb?.(null), (err: Error) => cb?.(err)),
      destroy: (cb) => void this.close().then(() => cb?.(null), (err: Error) => cb?.(err)),
    };
    // A function that returns an object makes `new` return that object.
    return function AreaStore() {
      return store;
    } as unknown as new (chunkLength: number, opts?: unknown) => AreaChunkStore;
  }

  #position(index: number, offset = 0): number {
    return this.opts.offset + this.header.dataOffset + index * this.header.pieceLength + offset;
  }

  #put(index: number, buf: Uint8Array, cb: Cb): void {
    if (this.#closed) return cb(new Error('piece area is closed'));
    if (buf.length !== this.pieceBytes(index)) return cb(new Error(`piece ${index} has ${buf.length} bytes, expected ${this.pieceBytes(index)}`));
    writeAt(this.#fd, buf, this.#position(index)).then(() => {
      this.#pending.push(index);
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        void this.flush().catch(() => {}); // a failing disk fails the next put, or close
      }, this.opts.syncMs ?? 2000);
      cb(null);
    }, (err: Error) => cb(err));
  }

  #get(index: number, o: { offset?: number; length?: number }, cb: Cb<Buffer>): void {
    if (this.#closed) return cb(new Error('piece area is closed'));
    const offset = o.offset ?? 0;
    const length = o.length ?? this.pieceBytes(index) - offset;
    if (index < 0 || index >= this.header.pieces || offset < 0 || offset + length > this.pieceBytes(index)) return cb(new Error(`piece ${index} [${offset}, +${length}) is outside the torrent`));
    readAt(this.#fd, length, this.#position(index, offset)).then((b) => cb(null, b), (err: Error) => cb(err));
  }

  /** Sync the pieces written so far and mark them in the on-disk bitfield. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.catch(() => {}).then(async () => {
      const pending = this.#pending;
      if (pending.length === 0) return;
      this.#pending = [];
      await fdatasync(this.#fd);
      for (const i of pending) setBit(this.#persisted, i);
      await writeAt(this.#fd, Buffer.from(this.#persisted.buffer, this.#persisted.byteOffset, this.#persisted.length), this.opts.offset + HEADER_BYTES);
    });
    return this.#flushing;
  }

  /** Flush, sync the bitfield too, and close (idempotent). */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearTimeout(this.#timer);
      try {
        await this.flush();
        await fdatasync(this.#fd);
      } finally {
        await close(this.#fd);
      }
    })();
    return this.#closed;
  }
}

/** Zero the area's header, so nothing resumes from it again (its pieces are left as they are). */
export async function erasePieceArea(path: string, offset: number): Promise<void> {
  const fd = fs.openSync(path, 'r+');
  try {
    await writeAt(fd, Buffer.alloc(HEADER_BYTES), offset);
    await fdatasync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Hash every piece marked in `marked`; set the ones that match in `into`. */
async function verifyMarked(fd: number, offset: number, h: PieceAreaHeader, marked: Buffer, hashes: readonly string[], into: Uint8Array): Promise<{ marked: number; verified: number }> {
  let n = 0;
  let ok = 0;
  for (let i = 0; i < h.pieces; i++) {
    if (!getBit(marked, i)) continue;
    n++;
    const len = i === h.pieces - 1 ? h.length - i * h.pieceLength : h.pieceLength;
    const buf = await readAt(fd, len, offset + h.dataOffset + i * h.pieceLength);
    if (createHash('sha1').update(buf).digest('hex') === hashes[i]) {
      setBit(into, i);
      ok++;
    }
  }
  return { marked: n, verified: ok };
}

// BitTorrent bitfields: piece 0 is the high bit of byte 0.
function getBit(b: Uint8Array, i: number): boolean {
  return ((b[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0;
}
function setBit(b: Uint8Array, i: number): void {
  b[i >> 3] = (b[i >> 3] ?? 0) | (0x80 >> (i & 7));
}

function readAt(fd: number, length: number, position: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const buf = Buffer.allocUnsafe(length);
    const step = (done: number): void => {
      if (done === length) return resolve(buf);
      fs.read(fd, buf, done, length - done, position + done, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return reject(new Error(`short read at byte ${position + done}`));
        step(done + n);
      });
    };
    step(0);
  });
}

function writeAt(fd: number, data: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done === data.length) return resolve();
      fs.write(fd, data, done, data.length - done, position + done, (err, n) => {
        if (err) return reject(err);
        step(done + n);
      });
    };
    step(0);
  });
}
