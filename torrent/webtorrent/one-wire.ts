/**
 * Patch: one connection per pair of peers, and none to ourselves (node and
 * seeder torrents).
 *
 * What it changes: on the torrent's 'wire' event, a second connection to a
 * peer we already have and a connection to ourselves are closed; and
 * `torrent._addPeer` refuses to dial an address whose peer we already hold
 * a wire to, or that turned out to be ourselves.
 *
 * Why: webtorrent keeps every connection it gets: when two peers learn each
 * other from the tracker, each connects to the other and they end up with
 * two wires, both busy. In a 16-node swarm every node held 34 wires for 16
 * peers; the seeder counted each node twice (so it revealed each node twice
 * as many pieces, sent the same piece down both wires, and its rarity counts
 * were doubled), and every HAVE, request queue and speed estimate existed
 * twice. BitTorrent clients usually drop the second connection by peer id.
 *
 * Both ends must drop the same one, or both go. A connection that has been
 * up for SETTLED_MS stays and the new one goes: the new one is new at both
 * ends. (Before this rule, each tracker re-announce made a node dial peers
 * that had dialled it, and for half of those pairs the new connection won:
 * at 16 nodes every node swapped 8 busy wires for fresh ones 16 s into the
 * run, losing their requests in flight and starting again choked.) Between
 * two new connections (both peers dialled at once) we keep the one that
 * the peer with the larger peer id opened, which each end can tell from its
 * own id, the remote id and the wire's direction. The end that dialled the
 * dropped connection closes it, once it has the other end's handshake, and
 * remembers the address it dialled, so webtorrent's reconnect loop (and
 * later tracker answers) do not dial that peer again while the kept wire
 * lives. The end that accepted it only waits for that (closing it at once,
 * before its own handshake went out, left the dialler without a peer id to
 * remember, and it redialled every second); a peer that never closes it is
 * cut off after DROP_AFTER_MS.
 *
 * The tracker also hands every client its own address, and webtorrent 3.0
 * never refuses a connection to itself (its check reads `swarm.peerId`,
 * which Torrent does not have): every node and the seeder kept a loop to
 * themselves. Those are closed at the handshake and never dialled again.
 *
 * Private members: Torrent `_addPeer` (called by `addPeer`, the tracker and
 * PEX, and `_drain`'s reconnect-with-backoff loop in lib/torrent.js); the
 * duplicate rule itself uses only the public 'wire' event.
 */
import type { Torrent, Wire } from 'webtorrent';
import { internalTorrent } from './internals.ts';

/** How long an accepted duplicate may stay open waiting for the peer that dialled it to close it. */
const DROP_AFTER_MS = 5000;

/** A wire kept this long is settled: a second connection to its peer is the one dropped. */
export const SETTLED_MS = 2000;

/** Wires about to be closed as duplicates: nothing should be started on them. */
const dropping = new WeakSet<object>();

/** True if `wire` is a second connection to a peer we already have, about to close. */
export function isDuplicateWire(wire: object): boolean {
  return dropping.has(wire);
}

type PeerWire = Wire & { peerId?: string; type?: string; destroyed: boolean };

const isOutgoing = (w: PeerWire): boolean => !!w.type?.includes('Outgoing');

/** Close duplicate connections of `torrent` (the client's peer id is `localPeerId`, hex). */
export function oneWirePerPeer(torrent: Torrent, localPeerId: string): void {
  const t = internalTorrent(torrent);
  const live = new Map<string, { wire: PeerWire; since: number }>(); // remote peer id -> the wire we keep, kept since
  const dialled = new Map<string, string>(); // "ip:port" we dialled -> the peer id that answered
  const ownAddresses = new Set<string>(); // "ip:port" where we reached ourselves
  const opener = (w: PeerWire, remote: string): string => (isOutgoing(w) ? localPeerId : remote);

  t.on('wire', (wire: PeerWire, addr?: string) => {
    const id = wire.peerId;
    if (!id || wire.destroyed) return;
    const outgoing = isOutgoing(wire);
    if (id === localPeerId) {
      // Our own listener, handed back by the tracker: webtorrent 3.0's self check compares
      // against a property Torrent does not have, so it never refuses. Never dial it again.
      if (addr && outgoing) ownAddresses.add(addr);
      wire.destroy();
      return;
    }
    if (addr && outgoing) dialled.set(addr, id);
    const kept = live.get(id);
    let keep = wire;
    if (kept && !kept.wire.destroyed) {
      const other = kept.wire;
      const a = opener(other, id);
      const b = opener(wire, id);
      // A settled wire stays. Else opposite directions: the larger opener's connection stays; same direction: the older one.
      keep = Date.now() - kept.since < SETTLED_MS && a !== b && b > a ? wire : other;
      const drop = keep === wire ? other : wire;
      dropping.add(drop);
      if (isOutgoing(drop)) drop.destroy();
      else setTimeout(() => drop.destroy(), DROP_AFTER_MS).unref();
    }
    if (keep !== wire) return; // the wire we had stays, with its close handler
    live.set(id, { wire, since: Date.now() });
    wire.once('close', () => {
      if (live.get(id)?.wire === wire) live.delete(id);
    });
  });

  const addPeer = t._addPeer.bind(t);
  t._addPeer = (peer, type, source) => {
    if (typeof peer === 'string') {
      if (ownAddresses.has(peer)) return null;
      const id = dialled.get(peer);
      const kept = id === undefined ? undefined : live.get(id)?.wire;
      if (kept && !kept.destroyed) return null;
    }
    return addPeer(peer, type, source);
  };
}
