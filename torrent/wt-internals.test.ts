import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { EventEmitter } from 'node:events';
// The wire webtorrent 3 speaks BitTorrent with (its download meter is what shallowPipelines scales).
import Wire from 'bittorrent-protocol';
import { seederPeerId } from './client.ts';
import { cacheWrittenPieces, coalesceUpdates, PIPELINE_RATE_SHARE, shallowPipelines, type InternalTorrent, type InternalWire } from './wt-internals.ts';

// The store layers webtorrent 3 builds for a torrent (lib/torrent.js), as installed.
const require = createRequire(import.meta.url);
const CacheStore = require('cache-chunk-store');
const ImmediateStore = require('immediate-chunk-store');

describe('coalesceUpdates', () => {
  it('runs webtorrent\'s update once per turn of the event loop, after the calls of that turn', async () => {
    let runs = 0;
    const t = { destroyed: false, _update: () => void runs++ } as unknown as InternalTorrent;
    coalesceUpdates(t);
    for (let i = 0; i < 10; i++) t._update(); // e.g. ten blocks read from one socket
    expect(runs).toBe(0);
    await nextTurn();
    expect(runs).toBe(1);
    t._update(); // a later turn updates again
    await nextTurn();
    expect(runs).toBe(2);
  });

  it('skips the update of a torrent destroyed meanwhile', async () => {
    let runs = 0;
    const t = { destroyed: false, _update: () => void runs++ } as unknown as InternalTorrent;
    coalesceUpdates(t);
    t._update();
    (t as { destroyed: boolean }).destroyed = true;
    await nextTurn();
    expect(runs).toBe(0);
  });
});

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

describe('shallowPipelines', () => {
  /** A real bittorrent-protocol wire, announced on a torrent patched by shallowPipelines. */
  function announced(opts: { peerId?: string; type?: string } = {}) {
    const t = new EventEmitter() as unknown as InternalTorrent;
    shallowPipelines(t);
    const wire = new Wire() as Wire & InternalWire;
    if (opts.type) Object.assign(wire, { type: opts.type });
    if (opts.peerId) wire.peerId = opts.peerId; // set by the handshake, before webtorrent announces the wire
    (t as unknown as EventEmitter).emit('wire', wire);
    return wire;
  }

  function plain() {
    return new Wire();
  }

  it('makes webtorrent read a node peer\'s rate at a share of what its meter measured, and still records bytes', () => {
    const node = announced({ peerId: Buffer.from('-WW0208-abcdefghijkl').toString('hex') });
    const ref = plain();
    node.downloadSpeed(1_000_000);
    ref.downloadSpeed(1_000_000);
    const measured = ref.downloadSpeed();
    expect(measured).toBeGreaterThan(0);
    expect(node.downloadSpeed()).toBeCloseTo(PIPELINE_RATE_SHARE * measured, 0);
    node.downloadSpeed(1_000_000); // recording passes through to the meter
    ref.downloadSpeed(1_000_000);
    expect(node.downloadSpeed()).toBeCloseTo(PIPELINE_RATE_SHARE * ref.downloadSpeed(), 0);
    for (const w of [node, ref]) w.destroy();
  });

  it('leaves the server\'s seeder (asked for whole pieces) and web seeds at their measured rate', () => {
    const seeder = announced({ peerId: seederPeerId() });
    const webSeed = announced({ type: 'webSeed' });
    const ref = plain();
    for (const w of [seeder, webSeed, ref]) w.downloadSpeed(1_000_000);
    expect(seeder.downloadSpeed()).toBeCloseTo(ref.downloadSpeed(), 0);
    expect(webSeed.downloadSpeed()).toBeCloseTo(ref.downloadSpeed(), 0);
    for (const w of [seeder, webSeed, ref]) w.destroy();
  });
});
