/**
 * Shared helpers for the images/ tests: temp dirs, a meta.json for a packed
 * image, and hand-made archives (tar-stream + zstd) for the hostile cases.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import type { ImageMeta } from '../meta.ts';
import type { PackResult } from '../pack.ts';
import type { TarHeader } from '../tar-entry.ts';
import { createTarExtract } from '../tar-read.ts';

/** A fresh temp directory; remove it with fs.rmSync(dir, { recursive: true }). */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `imgsrv-${prefix}-`));
}

/** Write a plausible meta.json for a packImage result into its directory. */
export function writeMeta(dir: string, r: PackResult): ImageMeta {
  const meta: ImageMeta = {
    format: 1,
    name: 'test',
    version: 1,
    createdAt: new Date().toISOString(),
    sourceHost: 'sample.test',
    host: { partitionTable: 'gpt', disks: [], filesystems: [], swap: [], bootMode: 'uefi', bootloader: 'grub', kernels: ['6.1.0-test'], interfaces: [] },
    artifact: { file: 'image.tar.zst', rawBytes: r.rawBytes, compressedBytes: r.compressedBytes, sha256: r.sha256, zstdLevel: r.zstdLevel, files: r.files },
    manifest: { file: path.basename(r.manifest), sha256: createHash('sha256').update(fs.readFileSync(r.manifest)).digest('hex') },
  };
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta, null, 2));
  return meta;
}

/** One hand-made archive entry: a tar-stream header and an optional body. */
export interface CraftedEntry {
  header: TarHeader;
  body?: Buffer;
}

/** Build a tar stream from crafted entries with tar-stream itself. */
export async function craftTar(entries: CraftedEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      const body = e.body ?? (e.header.type === 'file' ? Buffer.alloc(0) : undefined); // file sinks must be ended
      if (body) pack.entry(e.header as Parameters<typeof pack.entry>[0], body, cb);
      else pack.entry(e.header as Parameters<typeof pack.entry>[0], cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Every header of a tar stream as createTarExtract reads it (bodies skipped). */
export async function readTarHeaders(bytes: Buffer): Promise<TarHeader[]> {
  const ex = createTarExtract();
  Readable.from([bytes]).pipe(ex as unknown as NodeJS.WritableStream);
  const out: TarHeader[] = [];
  for await (const s of ex) {
    out.push(s.header as TarHeader);
    s.resume();
  }
  return out;
}

/** zstd-compress a buffer the way packImage does (with a content checksum). */
export function zstd(buf: Buffer): Buffer {
  return zlib.zstdCompressSync(buf, { params: { [zlib.constants.ZSTD_c_checksumFlag]: 1 } });
}

/** Every path under a directory, relative, for "nothing was written here" checks. */
export function listTree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[]).sort();
}
