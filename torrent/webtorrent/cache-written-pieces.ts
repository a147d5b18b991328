/**
 * Patch: each piece kept in the store's memory cache once it is written
 * (node torrents, once ready).
 *
 * What it changes: the CacheChunkStore layer's `put` also puts the piece in
 * its LRU cache once the write below succeeded.
 *
 * Why: cache-chunk-store drops a piece from its cache on put, so the first
 * peer that asks for a block of a piece we just verified (in a swarm, every
 * peer asks for the newest pieces at once) and the in-order stream each made
 * it read the whole piece back from the file it had just written and copy
 * it: one extra read and copy of the whole image per node, on the disk the
 * restore is writing to. The buffer is the verified piece itself, which
 * webtorrent does not touch after handing it to the store.
 *
 * Private members: Torrent `store` (the chain built in `_onMetadata`:
 * ImmediateChunkStore `.store` → CacheChunkStore `.put`, `.cache`).
 */
import type { Torrent } from 'webtorrent';
import { internalTorrent } from './internals.ts';

/** Keep pieces written to `torrent`'s store in its memory cache (no-op without a cache layer). */
export function cacheWrittenPieces(torrent: Torrent): void {
  const cacheStore = internalTorrent(torrent).store?.store;
  if (!cacheStore?.cache || !cacheStore.put) return;
  const put = cacheStore.put.bind(cacheStore);
  cacheStore.put = (index, buf, cb = () => {}) =>
    put(index, buf, (err) => {
      if (!err) cacheStore.cache?.set(index, buf);
      cb(err);
    });
}
