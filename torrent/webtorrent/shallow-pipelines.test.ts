import { EventEmitter } from 'node:events';
// The wire webtorrent 3 speaks BitTorrent with (its download meter is what shallowPipelines scales).
import Wire from 'bittorrent-protocol';
import { describe, expect, it } from 'vitest';
import { seederPeerId } from '../client.ts';
import type { InternalTorrent, InternalWire } from './internals.ts';
import { PIPELINE_RATE_SHARE, shallowPipelines } from './shallow-pipelines.ts';

/** A real bittorrent-protocol wire, with its meter's recording form (private: see internals.ts). */
const realWire = (): InternalWire & { destroy(): void } => new Wire() as unknown as InternalWire & { destroy(): void };

describe('shallowPipelines', () => {
  /** A real bittorrent-protocol wire, announced on a torrent patched by shallowPipelines. */
  function announced(opts: { peerId?: string; type?: string } = {}) {
    const t = new EventEmitter() as unknown as InternalTorrent;
    shallowPipelines(t);
    const wire = realWire();
    if (opts.type) Object.assign(wire, { type: opts.type });
    if (opts.peerId) wire.peerId = opts.peerId; // set by the handshake, before webtorrent announces the wire
    (t as unknown as EventEmitter).emit('wire', wire);
    return wire;
  }

  it('makes webtorrent read a node peer\'s rate at a share of what its meter measured, and still records bytes', () => {
    const node = announced({ peerId: Buffer.from('-WW0208-abcdefghijkl').toString('hex') });
    const ref = realWire();
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
    const ref = realWire();
    for (const w of [seeder, webSeed, ref]) w.downloadSpeed(1_000_000);
    expect(seeder.downloadSpeed()).toBeCloseTo(ref.downloadSpeed(), 0);
    expect(webSeed.downloadSpeed()).toBeCloseTo(ref.downloadSpeed(), 0);
    for (const w of [seeder, webSeed, ref]) w.destroy();
  });
});
