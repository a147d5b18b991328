/**
 * Ban peers that send data failing a piece hash.
 *
 * webtorrent 3.0.21 does not: on a failed SHA-1 (lib/torrent.js `_request`,
 * `onChunk`) it replaces the piece with an empty one, emits
 * `warning: Piece N failed verification` and re-requests it — possibly from
 * the same peer, forever. There is no hook for "which peer sent it", so we
 * keep our own record of who sent each block of every piece in flight (the
 * wire's `piece` event; we hold references to the received buffers, which
 * webtorrent holds anyway until the piece completes — no copies).
 *
 * On a failed hash: if one peer sent the whole piece it is banned at once.
 * If several did, we keep their blocks and, once the piece verifies from
 * someone, compare each kept block with the good bytes and ban only the
 * senders whose block differs (libtorrent's "smart ban"), so an honest
 * seeder that shared the piece is never banned.
 *
 * A ban is enforced at the three places a peer can come back in webtorrent:
 * `_addPeer` (tracker, PEX and webtorrent's own reconnect-with-backoff loop),
 * `_addIncomingPeer` (the peer connecting to us) and the `wire` event after
 * the handshake (by peer id). Bans are by IP address, except on loopback,
 * where every test peer shares 127.0.0.1: there we ban the listening
 * endpoint (ip:port) and the peer id instead.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../core/log.ts';
import type { InternalTorrent, InternalWire, WtPeer } from './wt-internals.ts';

/** One banned peer, as reported by `ban` events and {@link PeerBans.list}. */
export interface BannedPeer {
  address: string;
  port: number;
  peerId: string;
  piece: number;
  reason: string;
}

interface Block {
  wire: InternalWire;
  offset: number;
  data: Uint8Array;
}

// Blocks kept from failed pieces while waiting for a good copy (bounded: a
// peer that fails everything is banned on its first sole-sender piece anyway).
const MAX_SUSPECT_BYTES = 64 * 1024 * 1024;

const isLoopback = (ip: string): boolean => ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');

/** Tracks piece senders for one torrent and enforces bans; emits `ban` (BannedPeer). */
export class PeerBans extends EventEmitter {
  readonly #torrent: InternalTorrent;
  readonly #log: Logger;
  readonly #keys = new Set<string>();
  readonly #banned: BannedPeer[] = [];
  readonly #inflight = new Map<number, Block[]>();
  readonly #suspects = new Map<number, Block[]>();
  #suspectBytes = 0;

  constructor(torrent: InternalTorrent, log: Logger) {
    super();
    this.#torrent = torrent;
    this.#log = log;
    const addPeer = torrent._addPeer.bind(torrent);
    torrent._addPeer = (peer, type, source) => {
      if (typeof peer === 'string' && this.#isBannedAddr(peer)) {
        this.#log.debug({ peer }, 'not connecting to banned peer');
        return null;
      }
      return addPeer(peer, type, source);
    };
    const addIncoming = torrent._addIncomingPeer.bind(torrent);
    torrent._addIncomingPeer = (peer: WtPeer) => {
      const ip = peer.conn?.remoteAddress;
      if (ip && this.#keys.has(`ip:${ip}`)) {
        peer.destroy(new Error('banned peer'));
        return;
      }
      addIncoming(peer);
    };
    torrent.on('wire', (wire: InternalWire) => this.#onWire(wire));
    torrent.on('verified', (index: number) => this.#onVerified(index));
    torrent.on('warning', (err: Error) => {
      const m = /^Piece (\d+) failed verification/.exec(err.message);
      if (m) this.#onHashFail(Number(m[1]));
    });
  }

  /** Peers banned so far. */
  list(): BannedPeer[] {
    return [...this.#banned];
  }

  /** True if a wire from this address/port/peer id would be refused. */
  isBanned(address: string, port: number, peerId = ''): boolean {
    return this.#keys.has(`ip:${address}`) || this.#keys.has(`ep:${address}:${port}`) || (peerId !== '' && this.#keys.has(`id:${peerId}`));
  }

  #isBannedAddr(addr: string): boolean {
    const i = addr.lastIndexOf(':');
    const ip = addr.slice(0, i).replace(/^\[|\]$/g, '');
    return this.isBanned(ip, Number(addr.slice(i + 1)));
  }

  #onWire(wire: InternalWire): void {
    if (this.isBanned(wire.remoteAddress ?? '', wire.remotePort ?? 0, wire.peerId ?? '')) {
      this.#log.debug({ address: wire.remoteAddress, port: wire.remotePort }, 'dropping wire from banned peer');
      wire.destroy();
      return;
    }
    wire.on('piece', (index: number, offset: number, data: Uint8Array) => {
      if (this.#torrent.bitfield?.get(index)) return; // duplicate of a verified piece: nothing to judge
      let blocks = this.#inflight.get(index);
      if (!blocks) this.#inflight.set(index, (blocks = []));
      blocks.push({ wire, offset, data });
    });
  }

  #onHashFail(index: number): void {
    const blocks = this.#inflight.get(index) ?? [];
    this.#inflight.delete(index);
    const senders = new Set(blocks.map((b) => b.wire));
    this.#log.warn({ piece: index, senders: [...senders].map(describe) }, 'piece failed its hash; re-fetching');
    if (senders.size === 1) {
      this.#ban([...senders][0]!, index, 'sole sender of a piece that failed its hash');
      return;
    }
    const kept = this.#suspects.get(index) ?? [];
    for (const b of blocks) {
      if (this.#suspectBytes + b.data.length > MAX_SUSPECT_BYTES) break;
      kept.push(b);
      this.#suspectBytes += b.data.length;
    }
    this.#suspects.set(index, kept);
  }

  #onVerified(index: number): void {
    this.#inflight.delete(index);
    const kept = this.#suspects.get(index);
    if (!kept) return;
    this.#suspects.delete(index);
    for (const b of kept) this.#suspectBytes -= b.data.length;
    this.#torrent.store?.get(index, null, (err, good) => {
      if (err) return;
      const culprits = new Set<InternalWire>();
      for (const b of kept) {
        const want = good.subarray(b.offset, b.offset + b.data.length);
        if (Buffer.compare(Buffer.from(want.buffer, want.byteOffset, want.length), Buffer.from(b.data.buffer, b.data.byteOffset, b.data.length)) !== 0) {
          culprits.add(b.wire);
        }
      }
      for (const w of culprits) this.#ban(w, index, 'sent a block that differs from the verified piece');
    });
  }

  #ban(wire: InternalWire, piece: number, reason: string): void {
    const address = wire.remoteAddress ?? '';
    const port = wire.remotePort ?? 0;
    const peerId = wire.peerId ?? '';
    if (this.isBanned(address, port, peerId)) return;
    if (wire.type === 'webSeed') {
      this.#keys.add(`ws:${(wire as unknown as { url: string }).url}`);
    } else if (isLoopback(address)) {
      this.#keys.add(`ep:${address}:${port}`);
      if (peerId) this.#keys.add(`id:${peerId}`);
    } else {
      this.#keys.add(`ip:${address}`);
    }
    const entry: BannedPeer = { address, port, peerId, piece, reason };
    this.#banned.push(entry);
    this.#log.warn({ ...entry }, 'banned peer');
    // Drop every open wire to it (several, if it connected to us and we to it).
    for (const w of [...this.#torrent.wires] as InternalWire[]) {
      if (w === wire || this.isBanned(w.remoteAddress ?? '', w.remotePort ?? 0, w.peerId ?? '')) w.destroy();
    }
    this.emit('ban', entry);
  }
}

function describe(w: InternalWire): string {
  return w.type === 'webSeed' ? 'web seed' : `${w.remoteAddress}:${w.remotePort}`;
}
