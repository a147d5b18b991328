/**
 * Which pieces the seeder shows each peer: the server's link is the
 * bottleneck of a deployment, so each piece should leave it about once and
 * the nodes should pass it on to each other (BEP 16 "super-seeding", adapted).
 *
 * A seeder that announces every piece lets every node ask it for the same
 * pieces: all nodes start at the front of the image (they restore while they
 * download), so the server sends the same bytes N times. Instead the seeder
 * starts each connection with an empty bitfield and reveals pieces with HAVE
 * messages, a few at a time: first pieces nobody holds or has been shown
 * (lowest index first, so a lone node still streams in order), then pieces
 * other peers already hold, fewest holders first. When a peer obtains a
 * revealed piece (from us or anyone), it is shown another.
 *
 * A piece on its way from us to one peer (shown to it, not yet held by
 * anyone) is shown to no other: that peer passes it on as soon as it has
 * it, and a second peer asking us for it would have us send it twice while
 * pieces nobody has wait. With 48 pieces and 16 nodes, showing in-flight
 * pieces (lowest index first, as this did) had the server send 1.6 copies.
 * If the peer it was shown to leaves without it, it is free again.
 *
 * Fresh pieces are dealt out a round at a time: with n peers connected each
 * holds at most ceil(ahead / n) fresh pieces shown and missing (a lone peer
 * the whole `ahead`). Since the seeder sends equally rare pieces lowest
 * first (upload-policy.ts), pieces then leave the server in index order AND
 * to a different peer each (0 to the first, 1 to the second, …), so every
 * node's restore finds the image's front early and every node has a piece
 * the others want. Dealt in runs of `ahead` (as before), the lowest-first
 * seeder gave the first peer its whole run, then the second its run …: for
 * seconds only one node held pieces nobody else had, and the last run of
 * the image came out of the server to one node, which alone had to pass
 * it to all others. A peer
 * that stays connected but never takes it holds it back from the others
 * until it leaves; they are not stuck meanwhile: a node that gets no byte for
 * 5 s adds the web seed (torrent/web-seed-fallback.ts). No
 * timeout frees it sooner, because a piece may rightly wait long in our
 * upload queue (peers × pieces shown × piece length ÷ the cap: tens of
 * seconds for a large swarm) and freeing it then would send it twice.
 *
 * This works with any BitTorrent client: empty bitfield plus HAVE messages
 * is plain BEP 3. webtorrent/hidden-bitfield.ts replaces webtorrent's own
 * announcement with the empty bitfield and tells us when it went out.
 */
import type { Wire } from 'webtorrent';
import type { PieceRevealer } from './webtorrent/index.ts';

/** Options: piece count and how many revealed-but-missing pieces each peer keeps (its pipeline to us). */
export interface RevealPolicyOptions {
  pieces: number;
  ahead: number;
}

/** revealed[i] of a peer: not shown, shown and still missing on its side, shown and since obtained. */
const NOT_SHOWN = 0;
const PENDING = 1;
const OBTAINED = 2;

interface Peer {
  wire: Wire;
  revealed: Uint8Array;
  /** Pieces PENDING on this peer. */
  pending: number;
  /** Per piece: 1 when it was shown fresh (nobody held it, nobody had been shown it). */
  fresh: Uint8Array;
  /** PENDING pieces that were shown fresh: ones this peer can get only from us. */
  freshPending: number;
}

/**
 * Default pieces kept revealed per peer: 4, or 2 MiB worth if more. Enough to keep a peer's
 * requests to us flowing (a new piece is shown as soon as it reports one), few enough that the
 * pieces shown at once stay distinct across peers.
 */
export function revealAhead(pieceLength: number): number {
  return Math.max(4, Math.ceil((2 << 20) / pieceLength));
}

/** Per-torrent reveal state of the seeder. */
export class RevealPolicy implements PieceRevealer {
  /** Pieces in the torrent. */
  readonly pieces: number;
  private readonly ahead: number;
  private readonly peers = new Set<Peer>();
  /** Per piece: peers it was shown to that do not have it yet (in flight from us). */
  private readonly inFlight: Uint16Array;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: RevealPolicyOptions) {
    this.pieces = opts.pieces;
    this.ahead = opts.ahead;
    this.inFlight = new Uint16Array(opts.pieces);
    this.timer = setInterval(() => this.topUpAll(), 1000);
    this.timer.unref();
  }

  /**
   * Track what `wire` is shown. The peer must be told we have nothing first
   * (webtorrent/hidden-bitfield.ts); the returned function is called once it
   * was, and reveals its first pieces.
   */
  attach(wire: Wire): () => void {
    const peer: Peer = { wire, revealed: new Uint8Array(this.pieces), pending: 0, fresh: new Uint8Array(this.pieces), freshPending: 0 };
    this.peers.add(peer);
    const onChange = (): void => {
      this.settle(peer);
      this.topUp(peer);
    };
    wire.on('have', (i: number) => {
      if (peer.revealed[i] === PENDING) this.obtained(peer, i);
      this.topUp(peer);
    });
    wire.on('bitfield', onChange);
    wire.on('have-all', onChange);
    wire.once('close', () => {
      // What it was shown and never got is no longer on its way to anyone.
      for (let i = 0; i < this.pieces; i++) if (peer.revealed[i] === PENDING) this.obtained(peer, i);
      this.peers.delete(peer);
    });
    return () => this.topUp(peer);
  }

  private obtained(peer: Peer, i: number): void {
    peer.revealed[i] = OBTAINED;
    peer.pending--;
    if (peer.fresh[i]) peer.freshPending--;
    this.inFlight[i]!--;
  }

  /** After a bitfield or have-all: every shown piece the peer now holds is obtained. */
  private settle(peer: Peer): void {
    for (let i = 0; i < this.pieces; i++) if (peer.revealed[i] === PENDING && peer.wire.peerPieces.get(i)) this.obtained(peer, i);
  }

  private holders(i: number): number {
    let h = 0;
    for (const p of this.peers) if (!p.wire.destroyed && p.wire.peerPieces.get(i)) h++;
    return h;
  }

  /** Reveal pieces to `peer` until `ahead` of the revealed ones are still missing on its side. */
  private topUp(peer: Peer): void {
    const w = peer.wire;
    if (w.destroyed) return;
    // Never show more pieces at once than the image can give each connected peer distinct ones of.
    const ahead = Math.max(2, Math.min(this.ahead, Math.floor(this.pieces / Math.max(1, this.peers.size))));
    if (peer.pending >= ahead) return;
    const room = ahead - peer.pending;
    // This peer's share of the fresh pieces (see the top): a round of them goes one to each peer.
    const freshRoom = Math.min(room, Math.max(0, Math.ceil(this.ahead / Math.max(1, this.peers.size)) - peer.freshPending));
    // Candidates: pieces the peer lacks and has not been shown. Nobody has them and none is on
    // its way (fresh pieces) first, in index order, up to its share; then pieces other peers hold,
    // fewest holders first (this peer gets them from those peers; nodes ask us only for what no
    // peer offers). Pieces on their way from us to another peer are not candidates.
    const fresh: number[] = [];
    const held: Array<[number, number]> = [];
    for (let i = 0; i < this.pieces; i++) {
      if (peer.revealed[i] !== NOT_SHOWN || w.peerPieces.get(i)) continue;
      const holders = this.holders(i);
      if (holders > 0) held.push([holders, i]);
      else if (this.inFlight[i] === 0 && fresh.length < freshRoom) fresh.push(i);
      if (fresh.length >= room) break; // enough fresh pieces: nothing held can beat them
    }
    held.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const i of fresh) {
      peer.fresh[i] = 1;
      peer.freshPending++;
    }
    for (const i of [...fresh, ...held.map(([, j]) => j)].slice(0, room)) {
      peer.revealed[i] = PENDING;
      peer.pending++;
      this.inFlight[i]!++;
      w.have(i);
    }
  }

  private topUpAll(): void {
    for (const p of this.peers) this.topUp(p);
  }

  /** Stop the periodic top-up. */
  destroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.peers.clear();
  }
}
