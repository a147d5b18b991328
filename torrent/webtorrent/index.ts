/**
 * The one place imgsrv changes webtorrent. Every patch of webtorrent's or
 * bittorrent-protocol's private internals is a module of this folder and is
 * applied here, in the order below; the rest of torrent/ uses webtorrent's
 * public API, these functions, and the stream helpers re-exported at the
 * end. CHECKLIST.md lists, per patch, what to re-read when webtorrent moves;
 * version.test.ts fails until someone has.
 *
 * Node torrent (patchNodeTorrent), right after `client.add`:
 *   1. one-wire          `_addPeer` (innermost wrapper), first 'wire' listener
 *   2. seeder-last       `_request`, a 'wire' listener (HAVE → cancel at the seeder)
 *   3. no-hotswap        `_hotswap`
 *   4. coalesce-updates  `_update`
 *   5. shallow-pipelines each node wire's rate meter, a 'wire' listener
 *   6. peer-ban-hooks    `_addPeer` (outermost wrapper), `_addIncomingPeer`,
 *                        'warning'; PeerBans' own 'wire' and 'verified' listeners
 * and once the torrent is 'ready' (the rarity map and the store exist only
 * once metadata is in):
 *   7. skip-held-pieces  `_rarityMap.getRarestPiece`
 *   8. cache-written-pieces  the cache store's `put`
 *
 * Why this order:
 * - one-wire's 'wire' listener comes first, so a duplicate or a connection to
 *   ourselves is closed before any later listener sets anything up on it.
 * - peer-ban's `_addPeer` wrapper is applied after one-wire's, so it runs
 *   first on every dial: a banned address is refused (and logged as such)
 *   before one-wire's bookkeeping looks at it.
 * - 2-5 touch different members and do not depend on each other:
 *   seeder-last's whole-piece requests swap the seeder wire's meter for one
 *   synchronous call, and shallow-pipelines leaves the seeder's wire alone.
 *   Their listeners, and PeerBans' (6), run before SwarmDownload's own; no
 *   effect of that order is known, and it is the order the swarm lab tests
 *   and benchmarks ran with, so keep it unless a change says why.
 * - 7 and 8 need what only exists once metadata is in; webtorrent emits
 *   'ready' before it requests anything (`_onStore`).
 *
 * Seeder torrent (patchSeederTorrent), right after `client.add`:
 *   1. one-wire          as above; its 'wire' listener runs first, so a
 *                        duplicate is marked before step 2 looks
 *   2. on each new wire that is not a duplicate, in the 'wire' event itself
 *      (webtorrent announces its pieces a microtask later):
 *      a. hidden-bitfield  (super-seed only) the announcement → the reveal policy
 *      b. request-gate     `_onRequest` → the upload policy
 *   a and b touch outgoing announcements and incoming requests: independent.
 *
 * Client: createBoundClient (bound-listen) swaps `net.Server.prototype.listen`
 * for the span of `new WebTorrent()`.
 */
import type { Torrent, Wire } from 'webtorrent';
import type { Logger } from '../../core/log.ts';
import { PeerBans } from '../peer-ban.ts';
import { cacheWrittenPieces } from './cache-written-pieces.ts';
import { coalesceUpdates } from './coalesce-updates.ts';
import { announceNothing } from './hidden-bitfield.ts';
import { readPiece } from './internals.ts';
import { noHotswap } from './no-hotswap.ts';
import { isDuplicateWire, oneWirePerPeer } from './one-wire.ts';
import { hookPeerBans } from './peer-ban-hooks.ts';
import { gateRequests, type RequestGate } from './request-gate.ts';
import { askSeederLast } from './seeder-last.ts';
import { shallowPipelines } from './shallow-pipelines.ts';
import { skipHeldPieces } from './skip-held-pieces.ts';

export { createBoundClient } from './bound-listen.ts';
export { readPiece } from './internals.ts';
export { deselectStreamWindow, selectStreamWindow } from './stream-window.ts';
export type { RequestGate, ServeRequest } from './request-gate.ts';

/** What patchNodeTorrent needs: our client's peer id (hex) and the download's logger. */
export interface NodePatchOptions {
  peerId: string;
  logger: Logger;
}

/** Apply the node's patches to a torrent just added; returns its peer bans. */
export function patchNodeTorrent(torrent: Torrent, opts: NodePatchOptions): PeerBans {
  oneWirePerPeer(torrent, opts.peerId);
  askSeederLast(torrent);
  noHotswap(torrent);
  coalesceUpdates(torrent);
  shallowPipelines(torrent);
  const bans = new PeerBans(torrent, opts.logger, (index, cb) => void readPiece(torrent, index, cb));
  hookPeerBans(torrent, bans, opts.logger);
  torrent.once('ready', () => {
    skipHeldPieces(torrent);
    cacheWrittenPieces(torrent);
  });
  return bans;
}

/** What the reveal policy offers the hidden-bitfield patch (RevealPolicy). */
export interface PieceRevealer {
  /** Pieces in the torrent (the empty bitfield's length). */
  readonly pieces: number;
  /** A new wire; the returned function is called once the peer was told we have nothing. */
  attach(wire: Wire): () => void;
}

/** What patchSeederTorrent needs: our client's peer id (hex), the upload policy and, in super-seed mode, the reveal policy. */
export interface SeederPatchOptions {
  peerId: string;
  uploads: RequestGate;
  /** Called on each new wire: the torrent's reveal policy (super-seed mode), or undefined to announce every piece as webtorrent does. */
  reveal?: () => PieceRevealer | undefined;
}

/** Apply the seeder's patches to a torrent just added. */
export function patchSeederTorrent(torrent: Torrent, opts: SeederPatchOptions): void {
  oneWirePerPeer(torrent, opts.peerId);
  torrent.on('wire', (wire: Wire) => {
    if (wire.destroyed || isDuplicateWire(wire)) return; // a second connection to a node we already have (one-wire.ts)
    const reveal = opts.reveal?.();
    if (reveal) announceNothing(wire, reveal.pieces, reveal.attach(wire));
    gateRequests(wire, opts.uploads);
  });
}
