// verifyImage catches damage to the artifact and disagreement with the manifest.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packImage, type PackResult } from './pack.ts';
import { verifyImage } from './verify.ts';
import { craftTar, tempDir, writeMeta, zstd } from './testdata/helpers.ts';
import { encodeInfo, infoHash, payloadName } from './torrent-info.ts';

let base: string;
let out: string;
let packed: PackResult;
beforeEach(async () => {
  base = tempDir('verify');
  const src = path.join(base, 'src');
  out = path.join(base, 'out');
  fs.mkdirSync(out);
  fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(src, 'etc/hosts'), '127.0.0.1 localhost\n'.repeat(200));
  fs.writeFileSync(path.join(src, 'data'), Buffer.alloc(300_000, 7));
  fs.symlinkSync('etc/hosts', path.join(src, 'link'));
  packed = await packImage({ root: src, outDir: out });
  writeMeta(out, packed);
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

const rewriteManifest = (fn: (lines: string[]) => string[]): void => {
  const lines = fs.readFileSync(packed.manifest, 'utf8').trimEnd().split('\n');
  fs.writeFileSync(packed.manifest, `${fn(lines).join('\n')}\n`);
  writeMeta(out, packed); // keep meta's manifest checksum current: test the content check, not the checksum
};

describe('verifyImage', () => {
  it('passes an intact image', async () => {
    expect(await verifyImage(out)).toEqual({ ok: true, problems: [] });
  });

  it('detects a flipped byte in the artifact', async () => {
    const bytes = fs.readFileSync(packed.artifact);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    fs.writeFileSync(packed.artifact, bytes);
    const r = await verifyImage(out);
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(/image\.tar\.zst: sha256 [0-9a-f]{64} differs from meta\.json/);
  });

  it('detects a truncated artifact', async () => {
    const bytes = fs.readFileSync(packed.artifact);
    fs.writeFileSync(packed.artifact, bytes.subarray(0, bytes.length - 100));
    const r = await verifyImage(out);
    expect(r.problems.join('\n')).toMatch(/truncated/);
  });

  it('detects a manifest whose content hash disagrees with the archive', async () => {
    rewriteManifest((lines) => lines.map((l) => (l.includes('"path":"etc/hosts"') ? l.replace(/"sha256":"[0-9a-f]+"/, `"sha256":"${'0'.repeat(64)}"`) : l)));
    const r = await verifyImage(out);
    expect(r.problems).toEqual([expect.stringMatching(/^etc\/hosts: manifest sha256 0{64} != [0-9a-f]{64} archive$/)]);
  });

  it('detects metadata mismatches and missing or extra paths', async () => {
    rewriteManifest((lines) => [
      ...lines.filter((l) => !l.includes('"path":"data"')).map((l) => (l.includes('"path":"link"') ? l.replace('"mode":511', '"mode":420').replace('"target":"etc/hosts"', '"target":"elsewhere"') : l)),
      JSON.stringify({ path: 'ghost', type: 'file', mode: 420, uid: 0, gid: 0, mtime: '0', size: 0, sha256: '0'.repeat(64) }),
    ]);
    const r = await verifyImage(out);
    const text = r.problems.join('\n');
    expect(text).toMatch(/data: in the archive but not in the manifest/);
    expect(text).toMatch(/link: manifest mode 00644 != 00777 archive/);
    expect(text).toMatch(/link: manifest target elsewhere != etc\/hosts archive/);
    expect(text).toMatch(/ghost: in the manifest but not in the archive/);
  });

  it('detects a manifest file that does not match meta.json', async () => {
    fs.appendFileSync(packed.manifest, '\n');
    const r = await verifyImage(out);
    expect(r.problems).toContain('manifest.jsonl: sha256 differs from meta.json');
  });

  it("reports, never throws on, a meta whose torrent piece length disagrees with the info's (fuzz-found)", async () => {
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'meta.json'), 'utf8'));
    const info = encodeInfo(payloadName('web', 1), packed.pieces);
    fs.writeFileSync(path.join(out, 'info.bencode'), info);
    const pl = packed.pieces.pieceLength;
    meta.torrent = { file: 'info.bencode', infoHash: infoHash(info), pieceLength: pl, pieces: packed.pieces.hashes.length / 20 };
    fs.writeFileSync(path.join(out, 'meta.json'), JSON.stringify(meta));
    expect(await verifyImage(out)).toEqual({ ok: true, problems: [] });
    meta.torrent.pieceLength = pl * 2;
    fs.writeFileSync(path.join(out, 'meta.json'), JSON.stringify(meta));
    const r = await verifyImage(out);
    expect(r.ok).toBe(false);
    expect(r.problems).toContain(`info.bencode: piece length ${pl} differs from meta.json's ${pl * 2}`);
  });

  it('reports a bad meta.json by key path', async () => {
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'meta.json'), 'utf8'));
    meta.artifact.sha256 = 'nope';
    fs.writeFileSync(path.join(out, 'meta.json'), JSON.stringify(meta));
    expect((await verifyImage(out)).problems[0]).toMatch(/artifact\.sha256: must be 64 lowercase hex digits/);
  });

  it('reports, never hangs on, a directory entry with a size (fuzz-found: tar-stream never ends its body)', async () => {
    const tarBytes = await craftTar([{ header: { name: 'd', type: 'directory', mode: 0o755, size: 1024 } }]);
    fs.writeFileSync(packed.artifact, zstd(tarBytes));
    const res = await verifyImage(out);
    expect(res.ok).toBe(false);
    expect(res.problems).toContain('d: in the archive but not in the manifest');
  });
});
