/**
 * Fuzz verifyImage (images/verify.ts), which checks an image directory that
 * may come from another server (bundle import): a real packed version
 * (meta.json, manifest, info.bencode, image.tar.zst) with one of its files
 * replaced by the input. The first byte says which: 0 the tar stream inside
 * the artifact (compressed here), 1 meta.json, 2 the manifest, 3 the info
 * dictionary, 4 the raw artifact. Oracle: verifyImage resolves with its
 * problem list (it never throws), in time, and says ok only for the files
 * it was packed with.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { ImageMeta } from '../../../images/meta.ts';
import { packImage } from '../../../images/pack.ts';
import { encodeInfo, infoHash, INFO_FILE, payloadName } from '../../../images/torrent-info.ts';
import { verifyImage } from '../../../images/verify.ts';
import { writeMeta } from '../../../images/testdata/helpers.ts';
import { ACCEPTED, rejected, type FuzzTarget } from '../harness.ts';
import { mutateJson } from './json-mutate.ts';
import { mutateTar } from './tar-craft.ts';

const FILES = ['image.tar.zst', 'meta.json', 'manifest.jsonl', INFO_FILE, 'image.tar.zst'] as const;
const zstd = (b: Buffer): Buffer => zlib.zstdCompressSync(b, { params: { [zlib.constants.ZSTD_c_checksumFlag]: 1 } });

/** verifyImage on an image directory with one file replaced by the input. */
export const verifyTarget: FuzzTarget = (() => {
  let base = '';
  let dir = '';
  const originals = new Map<string, Buffer>();
  return {
    name: 'verify',
    description: 'image dir with one fuzzed file (tar, meta, manifest, info, artifact) → verifyImage: resolves with problems, never throws or hangs',
    maxInputBytes: 32 * 1024,
    mix: { mutate: 0.6 },
    async setup() {
      base = fs.mkdtempSync(path.join(os.tmpdir(), 'imgsrv-fuzz-verify-'));
      const src = path.join(base, 'src');
      dir = path.join(base, 'image');
      fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(src, 'etc/hostname'), 'sample\n');
      fs.symlinkSync('etc/hostname', path.join(src, 'link'));
      fs.writeFileSync(path.join(src, 'data'), Buffer.alloc(5000, 'ab'));
      const r = await packImage({ root: src, outDir: dir });
      const info = encodeInfo(payloadName('test', 1), r.pieces);
      fs.writeFileSync(path.join(dir, INFO_FILE), info);
      const meta = writeMeta(dir, r);
      meta.torrent = { file: INFO_FILE, infoHash: infoHash(info), pieceLength: r.pieces.pieceLength, pieces: r.pieces.hashes.length / 20 };
      fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta, null, 2));
      for (const f of new Set(FILES)) originals.set(f, fs.readFileSync(path.join(dir, f)));
      if (!(await verifyImage(dir)).ok) throw new Error('verify target: the packed seed image does not verify');
    },
    seeds() {
      const tarBytes = zlib.zstdDecompressSync(originals.get('image.tar.zst')!);
      return [
        Buffer.concat([Buffer.from([0]), tarBytes]),
        ...([1, 2, 3, 4] as const).map((k) => Buffer.concat([Buffer.from([k]), originals.get(FILES[k])!])),
      ];
    },
    mutate(input, rng) {
      const kind = input[0]! % FILES.length;
      const body = input.subarray(1);
      const out = kind === 0 ? mutateTar(body, rng) : kind === 1 || kind === 2 ? mutateJson(body, rng) : body;
      return Buffer.concat([input.subarray(0, 1), out]);
    },
    async exec(input) {
      const kind = ((input[0] ?? 0) % FILES.length) as 0 | 1 | 2 | 3 | 4;
      const body = input.subarray(1);
      fs.writeFileSync(path.join(dir, FILES[kind]), kind === 0 ? zstd(body) : body);
      try {
        const r = await verifyImage(dir);
        const unchanged = kind === 0 ? zlib.zstdDecompressSync(originals.get(FILES[0])!).equals(body) : originals.get(FILES[kind])!.equals(body);
        // meta.json's other fields (name, host facts…) are the signature's business: only what it says about the files must hold.
        const vouched = (b: Buffer): string => {
          const m = JSON.parse(b.toString('utf8')) as ImageMeta;
          return JSON.stringify([m.artifact, m.manifest, m.torrent]);
        };
        const same = kind === 1 && r.ok ? vouched(body) === vouched(originals.get('meta.json')!) : unchanged;
        if (r.ok && !same && kind !== 0) throw new Error(`verifyImage passed a changed ${FILES[kind]}`);
        if (!r.ok && unchanged && kind !== 0) throw new Error(`verifyImage failed the unchanged image: ${r.problems[0]}`);
        return r.ok ? ACCEPTED : rejected(`${FILES[kind]}: ${(r.problems[0] ?? '').replace(/^[^:]*: /, '').replace(/"[^"]*"/g, '"…"').replace(/[0-9a-f]{16,}/g, 'H').replace(/\d+/g, 'N').slice(0, 50)}`);
      } finally {
        fs.writeFileSync(path.join(dir, FILES[kind]), originals.get(FILES[kind])!);
      }
    },
    close() {
      if (base) fs.rmSync(base, { recursive: true, force: true });
    },
  };
})();
