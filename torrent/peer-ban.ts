/**
 * Ban peers that send data failing a piece hash.
 *
 * webtorrent 3.0.21 does not: on a failed SHA-1 it replaces the piece with an
 * empty one, emits `warning: Piece N failed verification` and re-requests it,
 * possibly from the same peer, forever. There is no hook for "which peer sent
 * it", so we keep our own record of who sent each block of every piece in
 * flight (the wire's `piece` event; we hold references to the received
 * buffers, which webtorrent holds anyway until the piece completes: no
 * copies).
 *
 * On a failed hash: if one peer sent the whole piece it is banned at once.
 * If several did, we keep their blocks and, once the piece verifies from
 * someone, compare each kept block with the good bytes and ban only the
 * senders whose block differs (libtorrent's "smart ban"), so an honest
 * seeder that shared the piece is never banned.
 *
 * This module decides; webtorrent/peer-ban-hooks.ts tells it of failed
 * hashes and enforces its bans where a peer can come back in webtorrent
 * (dialling out, connecting in). The `wire` event after the handshake is
 * checked here, by address and peer id. Bans are by IP address, except on
 * loopback, where every test peer shares 127.0.0.1: there we ban the
 * listening endpoint (ip:port) and the peer id instead.
 */
import { EventEmitter } from 'node:events';
import type { Torrent, Wire } from 'webtorrent';
import type { Logger } from '../core/log.ts';

/** One banned peer, as reported by `ban` events and {@link PeerBans.list}. */
export interface BannedPeer {
  address: string;
  port: number;
  peerId: string;
  piece: number;
  reason: string;
}

/** Reads a verified piece back from the torrent's store (the callback is not called once the torrent is gone). */
export type PieceReader = (index: number, cb: (err: Error | null, buf: Uint8Array) => void) => void;

interface Block {
  wire: Wire;
  offset: number;
  data: Uint8Array;
}

// Blocks kept from failed pieces while waiting for a good copy (bounded: a
// peer that fails everything is banned on its first sole-sender piece anyway).
const MAX_SUSPECT_BYTES = 64 * 1024 * 1024;

const isLoopback = (ip: string): boolean => ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');

/** Tracks piece senders for one torrent and decides bans; emits `ban` (BannedPeer). */
export class PeerBans extends EventEmitter {
  readonly #torrent: Torrent;
  readonly #log: Logger;
  readonly #readPiece: PieceReader;
  readonly #keys = new Set<string>();
  readonly #banned: BannedPeer[] = [];
  readonly #inflight = new Map<number, Block[]>();
  readonly #suspects = new Map<number, Block[]>();
  #suspectBytes = 0;

  constructor(torrent: Torrent, log: Logger, readPiece: PieceReader) {
    super();
    this.#torrent = torrent;
    this.#log = log;
    this.#readPiece = readPiece;
    torrent.on('wire', (wire: Wire) => this.#onWire(wire));
    torrent.on('verified', (index: number) => this.#onVerified(index));
  }

  /** Peers banned so far. */
  list(): BannedPeer[] {
    return [...this.#banned];
  }

  /** True if a wire from this address/port/peer id would be refused. */
  isBanned(address: string, port: number, peerId = ''): boolean {
    return this.#keys.has(`ip:${address}`) || this.#keys.has(`ep:${address}:${port}`) || (peerId !== '' && this.#keys.has(`id:${peerId}`));
  }

  /** True if dialling `addr` ("ip:port", IPv6 in brackets) would reach a banned peer. */
  isBannedAddress(addr: string): boolean {
    const i = addr.lastIndexOf(':');
    const ip = addr.slice(0, i).replace(/^\[|\]$/g, '');
    return this.isBanned(ip, Number(addr.slice(i + 1)));
  }

  /** True if a connection from `ip` is refused before its handshake (IP bans only: the port of an incoming connection is not the peer's listening one). */
  isBannedIp(ip: string): boolean {
    return this.#keys.has(`ip:${ip}`);
  }

  #onWire(wire: Wire): void {
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

  /** Piece `index` failed its hash: ban its sole sender, or keep its blocks to compare once it verifies. */
  hashFailed(index: number): void {
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
    this.#readPiece(index, (err, good) => {
      if (err) return;
      const culprits = new Set<Wire>();
      for (const b of kept) {
        const want = good.subarray(b.offset, b.offset + b.data.length);
        if (Buffer.compare(Buffer.from(want.buffer, want.byteOffset, want.length), Buffer.from(b.data.buffer, b.data.byteOffset, b.data.length)) !== 0) {
          culprits.add(b.wire);
        }
      }
      for (const w of culprits) this.#ban(w, index, 'sent a block that differs from the verified piece');
    });
  }

  #ban(wire: Wire, piece: number, reason: string): void {
    const address = wire.remoteAddress ?? '';
    const port = wire.remotePort ?? 0;
    const peerId = wire.peerId ?? '';
    if (this.isBanned(address, port, peerId)) return;
    if (wire.type === 'webSeed') {
      // webtorrent's WebConn (lib/webconn.js) keeps its URL in the public field `url`.
      this.#keys.add(`ws:${(wire as Wire & { url: string }).url}`);
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
    for (const w of [...this.#torrent.wires]) {
      if (w === wire || this.isBanned(w.remoteAddress ?? '', w.remotePort ?? 0, w.peerId ?? '')) w.destroy();
    }
    this.emit('ban', entry);
  }
}

function describe(w: Wire): string {
  return w.type === 'webSeed' ? 'web seed' : `${w.remoteAddress}:${w.remotePort}`;
}
