/**
 * What every imgsrv WebTorrent client is configured with. webtorrent is used
 * as a library behind our own small interfaces (seeder.ts on the server,
 * download.ts on nodes); this module fixes the options that keep a swarm
 * inside the netboot network: TCP only, no DHT, no local service discovery,
 * no UPnP/NAT-PMP, no uTP. The listener bound to one address needs a patch:
 * clients are created by createBoundClient (webtorrent/bound-listen.ts).
 */
import { randomBytes } from 'node:crypto';
import type WebTorrent from 'webtorrent';
import type { WebTorrentOptions } from 'webtorrent';

/** Upload slots per torrent (webtorrent's `uploads`): more than any swarm has peers, i.e. unchoke every interested one. */
export const UNCHOKE_ALL = 10_000;

/**
 * Peer id prefix of imgsrv's seeder (Azureus style, BEP 20): nodes recognise
 * the server among their peers by it and ask it only for pieces no other
 * peer offers (webtorrent/seeder-last.ts). A peer that claims
 * it falsely only makes nodes ask it less.
 */
export const SEEDER_PEER_ID_PREFIX = '-IS0100-';

/** The prefix as it starts a hex peer id (checked on every block request of a node: computed once). */
const SEEDER_PREFIX_HEX = Buffer.from(SEEDER_PEER_ID_PREFIX).toString('hex');

/** A fresh seeder peer id, hex as webtorrent takes it: the prefix and 12 random characters. */
export function seederPeerId(): string {
  return Buffer.from(SEEDER_PEER_ID_PREFIX + randomBytes(9).toString('base64url')).toString('hex');
}

/** True if `peerIdHex` (as bittorrent-protocol reports it) is an imgsrv seeder's. */
export function isSeederPeerId(peerIdHex: string | undefined): boolean {
  return !!peerIdHex && peerIdHex.startsWith(SEEDER_PREFIX_HEX);
}

/** What every imgsrv BitTorrent client needs: the address to listen on (the netboot interface's) and optionally a port. */
export interface BoundClientOptions {
  address: string;
  /** TCP port for incoming peers; 0 = any free port. */
  port?: number;
  webSeeds?: boolean;
  /** Client-wide upload cap in bytes/s (-1 or undefined = none). */
  uploadLimit?: number;
  maxConns?: number;
  peerId?: string;
}

/** Options that keep BitTorrent traffic on the lab/netboot network. */
export function isolatedOptions(o: BoundClientOptions): WebTorrentOptions {
  return {
    dht: false, // no DHT: nothing leaves the netboot network looking for peers
    lsd: false, // no BEP 14 multicast announcements
    utp: false, // TCP only (utp-native is an optional native module)
    natUpnp: false, // never ask a router to open ports
    natPmp: false,
    // Plain BitTorrent: MSE/PE (BEP 8-ish "protocol encryption") is traffic obfuscation, not security,
    // and without OpenSSL's legacy provider webtorrent does RC4 in JavaScript, which made CPU the
    // swarm's bottleneck at 16 nodes on this machine. Peers that insist on it can't join; aria2c and
    // Transmission accept plaintext by default.
    secure: 0,
    webSeeds: o.webSeeds ?? true,
    torrentPort: o.port ?? 0,
    uploadLimit: o.uploadLimit ?? -1,
    maxConns: o.maxConns ?? 55,
    ...(o.peerId ? { peerId: o.peerId } : {}),
  };
}

/** Destroy a client and wait for its sockets to close. */
export function destroyClient(client: WebTorrent): Promise<void> {
  return new Promise((resolve) => {
    if (client.destroyed) return resolve();
    client.destroy(() => resolve());
  });
}
