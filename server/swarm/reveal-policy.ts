/**
 * Which pieces the seeder shows each peer: the server's link is the
 * bottleneck of a deployment, so each piece should leave it about once and
 * the nodes should pass it on to each other (BEP 16 "super-seeding", adapted).
 *
 * A seeder that announces every piece lets every node ask it for the same
 * pieces: all nodes start at the front of the image (they restore while they
 * download), so the server sends the same bytes N times. Instead the seeder
 * starts each connection with an empty bitfield and reveals pieces with HAVE
 * messages, a few at a time, choosing the pieces the fewest peers hold or
 * have been shown (ties: lowest index, so a lone node still streams in
 * order). When a peer obtains a revealed piece (from us or anyone), it is
 * shown another. Until every piece is out, peers get different pieces and
 * must trade for the rest; after that, a peer still missing pieces is shown
 * them from us too, so no node ever waits on the swarm alone.
 *
 * This works with any BitTorrent client: empty bitfield plus HAVE messages
 * is plain BEP 3.
 */
import type { Wire } from 'webtorrent';

/** Options: piece count and how many revealed-but-missing pieces each peer keeps (its pipeline to us). */
export interface RevealPolicyOptions {
  pieces: number;
  ahead: number;
}

interface Peer {
  wire: Wire;
  revealed: Uint8Array;
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
export class RevealPolicy {
  private readonly n: number;
  private readonly ahead: number;
  private readonly peers = new Set<Peer>();
  /** Times each piece has been revealed to a peer that did not have it. */
  private readonly shown: Uint16Array;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: RevealPolicyOptions) {
    this.n = opts.pieces;
    this.ahead = opts.ahead;
    this.shown = new Uint16Array(opts.pieces);
    this.timer = setInterval(() => this.topUpAll(), 1000);
    this.timer.unref();
  }

  /**
   * Take over what `wire` is told we have. Must run on the torrent's 'wire'
   * event, before webtorrent sends its bitfield (it does so a microtask later).
   */
  attach(wire: Wire): void {
    const peer: Peer = { wire, revealed: new Uint8Array(this.n) };
    const w = wire as Wire & { bitfield(b: unknown): void; haveAll(): void; have(i: number): void };
    const sendBitfield = w.bitfield.bind(w);
    const empty = new Uint8Array(Math.ceil(this.n / 8));
    // Whatever webtorrent would announce (bitfield or BEP 6 have-all), announce nothing; HAVEs follow.
    w.bitfield = () => {
      sendBitfield(empty);
      queueMicrotask(() => this.topUp(peer));
    };
    w.haveAll = () => w.bitfield(empty);
    this.peers.add(peer);
    const onChange = (): void => this.topUp(peer);
    wire.on('have', onChange);
    wire.on('bitfield', onChange);
    wire.on('have-all', onChange);
    wire.once('close', () => this.peers.delete(peer));
  }

  private holders(i: number): number {
    let h = 0;
    for (const p of this.peers) if (!p.wire.destroyed && p.wire.peerPieces.get(i)) h++;
    return h;
  }

  /** Reveal pieces to `peer` until `ahead` of the revealed ones are still missing on its side. */
  private topUp(peer: Peer): void {
    const w = peer.wire as Wire & { have(i: number): void };
    if (w.destroyed) return;
    // Never show more pieces at once than the image can give each connected peer distinct ones of.
    const ahead = Math.max(2, Math.min(this.ahead, Math.floor(this.n / Math.max(1, this.peers.size))));
    let pending = 0;
    for (let i = 0; i < this.n; i++) if (peer.revealed[i] && !w.peerPieces.get(i)) pending++;
    if (pending >= ahead) return;
    // Candidates: pieces the peer lacks and has not been shown, cheapest (fewest copies out there) first.
    // A piece shown to someone who doesn't have it yet is "in flight" from us: showing it to a
    // second peer now would have us send it twice. Those come last; a piece another peer already
    // holds comes before them (this peer can get it from there, and the upload policy serves
    // such requests only after rarer ones).
    const cost: Array<[number, number, number]> = [];
    for (let i = 0; i < this.n; i++) {
      if (peer.revealed[i] || w.peerPieces.get(i)) continue;
      const holders = this.holders(i);
      cost.push([holders === 0 && this.shown[i]! > 0 ? 1 : 0, holders + this.shown[i]!, i]);
    }
    cost.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    for (const [, , i] of cost.slice(0, ahead - pending)) {
      peer.revealed[i] = 1;
      this.shown[i] = Math.min(0xffff, this.shown[i]! + 1);
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
