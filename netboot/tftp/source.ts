/**
 * Where a transfer's bytes come from (a file on disk or a virtual Buffer) and
 * the block reader that streams them with a bounded read-ahead: a transfer
 * never holds the whole file, only the chunk being sent and the next one.
 */
import type { FileHandle } from 'node:fs/promises';

/** Random-access bytes of known size. */
export interface ByteSource {
  readonly size: number;
  /** Exactly the bytes [offset, offset + length) (the caller keeps it within size). */
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** A source over an in-memory Buffer (virtual files such as generated pxelinux configs). */
export function bufferSource(buf: Buffer): ByteSource {
  return {
    size: buf.length,
    read: async (offset, length) => buf.subarray(offset, offset + length),
    close: async () => undefined,
  };
}

/** A source over an open file; fails if the file got shorter while being served. */
export function fileSource(handle: FileHandle, size: number): ByteSource {
  return {
    size,
    async read(offset, length) {
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await handle.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) throw new Error(`file shrank while being served (EOF at ${offset + got}, expected ${size})`);
        got += bytesRead;
      }
      return buf;
    },
    close: () => handle.close(),
  };
}

/** Smallest read: lock-step transfers would otherwise cost one read per 512-byte block. */
const MIN_CHUNK = 64 * 1024;

/**
 * Serves block payloads by absolute block number (1-based, not wrapped).
 * Reads in chunks of one window (at least 64 KiB), aligned to block
 * boundaries so no block straddles two chunks, and reads ahead one chunk.
 */
export class BlockReader {
  readonly blockSize: number;
  readonly chunkSize: number;
  /** Number of DATA blocks: a file that is a multiple of blksize ends with an empty block (RFC 1350 §6). */
  readonly lastBlock: number;
  private readonly source: ByteSource;
  private readonly chunks = new Map<number, Buffer>();
  private readonly pending = new Map<number, Promise<void>>();
  private failure: unknown = null;

  constructor(source: ByteSource, blockSize: number, windowSize: number) {
    this.source = source;
    this.blockSize = blockSize;
    this.chunkSize = blockSize * Math.max(windowSize, Math.ceil(MIN_CHUNK / blockSize));
    this.lastBlock = Math.floor(source.size / blockSize) + 1;
  }

  /** Total bytes served. */
  get size(): number {
    return this.source.size;
  }

  private chunkOf(block: number): number {
    return Math.floor(((block - 1) * this.blockSize) / this.chunkSize);
  }

  private load(chunk: number): Promise<void> {
    const start = chunk * this.chunkSize;
    if (this.chunks.has(chunk) || start >= this.source.size) return Promise.resolve();
    let p = this.pending.get(chunk);
    if (!p) {
      const len = Math.min(this.chunkSize, this.source.size - start);
      p = this.source.read(start, len).then(
        (buf) => {
          this.chunks.set(chunk, buf);
          this.pending.delete(chunk);
        },
        (err: unknown) => {
          this.failure ??= err;
          this.pending.delete(chunk);
        },
      );
      this.pending.set(chunk, p);
    }
    return p;
  }

  /** Payload of a block if its chunk is in memory (an empty Buffer past the end), else null. */
  block(n: number): Buffer | null {
    const offset = (n - 1) * this.blockSize;
    if (offset >= this.source.size) return Buffer.alloc(0);
    const chunk = this.chunkOf(n);
    const buf = this.chunks.get(chunk);
    if (!buf) return null;
    const at = offset - chunk * this.chunkSize;
    return buf.subarray(at, at + this.blockSize);
  }

  /**
   * Whether blocks [from, to] are in memory. Either way, start loading what
   * they need plus the chunk after them (read-ahead) and forget chunks before
   * `from`. Synchronous so the hot path (data already read) never waits on a
   * promise; when it returns false, await `ensure`.
   */
  ready(from: number, to: number): boolean {
    const first = this.chunkOf(from);
    const last = this.chunkOf(to);
    if (this.chunks.size > 0) for (const k of this.chunks.keys()) if (k < first) this.chunks.delete(k);
    let ok = true;
    for (let k = first; k <= last; k++) {
      if (!this.chunks.has(k) && k * this.chunkSize < this.source.size) {
        ok = false;
        void this.load(k);
      }
    }
    void this.load(last + 1); // read-ahead: the next window
    return ok && this.failure === null;
  }

  /** Wait until blocks [from, to] are in memory; rejects if a read failed. */
  async ensure(from: number, to: number): Promise<void> {
    const needed: Promise<void>[] = [];
    for (let k = this.chunkOf(from); k <= this.chunkOf(to); k++) needed.push(this.load(k));
    await Promise.all(needed);
    if (this.failure) throw this.failure;
  }

  /** Close the underlying source (after any in-flight read settles). */
  async close(): Promise<void> {
    await Promise.all([...this.pending.values()]);
    this.chunks.clear();
    await this.source.close();
  }
}
