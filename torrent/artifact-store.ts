/**
 * A read-only chunk store (the abstract-chunk-store interface webtorrent
 * uses) over a published image artifact. The seeder reads pieces straight
 * from `images/<name>/<version>/image.tar.zst`: no copy, no link, and no way
 * for the BitTorrent library to write to, truncate or delete an image
 * (webtorrent's default file store opens read-write and deletes on
 * `destroyStore`).
 */
import fs from 'node:fs';

type Cb<T = void> = (err: Error | null, value?: T) => void;

/** Options webtorrent passes (plus `file` from our storeOpts). */
export interface ArtifactStoreOptions {
  file: string;
  length: number;
}

/** abstract-chunk-store over one immutable file. */
export class ArtifactStore {
  readonly chunkLength: number;
  private readonly length: number;
  private readonly file: string;
  private fd: Promise<fs.promises.FileHandle> | undefined;
  private closed = false;

  constructor(chunkLength: number, opts: ArtifactStoreOptions) {
    this.chunkLength = chunkLength;
    this.length = opts.length;
    this.file = opts.file;
  }

  private handle(): Promise<fs.promises.FileHandle> {
    this.fd ??= fs.promises.open(this.file, 'r');
    return this.fd;
  }

  /** Read (part of) chunk `index`. */
  get(index: number, opts: { offset?: number; length?: number } | null | Cb<Buffer>, cb?: Cb<Buffer>): void {
    if (typeof opts === 'function') [cb, opts] = [opts, null];
    const done = cb!;
    if (this.closed) return queueMicrotask(() => done(new Error('Storage is closed')));
    const start = index * this.chunkLength + (opts?.offset ?? 0);
    const chunkEnd = Math.min(this.length, (index + 1) * this.chunkLength);
    const len = opts?.length ?? chunkEnd - start;
    if (index < 0 || start < 0 || start + len > chunkEnd) return queueMicrotask(() => done(new Error(`chunk ${index} out of range`)));
    this.handle()
      .then(async (fh) => {
        const buf = Buffer.allocUnsafe(len);
        const { bytesRead } = await fh.read(buf, 0, len, start);
        if (bytesRead !== len) throw new Error(`short read of ${this.file} at ${start}`);
        done(null, buf);
      })
      .catch((err: unknown) => done(err as Error));
  }

  /** Writing is refused: the seeder has every piece and images are immutable. */
  put(_index: number, _buf: Uint8Array, cb?: Cb): void {
    queueMicrotask(() => cb?.(new Error('image artifacts are read-only')));
  }

  close(cb?: Cb): void {
    this.closed = true;
    const fd = this.fd;
    this.fd = undefined;
    (fd ? fd.then((fh) => fh.close()) : Promise.resolve()).then(
      () => cb?.(null),
      (err: unknown) => cb?.(err as Error),
    );
  }

  /** Same as close: the artifact belongs to the image store, never to the swarm. */
  destroy(cb?: Cb): void {
    this.close(cb);
  }
}
