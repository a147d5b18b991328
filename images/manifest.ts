/**
 * Manifests of trees on disk: walk a tree and hash its content, read and
 * write manifest files. The record format and the diff are in
 * manifest-codec.ts (pure); this file does the I/O.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import readline from 'node:readline';
import { decodeManifestLine, MANIFEST_HEADER, type ManifestEntry } from './manifest-codec.ts';
import { HoleFillingHash, openContent, readSegments, walkTree, type WalkOptions } from './walk.ts';
import { ImgsrvError } from '../core/errors.ts';

export { diffManifests, displayPath, encodeManifestLine, decodeManifestLine, MANIFEST_HEADER } from './manifest-codec.ts';
export type { EntryType, ManifestEntry } from './manifest-codec.ts';

/** Every path of a tree with its metadata and content hash, in walk order (streams: one entry at a time). */
export async function* walkManifest(root: string, opts: WalkOptions = {}): AsyncGenerator<ManifestEntry> {
  for await (const item of walkTree(root, opts)) {
    if (item.entry.type === 'file') {
      const size = item.entry.size ?? 0;
      const c = openContent(item);
      try {
        const hash = createHash('sha256');
        const filler = new HoleFillingHash((b) => hash.update(b));
        for (const { offset, data } of readSegments(c.fd, c.sparse ?? [[0, size]], item.rel)) filler.add(offset, data);
        filler.end(size);
        item.entry.sha256 = hash.digest('hex');
        if (c.sparse) item.entry.sparse = c.sparse;
      } finally {
        c.close();
      }
    }
    yield item.entry;
  }
}

/** The manifest of a tree (not crossing mount points unless opts.crossMounts). */
export async function buildManifest(root: string, opts: WalkOptions = {}): Promise<ManifestEntry[]> {
  const out: ManifestEntry[] = [];
  for await (const e of walkManifest(root, opts)) out.push(e);
  return out;
}

/** Read a manifest file entry by entry. */
export async function* readManifestFile(file: string): AsyncGenerator<ManifestEntry> {
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    if (n === 1) {
      if (line !== MANIFEST_HEADER) throw new ImgsrvError('IO', `${file} is not an imgsrv manifest (first line ${JSON.stringify(line.slice(0, 40))})`);
      continue;
    }
    if (line === '') continue;
    yield decodeManifestLine(line, `${file} line ${n}`);
  }
  if (n === 0) throw new ImgsrvError('IO', `${file} is empty`, { hint: 'the image is damaged: capture it again' });
}
