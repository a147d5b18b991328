/**
 * Patch: the rarest-first picker told to skip pieces we already hold (node
 * torrents, once ready).
 *
 * What it changes: the torrent's rarity map's `getRarestPiece(filter)` also
 * leaves out every piece set in `torrent.bitfield`.
 *
 * Why: webtorrent's rarest-first picker (`_updateWire`: `validateWire`,
 * `trySelectWire`) asks the rarity map for the rarest piece that passes a
 * filter, and retries up to once per piece in the selection when `_request`
 * refuses it; its filter does not leave out pieces we already have, so late
 * in a download nearly every candidate is one we hold and each wire update
 * costs O(pieces^2) (the top of a CPU profile of a 16-node swarm; worse
 * with thousands of pieces). Excluding held pieces up front keeps the
 * picker's choice the same and its cost near O(pieces).
 *
 * Private members: Torrent `_rarityMap` (lib/rarity-map.js, created in
 * `_onMetadata`: apply on 'ready').
 */
import type { Torrent } from 'webtorrent';
import { internalTorrent } from './internals.ts';

/** Make `torrent`'s rarest-first picker skip held pieces (no-op before metadata). */
export function skipHeldPieces(torrent: Torrent): void {
  const t = internalTorrent(torrent);
  const map = t._rarityMap;
  if (!map) return;
  const original = map.getRarestPiece.bind(map);
  map.getRarestPiece = (filter) => original((i) => !t.bitfield.get(i) && (!filter || filter(i)));
}
