/**
 * The embedded tracker: bittorrent-tracker's server logic, HTTP announce
 * only (no UDP, no WebSocket), mounted on our fastify server at `/announce`
 * and `/scrape` rather than on a port of its own. It knows only the swarms
 * we seed (a filter refuses other info hashes: this is not an open tracker)
 * and records what each peer last announced, for the swarm view.
 */
import { Server, type AnnounceParams } from 'bittorrent-tracker';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../core/log.ts';

/** What a peer last told the tracker. */
export interface PeerAnnounce {
  ip: string;
  port: number;
  peerId: string;
  uploaded: number;
  downloaded: number;
  left: number;
  event: string;
  at: number;
}

/** Peers (by "ip:port") of one swarm, and the tracker's seeder/leecher counts. */
export interface TrackerSwarmState {
  complete: number;
  incomplete: number;
  peers: PeerAnnounce[];
}

/** Options: the set of info hashes we serve is asked for at each announce. */
export interface TrackerOptions {
  known: (infoHash: string) => boolean;
  logger: Logger;
  /** Re-announce interval we tell clients (ms). Short on a LAN: swarm changes show quickly. */
  intervalMs?: number;
  now?: () => number;
}

/** The embedded HTTP tracker. */
export class Tracker {
  private readonly server: Server;
  private readonly peers = new Map<string, Map<string, PeerAnnounce>>();
  private readonly log: Logger;
  private readonly now: () => number;
  /** Announces refused or malformed (counted, never fatal). */
  warnings = 0;

  constructor(opts: TrackerOptions) {
    this.log = opts.logger.child({ subsystem: 'tracker' });
    this.now = opts.now ?? Date.now;
    this.server = new Server({
      http: false,
      udp: false,
      ws: false,
      stats: false,
      interval: opts.intervalMs ?? 30_000,
      filter: (infoHash, _params, cb) => cb(opts.known(infoHash) ? null : new Error('unknown torrent: this tracker serves only imgsrv images')),
    });
    this.server.on('warning', (err: Error) => {
      this.warnings++;
      this.log.debug({ err: err.message }, 'announce refused');
    });
    for (const event of ['start', 'update', 'complete', 'stop'] as const) {
      this.server.on(event, (_addr: string, params: AnnounceParams) => this.record(event, params));
    }
  }

  /** Hand an HTTP request for /announce or /scrape to the tracker (it writes the bencoded reply). */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.server.onHttpRequest(req, res);
  }

  private record(event: string, p: AnnounceParams): void {
    let swarm = this.peers.get(p.info_hash);
    if (!swarm) this.peers.set(p.info_hash, (swarm = new Map()));
    const key = `${p.ip}:${p.port}`;
    if (event === 'stop') {
      swarm.delete(key);
      return;
    }
    swarm.set(key, { ip: p.ip, port: p.port, peerId: p.peer_id, uploaded: p.uploaded, downloaded: p.downloaded, left: p.left, event, at: this.now() });
  }

  /** The swarm as the tracker sees it; peers silent for three intervals are left out. */
  swarm(infoHash: string): TrackerSwarmState {
    const s = this.server.torrents[infoHash];
    const cutoff = this.now() - 3 * this.server.intervalMs;
    const peers = [...(this.peers.get(infoHash)?.values() ?? [])].filter((p) => p.at >= cutoff);
    return { complete: s?.complete ?? 0, incomplete: s?.incomplete ?? 0, peers };
  }

  /** The announce interval we give clients (ms). */
  get intervalMs(): number {
    return this.server.intervalMs;
  }

  /** Forget a swarm (its image version was removed). */
  forget(infoHash: string): void {
    this.peers.delete(infoHash);
    delete this.server.torrents[infoHash];
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
