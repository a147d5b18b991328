import Protocol from 'bittorrent-protocol';
import type { Wire } from 'webtorrent';
import { describe, expect, it } from 'vitest';
import { gateRequests, type ServeRequest } from './request-gate.ts';

const INFO_HASH = '01'.repeat(20);

/** Two real bittorrent-protocol wires talking to each other: `seeder` unchokes `node` once both shook hands. */
async function pair() {
  const seeder = new Protocol();
  const node = new Protocol();
  seeder.pipe(node).pipe(seeder);
  seeder.handshake(INFO_HASH, 'aa'.repeat(20));
  node.handshake(INFO_HASH, 'bb'.repeat(20));
  const unchoked = new Promise((ok) => node.once('unchoke', ok));
  seeder.unchoke();
  await unchoked;
  return { seeder, node };
}

describe('gateRequests', () => {
  it('holds a REQUEST from the peer until the gate serves it, then webtorrent answers it as usual', async () => {
    const { seeder, node } = await pair();
    const held: Array<[number, number, number]> = [];
    let serve: ServeRequest | undefined;
    gateRequests(seeder as unknown as Wire, {
      attach: (_wire, s) => void (serve = s),
      onRequest: (_wire, index, offset, length) => void held.push([index, offset, length]),
    });
    // What webtorrent does on the public 'request' event: read the block and answer.
    seeder.on('request', (_i: number, _o: number, length: number, respond: (err: Error | null, buf: Uint8Array) => void) => respond(null, new Uint8Array(length).fill(7)));
    const block = new Promise<Uint8Array>((ok, fail) => node.request(2, 16, 16, (err, buf) => (err ? fail(err) : ok(buf!))));
    await new Promise((r) => setTimeout(r, 50));
    expect(held).toEqual([[2, 16, 16]]); // arrived at the gate, not answered yet
    serve!(2, 16, 16);
    expect([...(await block)]).toEqual(new Array(16).fill(7));
    seeder.destroy();
    node.destroy();
  });

  it('attaches a wire to the gate once', async () => {
    const { seeder, node } = await pair();
    let attached = 0;
    const gate = { attach: () => void attached++, onRequest: () => {} };
    gateRequests(seeder as unknown as Wire, gate);
    gateRequests(seeder as unknown as Wire, gate);
    expect(attached).toBe(1);
    seeder.destroy();
    node.destroy();
  });
});
