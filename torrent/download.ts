/**
 * The node's side of the swarm: download one image torrent from the server's
 * seeder, its web seed and the other nodes, verify every piece, hand the
 * bytes out in order while the rest arrives, then keep seeding until the
 * server says the deployment is done. webtorrent does the wire protocol; this
 * class is the small interface the node client (and the benchmarks) use.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import parseTorrent from 'parse-torrent';
import type WebTorrent from 'webtorrent';
import type { Torrent, Wire } from 'webtorrent';
import { ImgsrvError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { destroyClient, UNCHOKE_ALL } from './client.ts';
import { createInOrderStream, type InOrderStreamOptions } from './in-order-stream.ts';
import { StreamLag, type StreamLagReport } from './stream-lag.ts';
import { PieceArea, type PieceAreaOptions } from './piece-area.ts';
import type { BannedPeer, PeerBans } from './peer-ban.ts';
import { WebSeedFallback } from './web-seed-fallback.ts';
import { createBoundClient, patchNodeTorrent } from './webtorrent/index.ts';

/** Memory for recently used pieces, read for uploads and the stream (see start). */
const STORE_CACHE_BYTES = 32 << 20;

/** What {@link SwarmDownload.start} needs. */
export interface SwarmDownloadOptions {
  /** Path of the .torrent (see fetchTorrent). */
  torrentFile: string;
  /** Directory the image file is written to (fs-chunk-store); a partial file there is re-verified and resumed. */
  dataDir: string;
  /**
   * Keep the pieces in this byte range of a disk instead (piece-area.ts): the
   * node's scratch area. What a previous run left there for the same torrent
   * is verified and resumed; dataDir then holds nothing of the image.
   */
  pieceArea?: PieceAreaOptions;
  /** Local IP the TCP listener binds to (the node's netboot address). */
  address: string;
  /** TCP port for incoming peers (default: any free port). */
  port?: number;
  /**
   * The torrent's BEP 19 web seed: 'fallback' (default) adds it only when the
   * swarm gives nothing for `webSeedAfterMs` (tracker or seeder down, no
   * peers) and drops it again once the server's seeder sends pieces (it is
   * back); 'always' uses it from the start; 'never' ignores it. A web seed
   * is plain HTTP from the server: used by every node at once it would bypass
   * the server's upload policy and send the same bytes N times.
   */
  webSeeds?: WebSeedMode | boolean;
  /** How long the swarm may give no bytes before the web seed joins (default 5 s). */
  webSeedAfterMs?: number;
  /** Upload cap in bytes/s (0 or undefined = unlimited). */
  uploadLimit?: number;
  /** Fixed read-ahead window in pieces fetched before all others (0 = pure rarest-first; default: sized by windowSeconds). */
  windowPieces?: number;
  /** Read-ahead window in seconds at the current download rate (default 2). */
  windowSeconds?: number;
  logger: Logger;
  signal?: AbortSignal;
}

/** When to use the web seed. */
export type WebSeedMode = 'always' | 'fallback' | 'never';

/** A snapshot of the download, emitted as `progress` every second. */
export interface SwarmStats {
  infoHash: string;
  /** Image size in bytes. */
  length: number;
  /** Bytes in verified pieces plus bytes of pieces in progress. */
  downloaded: number;
  /** Bytes sent to other peers. */
  uploaded: number;
  /** downloaded / length, 0..1. */
  progress: number;
  /** Connected BitTorrent peers (the web seed not counted). */
  peers: number;
  downloadSpeed: number;
  uploadSpeed: number;
  /** Payload bytes received from BitTorrent peers (the server's seeder included). */
  fromPeers: number;
  /** Payload bytes received from the HTTP web seed. */
  fromWebSeed: number;
  /** Peers banned for sending corrupt data. */
  banned: number;
  /** The web seed is in use ('always', or 'fallback' while the swarm stalls). */
  webSeed: boolean;
  /** Every piece verified. */
  done: boolean;
  /** Bytes of verified pieces the download started with (resumed from its piece area or file). */
  resumed: number;
  /** How far the in-order reader (the restore) trails the download. */
  lag: StreamLagReport;
}

/** One image download; emits `progress` (SwarmStats) every ~1 s, `done` (path) once, `ban` (BannedPeer). */
export class SwarmDownload extends EventEmitter {
  readonly #client: WebTorrent;
  readonly #torrent: Torrent;
  readonly #bans: PeerBans;
  readonly #log: Logger;
  readonly #streamOpts: InOrderStreamOptions;
  readonly #complete: Promise<string>;
  readonly #bySource = new Map<string, number>();
  readonly #lag = new StreamLag();
  #resumed = 0;
  #fromPeers = 0;
  #fromWebSeed = 0;
  #ticker: NodeJS.Timeout;
  readonly #webSeedFallback: WebSeedFallback;
  #closed: Promise<void> | null = null;
  #rejectComplete: (err: Error) => void = () => {};

  private constructor(client: WebTorrent, torrent: Torrent, path: string, opts: SwarmDownloadOptions & { bans: PeerBans; reserveWebSeeds?: string[] }) {
    super();
    this.#webSeedFallback = new WebSeedFallback(torrent, opts.reserveWebSeeds ?? [], opts.webSeedAfterMs ?? 5000, opts.logger);
    this.#client = client;
    this.#torrent = torrent;
    this.#log = opts.logger;
    this.#streamOpts = {
      ...(opts.windowPieces === undefined ? {} : { windowPieces: opts.windowPieces }),
      ...(opts.windowSeconds === undefined ? {} : { windowSeconds: opts.windowSeconds }),
    };
    this.#bans = opts.bans;
    this.#bans.on('ban', (b: BannedPeer) => this.emit('ban', b));
    torrent.on('wire', (wire: Wire) => {
      const source = wire.type === 'webSeed' ? 'webseed' : (wire.remoteAddress ?? '?');
      wire.on('download', (n: number) => {
        if (wire.type === 'webSeed') this.#fromWebSeed += n;
        else {
          this.#fromPeers += n;
          this.#webSeedFallback.peerSent(wire.remoteAddress);
        }
        this.#bySource.set(source, (this.#bySource.get(source) ?? 0) + n);
      });
    });
    torrent.on('warning', (err: Error) => this.#log.debug({ err: err.message }, 'torrent warning'));
    this.#complete = new Promise<string>((ok, fail) => {
      this.#rejectComplete = fail;
      const finish = (): void => {
        this.#lag.downloadEnded();
        this.#log.info({ infoHash: torrent.infoHash, path }, 'image downloaded and verified');
        this.emit('progress', this.stats());
        this.emit('done', path);
        ok(path);
      };
      torrent.once('done', finish);
      // The client can die under us (listener error): never leave a waiter hanging.
      torrent.once('close', () => {
        if (!torrent.done) fail(new ImgsrvError('IO', 'download stopped before it completed (torrent closed)'));
      });
    });
    this.#complete.catch(() => {}); // a caller that never awaits it must not crash the process
    this.#ticker = setInterval(() => {
      const s = this.stats();
      this.#webSeedFallback.tick(s.fromPeers + s.fromWebSeed, s.peers);
      this.emit('progress', s);
    }, 1000);
    this.#ticker.unref();
    opts.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  /** Bind a client to `address`, add the torrent (rarest-first, data in dataDir) and resolve once its store is verified. */
  static async start(opts: SwarmDownloadOptions): Promise<SwarmDownload> {
    if (opts.signal?.aborted) throw new ImgsrvError('CANCELLED', 'download cancelled');
    const raw = await readFile(opts.torrentFile).catch((err: NodeJS.ErrnoException) => {
      throw new ImgsrvError(err.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot read torrent ${opts.torrentFile}: ${err.message}`, { cause: err });
    });
    const parsed = await parseTorrent(raw).catch((err: Error) => {
      throw new ImgsrvError('IMAGE_INVALID', `torrent file ${opts.torrentFile} is damaged (${err.message})`, { cause: err });
    });
    if (parsed.files.length !== 1) {
      throw new ImgsrvError('IMAGE_INVALID', `torrent ${opts.torrentFile} has ${parsed.files.length} files; an image torrent has exactly one`);
    }
    const log = opts.logger.child({ subsystem: 'swarm', infoHash: parsed.infoHash });
    const area = opts.pieceArea
      ? await PieceArea.open(opts.pieceArea, { infoHash: parsed.infoHash, pieceLength: parsed.pieceLength, length: parsed.length, pieces: parsed.pieces }, log)
      : undefined;
    const mode: WebSeedMode = opts.webSeeds === true ? 'always' : opts.webSeeds === false ? 'never' : (opts.webSeeds ?? 'fallback');
    const reserveWebSeeds = mode === 'fallback' ? parsed.urlList : [];
    if (mode !== 'always') parsed.urlList = [];
    let client: WebTorrent;
    try {
      client = await createBoundClient({
        address: opts.address,
        port: opts.port ?? 0,
        webSeeds: mode !== 'never',
        uploadLimit: opts.uploadLimit && opts.uploadLimit > 0 ? opts.uploadLimit : -1,
      });
    } catch (err) {
      await area?.close().catch(() => {});
      throw new ImgsrvError('SOCKET', `cannot listen for peers on ${opts.address}:${opts.port ?? 0}: ${(err as Error).message}`, {
        hint: 'is the address configured on this node and the port free?',
        cause: err,
      });
    }
    client.on('error', (err: Error) => log.error({ err: err.message }, 'torrent client error'));
    // Nodes of one deployment cooperate: every interested peer is unchoked (no tit-for-tat slots).
    // Pieces just received are the ones other nodes ask for next: keep ~32 MiB of them in memory
    // (webtorrent's default, 20 pieces, made every node re-read whole pieces from disk to send 16 KiB blocks);
    // cacheWrittenPieces (webtorrent/cache-written-pieces.ts) puts each verified piece there as it is written.
    const storeCacheSlots = Math.max(20, Math.ceil(STORE_CACHE_BYTES / parsed.pieceLength));
    // A partial file is re-verified piece by piece and resumed. Without one there is nothing to verify:
    // an empty start bitfield spares reading and hashing every piece of a file that is not there yet
    // (at 16 nodes on 2 cores, 16 images' worth of SHA-1 in the first second of the deployment).
    // A piece area was verified as it opened: its bitfield says what it holds.
    const target = area ? `${area.opts.path}@${area.opts.offset}` : join(opts.dataDir, parsed.files[0]!.path);
    const nothingYet = existsSync(target) ? {} : { bitfield: new Uint8Array(Math.ceil(parsed.pieces.length / 8)) };
    const store = area ? { store: area.storeConstructor(), bitfield: area.bitfield } : nothingYet;
    const torrent = client.add(parsed, { path: opts.dataDir, strategy: 'rarest', uploads: UNCHOKE_ALL, storeCacheSlots, ...store });
    // Every webtorrent patch of a node, in the order webtorrent/index.ts states (skipHeldPieces and cacheWrittenPieces on 'ready').
    const bans = patchNodeTorrent(torrent, { peerId: client.peerId, logger: log });
    const dl = new SwarmDownload(client, torrent, target, { ...opts, logger: log, reserveWebSeeds, bans });
    try {
      await new Promise<void>((ok, fail) => {
        const onError = (err: Error): void => fail(new ImgsrvError('IO', `cannot start download: ${err.message}`, { cause: err }));
        torrent.once('error', onError);
        torrent.once('ready', () => {
          torrent.removeListener('error', onError);
          ok();
        });
      });
    } catch (err) {
      await dl.close();
      throw err;
    }
    torrent.on('error', (err: Error) => {
      log.error({ err: err.message }, 'torrent failed');
      dl.#rejectComplete(new ImgsrvError('IO', `download failed: ${err.message}`, { cause: err }));
    });
    // Pieces a resumed download already held were verified at 'ready' (webtorrent's check of its store); from now on, each new one.
    dl.#lag.verified(torrent.downloaded);
    dl.#resumed = torrent.downloaded;
    // Counted once per piece: webtorrent can verify a piece twice when two wires complete it in the same moment.
    const counted = new Uint8Array(torrent.pieces.length);
    for (let i = 0; i < counted.length; i++) counted[i] = torrent.bitfield.get(i) ? 1 : 0;
    torrent.on('verified', (index: number) => {
      if (counted[index]) return;
      counted[index] = 1;
      dl.#lag.verified(pieceBytes(torrent, index));
    });
    log.info({ length: torrent.length, pieces: torrent.pieces.length, port: client.torrentPort, verified: torrent.downloaded }, 'download started');
    return dl;
  }

  /** In-order stream of the whole file from byte 0; yields bytes only after their piece verified. */
  stream(): Readable {
    const stream = createInOrderStream(this.#torrent, { ...this.#streamOpts, onPush: (n) => this.#lag.consumed(n) });
    stream.once('end', () => this.#lag.restoreEnded());
    return stream;
  }

  /** The restore is finished (its last write, after the stream's end): the lag's end point. */
  restoreEnded(): void {
    this.#lag.restoreEnded();
  }

  /** Resolves when every piece is verified (path of the complete file). */
  whenComplete(): Promise<string> {
    return this.#complete;
  }

  /** The TCP port peers connect to. */
  get port(): number {
    return this.#client.torrentPort;
  }

  /** Peers banned for corrupt data so far. */
  banned(): BannedPeer[] {
    return this.#bans.list();
  }

  /** Payload bytes received per source (peer IP, or "webseed"). */
  bytesBySource(): Record<string, number> {
    return Object.fromEntries(this.#bySource);
  }

  /** A snapshot of the download. */
  stats(): SwarmStats {
    const t = this.#torrent;
    const live = !t.destroyed;
    return {
      infoHash: t.infoHash,
      length: t.length,
      downloaded: live ? t.downloaded : t.length * (t.done ? 1 : 0),
      uploaded: t.uploaded,
      progress: live ? t.progress : t.done ? 1 : 0,
      peers: live ? t.wires.filter((w) => w.type !== 'webSeed').length : 0,
      downloadSpeed: live ? t.downloadSpeed : 0,
      uploadSpeed: live ? t.uploadSpeed : 0,
      fromPeers: this.#fromPeers,
      fromWebSeed: this.#fromWebSeed,
      banned: this.#bans.list().length,
      webSeed: live && t.wires.some((w) => w.type === 'webSeed'),
      done: t.done,
      resumed: this.#resumed,
      lag: this.#lag.report(),
    };
  }

  /** Keep seeding until isDone() returns true (polled every few seconds) or lingerMs passes, whichever first. */
  async seedUntil(opts: { lingerMs: number; isDone?: () => Promise<boolean>; pollMs?: number }): Promise<'done' | 'linger'> {
    await this.#complete;
    const deadline = Date.now() + opts.lingerMs;
    const pollMs = opts.pollMs ?? 5000;
    while (!this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) return 'linger';
      if (opts.isDone) {
        // The server being unreachable is not a reason to stop seeding early.
        const done = await opts.isDone().catch((err: Error) => {
          this.#log.debug({ err: err.message }, 'swarm state poll failed');
          return false;
        });
        if (done) return 'done';
      }
      await new Promise((ok) => setTimeout(ok, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
    }
    throw new ImgsrvError('CANCELLED', 'seeding stopped: download closed');
  }

  /** Leave the swarm and close every socket and file (idempotent). */
  close(): Promise<void> {
    if (!this.#closed) {
      clearInterval(this.#ticker);
      if (!this.#torrent.done) this.#rejectComplete(new ImgsrvError('CANCELLED', 'download closed before it completed'));
      this.#closed = destroyClient(this.#client);
    }
    return this.#closed;
  }
}

/** Length of piece `index` (the last one may be short). */
function pieceBytes(t: Torrent, index: number): number {
  return index === t.pieces.length - 1 ? t.length - index * t.pieceLength : t.pieceLength;
}
