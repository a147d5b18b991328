import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/log.ts';
import { erasePieceArea, PieceArea } from './piece-area.ts';
import { dataOffsetFor } from './piece-journal.ts';

const PIECE = 16384;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fixture(pieces = 10, lastShort = 1000) {
  const dir = mkdtempSync(join(tmpdir(), 'imgsrv-area-'));
  dirs.push(dir);
  const data = randomBytes((pieces - 1) * PIECE + lastShort);
  const hashes = Array.from({ length: pieces }, (_, i) => createHash('sha1').update(data.subarray(i * PIECE, (i + 1) * PIECE)).digest('hex'));
  const disk = join(dir, 'disk');
  writeFileSync(disk, Buffer.alloc(8 << 20));
  const torrent = { infoHash: '12'.repeat(20), pieceLength: PIECE, length: data.length, pieces: hashes };
  const opts = { path: disk, offset: 1 << 20, sizeBytes: 6 << 20, syncMs: 10 };
  const piece = (i: number) => data.subarray(i * PIECE, Math.min(data.length, (i + 1) * PIECE));
  return { data, torrent, opts, piece, disk };
}

const put = (store: { put(i: number, b: Uint8Array, cb: (e: Error | null) => void): void }, i: number, b: Uint8Array) =>
  new Promise<void>((ok, fail) => store.put(i, b, (e) => (e ? fail(e) : ok())));

describe('PieceArea', () => {
  it('stores pieces, serves ranges of them, and resumes only pieces whose hash still matches', async () => {
    const f = fixture();
    const a = await PieceArea.open(f.opts, f.torrent, silentLogger);
    expect(a.resumed).toEqual({ pieces: 0, bytes: 0 });
    const Store = a.storeConstructor();
    const store = new Store(PIECE);
    for (const i of [0, 3, 9]) await put(store, i, f.piece(i));
    const range = await new Promise<Buffer>((ok, fail) => store.get(3, { offset: 100, length: 50 }, (e, b) => (e ? fail(e) : ok(b!))));
    expect(range.equals(f.piece(3).subarray(100, 150))).toBe(true);
    const last = await new Promise<Buffer>((ok, fail) => store.get(9, (e, b) => (e ? fail(e) : ok(b!))));
    expect(last.equals(f.piece(9))).toBe(true);
    await a.close();
    // The disk flips a byte of piece 3 while the node is off.
    const fd = openSync(f.disk, 'r+');
    writeSync(fd, Buffer.from([0x55]), 0, 1, f.opts.offset + dataOffsetFor(10) + 3 * PIECE + 7);
    closeSync(fd);
    const b = await PieceArea.open(f.opts, f.torrent, silentLogger);
    expect(b.resumed).toEqual({ pieces: 2, bytes: PIECE + 1000 });
    expect([...b.bitfield]).toEqual([0b10000000, 0b01000000]); // pieces 0 and 9
    await b.close();
  });

  it('starts blank over another image, and after erasePieceArea', async () => {
    const f = fixture();
    const a = await PieceArea.open(f.opts, f.torrent, silentLogger);
    await put(new (a.storeConstructor())(PIECE), 1, f.piece(1));
    await a.close();
    const other = await PieceArea.open(f.opts, { ...f.torrent, infoHash: '34'.repeat(20) }, silentLogger);
    expect(other.resumed.pieces).toBe(0);
    await other.close();
    const c = await PieceArea.open(f.opts, f.torrent, silentLogger);
    expect(c.resumed.pieces).toBe(0); // the other image's header replaced ours
    await put(new (c.storeConstructor())(PIECE), 1, f.piece(1));
    await c.close();
    await erasePieceArea(f.disk, f.opts.offset);
    const d = await PieceArea.open(f.opts, f.torrent, silentLogger);
    expect(d.resumed.pieces).toBe(0);
    await d.close();
  });

  it('refuses an area too small for the torrent, and a piece of the wrong size', async () => {
    const f = fixture();
    await expect(PieceArea.open({ ...f.opts, sizeBytes: 1 << 20 }, f.torrent, silentLogger)).rejects.toThrow(/needs/);
    const a = await PieceArea.open(f.opts, f.torrent, silentLogger);
    await expect(put(new (a.storeConstructor())(PIECE), 2, Buffer.alloc(5))).rejects.toThrow(/expected 16384/);
    await a.close();
    await expect(put(new (a.storeConstructor())(PIECE), 2, f.piece(2))).rejects.toThrow(/closed/);
  });
});
