/**
 * Patch: the peer-ban policy (torrent/peer-ban.ts) hooked into webtorrent
 * (node torrents).
 *
 * What it changes: `torrent._addPeer` refuses to dial a banned address;
 * `torrent._addIncomingPeer` destroys a connection from a banned IP before
 * webtorrent registers it; webtorrent's "Piece N failed verification"
 * warning is passed to the policy as a failed hash.
 *
 * Why: webtorrent has no ban list. A peer can come back through `_addPeer`
 * (tracker, PEX and webtorrent's own reconnect-with-backoff loop in
 * `_drain`) and through `_addIncomingPeer` (the peer connecting to us,
 * lib/conn-pool.js); the third way back, the `wire` event after the
 * handshake, is public and checked by the policy itself. And a failed hash
 * is reported only as that warning's text (`_request`'s `onChunk`).
 *
 * Private members: Torrent `_addPeer`, `_addIncomingPeer`, webtorrent's Peer
 * (`conn.remoteAddress`, `destroy`), the warning text; PeerBans reads pieces
 * back through `readPiece` (Torrent `store`).
 */
import type { Torrent } from 'webtorrent';
import type { PeerBans } from '../peer-ban.ts';
import type { Logger } from '../../core/log.ts';
import { internalTorrent, type WtPeer } from './internals.ts';

/** Enforce `bans` on `torrent` and feed it the torrent's failed hashes. */
export function hookPeerBans(torrent: Torrent, bans: PeerBans, log: Logger): void {
  const t = internalTorrent(torrent);
  const addPeer = t._addPeer.bind(t);
  t._addPeer = (peer, type, source) => {
    if (typeof peer === 'string' && bans.isBannedAddress(peer)) {
      log.debug({ peer }, 'not connecting to banned peer');
      return null;
    }
    return addPeer(peer, type, source);
  };
  const addIncoming = t._addIncomingPeer.bind(t);
  t._addIncomingPeer = (peer: WtPeer) => {
    const ip = peer.conn?.remoteAddress;
    if (ip && bans.isBannedIp(ip)) {
      peer.destroy(new Error('banned peer'));
      return;
    }
    addIncoming(peer);
  };
  t.on('warning', (err: Error) => {
    const m = /^Piece (\d+) failed verification/.exec(err.message);
    if (m) bans.hashFailed(Number(m[1]));
  });
}
