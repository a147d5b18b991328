/**
 * meta.json drafts for a captured version (the image store adds name and
 * version): from a freshly packed artifact, or sharing an unchanged earlier
 * version's artifact.
 */
import { linkSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { HostFacts } from '../../images/meta.ts';
import { sha256File } from '../../images/hash.ts';
import type { PackResult } from '../../images/pack.ts';
import { encodeInfo, infoHash, INFO_FILE, payloadName, renameInfo } from '../../images/torrent-info.ts';
import type { ImageStore, MetaDraft } from '../images/store.ts';
import type { HostKeyInfo } from './host-key.ts';

/** A draft for a new version that shares `version`'s artifact and manifest (hard links: images are immutable). */
export function reusedDraft(images: ImageStore, name: string, version: number, dir: string, o: { sourceHost: string; host: HostFacts; version: number; hostKey?: HostKeyInfo }): MetaDraft {
  const prev = images.meta(name, version);
  const from = images.dir(name, version);
  linkSync(join(from, prev.artifact.file), join(dir, prev.artifact.file));
  linkSync(join(from, prev.manifest.file), join(dir, prev.manifest.file));
  // Same bytes, same pieces; the new name gives the new version its own info hash (its own swarm).
  let torrent: MetaDraft['torrent'];
  if (prev.torrent) {
    const info = renameInfo(readFileSync(join(from, prev.torrent.file)), payloadName(name, o.version));
    writeFileSync(join(dir, INFO_FILE), info);
    torrent = { ...prev.torrent, infoHash: infoHash(info) };
  }
  return {
    format: 1,
    createdAt: new Date().toISOString(),
    sourceHost: o.sourceHost,
    ...(o.hostKey ? { source: sourceMeta(o.hostKey) } : {}),
    host: o.host,
    artifact: prev.artifact,
    manifest: prev.manifest,
    ...(torrent ? { torrent } : {}),
  };
}

/** The meta.json draft for a packed artifact (the store adds name and version). */
export async function metaDraft(packed: PackResult, o: { sourceHost: string; host: HostFacts; createdAt?: Date; torrent?: { image: string; version: number }; hostKey?: HostKeyInfo }): Promise<MetaDraft> {
  // With `torrent`, the info dictionary is written beside the artifact from the hashes taken while packing.
  let torrent: MetaDraft['torrent'];
  if (o.torrent) {
    const info = encodeInfo(payloadName(o.torrent.image, o.torrent.version), packed.pieces);
    writeFileSync(join(dirname(packed.artifact), INFO_FILE), info, { flag: 'wx' });
    torrent = { file: INFO_FILE, infoHash: infoHash(info), pieceLength: packed.pieces.pieceLength, pieces: packed.pieces.hashes.length / 20 };
  }
  return {
    ...(torrent ? { torrent } : {}),
    format: 1,
    createdAt: (o.createdAt ?? new Date()).toISOString(),
    sourceHost: o.sourceHost,
    ...(o.hostKey ? { source: sourceMeta(o.hostKey) } : {}),
    host: o.host,
    artifact: {
      file: 'image.tar.zst',
      rawBytes: packed.rawBytes,
      compressedBytes: packed.compressedBytes,
      sha256: packed.sha256,
      zstdLevel: packed.zstdLevel,
      files: packed.files,
    },
    manifest: { file: basename(packed.manifest), sha256: await sha256File(packed.manifest) },
  };
}

/** meta.source: the host key the image was captured through. */
function sourceMeta(k: HostKeyInfo): NonNullable<MetaDraft['source']> {
  return { hostKey: k.fingerprint, hostKeyType: k.type, hostKeyTrust: k.trust };
}
