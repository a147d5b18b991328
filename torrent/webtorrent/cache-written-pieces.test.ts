import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cacheWrittenPieces } from './cache-written-pieces.ts';
import type { InternalTorrent } from './internals.ts';

// The store layers webtorrent 3 builds for a torrent (lib/torrent.js), as installed.
const require = createRequire(import.meta.url);
const CacheStore = require('cache-chunk-store');
const ImmediateStore = require('immediate-chunk-store');

describe('cacheWrittenPieces', () => {
  /** webtorrent's store chain over a store that counts its reads and can fail writes. */
  function chain(opts: { failWrites?: boolean } = {}) {
    const files = new Map<number, Uint8Array>();
    const reads: number[] = [];
    const disk = {
      chunkLength: 4,
      put(index: number, buf: Uint8Array, cb: (err?: Error | null) => void) {
        setImmediate(() => {
          if (opts.failWrites) return cb(new Error('ENOSPC'));
          files.set(index, Uint8Array.from(buf));
          cb(null);
        });
      },
      get(index: number, ...rest: unknown[]) {
        const cb = rest.at(-1) as (err: Error | null, buf?: Uint8Array) => void; // (index, cb) or (index, opts, cb)
        reads.push(index);
        setImmediate(() => (files.has(index) ? cb(null, files.get(index)) : cb(new Error('not written'))));
      },
    };
    const store = new ImmediateStore(new CacheStore(disk, { max: 8 }));
    const t = { store } as unknown as InternalTorrent;
    const put = (index: number, buf: Uint8Array) => new Promise<Error | null | undefined>((ok) => store.put(index, buf, ok));
    const get = (index: number, range?: { offset: number; length: number }) =>
      new Promise<Uint8Array>((ok, fail) => store.get(index, range ?? null, (err: Error | null, buf: Uint8Array) => (err ? fail(err) : ok(buf))));
    return { t, put, get, reads };
  }

  it('serves a piece it just wrote from memory, whole or a block of it', async () => {
    const { t, put, get, reads } = chain();
    cacheWrittenPieces(t);
    expect(await put(3, Uint8Array.of(1, 2, 3, 4))).toBeFalsy();
    expect([...(await get(3, { offset: 1, length: 2 }))]).toEqual([2, 3]);
    expect([...(await get(3))]).toEqual([1, 2, 3, 4]);
    expect(reads).toEqual([]);
  });

  it('without it, the first read after a write goes back to the file (what it saves)', async () => {
    const { put, get, reads } = chain();
    await put(3, Uint8Array.of(1, 2, 3, 4));
    expect([...(await get(3, { offset: 1, length: 2 }))]).toEqual([2, 3]);
    expect(reads).toEqual([3]);
  });

  it('does not cache a piece whose write failed, and passes the error on', async () => {
    const { t, put, get, reads } = chain({ failWrites: true });
    cacheWrittenPieces(t);
    expect((await put(1, Uint8Array.of(9, 9, 9, 9)))?.message).toBe('ENOSPC');
    await expect(get(1)).rejects.toThrow('not written');
    expect(reads).toEqual([1]);
  });

  it('leaves a store without a memory cache as it is', () => {
    const store = { put: () => undefined, get: () => undefined };
    const t = { store } as unknown as InternalTorrent;
    cacheWrittenPieces(t);
    expect(t.store).toBe(store);
  });
});
