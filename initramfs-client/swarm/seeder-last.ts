/**
 * Ask the server's seeder only for pieces no other peer can give us.
 *
 * The server's link is the one source of pieces that are new to the swarm;
 * every block it sends that a node could have had from another node is a
 * block of new data that enters the swarm later. webtorrent treats the
 * seeder as one peer among many, so a node asks it for whatever its picker
 * chose, pieces its neighbours hold included. Those requests then wait in
 * the server's upload queue behind rarer ones (upload-policy.ts), and while
 * they wait the blocks stay reserved for the seeder's wire, so no other
 * peer is asked for them either.
 *
 * The seeder is recognised by its peer id (SEEDER_PEER_ID_PREFIX). We refuse
 * a request to it when another connected peer that is not choking us has
 * the piece; the picker then tries its next piece for the seeder's wire and
 * asks that other peer for this one. With nobody else holding it (a lone
 * node, the first copy of a piece, or every holder choking us), the seeder
 * is asked as before.
 */
import { isSeederPeerId } from '../../server/swarm/webtorrent.ts';
import type { InternalTorrent, InternalWire } from './wt-internals.ts';

/** Route requests for pieces other peers hold away from the server's seeder. */
export function askSeederLast(t: InternalTorrent): void {
  const request = t._request.bind(t);
  t._request = (wire, index, hotswap) => {
    if (isSeederPeerId(wire.peerId) && otherPeerHas(t, wire, index)) return false;
    return request(wire, index, hotswap);
  };
}

function otherPeerHas(t: InternalTorrent, seeder: InternalWire, index: number): boolean {
  for (const w of t.wires as InternalWire[]) {
    if (w === seeder || w.destroyed || w.type === 'webSeed' || w.peerChoking) continue;
    if (w.peerPieces.get(index) && !isSeederPeerId(w.peerId)) return true;
  }
  return false;
}
