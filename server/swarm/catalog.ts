/**
 * The swarm's view of the image store: for each published version, its info
 * dictionary (from `info.bencode` written at pack time; for images made
 * before the swarm existed, derived once from the artifact and kept in the
 * torrents directory) and a `.torrent` in `<data>/torrents/<image>/<version>.torrent`
 * pointing at this server's tracker and web seed. The torrents directory is
 * what the rsync daemon exports; it holds nothing else.
 */
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import parseTorrent from 'parse-torrent';
import { PieceHasher, pieceLengthFor } from '../../images/pieces.ts';
import { decodeInfo, encodeInfo, infoHash, payloadName } from '../../images/torrent-info.ts';
import type { ImageStore } from '../images/store.ts';
import { buildTorrentFile, torrentUrls } from '../../torrent/torrent-file.ts';

/** One seedable image version. */
export interface SwarmEntry {
  image: string;
  version: number;
  infoHash: string;
  /** The payload's name in the torrent (what peers save it as; the web seed URL's last segment). */
  payloadName: string;
  length: number;
  pieceLength: number;
  artifact: string;
  torrentPath: string;
  torrentFile: Buffer;
  webSeed: string;
}

/** Read an info dictionary out of an existing .torrent, if it is there and parses. */
async function infoFromTorrent(path: string): Promise<Buffer | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    return Buffer.from((await parseTorrent(readFileSync(path))).infoBuffer);
  } catch {
    return undefined;
  }
}

/** Hash an artifact from disk: only for versions packed before piece hashes were taken at pack time. */
async function deriveInfo(artifact: string, name: string, size: number): Promise<Buffer> {
  const hasher = new PieceHasher([pieceLengthFor(size)]);
  for await (const chunk of createReadStream(artifact, { highWaterMark: 1 << 20 })) hasher.update(chunk as Buffer);
  return encodeInfo(name, hasher.finish());
}

/** Write `data` to `path` via a temporary file and rename (rsync clients never see half a torrent). */
function writeAtomic(path: string, data: Buffer): void {
  if (existsSync(path) && readFileSync(path).equals(data)) return;
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o644 });
  renameSync(tmp, path);
}

/** Builds and removes swarm entries for the image store. */
export class SwarmCatalog {
  readonly torrentsDir: string;
  private readonly images: ImageStore;
  private readonly httpBase: string;

  constructor(opts: { torrentsDir: string; images: ImageStore; httpBase: string }) {
    this.torrentsDir = opts.torrentsDir;
    this.images = opts.images;
    this.httpBase = opts.httpBase;
    mkdirSync(this.torrentsDir, { recursive: true, mode: 0o755 });
  }

  /** Published versions as "name@version" keys. */
  published(): Array<{ image: string; version: number }> {
    return this.images.names().flatMap((image) => this.images.versions(image).map((version) => ({ image, version })));
  }

  /** Make (or refresh) the .torrent of NAME@VERSION and return its entry. */
  async prepare(image: string, version: number): Promise<SwarmEntry> {
    const meta = this.images.meta(image, version);
    const dir = this.images.dir(image, version);
    const artifact = join(dir, meta.artifact.file);
    const torrentPath = join(this.torrentsDir, image, `${version}.torrent`);
    mkdirSync(join(this.torrentsDir, image), { recursive: true, mode: 0o755 });
    let info: Buffer | undefined;
    if (meta.torrent) info = readFileSync(join(dir, meta.torrent.file));
    else {
      info = await infoFromTorrent(torrentPath);
      if (info && decodeInfo(info).length !== meta.artifact.compressedBytes) info = undefined;
      info ??= await deriveInfo(artifact, payloadName(image, version), meta.artifact.compressedBytes);
    }
    const fields = decodeInfo(info);
    const urls = torrentUrls(this.httpBase, image, version, fields.name);
    const torrentFile = buildTorrentFile(info, urls);
    writeAtomic(torrentPath, torrentFile);
    return {
      image,
      version,
      infoHash: infoHash(info),
      payloadName: fields.name,
      length: fields.length,
      pieceLength: fields.pieceLength,
      artifact,
      torrentPath,
      torrentFile,
      webSeed: urls.webSeed,
    };
  }

  /** Remove the .torrent of a version that is gone. */
  drop(image: string, version: number): void {
    rmSync(join(this.torrentsDir, image, `${version}.torrent`), { force: true });
  }
}
