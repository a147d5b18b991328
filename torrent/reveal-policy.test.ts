import { EventEmitter } from 'node:events';
import type { Wire } from 'webtorrent';
import { afterEach, describe, expect, it } from 'vitest';
import { RevealPolicy, revealAhead } from './reveal-policy.ts';
import { announceNothing } from './webtorrent/hidden-bitfield.ts';

type FakeWire = Wire & { sent: string[]; haves: number[]; gets(i: number): void };

/** What the policy touches on a bittorrent-protocol Wire: bitfield/haveAll/have out, peerPieces and events in. */
function fakeWire(): FakeWire {
  const held = new Set<number>();
  const w = new EventEmitter() as unknown as FakeWire;
  w.destroyed = false;
  w.sent = [];
  w.haves = [];
  w.peerPieces = { get: (i: number) => held.has(i), set: () => undefined, buffer: new Uint8Array() };
  w.bitfield = (b: Uint8Array) => void w.sent.push(`bitfield:${[...b].join(',')}`);
  w.haveAll = () => void w.sent.push('have-all');
  w.have = (i: number) => void w.haves.push(i);
  // The peer obtained piece i (from us or another peer) and says so.
  w.gets = (i: number) => {
    held.add(i);
    w.emit('have', i);
  };
  return w;
}

const flush = () => new Promise((r) => setTimeout(r, 0));

/** What the seeder does on each new wire (webtorrent/index.ts, patchSeederTorrent): announce nothing, then let the policy reveal. */
function attach(policy: RevealPolicy, w: FakeWire): void {
  announceNothing(w, policy.pieces, policy.attach(w));
}

describe('RevealPolicy', () => {
  let policy: RevealPolicy | undefined;
  afterEach(() => policy?.destroy());

  it('announces nothing up front, then reveals a few pieces, in order for a lone peer', async () => {
    policy = new RevealPolicy({ pieces: 20, ahead: 4 });
    const a = fakeWire();
    attach(policy, a);
    a.haveAll(); // what webtorrent does for a BEP 6 peer when it has everything
    await flush();
    expect(a.sent).toEqual(['bitfield:0,0,0']);
    expect(a.haves).toEqual([0, 1, 2, 3]);
    a.gets(0);
    a.gets(1);
    expect(a.haves).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('shows different peers different pieces until every piece is out', async () => {
    policy = new RevealPolicy({ pieces: 12, ahead: 4 });
    const [a, b, c] = [fakeWire(), fakeWire(), fakeWire()];
    for (const w of [a, b, c]) {
      attach(policy, w);
      w.bitfield(new Uint8Array(2));
    }
    await flush();
    expect(a.haves).toEqual([0, 1, 2, 3]);
    expect(b.haves).toEqual([4, 5, 6, 7]);
    expect(c.haves).toEqual([8, 9, 10, 11]);
    // Everything is out once: a peer that obtained its pieces is next shown what another peer
    // already holds (4, held by b), never a piece still on its way from us to another peer.
    b.gets(4);
    for (const i of [0, 1, 2, 3]) a.gets(i);
    expect(a.haves.slice(4)).toEqual([4]);
    c.gets(8);
    a.gets(4); // from b
    expect(a.haves.slice(4)).toEqual([4, 8]);
  });

  it('frees the pieces of a peer that leaves without them', async () => {
    policy = new RevealPolicy({ pieces: 4, ahead: 2 });
    const [a, b] = [fakeWire(), fakeWire()];
    for (const w of [a, b]) {
      attach(policy, w);
      w.bitfield(new Uint8Array(1));
    }
    await flush();
    expect(b.haves).toEqual([2, 3]);
    a.gets(0);
    a.gets(1);
    expect(a.haves).toEqual([0, 1]); // 2 and 3 are on their way to b
    b.destroyed = true;
    b.emit('close');
    await new Promise((r) => setTimeout(r, 1100)); // the periodic top-up
    expect(a.haves).toEqual([0, 1, 2, 3]);
  });

  it('keeps at least 4 pieces and 2 MiB in flight per peer', () => {
    expect(revealAhead(256 * 1024)).toBe(8);
    expect(revealAhead(4 << 20)).toBe(4);
  });

  it('shows a late peer a piece another peer holds, and none still in flight from us', async () => {
    policy = new RevealPolicy({ pieces: 4, ahead: 2 });
    const [a, b, c] = [fakeWire(), fakeWire(), fakeWire()];
    for (const w of [a, b]) {
      attach(policy, w);
      w.bitfield(new Uint8Array(1));
    }
    await flush();
    expect(a.haves).toEqual([0, 1]);
    expect(b.haves).toEqual([2, 3]);
    a.gets(0); // 0 is held by a; 1 is still in flight to a; 2, 3 in flight to b
    attach(policy, c);
    c.bitfield(new Uint8Array(1));
    await flush();
    expect(c.haves).toEqual([0]);
  });
});
