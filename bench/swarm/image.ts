/**
 * The image the swarm benchmark deploys: one file of random (incompressible)
 * bytes packed at zstd level 1 by the real packImage, with meta.json and the
 * torrent info written by the capture path's own metaDraft, as an
 * `imgsrv images import` bundle. Random data keeps the artifact as big as
 * the requested size, so the bytes on the wire are what `--size-mb` says.
 * Cached per size under the OS temp dir: making 100 MB of it costs seconds,
 * but there is no reason to pay it on every run.
 */
import { randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { ImageMeta } from '../../images/meta.ts';
import { packImage } from '../../images/pack.ts';
import { unknownFacts } from '../../server/capture/probe.ts';
import { metaDraft } from '../../server/capture/run.ts';

/** Name and version the bench image is imported as (a fresh data dir keeps the bundle's version). */
export const BENCH_IMAGE = 'swarmbench';
export const BENCH_VERSION = 1;

/** A ready bundle and what the nodes must end up with. */
export interface BenchImage {
  bundle: string;
  meta: ImageMeta;
  /** The artifact as packed (the file unicast and multicast send; identical bytes to the imported one). */
  artifact: string;
}

/** Write `bytes` of random data to `file`, 1 MiB at a time. */
function writeRandom(file: string, bytes: number): void {
  const fd = openSync(file, 'w');
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let left = bytes; left > 0; left -= buf.length) {
      randomFillSync(buf);
      writeSync(fd, buf, 0, Math.min(left, buf.length));
    }
  } finally {
    closeSync(fd);
  }
}

/** Build (or reuse) the bundle of a `sizeBytes` random image. */
export async function prepareImage(sizeBytes: number): Promise<BenchImage> {
  const work = join(tmpdir(), 'imgsrv-bench-swarm', String(sizeBytes));
  const bundle = join(work, 'image.bundle');
  const version = join(work, 'version');
  if (existsSync(bundle)) {
    const meta = JSON.parse(readFileSync(join(version, 'meta.json'), 'utf8')) as ImageMeta;
    return { bundle, meta, artifact: join(version, meta.artifact.file) };
  }
  rmSync(work, { recursive: true, force: true });
  const tree = join(work, 'tree');
  mkdirSync(tree, { recursive: true });
  mkdirSync(version);
  writeRandom(join(tree, 'random.bin'), sizeBytes);
  // Level 1: random data does not compress at any level; 1 spends the least CPU finding that out.
  const packed = await packImage({ root: tree, outDir: version, level: 1, threads: 0 });
  rmSync(tree, { recursive: true });
  const draft = await metaDraft(packed, { sourceHost: 'bench-swarm', host: unknownFacts() /* never restored to a disk */, torrent: { image: BENCH_IMAGE, version: BENCH_VERSION } });
  const meta: ImageMeta = { ...draft, name: BENCH_IMAGE, version: BENCH_VERSION };
  writeFileSync(join(version, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  // The bundle layout of server/images/bundle.ts: meta.json first, then manifest, torrent info, artifact.
  const files = ['meta.json', meta.manifest.file, ...(meta.torrent ? [meta.torrent.file] : []), meta.artifact.file];
  const pack = tar.pack();
  const partial = `${bundle}.partial`;
  const done = pipeline(pack, createWriteStream(partial));
  for (const f of files) {
    const path = join(version, f);
    await pipeline(createReadStream(path), pack.entry({ name: f, size: statSync(path).size, mode: 0o644, type: 'file' }));
  }
  pack.finalize();
  await done;
  renameSync(partial, bundle);
  return { bundle, meta, artifact: join(version, meta.artifact.file) };
}
