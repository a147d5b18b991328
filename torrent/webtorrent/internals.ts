/**
 * The private parts of webtorrent and bittorrent-protocol that our patches
 * reach into, typed once. types/webtorrent.d.ts declares only the public API
 * (docs/api.md of webtorrent, README of bittorrent-protocol); everything
 * here is undocumented and may change in any release, so only the modules
 * of this folder import it, and CHECKLIST.md says where each member lives in
 * node_modules/webtorrent/lib so an upgrade knows what to re-read.
 */
import type { Torrent, Wire } from 'webtorrent';

/** Callback of a chunk store read (abstract-chunk-store). */
export type PieceCallback = (err: Error | null, buf: Uint8Array) => void;

/**
 * One layer of the store chain webtorrent builds in `_onMetadata`:
 * ImmediateChunkStore over CacheChunkStore (when `storeCacheSlots` > 0) over
 * the store itself (fs-chunk-store, or ours on the server). `store` is the
 * layer below, `cache` CacheChunkStore's LRU.
 */
export interface StoreLayer {
  get(index: number, opts: { offset?: number; length?: number } | null, cb: PieceCallback): void;
  put?(index: number, buf: Uint8Array, cb?: (err?: Error | null) => void): void;
  store?: StoreLayer;
  cache?: { set(index: number, buf: Uint8Array): void } | null;
}

/** webtorrent's Peer (lib/peer.js): what `_addPeer` returns and `_addIncomingPeer` receives. */
export interface WtPeer {
  id: string;
  conn?: { remoteAddress?: string } | null;
  destroy(err?: Error): void;
}

/** Piece availability across a torrent's wires (lib/rarity-map.js). */
export interface RarityMap {
  /** The rarest piece passing `filter` (random among equals), or -1. */
  getRarestPiece(filter?: (i: number) => boolean): number;
}

/** A Torrent (lib/torrent.js) with the private members the patches use. */
export interface InternalTorrent extends Torrent {
  /** The top of the store chain; set in `_onMetadata`, null again once destroyed. */
  store: StoreLayer | null;
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
  /** Every incoming TCP connection for this torrent goes through here, after the handshake (lib/conn-pool.js). */
  _addIncomingPeer(peer: WtPeer): void;
  /** Reserve and request the next block of `index` from `wire`; false if it cannot (every block reserved, pipeline full). */
  _request(wire: InternalWire, index: number, hotswap: boolean): boolean;
  /** Ask every wire for more blocks where its pipeline has room (runs the picker once per wire). */
  _update(): void;
  /** Take a block reserved by a slow wire away for `wire` (used for critical pieces); true if it did. */
  _hotswap(wire: InternalWire, index: number): boolean;
  /** Created in `_onMetadata`, null once destroyed. */
  _rarityMap?: RarityMap | null;
}

/** A bittorrent-protocol Wire (index.js) with the private members the patches use. */
export interface InternalWire extends Omit<Wire, 'downloadSpeed'> {
  /**
   * The wire's download meter (a `throughput` instance): called with a byte
   * count it records them (`_onPiece` does, for every block), without one it
   * reads the rate, which is what webtorrent's pipeline sizing reads.
   */
  downloadSpeed(bytes?: number): number;
  /** Turns an incoming REQUEST message into the public 'request' event webtorrent answers from its store. */
  _onRequest(index: number, offset: number, length: number): void;
}

/** The private view of a torrent. */
export function internalTorrent(t: Torrent): InternalTorrent {
  return t as InternalTorrent;
}

/** The private view of a wire. */
export function internalWire(w: Wire): InternalWire {
  return w as unknown as InternalWire;
}

/**
 * Read piece `index` (whole) from the torrent's store: the same read
 * webtorrent serves uploads from. False, with `cb` never called, once the
 * torrent is destroyed (no store).
 */
export function readPiece(t: Torrent, index: number, cb: PieceCallback): boolean {
  const store = internalTorrent(t).store;
  if (!store) return false;
  store.get(index, null, cb);
  return true;
}
