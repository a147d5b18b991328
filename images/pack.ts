/**
 * Pack a tree into `image.tar.zst` + `manifest.jsonl` in one pass over the
 * data: the walk feeds the tar stream (headers from tar-header.ts), tar feeds
 * zstd (Node's built-in, optionally multi-threaded), zstd feeds the file;
 * each file's content is hashed for the manifest as it goes into the tar,
 * and the compressed bytes are hashed on their way to disk. The tar dialect is described in tar-entry.ts.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createCompressor } from './compressor.ts';
import { displayPath, encodeManifestLine, MANIFEST_HEADER } from './manifest-codec.ts';
import { toTarHeader } from './tar-entry.ts';
import { encodeTarHeader, TAR_END, tarPadding } from './tar-header.ts';
import { candidatePieceLengths, PieceHasher, type Pieces } from './pieces.ts';
import { HoleFillingHash, openContent, readSegments, walkTree } from './walk.ts';
import { ImgsrvError, withContext } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';

/** File names inside an image version directory. */
export const ARTIFACT_FILE = 'image.tar.zst';
export const MANIFEST_FILE = 'manifest.jsonl';
export { zstdParams } from './compressor.ts';

/**
 * zstd level used when the caller doesn't choose. bench/capture.ts on 440 MB
 * of /usr (2 CPUs): level 3 packs at 167 MB/s on one thread (267 with -T2)
 * for ratio 2.97; level 9 gains 9% size at a third of the speed; level 19
 * gains 20% at 1/60 of the speed (a 10 GB image: ~1 h). Every level
 * decompresses at > 350 MB/s, faster than a 1 Gb/s link, so restore never
 * waits on it: 3 wins.
 */
export const DEFAULT_ZSTD_LEVEL = 3;

const BATCH = 1 << 20;

/** Progress of a pack or unpack: uncompressed tar bytes so far and entries done. */
export interface Progress {
  bytes: number;
  files: number;
}

/** What packImage needs. threads: zstd worker threads (0 = Node's zstd on one thread, n = the zstd command with -Tn). */
export interface PackOptions {
  root: string;
  outDir: string;
  level?: number;
  threads?: number;
  crossMounts?: boolean;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  logger?: Logger;
}

/** What packImage wrote: paths, sizes (rawBytes = uncompressed tar stream), sha256 of the artifact. */
export interface PackResult {
  artifact: string;
  manifest: string;
  rawBytes: number;
  compressedBytes: number;
  sha256: string;
  files: number;
  zstdLevel: number;
  /** BitTorrent piece hashes of the artifact, computed as it was written. */
  pieces: Pieces;
}

async function write(stream: Writable, data: Buffer | string, signal: AbortSignal): Promise<void> {
  if (!stream.write(data)) await once(stream, 'drain', { signal });
}

/** Pack `root` into outDir/image.tar.zst and outDir/manifest.jsonl; on failure or abort both are removed. */
export async function packImage(opts: PackOptions): Promise<PackResult> {
  // The compressed size is at most about the tar size: hash pieces at the lengths that range can select.
  let pieceCandidates: number[];
  try {
    pieceCandidates = candidatePieceLengths(await estimateTarBytes(opts));
  } catch (err) {
    throw packError(err, opts);
  }
  const level = opts.level ?? DEFAULT_ZSTD_LEVEL;
  const threads = opts.threads ?? 0;
  const artifact = path.join(opts.outDir, ARTIFACT_FILE);
  const manifest = path.join(opts.outDir, MANIFEST_FILE);
  const inner = new AbortController();
  const onAbort = (): void => inner.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const log = opts.logger?.child({ subsystem: 'pack' });

  let rawBytes = 0;
  let compressedBytes = 0;
  let files = 0;
  const outHash = createHash('sha256');
  const pieceHasher = new PieceHasher(pieceCandidates);
  const report = (): void => opts.onProgress?.({ bytes: rawBytes, files });
  const timer = setInterval(report, 500);
  timer.unref();

  // Create both outputs first, exclusively: cleanup may then remove exactly what we created.
  const created: string[] = [];
  let artifactFd: number;
  let manifestFd: number;
  try {
    artifactFd = fs.openSync(artifact, 'wx');
    created.push(artifact);
    manifestFd = fs.openSync(manifest, 'wx');
    created.push(manifest);
  } catch (err) {
    for (const f of created) fs.rmSync(f, { force: true });
    clearInterval(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    throw packError(err, opts);
  }
  const tarOut = new PassThrough();
  const manifestOut = fs.createWriteStream('', { fd: manifestFd });
  const piped = pipeline(
    tarOut,
    // The tar stream is a chunk per header and per read; each zlib write is a
    // thread-pool round trip, so batch them to 1 MiB (4x faster on /usr).
    async function* countAndBatch(src: AsyncIterable<Buffer>) {
      let batch: Buffer[] = [];
      let batched = 0;
      for await (const chunk of src) {
        rawBytes += chunk.length;
        batch.push(chunk);
        batched += chunk.length;
        if (batched >= BATCH) {
          yield Buffer.concat(batch, batched);
          batch = [];
          batched = 0;
        }
      }
      if (batched > 0) yield Buffer.concat(batch, batched);
    },
    createCompressor(level, threads, BATCH),
    async function* hashOut(src: AsyncIterable<Buffer>) {
      for await (const chunk of src) {
        compressedBytes += chunk.length;
        outHash.update(chunk);
        pieceHasher.update(chunk);
        yield chunk;
      }
    },
    fs.createWriteStream('', { fd: artifactFd }),
    { signal: inner.signal },
  );
  piped.catch((err: unknown) => inner.abort(err));

  try {
    await write(manifestOut, `${MANIFEST_HEADER}\n`, inner.signal);
    for await (const item of walkTree(opts.root, { crossMounts: opts.crossMounts, onSkip: (rel, why) => log?.debug({ path: rel.toString() }, `skipped ${why}`) })) {
      inner.signal.throwIfAborted();
      const e = item.entry;
      if (e.type !== 'file') {
        await write(tarOut, encodeTarHeader(toTarHeader(e).header), inner.signal);
      } else {
        const c = openContent(item);
        try {
          if (c.sparse) e.sparse = c.sparse;
          const { header, sparseMap } = toTarHeader(e);
          await write(tarOut, encodeTarHeader(header), inner.signal);
          const hash = createHash('sha256');
          const filler = new HoleFillingHash((b) => hash.update(b));
          let written = 0;
          if (sparseMap) {
            await write(tarOut, sparseMap, inner.signal);
            written += sparseMap.length;
          }
          for (const { offset, data } of readSegments(c.fd, c.sparse ?? [[0, e.size ?? 0]], item.rel)) {
            filler.add(offset, data);
            await write(tarOut, data, inner.signal);
            written += data.length;
          }
          // readSegments reads exactly the segments or throws: a mismatch here is a bug, and would corrupt the archive.
          if (written !== header.size) throw new ImgsrvError('INTERNAL', `${displayPath(e.path)}: wrote ${written} bytes for a ${String(header.size)}-byte tar entry`);
          await write(tarOut, tarPadding(written), inner.signal);
          filler.end(e.size ?? 0);
          e.sha256 = hash.digest('hex');
        } finally {
          c.close();
        }
      }
      await write(manifestOut, `${encodeManifestLine(e)}\n`, inner.signal);
      files++;
    }
    await write(tarOut, TAR_END, inner.signal);
    tarOut.end();
    await piped;
    manifestOut.end();
    await once(manifestOut, 'finish');
    report();
    log?.info({ files, rawBytes, compressedBytes, level, threads }, 'packed');
    return { artifact, manifest, rawBytes, compressedBytes, sha256: outHash.digest('hex'), files, zstdLevel: level, pieces: pieceHasher.finish() };
  } catch (err) {
    inner.abort(err);
    tarOut.destroy();
    manifestOut.destroy();
    await piped.catch(() => undefined);
    await Promise.all(created.map((f) => fs.promises.rm(f, { force: true })));
    throw packError(err, opts);
  } finally {
    clearInterval(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** The tar stream's size from a metadata-only walk (headers, data padded to 512 bytes, end blocks). */
async function estimateTarBytes(opts: PackOptions): Promise<number> {
  let bytes = 1024;
  for await (const item of walkTree(opts.root, { crossMounts: opts.crossMounts })) {
    bytes += 1024 + Math.ceil((item.entry.type === 'file' ? (item.entry.size ?? 0) : 0) / 512) * 512;
  }
  return bytes;
}

function packError(err: unknown, opts: PackOptions): ImgsrvError {
  if (opts.signal?.aborted) return new ImgsrvError('IO', `packing ${opts.root} was interrupted`, { hint: 'nothing was kept; run it again', cause: opts.signal.reason });
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return new ImgsrvError('IO', `disk full writing ${opts.outDir}`, { hint: 'free space on the server or move the data directory', cause: err });
  if (code === 'EEXIST') return new ImgsrvError('IO', `${opts.outDir} already holds an image`, { hint: 'pack into an empty directory', cause: err });
  return withContext(err, `packing ${opts.root}`);
}
