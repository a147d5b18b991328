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

  it('deals fresh pieces a round at a time: in index order, one to each peer, so they leave the server in order and to every peer', async () => {
    policy = new RevealPolicy({ pieces: 64, ahead: 8 });
    const peers = Array.from({ length: 16 }, fakeWire);
    for (const w of peers) {
      attach(policy, w);
      w.bitfield(new Uint8Array(8));
    }
    await flush();
    // 16 peers, 8 ahead: ceil(8 / 16) = 1 fresh piece each, in the order they came.
    expect(peers.map((w) => w.haves)).toEqual(peers.map((_, i) => [i]));
    // A peer that got its piece (from us) is dealt the next round's: 16, then 17 for the next one.
    peers[0]!.gets(0);
    peers[1]!.gets(1);
    expect(peers[0]!.haves).toEqual([0, 16]);
    // Peer 1 is also shown 0, which peer 0 holds now: it gets that one from peer 0, not from us.
    expect(peers[1]!.haves).toEqual([1, 17, 0]);
  });

  it('shows different peers different pieces until every piece is out', async () => {
    policy = new RevealPolicy({ pieces: 12, ahead: 4 });
    const [a, b, c] = [fakeWire(), fakeWire(), fakeWire()];
    for (const w of [a, b, c]) {
      attach(policy, w);
      w.bitfield(new Uint8Array(2));
    }
    await flush();
    // 3 peers, 4 ahead: 2 fresh pieces each.
    expect(a.haves).toEqual([0, 1]);
    expect(b.haves).toEqual([2, 3]);
    expect(c.haves).toEqual([4, 5]);
    // Its next fresh piece, and what another peer holds (2, from b); never a piece on its way from us to another peer.
    b.gets(2);
    expect(b.haves).toEqual([2, 3, 6]);
    a.gets(0);
    expect(a.haves).toEqual([0, 1, 7, 2]);
    a.gets(1);
    expect(a.haves).toEqual([0, 1, 7, 2, 8]);
    // c took nothing yet, so it was shown nothing more; once it takes 4: its next fresh piece (9),
    // then what others hold, fewest holders and lowest first (0 and 1 from a), up to 4 pending.
    expect(c.haves).toEqual([4, 5]);
    c.gets(4);
    expect(c.haves).toEqual([4, 5, 9, 0, 1]);
  });

  it('frees the pieces of a peer that leaves without them', async () => {
    policy = new RevealPolicy({ pieces: 4, ahead: 2 });
    const [a, b] = [fakeWire(), fakeWire()];
    for (const w of [a, b]) {
      attach(policy, w);
      w.bitfield(new Uint8Array(1));
    }
    await flush();
    expect(a.haves).toEqual([0]);
    expect(b.haves).toEqual([1]);
    a.gets(0);
    expect(a.haves).toEqual([0, 2]); // 1 is on its way to b
    a.gets(2);
    expect(a.haves).toEqual([0, 2, 3]);
    b.destroyed = true;
    b.emit('close');
    await new Promise((r) => setTimeout(r, 1100)); // the periodic top-up
    expect(a.haves).toEqual([0, 2, 3, 1]);
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
    expect(a.haves).toEqual([0]);
    expect(b.haves).toEqual([1]);
    a.gets(0); // 0 is held by a; 2 is now in flight to a; 1 to b
    expect(a.haves).toEqual([0, 2]);
    attach(policy, c);
    c.bitfield(new Uint8Array(1));
    await flush();
    // Its fresh share: 3 (nobody has it, nobody was shown it); and 0, which a holds. Never 1 or 2.
    expect(c.haves).toEqual([3, 0]);
  });
});
