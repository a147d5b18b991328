// Our piece hashes (taken while packing) against create-torrent's (reading
// the finished file): same info dictionary, same info hash, or a standard
// BitTorrent client would not accept our torrents.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import createTorrent from 'create-torrent';
import parseTorrent from 'parse-torrent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packImage, type PackResult } from './pack.ts';
import { candidatePieceLengths, MAX_PIECE_LENGTH, MIN_PIECE_LENGTH, PieceHasher, pieceLengthFor } from './pieces.ts';
import { decodeInfo, encodeInfo, infoHash, renameInfo, wellFormedBencode } from './torrent-info.ts';
import { ImgsrvError } from '../core/errors.ts';
import { verifyImage } from './verify.ts';
import { unknownFacts } from '../server/capture/probe.ts';
import { metaDraft } from '../server/capture/run.ts';

function referenceTorrent(file: string, name: string, pieceLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    createTorrent(file, { name, pieceLength, creationDate: 0 }, (err, t) => (err ? reject(err) : resolve(Buffer.from(t)))),
  );
}

describe('piece length', () => {
  it('targets about 1024 pieces within 256 KiB-16 MiB', () => {
    expect(pieceLengthFor(0)).toBe(MIN_PIECE_LENGTH);
    expect(pieceLengthFor(100e6)).toBe(MIN_PIECE_LENGTH);
    expect(pieceLengthFor(1 << 30)).toBe(1 << 20);
    expect(pieceLengthFor(4 * 2 ** 30)).toBe(4 << 20);
    expect(pieceLengthFor(2 ** 50)).toBe(MAX_PIECE_LENGTH);
  });
  it('hashes at the candidates a 1x-8x compression ratio can select', () => {
    expect(candidatePieceLengths(8 * 2 ** 30)).toEqual([1 << 20, 2 << 20, 4 << 20, 8 << 20]);
    expect(candidatePieceLengths(50e6)).toEqual([MIN_PIECE_LENGTH]);
  });
  it('keeps the candidate the final size selects, and the nearest one beyond the range', () => {
    const h = new PieceHasher([1 << 20, 2 << 20]);
    h.update(Buffer.alloc(3 << 20));
    const p = h.finish();
    expect(p.pieceLength).toBe(1 << 20);
    expect(p.hashes.length).toBe(3 * 20);
  });
});

describe('info dictionary from packing', () => {
  let dir: string;
  let packed: PackResult;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgsrv-torrent-'));
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
    // Incompressible content so the artifact spans several pieces, plus some text.
    fs.writeFileSync(path.join(src, 'blob'), randomBytes(3 * 1024 * 1024 + 12345));
    fs.writeFileSync(path.join(src, 'etc', 'hostname'), 'sample\n');
    fs.mkdirSync(path.join(dir, 'out'));
    packed = await packImage({ root: src, outDir: path.join(dir, 'out') });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('matches create-torrent over the finished artifact', async () => {
    expect(packed.pieces.length).toBe(packed.compressedBytes);
    const info = encodeInfo('web-1.tar.zst', packed.pieces);
    const ref = await parseTorrent(await referenceTorrent(packed.artifact, 'web-1.tar.zst', packed.pieces.pieceLength));
    expect(infoHash(info)).toBe(ref.infoHash);
    expect(Buffer.from(ref.infoBuffer).equals(info)).toBe(true);
    expect(decodeInfo(info)).toEqual({ name: 'web-1.tar.zst', length: packed.compressedBytes, pieceLength: MIN_PIECE_LENGTH, pieceCount: ref.pieces.length });
  });

  it('renaming changes the hash and nothing else', () => {
    const info = encodeInfo('web-1.tar.zst', packed.pieces);
    const renamed = renameInfo(info, 'web-2.tar.zst');
    expect(infoHash(renamed)).not.toBe(infoHash(info));
    expect({ ...decodeInfo(renamed), name: '' }).toEqual({ ...decodeInfo(info), name: '' });
  });

  it('refuses hashes that do not cover the length, and damaged dictionaries', () => {
    expect(() => encodeInfo('x', { ...packed.pieces, length: packed.pieces.length + 1e6 })).toThrow(/do not cover/);
    expect(() => decodeInfo(Buffer.from('d4:name1:xe'))).toThrow(/single-file/);
  });

  it('refuses malformed bencode with IMAGE_INVALID before bencode.decode sees it (fuzz-found: a negative length looped forever)', () => {
    for (const bad of ['d4:name-1:xe', 'd4:name1:x6:lengthi-0ee', 'd4:name01:xe', 'i1', 'd1:ai1e', 'de extra', 'x', '', `${'l'.repeat(40)}${'e'.repeat(40)}`]) {
      let err: unknown;
      try {
        decodeInfo(Buffer.from(bad));
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(ImgsrvError);
      expect((err as ImgsrvError).code, bad).toBe('IMAGE_INVALID');
    }
    expect(wellFormedBencode(Buffer.from('d1:ai-3e1:bl0:i0eee'))).toBe(true);
  });

  it('verify checks the pieces against the artifact in its one read', async () => {
    const out = path.join(dir, 'out');
    const draft = await metaDraft(packed, { sourceHost: 'root@h', host: unknownFacts(), torrent: { image: 'web', version: 1 } });
    fs.writeFileSync(path.join(out, 'meta.json'), JSON.stringify({ ...draft, name: 'web', version: 1 }));
    expect(await verifyImage(out)).toEqual({ ok: true, problems: [] });
    // A torrent whose pieces belong to other bytes is caught.
    const info = fs.readFileSync(path.join(out, 'info.bencode'));
    const bad = Buffer.from(info);
    bad[bad.length - 5]! ^= 0xff;
    fs.writeFileSync(path.join(out, 'info.bencode'), bad);
    fs.writeFileSync(path.join(out, 'meta.json'), JSON.stringify({ ...draft, name: 'web', version: 1, torrent: { ...draft.torrent, infoHash: infoHash(bad) } }));
    const res = await verifyImage(out);
    expect(res.problems).toEqual(['info.bencode: piece hashes do not match image.tar.zst']);
    fs.writeFileSync(path.join(out, 'info.bencode'), info);
  });
});
