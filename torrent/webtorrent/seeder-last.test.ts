import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { seederPeerId } from '../client.ts';
import type { InternalTorrent, InternalWire } from './internals.ts';
import { askSeederLast } from './seeder-last.ts';

const BLOCK = 16384;
const PIECE = 4 * BLOCK;

type Req = { piece: number; offset: number; length: number };
type FakeWire = InternalWire & EventEmitter & { sent: Req[]; cancelled: Req[] };

function wire(peerId: string, has: number[], opts: { choking?: boolean } = {}): FakeWire {
  const w = new EventEmitter() as unknown as FakeWire;
  const held = new Set(has);
  Object.assign(w, {
    peerId,
    type: 'tcpOutgoing',
    destroyed: false,
    peerChoking: !!opts.choking,
    requests: [],
    sent: [],
    cancelled: [],
    peerPieces: { get: (i: number) => held.has(i), set: (i: number) => held.add(i), buffer: new Uint8Array() },
    downloadSpeed: () => 0,
    cancel(index: number, offset: number, length: number) {
      const i = w.requests.findIndex((r) => r.piece === index && r.offset === offset && r.length === length);
      if (i >= 0) w.cancelled.push(...w.requests.splice(i, 1));
    },
  });
  return w;
}

/**
 * A torrent whose `_request` behaves like webtorrent 3.0.21's: it refuses once
 * the wire has 2 + ceil(downloadSpeed() / BLOCK) requests outstanding (the
 * pipeline for PIPELINE_MAX_DURATION = 1 s) or when every block of the piece
 * is reserved, else reserves the next block and sends REQUEST.
 */
function torrent(wires: FakeWire[]): InternalTorrent & EventEmitter {
  const t = new EventEmitter() as unknown as InternalTorrent & EventEmitter;
  const reserved = new Map<number, number>();
  Object.assign(t, {
    wires,
    pieceLength: PIECE,
    pieces: Array.from({ length: 8 }, () => ({ length: PIECE, missing: PIECE })),
  });
  t._request = (w, index) => {
    const fw = w as FakeWire;
    if (fw.requests.length >= 2 + Math.ceil(fw.downloadSpeed() / BLOCK)) return false;
    const next = reserved.get(index) ?? 0;
    if (next * BLOCK >= PIECE) return false;
    reserved.set(index, next + 1);
    const req = { piece: index, offset: next * BLOCK, length: BLOCK };
    fw.requests.push(req);
    fw.sent.push(req);
    return true;
  };
  askSeederLast(t);
  for (const w of wires) t.emit('wire', w);
  return t;
}

describe('askSeederLast', () => {
  const nodeId = (s: string) => Buffer.from(`-WW0300-${s}`).toString('hex');

  it('asks the seeder only for pieces no unchoked peer offers', () => {
    const seeder = wire(seederPeerId(), [0, 1, 2, 3]);
    const node = wire(nodeId('abcdefghijkl'), [1]);
    const choking = wire(nodeId('mnopqrstuvwx'), [2], { choking: true });
    const t = torrent([seeder, node, choking]);
    expect(t._request(seeder, 0, false)).toBe(true); // nobody else has 0
    expect(t._request(seeder, 1, false)).toBe(false); // the node has 1: ask it instead
    expect(t._request(seeder, 2, false)).toBe(true); // only a peer that chokes us has 2
    expect(t._request(node, 1, false)).toBe(true);
    expect(seeder.sent.map((r) => r.piece)).not.toContain(1);
    expect(node.sent).toEqual([{ piece: 1, offset: 0, length: BLOCK }]); // one block per call for other peers, as webtorrent does
  });

  it('asks the seeder for every block of a piece at once, and leaves its meter alone', () => {
    const seeder = wire(seederPeerId(), [0, 1]);
    const speed = seeder.downloadSpeed;
    const t = torrent([seeder]);
    expect(t._request(seeder, 0, false)).toBe(true);
    expect(seeder.sent).toEqual([0, 1, 2, 3].map((b) => ({ piece: 0, offset: b * BLOCK, length: BLOCK })));
    expect(seeder.downloadSpeed).toBe(speed);
    // The next piece also goes out whole, on top of the outstanding one.
    expect(t._request(seeder, 1, false)).toBe(true);
    expect(seeder.requests).toHaveLength(8);
    expect(t._request(seeder, 1, false)).toBe(false); // nothing left to reserve
  });

  it('cancels requests waiting at the seeder when an unchoked peer announces the piece', () => {
    const seeder = wire(seederPeerId(), [0, 1, 2]);
    const node = wire(nodeId('abcdefghijkl'), []);
    const choking = wire(nodeId('mnopqrstuvwx'), [], { choking: true });
    const t = torrent([seeder, node, choking]);
    for (const i of [0, 1, 2]) t._request(seeder, i, false);
    t.pieces[1]!.missing = PIECE - BLOCK; // one block of piece 1 already came from the seeder

    choking.emit('have', 0); // a peer choking us cannot serve it: keep waiting for the seeder
    expect(seeder.cancelled).toEqual([]);
    node.emit('have', 0);
    expect(seeder.cancelled.map((r) => r.piece)).toEqual([0, 0, 0, 0]);
    node.emit('have', 1); // the seeder has begun sending 1: let it finish
    seeder.emit('have', 2); // the seeder's own HAVE changes nothing
    expect(seeder.cancelled).toHaveLength(4);
    expect(seeder.requests.map((r) => r.piece)).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
  });
});
