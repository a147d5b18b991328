// Minimal declarations for the public API of webtorrent (3.x) that imgsrv
// uses: webtorrent's docs/api.md and, for wires, bittorrent-protocol's
// README. The package ships no types. Private members (underscored methods,
// the store chain, a wire's meter as a recorder) are typed once, in
// torrent/webtorrent/internals.ts, for the patches of that folder only.
declare module 'webtorrent' {
  import { EventEmitter } from 'node:events';
  import type { Readable } from 'node:stream';

  export interface BitField {
    get(i: number): boolean;
    set(i: number, v?: boolean): void;
    buffer: Uint8Array;
  }

  /** A block request in flight (bittorrent-protocol README: `wire.requests`, `wire.peerRequests`). */
  export interface BlockRequest {
    piece: number;
    offset: number;
    length: number;
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
    /** Requests we sent this peer and await. */
    requests: BlockRequest[];
    /** Requests the peer sent us that we have not answered. */
    peerRequests: BlockRequest[];
    downloadSpeed(): number;
    uploadSpeed(): number;
    choke(): void;
    unchoke(): void;
    /** Announce the pieces we have (BITFIELD). */
    bitfield(bitfield: BitField | Uint8Array): void;
    /** Announce one more piece (HAVE). */
    have(index: number): void;
    /** BEP 6: announce every piece (HAVE ALL). */
    haveAll(): void;
    /** Send CANCEL and fail the pending request's callback ("request was cancelled"). */
    cancel(index: number, offset: number, length: number): void;
    reject(index: number, offset: number, length: number): void;
    destroy(): void;
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

  /** A piece not yet verified (torrent-piece). */
  export interface TorrentPiece {
    length: number;
    /** Bytes not yet received. */
    missing: number;
  }

  export interface Torrent extends EventEmitter {
    infoHash: string;
    name: string;
    length: number;
    pieceLength: number;
    lastPieceLength: number;
    /** docs/api.md "Piece API": null once the piece is verified. */
    pieces: Array<TorrentPiece | null>;
    /** Pieces we have. Not in docs/api.md, but a plain field (set in `_onMetadata`). */
    bitfield: BitField;
    files: TorrentFile[];
    /** Open connections. Not in docs/api.md, but a plain field (`numPeers` is its length). */
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
