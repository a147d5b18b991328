import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { seederPeerId } from '../../server/swarm/webtorrent.ts';
import { askSeederLast } from './seeder-last.ts';
import type { InternalTorrent, InternalWire } from './wt-internals.ts';

function wire(peerId: string, has: number[], opts: { choking?: boolean } = {}): InternalWire {
  const w = new EventEmitter() as unknown as InternalWire;
  Object.assign(w, { peerId, type: 'tcpOutgoing', destroyed: false, peerChoking: !!opts.choking });
  const held = new Set(has);
  w.peerPieces = { get: (i: number) => held.has(i), set: () => undefined, buffer: new Uint8Array() };
  return w;
}

describe('askSeederLast', () => {
  const seeder = wire(seederPeerId(), [0, 1, 2, 3]);
  const node = wire(Buffer.from('-WW0300-abcdefghijkl').toString('hex'), [1]);
  const choking = wire(Buffer.from('-WW0300-mnopqrstuvwx').toString('hex'), [2], { choking: true });

  function torrent(): InternalTorrent & { asked: Array<[InternalWire, number]> } {
    const t = { wires: [seeder, node, choking], asked: [] as Array<[InternalWire, number]> } as unknown as InternalTorrent & { asked: Array<[InternalWire, number]> };
    t._request = (w, i) => {
      t.asked.push([w, i]);
      return true;
    };
    askSeederLast(t);
    return t;
  }

  it('asks the seeder only for pieces no unchoked peer offers', () => {
    const t = torrent();
    expect(t._request(seeder, 0, false)).toBe(true); // nobody else has 0
    expect(t._request(seeder, 1, false)).toBe(false); // the node has 1: ask it instead
    expect(t._request(seeder, 2, false)).toBe(true); // only a peer that chokes us has 2
    expect(t._request(node, 1, false)).toBe(true);
    expect(t.asked).toEqual([[seeder, 0], [seeder, 2], [node, 1]]);
  });
});
