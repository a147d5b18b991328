// Minimal declarations for the parts of webtorrent (3.x) that imgsrv uses.
// The package ships no types; these cover only what our wrappers touch.
declare module 'webtorrent' {
  import { EventEmitter } from 'node:events';
  import type { Readable } from 'node:stream';

  export interface BitField {
    get(i: number): boolean;
    set(i: number, v?: boolean): void;
    buffer: Uint8Array;
  }

  /** One peer connection (bittorrent-protocol Wire). */
  export interface Wire extends EventEmitter {
    remoteAddress: string;
    remotePort: number;
    type: 'tcpIncoming' | 'tcpOutgoing' | 'utpIncoming' | 'utpOutgoing' | 'webrtc' | 'webSeed';
    peerId: string;
    peerPieces: BitField;
    peerChoking: boolean;
    amChoking: boolean;
    peerInterested: boolean;
    hasFast: boolean;
    isSeeder?: boolean;
    uploaded: number;
    downloaded: number;
    destroyed: boolean;
    requests: unknown[];
    peerRequests: { piece: number; offset: number; length: number }[];
    downloadSpeed(): number;
    uploadSpeed(): number;
    choke(): void;
    unchoke(): void;
    reject(index: number, offset: number, length: number): void;
    destroy(): void;
    _onRequest(index: number, offset: number, length: number): void;
  }

  export interface TorrentFile {
    name: string;
    path: string;
    length: number;
    offset: number;
    downloaded: number;
    progress: number;
    createReadStream(opts?: { start?: number; end?: number }): Readable;
    select(priority?: number): void;
    deselect(): void;
  }

  export interface Torrent extends EventEmitter {
    infoHash: string;
    name: string;
    length: number;
    pieceLength: number;
    lastPieceLength: number;
    pieces: unknown[];
    bitfield: BitField;
    files: TorrentFile[];
    wires: Wire[];
    numPeers: number;
    downloaded: number;
    uploaded: number;
    received: number;
    progress: number;
    downloadSpeed: number;
    uploadSpeed: number;
    done: boolean;
    ready: boolean;
    paused: boolean;
    path: string;
    destroyed: boolean;
    strategy: 'rarest' | 'sequential';
    critical(start: number, end: number): void;
    select(start: number, end: number, priority?: number | boolean, notify?: () => void): void;
    deselect(start: number, end: number, priority?: number | boolean): void;
    addPeer(peer: string): boolean;
    addWebSeed(url: string): void;
    removePeer(peer: string): void;
    destroy(opts?: { destroyStore?: boolean }, cb?: (err?: Error | null) => void): void;
  }

  export interface TorrentOptions {
    path?: string;
    announce?: string[];
    skipVerify?: boolean;
    strategy?: 'rarest' | 'sequential';
    /** Upload slots: peers unchoked at each 10 s rechoke (default 10). */
    uploads?: number;
    /** Pieces kept in memory for reads (uploads, streams) in front of the store (default 20). */
    storeCacheSlots?: number;
    /** Pieces already held (a bitfield, one bit per piece): only pieces marked here are checked against the store at start. */
    bitfield?: Uint8Array;
    private?: boolean;
    store?: unknown;
    deselect?: boolean;
    maxWebConns?: number;
    alwaysChokeSeeders?: boolean;
  }

  export interface WebTorrentOptions {
    dht?: boolean | object;
    lsd?: boolean;
    utp?: boolean;
    utPex?: boolean;
    natUpnp?: boolean | 'permanent';
    natPmp?: boolean;
    webSeeds?: boolean;
    tracker?: boolean | object;
    torrentPort?: number;
    maxConns?: number;
    uploadLimit?: number;
    downloadLimit?: number;
    peerId?: string | Uint8Array;
    secure?: boolean | number;
    blocklist?: unknown;
    seedOutgoingConnections?: boolean;
  }

  export default class WebTorrent extends EventEmitter {
    constructor(opts?: WebTorrentOptions);
    static UTP_SUPPORT: boolean;
    torrents: Torrent[];
    torrentPort: number;
    listening: boolean;
    peerId: string;
    destroyed: boolean;
    downloadSpeed: number;
    uploadSpeed: number;
    add(torrentId: string | Uint8Array | object, opts?: TorrentOptions, onTorrent?: (t: Torrent) => void): Torrent;
    seed(input: string | string[] | Uint8Array, opts?: TorrentOptions & { name?: string; pieceLength?: number }, onSeed?: (t: Torrent) => void): Torrent;
    get(torrentId: string | Uint8Array): Promise<Torrent | null>;
    remove(torrentId: string | Torrent, opts?: { destroyStore?: boolean }, cb?: (err?: Error | null) => void): Promise<void>;
    address(): { address: string; family: string; port: number } | null;
    throttleUpload(rate: number): boolean | void;
    throttleDownload(rate: number): boolean | void;
    destroy(cb?: (err?: Error | null) => void): void;
  }
}
