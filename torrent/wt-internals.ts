/**
 * The private parts of webtorrent 3.0.21's Torrent that the node library
 * touches, typed in one place so an upgrade has one file to re-check against
 * node_modules/webtorrent/lib/torrent.js. Public API types come from
 * types/webtorrent.d.ts.
 */
import type { Torrent, Wire } from 'webtorrent';
import { isSeederPeerId } from './client.ts';

/** The chunk store webtorrent reads verified pieces from (ImmediateChunkStore over fs-chunk-store). */
export interface ChunkStore {
  get(index: number, opts: { offset?: number; length?: number } | null, cb: (err: Error | null, buf: Uint8Array) => void): void;
}

/** Outgoing/incoming peer object (lib/peer.js) as passed to `_addIncomingPeer`. */
export interface WtPeer {
  id: string;
  conn?: { remoteAddress?: string } | null;
  destroy(err?: Error): void;
}

/** Torrent plus the private members used for stream windows and peer bans. */
export interface InternalTorrent extends Torrent {
  store: ChunkStore | null;
  /** Pieces still missing (torrent-piece: `missing` counts the bytes not yet received); null once verified. */
  pieces: Array<{ length: number; missing: number } | null>;
  /**
   * `_select(..., isStreamSelection = true)` inserts a selection that is not
   * merged with the whole-file priority-0 selection (public `select()` merges
   * overlapping ranges and keeps the highest priority, which would turn the
   * whole file into the high-priority window); `_deselect(from, to, true)`
   * removes exactly that one.
   */
  _select(from: number, to: number, priority: number, notify: null, isStreamSelection: true): void;
  _deselect(from: number, to: number, isStreamSelection: true): void;
  /** Every outgoing connection (tracker, PEX, manual, and webtorrent's own reconnect loop) goes through here. */
  _addPeer(peer: string | WtPeer, type: string, source: string): WtPeer | null;
  /** Every incoming TCP connection for this torrent goes through here, after the handshake. */
  _addIncomingPeer(peer: WtPeer): void;
  /** Reserve and request the next block of `index` from `wire`; false if it cannot (every block reserved, pipeline full). */
  _request(wire: InternalWire, index: number, hotswap: boolean): boolean;
  /** Ask every wire for more blocks where its pipeline has room (runs the picker once per wire). */
  _update(): void;
  /** Take a block reserved by a slow wire away for `wire` (used for critical pieces); true if it did. */
  _hotswap(wire: InternalWire, index: number): boolean;
  /** Piece availability across our wires (lib/rarity-map.js), created when metadata arrives. */
  _rarityMap?: { getRarestPiece(filter?: (i: number) => boolean): number } | null;
}

/**
 * webtorrent's rarest-first picker asks the rarity map for the rarest piece
 * that passes a filter, and retries up to once per piece in the selection
 * when `_request` refuses it; its filter does not leave out pieces we already
 * have, so late in a download nearly every candidate is one we hold and each
 * wire update costs O(pieces^2) (the top of a CPU profile of a 16-node swarm;
 * worse with thousands of pieces). Excluding held pieces up front keeps the
 * picker's choice the same and its cost near O(pieces).
 */
export function skipHeldPieces(t: InternalTorrent): void {
  const map = t._rarityMap;
  if (!map) return;
  const original = map.getRarestPiece.bind(map);
  map.getRarestPiece = (filter) => original((i) => !t.bitfield.get(i) && (!filter || filter(i)));
}

/**
 * The store chain webtorrent builds (immediate-chunk-store over
 * cache-chunk-store over fs-chunk-store), as far as `cacheWrittenPieces`
 * reaches into it.
 */
interface StoreChain {
  put?(index: number, buf: Uint8Array, cb?: (err?: Error | null) => void): void;
  store?: StoreChain;
  cache?: { set(index: number, buf: Uint8Array): void } | null;
}

/**
 * Keep each piece in the store's memory cache once it is written. webtorrent's
 * cache-chunk-store drops a piece from its cache on put, so the first peer
 * that asks for a block of a piece we just verified (in a swarm, every peer
 * asks for the newest pieces at once) and the in-order stream each made it
 * read the whole piece back from the file it had just written and copy it:
 * one extra read and copy of the whole image per node, on the disk the
 * restore is writing to. The buffer is the verified piece itself, which
 * webtorrent does not touch after handing it to the store.
 */
export function cacheWrittenPieces(t: InternalTorrent): void {
  const cacheStore = (t.store as StoreChain | null)?.store;
  if (!cacheStore?.cache || !cacheStore.put) return;
  const put = cacheStore.put.bind(cacheStore);
  cacheStore.put = (index, buf, cb = () => {}) =>
    put(index, buf, (err) => {
      if (!err) cacheStore.cache?.set(index, buf);
      cb(err);
    });
}

/** A wire with the fields bittorrent-protocol sets after the handshake. */
export type InternalWire = Omit<Wire, 'requests' | 'downloadSpeed'> & {
  peerId?: string;
  /** Outstanding requests we sent this peer. */
  requests: Array<{ piece: number; offset: number; length: number }>;
  /** The wire's download meter: called with a byte count it records, without one it reads the rate. */
  downloadSpeed(bytes?: number): number;
  /** Send CANCEL and fail the pending request's callback ("request was cancelled"). */
  cancel(index: number, offset: number, length: number): void;
};

/**
 * Turn off webtorrent's hot-swapping. For a critical piece (the one the
 * in-order stream waits on) it takes a block reserved by a slower wire and
 * asks a faster one, but it sends the slow peer no CANCEL, so that peer
 * sends the block anyway: in a 16-node swarm on equal links every node
 * received 18% more bytes than the image (about 125 hot-swaps each), all of
 * them discarded, on links that were the bottleneck. On one network a slow
 * peer is a busy one; its block arrives in its turn.
 */
export function noHotswap(t: InternalTorrent): void {
  t._hotswap = () => false;
}

/**
 * Run webtorrent's request update at most once per turn of the event loop.
 * webtorrent calls `_update` (the picker, once for every wire) for every
 * block that arrives and every HAVE, BITFIELD and UNCHOKE: one socket read
 * carrying ten blocks ran the picker over every wire ten times, nine of them
 * finding nothing new to do. Coalesced, the update runs once after the I/O
 * that triggered it, with every block and HAVE of that turn already counted.
 * In a 16-node swarm on 2 cores the node clients used 76.6 CPU-s on average
 * over 5 runs against 81.8 over 6 runs without (load time included; the
 * ranges, 73.6-80.9 and 76.1-85.6, overlap on this shared machine).
 */
export function coalesceUpdates(t: InternalTorrent): void {
  const update = t._update.bind(t);
  let queued = false;
  t._update = () => {
    if (queued) return;
    queued = true;
    setImmediate(() => {
      queued = false;
      if (!t.destroyed) update();
    });
  };
}

/** How fast webtorrent's request scheduling believes a peer sends, as a fraction of its measured rate (see shallowPipelines). */
export const PIPELINE_RATE_SHARE = 0.25;

/**
 * Keep fewer requests outstanding on each connection to another node.
 * webtorrent keeps 2 blocks plus 0.5-1 s of a peer's measured rate requested
 * from it. Every block requested is a block queued in that peer's send
 * buffer for us, and a connection is one ordered stream: the peer's HAVE for
 * a piece it just verified, and its own REQUESTs to us, wait behind those
 * blocks. In a 16-node swarm a node uploads to 15 peers at once, each
 * connection at ~1/15 of its link, so 1 s of a connection's rate queued is
 * ~1 s before the piece's holder is even heard of (`ss` on one node mid-run:
 * 80-110 KB queued per connection, 750-900 KB per node). With the rate read
 * at a quarter, a connection keeps 2 blocks plus 1/8-1/4 s of its rate
 * requested. It also makes webtorrent treat a peer sending under 4 × 3
 * blocks a second as slow, so it leaves it pieces that a faster peer could
 * not finish sooner (its speed ranker, which compares rates read the same
 * way). The server's seeder (asked for whole pieces, seeder-last.ts) and
 * web seeds (webtorrent asks them for whole pieces) keep their rate.
 * Alternating N = 16 runs: 29.0, 28.8, 28.6, 28.6, 29.0, 29.5, 30.1, 28.6 s
 * against 29.5, 29.4, 29.3, 29.1, 29.7, 30.0, 31.1, 29.5 s (each pair in
 * this one's favour; medians 28.9 and 29.5 s); the clients' CPU 53.4-60.1 s
 * against 56.9-58.4.
 */
export function shallowPipelines(t: InternalTorrent, share = PIPELINE_RATE_SHARE): void {
  // webtorrent announces a wire after its handshake, so the peer id (how the seeder is known) is set.
  t.on('wire', (wire: InternalWire) => {
    if (wire.type === 'webSeed' || isSeederPeerId(wire.peerId)) return;
    const measured = wire.downloadSpeed.bind(wire);
    wire.downloadSpeed = ((bytes?: number) => (bytes !== undefined ? measured(bytes) : share * measured())) as typeof measured;
  });
}
