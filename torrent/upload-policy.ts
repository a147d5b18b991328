/**
 * The server's upload policy for one image: a rate cap, and within the cap
 * the rarest pieces first.
 *
 * The server's link is the scarce resource of a deployment: every byte it
 * sends twice is a byte no peer could have sent instead. So requests that
 * reach the seeder wait in our queue instead of being answered in arrival
 * order, and a token bucket releases them at the configured rate, choosing
 * the request whose piece the fewest connected peers hold (ties: the lowest
 * piece, then the oldest request).
 * A piece nobody has yet goes out before one that peers can already trade;
 * the swarm gets each piece from us about once and the rest from each other.
 * Among equally rare pieces, one we have started sending goes on before a
 * new one: a piece can be passed on only once it is whole and verified, so
 * sending pieces one after another (each done in a fraction of a second)
 * lets the nodes start trading at once, where interleaving every node's
 * requests would finish all of them together seconds later. Among equally
 * rare pieces not started, the lowest goes first: every node restores the
 * image in order while it downloads, and a piece enters the swarm only from
 * us, so pieces entering in index order are what lets every node's restore
 * keep pace. Served by request age (as before), 16 nodes each asking for
 * its own share of the pieces (reveal-policy.ts shows each a different run
 * of them) had the server send pieces 0, 8, 16 … 88, 1, 9 …: the first
 * pieces all arrived only near the end, and each node's restore waited
 * until then (a backlog of 19-21 MB of a 25 MB image). A piece we are
 * still sending to one peer counts as held once more for any other peer
 * asking for it: that peer will soon be able to get it from the first.
 * A request for a piece another peer holds, or that we are sending to
 * another peer, is served only after it waited `heldDelayMs` (default 2 s),
 * and not at all if the node cancels it meanwhile. A node asks us for such
 * a piece when it has not yet heard that a neighbour has it: the
 * neighbour's HAVE queues behind the blocks that neighbour is uploading to
 * it, while its HAVE to us (it uploads nothing to us) arrives at once. Our
 * nodes cancel requests to the seeder when a peer announces the piece
 * (torrent/webtorrent/seeder-last.ts); the wait gives that HAVE time to
 * arrive. Served at once, the last pieces of a 16-node run each left the
 * server 3-6 times. A peer that cannot get the piece elsewhere gets it after
 * the wait.
 * A request that waited `maxWaitMs` (default 20 s) is served next
 * regardless, so no peer starves and its requests never hit the 30 s piece
 * timeout of clients. It is that long because our nodes queue whole pieces
 * (torrent/webtorrent/seeder-last.ts): 16 nodes with a piece or two
 * each are 8-15 s of queue at 5 Mbit/s, and serving by age at 5 s broke the
 * one-piece-after-another order exactly when it matters most.
 *
 * The policy only decides: webtorrent/request-gate.ts routes each wire's
 * incoming requests here (attach, onRequest) and gives us the function that
 * serves one.
 */
import type { Wire } from 'webtorrent';
import type { RequestGate, ServeRequest } from './webtorrent/index.ts';

interface Pending {
  wire: Wire;
  index: number;
  offset: number;
  length: number;
  at: number;
  order: number;
}

/** Options: rate in bytes/s (0 = no cap: requests pass straight through). */
export interface UploadPolicyOptions {
  rate: number;
  /** Burst the bucket may hold (bytes); default: 1/4 s of rate, at least two blocks. */
  burst?: number;
  /** Age after which a request is served before any rarer one (default 20 000). */
  maxWaitMs?: number;
  /** Age before a request for a piece another peer holds or is being sent may be served (default 2000). */
  heldDelayMs?: number;
  now?: () => number;
}

/** Rate cap plus rarest-first ordering of the seeder's uploads for one torrent. */
export class UploadPolicy implements RequestGate {
  private rate: number;
  private readonly burst: number;
  private readonly maxWaitMs: number;
  private readonly heldDelayMs: number;
  /** Set by pick() when it found only requests that must wait: when the first of them may go. */
  private eligibleAt = Infinity;
  private readonly now: () => number;
  private readonly wires = new Set<Wire>();
  private readonly originals = new WeakMap<Wire, ServeRequest>();
  private queue: Pending[] = [];
  private tokens: number;
  private last: number;
  private timer: NodeJS.Timeout | undefined;
  /**
   * The timer waits for held requests to age, not for tokens: a request arriving meanwhile may go at
   * once. (It used to wait for the timer too: a 16-node trace showed the link idle for up to a second
   * at a time with 50-80 servable requests queued, once every request in the queue had been a held one.)
   */
  private timerForAge = false;
  private order = 0;
  /** Each piece we have started sending: release order of its first block and the wire it went to (see pick). */
  private readonly started = new Map<number, { order: number; wire: Wire }>();
  /** Blocks sent, by whether a connected peer already held the piece (the lower the second, the better). */
  readonly served = { rare: 0, common: 0 };

  constructor(opts: UploadPolicyOptions) {
    this.rate = opts.rate;
    this.burst = opts.burst ?? Math.max(2 * 16384, opts.rate / 4);
    this.maxWaitMs = opts.maxWaitMs ?? 20000;
    this.heldDelayMs = opts.heldDelayMs ?? 2000;
    this.now = opts.now ?? Date.now;
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** Take over `wire`'s incoming requests; `serve` answers one (webtorrent's own handling). */
  attach(wire: Wire, serve: ServeRequest): void {
    if (this.originals.has(wire)) return;
    this.originals.set(wire, serve);
    this.wires.add(wire);
    // A CANCEL for a queued request: drop it here (bittorrent-protocol only knows requests we released).
    wire.on('cancel', (index: number, offset: number, length: number) => {
      this.queue = this.queue.filter((p) => !(p.wire === wire && p.index === index && p.offset === offset && p.length === length));
    });
    // A piece counts as started only while on its way: once its recipient has it, it is held (and
    // rarer ones go first); if the recipient leaves, nobody is getting it. A seeder serves one image
    // across many deployments, and start orders kept from an earlier one made a later one interleave
    // its pieces again (N = 16 after four smaller runs: 39.5 s, against 31-33 s on a fresh server).
    wire.on('have', (index: number) => {
      if (this.started.get(index)?.wire === wire) this.started.delete(index);
    });
    wire.once('close', () => {
      this.wires.delete(wire);
      this.queue = this.queue.filter((p) => p.wire !== wire);
      for (const [index, s] of this.started) if (s.wire === wire) this.started.delete(index);
    });
  }

  /** An incoming REQUEST on an attached wire: served at once without a cap, else queued. */
  onRequest(wire: Wire, index: number, offset: number, length: number): void {
    if (this.rate <= 0) return this.originals.get(wire)?.(index, offset, length);
    this.queue.push({ wire, index, offset, length, at: this.now(), order: this.order++ });
    this.pump();
  }

  /** Change the cap (bytes/s, 0 = none); queued requests are released at the new rate. */
  setRate(rate: number): void {
    this.rate = rate;
    this.pump();
  }

  /** Requests waiting for the bucket. */
  get queued(): number {
    return this.queue.length;
  }

  /** How many connected peers hold `index` (the requester included). */
  private holders(index: number): number {
    let n = 0;
    for (const w of this.wires) if (!w.destroyed && w.peerPieces.get(index)) n++;
    return n;
  }

  private pick(): number {
    const now = this.now();
    let best = -1;
    let bestKey = Infinity;
    this.eligibleAt = Infinity;
    const rarity = new Map<number, number>();
    for (let i = 0; i < this.queue.length; i++) {
      const p = this.queue[i]!;
      if (now - p.at >= this.maxWaitMs) {
        // Starving: oldest first, ahead of any rarity.
        const key = -1e15 + p.order;
        if (key < bestKey) [best, bestKey] = [i, key];
        continue;
      }
      let r = rarity.get(p.index);
      if (r === undefined) rarity.set(p.index, (r = this.holders(p.index)));
      // A piece on its way from us to another peer is as good as held: that peer can pass it on.
      const started = this.started.get(p.index);
      const inFlight = started && started.wire !== p.wire && !started.wire.destroyed && !started.wire.peerPieces.get(p.index) ? 1 : 0;
      if (r + inFlight > 0 && now - p.at < this.heldDelayMs) {
        // Another peer has it or soon will: give the requester time to hear so and cancel.
        this.eligibleAt = Math.min(this.eligibleAt, p.at + this.heldDelayMs);
        continue;
      }
      // Same rarity: pieces in the order we started them, then pieces not started lowest first, then in request order.
      const key = (r + inFlight) * 1e12 + (started ? started.order : 1e11 + p.index * 1e5 + (p.order % 1e5));
      if (key < bestKey) [best, bestKey] = [i, key];
    }
    return best;
  }

  private pump(): void {
    if (this.timer) {
      if (!this.timerForAge) return; // waiting for tokens: nothing can go before the timer
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const now = this.now();
    if (this.rate > 0) this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    let waitForAge = false;
    while (this.queue.length > 0 && (this.rate <= 0 || this.tokens > 0)) {
      const i = this.pick();
      if (i < 0) {
        waitForAge = true; // every queued request is for a piece others hold, and still young
        break;
      }
      const [p] = this.queue.splice(i, 1);
      if (!p || p.wire.destroyed) continue;
      if (this.holders(p.index) > 0) this.served.common++;
      else this.served.rare++;
      if (!this.started.has(p.index)) this.started.set(p.index, { order: this.order++, wire: p.wire });
      this.tokens -= p.length;
      this.originals.get(p.wire)?.(p.index, p.offset, p.length);
    }
    if (this.queue.length > 0 && this.rate > 0) {
      const waitMs = Math.max(1, waitForAge ? this.eligibleAt - now : ((-this.tokens + 1) / this.rate) * 1000);
      this.timerForAge = waitForAge;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, waitMs);
    }
  }

  /** Stop: pending requests are dropped (their wires are being closed by the caller). */
  destroy(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
  }
}
