/**
 * Verify an image version directory without unpacking it: in one read of
 * image.tar.zst, check its size and sha256 against meta.json and decode it,
 * comparing every entry's metadata and content hash with the manifest.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { readManifestFile } from './manifest.ts';
import { diffEntry, displayPath, pathKey, type ManifestEntry } from './manifest-codec.ts';
import { parseImageMeta, type ImageMeta } from './meta.ts';
import { sparsePieces } from './sparse.ts';
import { createTarExtract } from './tar-read.ts';
import { fromTarHeader, type TarHeader } from './tar-entry.ts';
import { ImgsrvError } from '../core/errors.ts';
import { decompressedStream } from './unpack.ts';
import { HoleFillingHash } from './walk.ts';
import { sha256File } from './hash.ts';
import { PieceHasher } from './pieces.ts';
import { decodeInfo, encodeInfo, infoHash } from './torrent-info.ts';

const MAX_PROBLEMS = 100;

/** Check an image directory (meta.json, manifest, image.tar.zst); ok is true when no problem was found. */
export async function verifyImage(dir: string): Promise<{ ok: boolean; problems: string[] }> {
  const problems: string[] = [];
  const add = (p: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
    else if (problems.length === MAX_PROBLEMS) problems.push('… more problems not listed');
  };
  let meta: ImageMeta;
  try {
    meta = parseImageMeta(JSON.parse(await fs.promises.readFile(path.join(dir, 'meta.json'), 'utf8')));
  } catch (err) {
    return { ok: false, problems: [`meta.json: ${(err as Error).message}`] };
  }
  const manifestPath = path.join(dir, meta.manifest.file);
  const expected = new Map<string, ManifestEntry>();
  try {
    if ((await sha256File(manifestPath)) !== meta.manifest.sha256) add(`${meta.manifest.file}: sha256 differs from meta.json`);
    for await (const e of readManifestFile(manifestPath)) expected.set(pathKey(e.path), e);
  } catch (err) {
    add(`${meta.manifest.file}: ${(err as Error).message}`);
  }

  // The torrent's piece hashes are checked in the same read of the artifact.
  let torrent: { pieces: PieceHasher; name: string; info: Buffer } | undefined;
  // An info dictionary the meta doesn't name: the meta lost its torrent (the server would derive another one).
  if (!meta.torrent && fs.existsSync(path.join(dir, 'info.bencode'))) add('meta.json names no torrent, but the image has info.bencode');
  if (meta.torrent) {
    try {
      const info = await fs.promises.readFile(path.join(dir, meta.torrent.file));
      const fields = decodeInfo(info);
      if (infoHash(info) !== meta.torrent.infoHash) add(`${meta.torrent.file}: info hash differs from meta.json`);
      if (fields.length !== meta.artifact.compressedBytes) add(`${meta.torrent.file}: length ${fields.length} differs from the artifact's ${meta.artifact.compressedBytes}`);
      torrent = { pieces: new PieceHasher([fields.pieceLength]), name: fields.name, info };
    } catch (err) {
      add(`${meta.torrent.file}: ${(err as Error).message}`);
    }
  }
  // A sparse file's content hash covers its holes as zeros, so a forged logical size (say 1 TiB) would have
  // verify hash for hours (fuzz-found). Holes are hashed up to a budget that scales with the archive.
  const holes = { budget: HOLE_BUDGET_BASE + HOLE_BUDGET_FACTOR * meta.artifact.rawBytes };
  const artifactHash = createHash('sha256');
  let compressed = 0;
  let raw = 0;
  let entries = 0;
  const ac = new AbortController();
  try {
    const input = fs.createReadStream(path.join(dir, meta.artifact.file));
    const tapped = (async function* () {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        artifactHash.update(chunk);
        torrent?.pieces.update(chunk);
        compressed += chunk.length;
        yield chunk;
      }
    })();
    const extract = createTarExtract();
    const fed = pipeline(decompressedStream(tapped, ac.signal, (n) => (raw += n)), extract, { signal: ac.signal });
    fed.catch(() => undefined);
    for await (const stream of extract) {
      entries++;
      const { entry, sparseRealSize } = fromTarHeader(stream.header as TarHeader);
      await hashBody(entry, stream as unknown as Body, sparseRealSize, holes);
      const want = expected.get(pathKey(entry.path));
      if (!want) add(`${displayPath(entry.path)}: in the archive but not in the manifest`);
      else {
        expected.delete(pathKey(entry.path));
        for (const d of diffEntry(want, entry)) add(`${displayPath(entry.path)}: manifest ${d} archive`);
      }
    }
    await fed;
  } catch (err) {
    ac.abort();
    add(`${meta.artifact.file}: ${(err as Error).message}`);
  }
  const sha = artifactHash.digest('hex');
  if (sha !== meta.artifact.sha256) add(`${meta.artifact.file}: sha256 ${sha} differs from meta.json's ${meta.artifact.sha256}`);
  if (compressed !== meta.artifact.compressedBytes) add(`${meta.artifact.file}: ${compressed} bytes, meta.json says ${meta.artifact.compressedBytes}`);
  if (problems.length === 0 && raw !== meta.artifact.rawBytes) add(`${meta.artifact.file}: ${raw} bytes uncompressed, meta.json says ${meta.artifact.rawBytes}`);
  if (problems.length === 0 && entries !== meta.artifact.files) add(`${meta.artifact.file}: ${entries} entries, meta.json says ${meta.artifact.files}`);
  for (const e of expected.values()) add(`${displayPath(e.path)}: in the manifest but not in the archive`);
  if (torrent && meta.torrent) {
    const got = torrent.pieces.finish();
    // Same length (checked above) at the info's piece length: re-encoding must give the same bytes.
    // A meta whose piece length disagrees with the info's is a problem to report, never an exception.
    if (got.pieceLength !== meta.torrent.pieceLength) add(`${meta.torrent.file}: piece length ${got.pieceLength} differs from meta.json's ${meta.torrent.pieceLength}`);
    else if (got.hashes.length / 20 !== meta.torrent.pieces) add(`${meta.torrent.file}: ${got.hashes.length / 20} pieces, meta.json says ${meta.torrent.pieces}`);
    else if (got.length === meta.artifact.compressedBytes && !encodeInfo(torrent.name, got).equals(torrent.info)) {
      add(`${meta.torrent.file}: piece hashes do not match ${meta.artifact.file}`);
    }
  }
  return { ok: problems.length === 0, problems };
}

/** An entry's body as tar-stream hands it over. */
interface Body extends AsyncIterable<Buffer> {
  resume(): unknown;
}

/** Hash a file entry's logical content (holes as zeros) into entry.sha256 and its sparse map into entry.sparse. */
/** Hole bytes verify hashes per image: 4 GiB, plus 1024 × the archive's size (a sample's sparse VM disks and databases fit). */
const HOLE_BUDGET_BASE = 4 * 2 ** 30;
const HOLE_BUDGET_FACTOR = 1024;

async function hashBody(entry: ManifestEntry, body: Body, sparseRealSize: number | undefined, holes: { budget: number }): Promise<void> {
  if (entry.type !== 'file') {
    // Drain, never await: tar-stream does not end the body of a directory whose header gives it a size (fuzz-found hang).
    body.resume();
    return;
  }
  const hash = createHash('sha256');
  const filler = new HoleFillingHash((b) => hash.update(b));
  if (sparseRealSize === undefined) {
    for await (const chunk of body) hash.update(chunk);
  } else {
    const segs: Array<[number, number]> = [];
    let pos = 0;
    const spend = (hole: number): void => {
      holes.budget -= hole;
      if (holes.budget < 0) {
        throw new ImgsrvError('IO', `sparse file ${JSON.stringify(displayPath(entry.path))} claims ${sparseRealSize} bytes, more holes than this image can plausibly hold`, {
          hint: 'the archive is corrupt or hostile',
        });
      }
    };
    for await (const { offset, data } of sparsePieces(body, sparseRealSize, displayPath(entry.path))) {
      spend(offset - pos);
      pos = offset + data.length;
      filler.add(offset, data);
      const last = segs[segs.length - 1];
      if (last && last[0] + last[1] === offset) last[1] += data.length;
      else segs.push([offset, data.length]);
    }
    spend(sparseRealSize - pos);
    filler.end(sparseRealSize);
    entry.sparse = segs;
  }
  entry.sha256 = hash.digest('hex');
}
