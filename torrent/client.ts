/**
 * The one place imgsrv constructs a WebTorrent client. webtorrent is used as
 * a library behind our own small interfaces (seeder.ts on the server,
 * initramfs-client/swarm on nodes); this module fixes the options that keep
 * a swarm inside the netboot network: TCP only, no DHT, no local service
 * discovery, no UPnP/NAT-PMP, no uTP, and the listener bound to one address.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import WebTorrent, { type WebTorrentOptions } from 'webtorrent';

/** Upload slots per torrent (webtorrent's `uploads`): more than any swarm has peers, i.e. unchoke every interested one. */
export const UNCHOKE_ALL = 10_000;

/**
 * Peer id prefix of imgsrv's seeder (Azureus style, BEP 20): nodes recognise
 * the server among their peers by it and ask it only for pieces no other
 * peer offers (torrent/seeder-last.ts). A peer that claims
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

/**
 * A WebTorrent client whose TCP listener is bound to `address` only.
 * webtorrent calls `tcpServer.listen(port, cb)` synchronously inside its
 * constructor and has no host option, which would listen on every
 * interface of the machine; for the span of that synchronous constructor we
 * route port-only `listen` calls to `listen(port, address, cb)`. Nothing
 * else can run in between, so no other server is affected.
 */
export function createBoundClient(o: BoundClientOptions): Promise<WebTorrent> {
  const original = net.Server.prototype.listen;
  let client: WebTorrent;
  net.Server.prototype.listen = function boundListen(this: net.Server, ...args: unknown[]) {
    if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
      return (original as (...a: unknown[]) => net.Server).call(this, args[0], o.address, ...args.slice(1));
    }
    return (original as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof original;
  try {
    client = new WebTorrent(isolatedOptions(o));
  } finally {
    net.Server.prototype.listen = original;
  }
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      // A listen error (EADDRINUSE) has already destroyed the client; destroying again throws.
      if (!client.destroyed) client.destroy();
      reject(err);
    };
    client.once('error', onError);
    client.once('listening', () => {
      client.removeListener('error', onError);
      resolve(client);
    });
  });
}

/** Destroy a client and wait for its sockets to close. */
export function destroyClient(client: WebTorrent): Promise<void> {
  return new Promise((resolve) => {
    if (client.destroyed) return resolve();
    client.destroy(() => resolve());
  });
}
