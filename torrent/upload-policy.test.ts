import { EventEmitter } from 'node:events';
import type { Wire } from 'webtorrent';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UploadPolicy } from './upload-policy.ts';

type FakeWire = Wire & { served: Array<[number, number]>; asks(index: number, offset: number, length: number): void };

/** A stand-in for bittorrent-protocol's Wire: what the policy touches (pieces held, events); `served` records the blocks it sent. */
function fakeWire(has: number[]): FakeWire {
  const w = new EventEmitter() as unknown as FakeWire;
  const set = new Set(has);
  w.served = [];
  w.destroyed = false;
  w.peerPieces = { get: (i: number) => set.has(i), set: () => undefined, buffer: new Uint8Array() };
  w.asks = () => {
    throw new Error('wire not attached');
  };
  return w;
}

/**
 * What webtorrent/request-gate.ts does for the seeder: the policy gets the wire and the function that
 * serves a request; each REQUEST the peer sends (`asks`) goes to the policy.
 */
function attach(p: UploadPolicy, w: FakeWire): void {
  p.attach(w, (index, offset) => void w.served.push([index, offset]));
  w.asks = (index, offset, length) => p.onRequest(w, index, offset, length);
}

const BLOCK = 16384;

/**
 * A policy capped at 10 blocks/s with no burst, two peers holding nothing, and `tick()`: 100 ms, one
 * block's worth of tokens. Requests for pieces others hold wait `heldDelayMs` (none unless given).
 */
function twoPeersAtTenBlocksPerSecond(heldDelayMs = 0) {
  vi.useFakeTimers();
  let now = 0;
  const p = new UploadPolicy({ rate: BLOCK * 10, burst: 1, heldDelayMs, now: () => now });
  const a = fakeWire([]);
  const b = fakeWire([]);
  attach(p, a);
  attach(p, b);
  const tick = (): void => {
    now += 100;
    vi.advanceTimersByTime(100);
  };
  return { p, a, b, tick };
}

describe('UploadPolicy', () => {
  afterEach(() => vi.useRealTimers());

  it('passes requests straight through without a cap', () => {
    const p = new UploadPolicy({ rate: 0 });
    const w = fakeWire([]);
    attach(p, w);
    w.asks(3, 0, BLOCK);
    expect(w.served).toEqual([[3, 0]]);
    expect(p.queued).toBe(0);
  });

  it('serves the piece fewest peers hold first, at the capped rate', () => {
    vi.useFakeTimers();
    let now = 0;
    const p = new UploadPolicy({ rate: BLOCK * 10, burst: BLOCK, heldDelayMs: 0, now: () => now });
    // Two other peers hold piece 1; nobody holds piece 2.
    const a = fakeWire([]);
    const b = fakeWire([1]);
    const c = fakeWire([1]);
    for (const w of [a, b, c]) attach(p, w);
    a.asks(0, 0, BLOCK); // served at once from the initial burst
    a.asks(1, 0, BLOCK);
    a.asks(2, 0, BLOCK);
    expect(a.served).toEqual([[0, 0]]);
    expect(p.queued).toBe(2);
    // One block's worth of time later the rare piece 2 goes before common piece 1, although it came later.
    now += 100;
    vi.advanceTimersByTime(100);
    expect(a.served).toEqual([[0, 0], [2, 0]]);
    now += 100;
    vi.advanceTimersByTime(100);
    expect(a.served).toEqual([[0, 0], [2, 0], [1, 0]]);
    expect(p.served).toEqual({ rare: 2, common: 1 });
  });

  it('finishes a piece it started before starting another equally rare one', () => {
    const { p, a, b, tick } = twoPeersAtTenBlocksPerSecond();
    // Both ask for the first blocks of their piece at once, interleaved, as pipelined requests arrive.
    a.asks(3, 0, BLOCK); // released at once: piece 3 is started
    b.asks(7, 0, BLOCK);
    a.asks(3, BLOCK, BLOCK);
    b.asks(7, BLOCK, BLOCK);
    a.asks(3, 2 * BLOCK, BLOCK);
    tick();
    tick();
    // Piece 3 goes out whole before any of piece 7, although 7's first block was asked for earlier.
    expect(a.served).toEqual([[3, 0], [3, BLOCK], [3, 2 * BLOCK]]);
    expect(b.served).toEqual([]);
    tick();
    tick();
    expect(b.served).toEqual([[7, 0], [7, BLOCK]]);
    p.destroy();
  });

  it('among equally rare pieces not started, sends the lowest first, whoever asked first', () => {
    const { p, a, b, tick } = twoPeersAtTenBlocksPerSecond();
    a.asks(0, 0, BLOCK); // released at once from the burst: piece 0 started
    b.asks(9, 0, BLOCK); // b was shown pieces 8-15, a 0-7 (reveal-policy.ts); b's ask came first
    a.asks(1, 0, BLOCK);
    b.asks(8, 0, BLOCK);
    for (let i = 0; i < 3; i++) tick();
    // 1 before 8 before 9: pieces enter the swarm in the order every node restores them.
    expect(a.served).toEqual([[0, 0], [1, 0]]);
    expect(b.served).toEqual([[8, 0], [9, 0]]);
    p.destroy();
  });

  it('counts a piece it is still sending to one peer as held when another asks for it', () => {
    const { p, a, b, tick } = twoPeersAtTenBlocksPerSecond();
    a.asks(4, 0, BLOCK); // released at once: piece 4 is on its way to a
    a.asks(4, BLOCK, BLOCK);
    b.asks(4, 0, BLOCK); // b wants it too, and a piece nobody has
    b.asks(6, 0, BLOCK);
    tick();
    expect(a.served).toEqual([[4, 0], [4, BLOCK]]); // a's piece goes on
    tick();
    tick();
    // b's new piece before b's copy of piece 4, although asked for later (a can pass 4 on soon).
    expect(b.served).toEqual([[6, 0], [4, 0]]);
    p.destroy();
  });

  it('forgets which pieces it started for a peer that left: a later deployment gets its pieces one after another', () => {
    const { p, a, b, tick } = twoPeersAtTenBlocksPerSecond();
    a.asks(7, 0, BLOCK); // released at once: piece 7 started for a, which then goes away
    a.destroyed = true;
    a.emit('close');
    b.asks(5, 0, BLOCK);
    b.asks(5, BLOCK, BLOCK);
    b.asks(7, 0, BLOCK); // a piece started for a peer long gone is no reason to interrupt piece 5
    b.asks(5, 2 * BLOCK, BLOCK);
    for (let i = 0; i < 4; i++) tick();
    expect(b.served).toEqual([[5, 0], [5, BLOCK], [5, 2 * BLOCK], [7, 0]]);
    p.destroy();
  });

  it('holds a request for a piece another peer has or is getting until it is heldDelayMs old; a CANCEL meanwhile means it is never sent', () => {
    const { p, a, b, tick } = twoPeersAtTenBlocksPerSecond(500);
    a.asks(4, 0, BLOCK); // released at once: piece 4 is on its way to a
    b.asks(4, 0, BLOCK); // b has not heard yet that a will have it
    b.asks(4, BLOCK, BLOCK);
    for (let i = 0; i < 4; i++) tick();
    expect(b.served).toEqual([]); // the link stays idle rather than send 4 twice
    b.emit('cancel', 4, BLOCK, BLOCK); // b heard a's HAVE for one block's worth of time, cancels one of them
    tick(); // 500 ms: the other one goes, since b still wants it
    expect(b.served).toEqual([[4, 0]]);
    for (let i = 0; i < 10; i++) tick();
    expect(b.served).toEqual([[4, 0]]);
    expect(p.queued).toBe(0);
    p.destroy();
  });

  it('serves a new request for a piece nobody has at once while held requests wait to age', () => {
    const { p, a, b, tick } = twoPeersAtTenBlocksPerSecond(2000);
    a.asks(4, 0, BLOCK); // released at once: piece 4 is on its way to a
    b.asks(4, 0, BLOCK); // held for 2 s: the policy now waits for it to age
    tick();
    b.asks(6, 0, BLOCK); // nobody has 6: it must not wait behind the held one
    expect(b.served).toEqual([[6, 0]]);
    for (let i = 0; i < 18; i++) tick();
    expect(b.served).toEqual([[6, 0]]); // 1.9 s: 4 still held
    tick();
    expect(b.served).toEqual([[6, 0], [4, 0]]);
    p.destroy();
  });

  it('serves a request that waited too long ahead of rarer ones, so no peer starves', () => {
    vi.useFakeTimers();
    let now = 0;
    const p = new UploadPolicy({ rate: BLOCK, burst: 1, maxWaitMs: 1000, now: () => now });
    const a = fakeWire([]);
    const b = fakeWire([5]);
    attach(p, a);
    attach(p, b);
    a.asks(9, 0, BLOCK); // drains the bucket (burst 1 byte: served, tokens negative)
    a.asks(5, 0, BLOCK); // common: b holds it
    now = 900;
    a.asks(6, 0, BLOCK); // rare, but arrives later
    now = 1100;
    vi.advanceTimersByTime(1100);
    expect(a.served.map(([i]) => i)).toEqual([9, 5]);
  });

  it('drops a queued request on CANCEL and everything of a closed wire', () => {
    vi.useFakeTimers();
    let now = 0;
    const p = new UploadPolicy({ rate: BLOCK, burst: 1, now: () => now });
    const a = fakeWire([]);
    const b = fakeWire([]);
    attach(p, a);
    attach(p, b);
    a.asks(0, 0, BLOCK);
    a.asks(1, 0, BLOCK);
    b.asks(2, 0, BLOCK);
    expect(p.queued).toBe(2);
    a.emit('cancel', 1, 0, BLOCK);
    b.emit('close');
    expect(p.queued).toBe(0);
    now = 5000;
    vi.advanceTimersByTime(5000);
    expect(a.served).toEqual([[0, 0]]);
    expect(b.served).toEqual([]);
    p.destroy();
  });
});
