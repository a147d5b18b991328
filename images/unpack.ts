/**
 * Streaming restore of an `image.tar.zst`: bytes → frame check → zstd → tar
 * → disk, entry by entry as they arrive, so a node can write its disk while
 * the image is still downloading. Every entry is checked before anything is
 * created (restore-fs.ts); the first refused or corrupt entry fails the whole
 * unpack with an ImgsrvError naming it. On failure the target keeps what was
 * written so far: the caller owns (and wipes or reports) the target.
 */
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { Readable } from 'node:stream';
import { displayPath } from './manifest-codec.ts';
import type { Progress } from './pack.ts';
import { RestoreTarget } from './restore-fs.ts';
import { sparsePieces } from './sparse.ts';
import { createTarExtract } from './tar-read.ts';
import { fromTarHeader, safeEntryPath, type TarHeader } from './tar-entry.ts';
import { ZstdFrameTracker } from './zstd-frames.ts';
import { ImgsrvError, withContext } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

/** What unpackImage needs: the compressed bytes (may arrive slowly) and an existing target directory. */
export interface UnpackOptions {
  input: Readable;
  target: string;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  logger?: Logger;
  /**
   * Directories (relative, e.g. "data" for /data) whose contents are never
   * written: kept partitions mounted there on re-image. Entries at or below
   * them, and hard links to files below them, are read past and counted in
   * `kept`; the kept file system and its root stay exactly as they were.
   */
  skip?: readonly string[];
}

/** Whether normalised entry path `p` is `dir` or below it. */
function isAtOrBelow(p: Buffer, dir: Buffer): boolean {
  return p.equals(dir) || (p.length > dir.length && p[dir.length] === 0x2f && p.subarray(0, dir.length).equals(dir));
}

/** Decompressed stream: zstd with a frame check in front, so truncation is an error. */
export function decompressedStream(input: AsyncIterable<Buffer> | Readable, signal: AbortSignal, onBytes?: (n: number) => void): AsyncIterable<Buffer> {
  const tracker = new ZstdFrameTracker();
  const out = zlib.createZstdDecompress();
  pipeline(
    input,
    async function* checkFrames(src: AsyncIterable<Buffer>) {
      for await (const chunk of src) {
        tracker.push(chunk);
        yield chunk;
      }
      tracker.end();
    },
    out,
    { signal, end: true },
  ).catch((err: unknown) => out.destroy(err as Error));
  return (async function* count() {
    for await (const chunk of out as AsyncIterable<Buffer>) {
      onBytes?.(chunk.length);
      yield chunk;
    }
  })();
}

/** Unpack an image stream into `target`; resolves with entries restored, entries left alone under `skip`, and uncompressed tar bytes read. */
export async function unpackImage(opts: UnpackOptions): Promise<{ files: number; bytes: number; kept: number }> {
  const inner = new AbortController();
  const onAbort = (): void => inner.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const log = opts.logger?.child({ subsystem: 'unpack' });
  let bytes = 0;
  let files = 0;
  let kept = 0;
  const skip = (opts.skip ?? []).map((d) => safeEntryPath(Buffer.from(d.replace(/^\/+/, ''), 'utf8'), 'kept directory'));
  const skipped = (p: Buffer): boolean => skip.some((d) => isAtOrBelow(p, d));
  const report = (): void => opts.onProgress?.({ bytes, files });
  const timer = setInterval(report, 500);
  timer.unref();
  const extract = createTarExtract();
  let current = '';
  try {
    const target = new RestoreTarget(opts.target, log);
    const plain = decompressedStream(opts.input, inner.signal, (n) => (bytes += n));
    const fed = pipeline(plain, extract, { signal: inner.signal });
    fed.catch((err: unknown) => inner.abort(err));
    for await (const stream of extract) {
      const { entry, sparseRealSize } = fromTarHeader(stream.header as TarHeader);
      current = displayPath(entry.path);
      if (skipped(entry.path) || (entry.type === 'hardlink' && entry.target !== undefined && skipped(entry.target))) {
        stream.resume();
        kept++;
        continue;
      }
      switch (entry.type) {
        case 'dir': target.dir(entry); break;
        case 'symlink': target.symlink(entry); break;
        case 'hardlink': target.hardlink(entry); break;
        case 'char': case 'block': case 'fifo': target.node(entry); break;
        case 'file': {
          const fd = target.openFile(entry);
          try {
            await writeContent(fd, stream as unknown as AsyncIterable<Buffer>, sparseRealSize, current);
          } finally {
            fs.closeSync(fd);
          }
          target.meta(entry);
          break;
        }
      }
      stream.resume(); // drain bodies we don't read (none expected for non-files)
      files++;
    }
    await fed;
    target.finish();
    report();
    log?.info({ files, bytes, kept }, 'unpacked');
    return { files, bytes, kept };
  } catch (err) {
    inner.abort(err);
    extract.destroy();
    opts.input.destroy(); // stop the download too: nothing will read it
    throw unpackError(err, opts, current);
  } finally {
    clearInterval(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** Write an entry's body: plain, or a GNU sparse 1.0 body whose holes are never written (ftruncate makes the tail). */
async function writeContent(fd: number, body: AsyncIterable<Buffer>, sparseRealSize: number | undefined, name: string): Promise<void> {
  if (sparseRealSize === undefined) {
    let pos = 0;
    for await (const chunk of body) pos += writeAll(fd, chunk, pos);
    return;
  }
  for await (const { offset, data } of sparsePieces(body, sparseRealSize, name)) writeAll(fd, data, offset);
  fs.ftruncateSync(fd, sparseRealSize);
}

function writeAll(fd: number, buf: Buffer, pos: number): number {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, pos + done);
  return buf.length;
}

function unpackError(err: unknown, opts: UnpackOptions, current: string): ImgsrvError {
  if (opts.signal?.aborted) return new ImgsrvError('IO', `restore into ${opts.target} was interrupted`, { hint: 'the target is incomplete: restore again', cause: opts.signal.reason });
  if (err instanceof ImgsrvError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOSPC') return new ImgsrvError('IO', `disk full restoring into ${opts.target}`, { hint: 'the image does not fit: use a bigger disk or partition', cause: err });
  if (e.code?.startsWith('ZSTD_')) return new ImgsrvError('IO', `image stream is corrupt (${e.message})`, { hint: 'fetch the image again; if it persists, verify the image on the server', cause: err });
  if (/tar|Unexpected end of data|Header exceeds|Invalid/i.test(e.message ?? '')) {
    return new ImgsrvError('IO', `image archive is corrupt${current ? ` after entry ${JSON.stringify(current)}` : ''} (${e.message})`, { hint: 'fetch the image again; if it persists, verify the image on the server', cause: err });
  }
  return withContext(err, `restoring ${current ? `entry ${JSON.stringify(current)}` : 'image'} into ${opts.target}`);
}
