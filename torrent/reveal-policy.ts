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
 * If the peer it was shown to leaves without it, it is free again. A peer
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
    const peer: Peer = { wire, revealed: new Uint8Array(this.pieces), pending: 0 };
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
    // Candidates: pieces the peer lacks and has not been shown. Nobody has them and none is on
    // its way (fresh pieces) first, in index order; then pieces other peers hold, fewest holders
    // first (this peer gets them from those peers; nodes ask us only for what no peer offers).
    // Pieces on their way from us to another peer are not candidates.
    const fresh: number[] = [];
    const held: Array<[number, number]> = [];
    for (let i = 0; i < this.pieces; i++) {
      if (peer.revealed[i] !== NOT_SHOWN || w.peerPieces.get(i)) continue;
      const holders = this.holders(i);
      if (holders > 0) held.push([holders, i]);
      else if (this.inFlight[i] === 0) fresh.push(i);
      if (fresh.length >= ahead - peer.pending) break; // enough fresh pieces: nothing held can beat them
    }
    held.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const i of [...fresh, ...held.map(([, j]) => j)].slice(0, ahead - peer.pending)) {
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
