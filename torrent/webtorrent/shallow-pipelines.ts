/**
 * Patch: fewer requests outstanding on each connection to another node
 * (node torrents).
 *
 * What it changes: on every wire except the server's seeder and web seeds,
 * `wire.downloadSpeed()` (read without an argument) answers `share` of the
 * rate its meter measured; recording bytes (`downloadSpeed(n)`) passes
 * through unchanged.
 *
 * Why: webtorrent keeps 2 blocks plus 0.5-1 s of a peer's measured rate
 * requested from it (`getBlockPipelineLength` in lib/torrent.js, read by
 * `_updateWire` and `_request`). Every block requested is a block queued in
 * that peer's send buffer for us, and a connection is one ordered stream:
 * the peer's HAVE for a piece it just verified, and its own REQUESTs to us,
 * wait behind those blocks. In a 16-node swarm a node uploads to 15 peers at
 * once, each connection at ~1/15 of its link, so 1 s of a connection's rate
 * queued is ~1 s before the piece's holder is even heard of (`ss` on one
 * node mid-run: 80-110 KB queued per connection, 750-900 KB per node). With
 * the rate read at a quarter, a connection keeps 2 blocks plus 1/8-1/4 s of
 * its rate requested. It also makes webtorrent treat a peer sending under
 * 4 × 3 blocks a second as slow (`speedRanker`, which compares rates read
 * the same way), so it leaves it pieces that a faster peer could not finish
 * sooner. The server's seeder (asked for whole pieces, seeder-last.ts) and
 * web seeds (webtorrent asks them for whole pieces) keep their rate.
 *
 * Private members: the Wire's meter called with a byte count
 * (bittorrent-protocol `_onPiece` records every block that way), which the
 * public `downloadSpeed()` shares.
 */
import type { Torrent, Wire } from 'webtorrent';
import { isSeederPeerId } from '../client.ts';
import { internalWire } from './internals.ts';

/** How fast webtorrent's request scheduling believes a peer sends, as a fraction of its measured rate. */
export const PIPELINE_RATE_SHARE = 0.25;

/** Scale the rate webtorrent reads on `torrent`'s node wires by `share`. */
export function shallowPipelines(torrent: Torrent, share = PIPELINE_RATE_SHARE): void {
  // webtorrent announces a wire after its handshake, so the peer id (how the seeder is known) is set.
  torrent.on('wire', (w: Wire) => {
    const wire = internalWire(w);
    if (wire.type === 'webSeed' || isSeederPeerId(wire.peerId)) return;
    const measured = wire.downloadSpeed.bind(wire);
    wire.downloadSpeed = ((bytes?: number) => (bytes !== undefined ? measured(bytes) : share * measured())) as typeof measured;
  });
}
