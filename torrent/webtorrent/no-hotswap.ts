/**
 * Patch: webtorrent's hot-swapping turned off (node torrents).
 *
 * What it changes: `torrent._hotswap` always answers false, so `_request`
 * never takes a reserved block away from another wire.
 *
 * Why: for a critical piece (the one the in-order stream waits on) webtorrent
 * takes a block reserved by a slower wire and asks a faster one, but it
 * sends the slow peer no CANCEL, so that peer sends the block anyway: in a
 * 16-node swarm on equal links every node received 18% more bytes than the
 * image (about 125 hot-swaps each), all of them discarded, on links that
 * were the bottleneck. On one network a slow peer is a busy one; its block
 * arrives in its turn.
 *
 * Private members: Torrent `_hotswap` (called from `_request`).
 */
import type { Torrent } from 'webtorrent';
import { internalTorrent } from './internals.ts';

/** Turn off hot-swapping for `torrent`. */
export function noHotswap(torrent: Torrent): void {
  internalTorrent(torrent)._hotswap = () => false;
}
