// Minimal declarations for the BitTorrent helper packages imgsrv uses
// (bittorrent-tracker, create-torrent, parse-torrent, bencode); none ships types.
declare module 'bittorrent-tracker' {
  import { EventEmitter } from 'node:events';
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** Announce parameters as the tracker parsed them (HTTP). */
  export interface AnnounceParams {
    info_hash: string;
    peer_id: string;
    ip: string;
    port: number;
    addr: string;
    uploaded: number;
    downloaded: number;
    left: number;
    event?: string;
    numwant: number;
    compact?: number;
  }

  export interface TrackerSwarm {
    infoHash: string;
    complete: number;
    incomplete: number;
    peers: { keys: string[]; peek(k: string): { ip: string; port: number; peerId: string; complete: boolean; type: string } | undefined };
  }

  export interface TrackerServerOptions {
    http?: boolean | object;
    udp?: boolean | object;
    ws?: boolean | object;
    stats?: boolean;
    interval?: number;
    trustProxy?: boolean;
    filter?: (infoHash: string, params: AnnounceParams, cb: (err: Error | null) => void) => void;
  }

  export class Server extends EventEmitter {
    constructor(opts?: TrackerServerOptions);
    torrents: Record<string, TrackerSwarm>;
    intervalMs: number;
    onHttpRequest(req: IncomingMessage, res: ServerResponse, opts?: { action?: string; trustProxy?: boolean }): void;
    close(cb?: () => void): void;
  }
  const Client: unknown;
  export default Client;
}

declare module 'create-torrent' {
  export interface CreateTorrentOptions {
    name?: string;
    pieceLength?: number;
    announceList?: string[][];
    urlList?: string[];
    private?: boolean;
    createdBy?: string;
    creationDate?: number | Date;
  }
  export default function createTorrent(
    input: string | string[] | Uint8Array,
    opts: CreateTorrentOptions,
    cb: (err: Error | null, torrent: Uint8Array) => void,
  ): void;
}

declare module 'parse-torrent' {
  /** A parsed torrent (single or multi file). */
  export interface ParsedTorrent {
    infoHash: string;
    name: string;
    length: number;
    pieceLength: number;
    lastPieceLength: number;
    pieces: string[];
    announce: string[];
    urlList: string[];
    files: { path: string; name: string; length: number; offset: number }[];
    infoBuffer: Uint8Array;
    private?: boolean;
  }
  export default function parseTorrent(input: Uint8Array | string | object): Promise<ParsedTorrent>;
  export function toTorrentFile(parsed: object): Uint8Array;
  export function toMagnetURI(parsed: object): string;
}

declare module 'bencode' {
  const bencode: {
    encode(data: unknown): Uint8Array;
    decode(data: Uint8Array, encoding?: string): unknown;
    decode(data: Uint8Array, start: number, end: number, encoding?: string): unknown;
    encodingLength(data: unknown): number;
  };
  export default bencode;
}

declare module 'bittorrent-protocol' {
  import { EventEmitter } from 'node:events';

  /** The BitTorrent wire protocol webtorrent 3 speaks (its dependency; only tests construct one). Public API (README) only. */
  export default class Wire extends EventEmitter {
    constructor();
    peerId?: string;
    type?: string;
    handshake(infoHash: string, peerId: string, extensions?: object): void;
    unchoke(): void;
    request(index: number, offset: number, length: number, cb: (err: Error | null, block?: Uint8Array) => void): void;
    downloadSpeed(): number;
    /** A wire is a duplex stream: pipe it to the other end's. */
    pipe<T>(dest: T): T;
    destroy(): void;
  }
}
