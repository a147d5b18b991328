// Images published before the archive used only standard pax records keep
// restoring exactly. testdata/legacy-imgsrv-keys/ was made by packImage at
// commit ea2fafb (IMGSRV.pathb64, IMGSRV.linkpathb64, IMGSRV.xattr.* for
// non-UTF-8 names and binary xattrs) from a tree with binary user and trusted
// xattrs, a file capability, access and default ACLs, a non-UTF-8 name and
// symlink target, a 150-byte name, a hard link, a sparse file, a fifo owned
// by uid 3000000 and a char device; its manifest.jsonl is what was packed.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildManifest, diffManifests, readManifestFile, type ManifestEntry } from './manifest.ts';
import type { PackResult } from './pack.ts';
import { unpackImage } from './unpack.ts';
import { verifyImage } from './verify.ts';
import { tempDir, writeMeta } from './testdata/helpers.ts';

const FIXTURE = path.join(import.meta.dirname, 'testdata', 'legacy-imgsrv-keys');
const isRoot = process.getuid?.() === 0;

async function manifest(): Promise<ManifestEntry[]> {
  const out: ManifestEntry[] = [];
  for await (const e of readManifestFile(path.join(FIXTURE, 'manifest.jsonl'))) out.push(e);
  return out;
}

let base: string;
beforeEach(() => {
  base = tempDir('legacy');
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

describe('an archive with the old IMGSRV.* records', () => {
  it('is one (the fixture still holds what it is meant to test)', () => {
    const tar = zlib.zstdDecompressSync(fs.readFileSync(path.join(FIXTURE, 'image.tar.zst'))).toString('latin1');
    for (const key of ['IMGSRV.pathb64=', 'IMGSRV.linkpathb64=', 'IMGSRV.xattr.']) expect(tar).toContain(key);
  });

  it('decodes to its manifest, entry for entry and byte for byte (verify)', async () => {
    const artifact = fs.readFileSync(path.join(FIXTURE, 'image.tar.zst'));
    for (const f of ['image.tar.zst', 'manifest.jsonl']) fs.copyFileSync(path.join(FIXTURE, f), path.join(base, f));
    const entries = await manifest();
    writeMeta(base, {
      manifest: path.join(base, 'manifest.jsonl'),
      rawBytes: zlib.zstdDecompressSync(artifact).length,
      compressedBytes: artifact.length,
      sha256: createHash('sha256').update(artifact).digest('hex'),
      files: entries.length,
      zstdLevel: 3,
    } as PackResult);
    expect(await verifyImage(base)).toEqual({ ok: true, problems: [] });
  });

  it.skipIf(!isRoot)('restores exactly (needs root: trusted.* and security.* xattrs, owners, devices)', async () => {
    await unpackImage({ input: fs.createReadStream(path.join(FIXTURE, 'image.tar.zst')), target: base });
    expect(diffManifests(await manifest(), await buildManifest(base))).toEqual([]);
  });
});
