/**
 * Patch: webtorrent's request update run at most once per turn of the event
 * loop (node torrents).
 *
 * What it changes: `torrent._update` only schedules the real update with
 * setImmediate; further calls before it runs are dropped, and a torrent
 * destroyed meanwhile is not updated.
 *
 * Why: webtorrent calls `_update` (the picker, once for every wire) for
 * every block that arrives and every HAVE, BITFIELD and UNCHOKE: one socket
 * read carrying ten blocks ran the picker over every wire ten times, nine of
 * them finding nothing new to do. Coalesced, the update runs once after the
 * I/O that triggered it, with every block and HAVE of that turn already
 * counted: less CPU per byte on the node, where the client shares a core
 * with zstd and the unpacker.
 *
 * Private members: Torrent `_update` (its callers: `_onWireWithMetadata`'s
 * wire handlers and `_request`'s `onUpdateTick`).
 */
import type { Torrent } from 'webtorrent';
import { internalTorrent } from './internals.ts';

/** Coalesce `torrent`'s request updates to one per event-loop turn. */
export function coalesceUpdates(torrent: Torrent): void {
  const t = internalTorrent(torrent);
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
