/**
 * Patch: ask the server's seeder only for pieces no other peer can give us,
 * and then for whole pieces (node torrents).
 *
 * What it changes: `torrent._request(wire, index)` on the seeder's wire (known
 * by its peer id, SEEDER_PEER_ID_PREFIX) refuses when another connected peer
 * that is not choking us has the piece, and otherwise reserves every free
 * block of the piece at once; a HAVE from an unchoked node cancels our
 * requests for that piece still waiting at the seeder.
 *
 * Why: the server's link is the one source of pieces that are new to the
 * swarm; every block it sends that a node could have had from another node
 * is a block of new data that enters the swarm later. webtorrent treats the
 * seeder as one peer among many, so a node asked it for whatever its picker
 * chose; those requests waited in the server's upload queue behind rarer
 * ones (upload-policy.ts), and while they waited the blocks stayed reserved
 * for the seeder's wire, so no other peer was asked for them either. When
 * we refuse, the picker tries its next piece for the seeder's wire and asks
 * the other peer for this one; with nobody else holding it (a lone node, the
 * first copy of a piece, every holder choking us) the seeder is asked.
 *
 * Whole pieces: webtorrent keeps only 2 + (1 s at the wire's measured rate)
 * blocks outstanding per wire, and a node's share of the seeder's link starts
 * near zero, so each node had two or three blocks of several pieces waiting
 * at the server, which could only interleave them: at 16 nodes the server
 * then finished every piece together, seconds late (the first 20 s of a 40 s
 * run at 5 Mbit/s produced 9 whole pieces out of 43 sent). With whole pieces
 * queued the server completes a piece every piece-length ÷ its cap, and the
 * node that has it passes it on at once.
 *
 * Cancelling: a request can wait at the server for seconds, and a piece no
 * peer had when we asked may meanwhile arrive at one; unless the seeder has
 * begun sending it, we cancel (wire.cancel fails the request's callback, so
 * webtorrent frees the reservation and its picker asks the peer). Without
 * this the last pieces of a 16-node run each left the server up to 8 times
 * (the server sent 1.36 copies of the image).
 *
 * Private members: Torrent `_request` (called by `_updateWire`'s picker), and
 * the seeder wire's meter, which `_request` reads through
 * `getBlockPipelineLength`: swapped for the span of one synchronous call.
 */
import type { Torrent, Wire } from 'webtorrent';
import { isSeederPeerId } from '../client.ts';
import { internalTorrent, type InternalTorrent, type InternalWire } from './internals.ts';

/** The block size webtorrent requests (torrent-piece's BLOCK_LENGTH). */
const BLOCK_LENGTH = 16384;

/** Route `torrent`'s requests for pieces other peers hold away from the server's seeder. */
export function askSeederLast(torrent: Torrent): void {
  const t = internalTorrent(torrent);
  const request = t._request.bind(t);
  t._request = (wire, index, hotswap) => {
    if (!isSeederPeerId(wire.peerId)) return request(wire, index, hotswap);
    if (otherPeerHas(t, wire, index)) return false;
    return requestWhole(t, request, wire, index, hotswap);
  };
  t.on('wire', (wire: Wire) => {
    wire.on('have', (index: number) => {
      if (!wire.peerChoking && !isSeederPeerId(wire.peerId)) cancelAtSeeder(t, index);
    });
  });
}

/** Cancel the requests for `index` waiting at the seeder, if none of its blocks has arrived yet. */
function cancelAtSeeder(t: Torrent, index: number): void {
  const piece = t.pieces[index];
  if (!piece || piece.missing < piece.length) return; // verified, or partly received: let it finish
  for (const w of t.wires) {
    if (w.destroyed || !isSeederPeerId(w.peerId)) continue;
    // wire.cancel calls each request's callback with an error: webtorrent frees the reservation and picks again.
    for (const r of w.requests.filter((q) => q.piece === index)) w.cancel(r.piece, r.offset, r.length);
  }
}

/**
 * Request every unreserved block of `index` from `wire`. webtorrent's
 * `_request` refuses once the wire's pipeline is full, and the pipeline is
 * computed from `wire.downloadSpeed()`; for these calls only, it reads a rate
 * that makes room for the whole piece (nothing else runs in between: it is
 * synchronous).
 */
function requestWhole(t: InternalTorrent, request: InternalTorrent['_request'], wire: InternalWire, index: number, hotswap: boolean): boolean {
  const blocks = Math.ceil(t.pieceLength / BLOCK_LENGTH);
  const measured = wire.downloadSpeed;
  const room = (wire.requests.length + blocks) * BLOCK_LENGTH;
  wire.downloadSpeed = ((bytes?: number) => (bytes === undefined ? Math.max(room, measured()) : measured(bytes))) as typeof measured;
  try {
    let any = false;
    while (request(wire, index, hotswap)) any = true;
    return any;
  } finally {
    wire.downloadSpeed = measured;
  }
}

function otherPeerHas(t: Torrent, seeder: InternalWire, index: number): boolean {
  for (const w of t.wires) {
    if (w === seeder || w.destroyed || w.type === 'webSeed' || w.peerChoking) continue;
    if (w.peerPieces.get(index) && !isSeederPeerId(w.peerId)) return true;
  }
  return false;
}
