/**
 * Not a patch: the private calls the in-order stream (torrent/in-order-stream.ts)
 * makes to keep a high-priority window just ahead of its reader.
 *
 * Why private: public `torrent.select()` merges overlapping selections and
 * keeps the highest priority, so a window selected over the whole-file
 * priority-0 selection would turn the whole file into the high-priority
 * window, and `deselect()` would then remove both. `_select(..., true)` (a
 * "stream selection", what webtorrent's own file streams use) is kept apart
 * from the others and `_deselect(from, to, true)` removes exactly it.
 *
 * Private members: Torrent `_select`, `_deselect` (lib/torrent.js, and
 * lib/selections.js for how stream selections are inserted and removed).
 */
import type { Torrent } from 'webtorrent';
import { internalTorrent } from './internals.ts';

/** Select pieces `from`..`to` at `priority` as a stream selection (not merged with other selections). */
export function selectStreamWindow(torrent: Torrent, from: number, to: number, priority: number): void {
  internalTorrent(torrent)._select(from, to, priority, null, true);
}

/** Remove the stream selection `from`..`to` made by selectStreamWindow. */
export function deselectStreamWindow(torrent: Torrent, from: number, to: number): void {
  internalTorrent(torrent)._deselect(from, to, true);
}
