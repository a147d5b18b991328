/**
 * The swarm as one service of `imgsrv serve`: keeps the catalogue of
 * torrents in step with the image store, seeds every published version,
 * runs the embedded tracker, records what nodes report, and answers "is
 * this deployment done?" so finished nodes know when to stop seeding. While
 * a version has nodes downloading it, it is locked against `images rm`.
 */
import { Gauge, type Registry } from 'prom-client';
import type { ImageLocks } from '../images/locks.ts';
import type { ImageStore } from '../images/store.ts';
import type { Logger } from '../../core/log.ts';
import { SwarmCatalog, type SwarmEntry } from './catalog.ts';
import { Seeder, type SeederStats } from '../../torrent/seeder.ts';
import { Tracker, type PeerAnnounce } from '../../torrent/tracker.ts';

import type { NodeSwarmReport } from '../../contract/report.ts';

export type { NodeSwarmReport };

/** One swarm as the API shows it. */
export interface SwarmView {
  image: string;
  version: number;
  infoHash: string;
  length: number;
  pieceLength: number;
  torrent: string;
  webSeed: string;
  seeders: number;
  leechers: number;
  done: boolean;
  server: Omit<SeederStats, 'infoHash' | 'peers'> & { peers: number };
  peers: Array<PeerAnnounce & { mac?: string }>;
  nodes: Array<NodeSwarmReport & { mac: string; at: number }>;
}

/** Options for the swarm service. */
export interface SwarmServiceOptions {
  torrentsDir: string;
  images: ImageStore;
  locks: ImageLocks;
  address: string;
  httpBase: string;
  torrentPort: number;
  rsyncPort: number;
  uploadLimit: number;
  /** See SeederOptions.superSeed (default true). */
  superSeed?: boolean;
  settleSeconds: number;
  /** The inventory's MAC by IP, to name peers in the view (read once per view). */
  macsByIp?: () => Map<string, string>;
  logger: Logger;
  registry?: Registry;
  refreshMs?: number;
  trackerIntervalMs?: number;
  now?: () => number;
}

const LOCK_HOLDER = 'swarm';
/** A node report older than this is no longer shown. */
const REPORT_FRESH_MS = 60_000;
/** A node that reported a partial download this recently counts as a leecher (nodes report every few seconds). */
const LEECHER_REPORT_MS = 20_000;

/** The running swarm side of the server. */
export class SwarmService {
  readonly tracker: Tracker;
  readonly seeder: Seeder;
  private readonly catalog: SwarmCatalog;
  private readonly entries = new Map<string, SwarmEntry>();
  private readonly byVersion = new Map<string, string>();
  private readonly reports = new Map<string, NodeSwarmReport & { mac: string; at: number }>();
  /** Last time each swarm had a leecher (or when we started seeding it). */
  private readonly lastLeecher = new Map<string, number>();
  private readonly opts: SwarmServiceOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  private constructor(opts: SwarmServiceOptions, seeder: Seeder) {
    this.opts = opts;
    this.log = opts.logger.child({ subsystem: 'swarm' });
    this.now = opts.now ?? Date.now;
    this.seeder = seeder;
    this.catalog = new SwarmCatalog({ torrentsDir: opts.torrentsDir, images: opts.images, httpBase: opts.httpBase });
    this.tracker = new Tracker({ known: (h) => this.entries.has(h), logger: opts.logger, intervalMs: opts.trackerIntervalMs ?? 15_000, now: this.now });
    if (opts.registry) this.registerMetrics(opts.registry);
  }

  /**
   * Start the seeder's listener and the tracker; nothing is seeded until
   * `activate`, which must come once HTTP listens: the seeder announces
   * itself to our own tracker, and a refused first announce would otherwise
   * be retried only after the client's long default interval.
   */
  static async create(opts: SwarmServiceOptions): Promise<SwarmService> {
    const seeder = await Seeder.start({ address: opts.address, port: opts.torrentPort, uploadLimit: opts.uploadLimit, superSeed: opts.superSeed ?? true, logger: opts.logger });
    return new SwarmService(opts, seeder);
  }

  /** Build the catalogue, seed every published version, and keep in step with the store. */
  async activate(): Promise<void> {
    await this.refresh();
    this.timer ??= setInterval(() => void this.refresh().catch((err: unknown) => this.log.error({ err }, 'swarm refresh failed')), this.opts.refreshMs ?? 5000);
    this.timer.unref();
  }

  /** The rsync URL nodes fetch a version's torrent from. */
  torrentUrl(image: string, version: number): string {
    const port = this.opts.rsyncPort === 873 ? '' : `:${this.opts.rsyncPort}`;
    return `rsync://${this.opts.address}${port}/torrents/${image}/${version}.torrent`;
  }

  /** Bring the catalogue and the seeder in line with the store (new versions seeded, removed ones dropped); also settles locks. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const live = new Set<string>();
    for (const { image, version } of this.catalog.published()) {
      const key = `${image}@${version}`;
      live.add(key);
      if (this.byVersion.has(key)) continue;
      try {
        const entry = await this.catalog.prepare(image, version);
        this.entries.set(entry.infoHash, entry);
        this.byVersion.set(key, entry.infoHash);
        this.lastLeecher.set(entry.infoHash, this.now());
        await this.seeder.add({ image, version, infoHash: entry.infoHash, torrentFile: entry.torrentFile, artifact: entry.artifact, length: entry.length });
      } catch (err) {
        this.log.error({ err, image: key }, 'cannot seed image version');
      }
    }
    for (const [key, hash] of [...this.byVersion]) {
      if (live.has(key)) continue;
      const e = this.entries.get(hash)!;
      this.byVersion.delete(key);
      this.entries.delete(hash);
      await this.seeder.remove(hash);
      this.tracker.forget(hash);
      this.catalog.drop(e.image, e.version);
      this.log.info({ image: key }, 'stopped seeding removed version');
    }
    this.settleLocks();
  }

  /** Lock versions that nodes are downloading; unlock them when their swarm is done. */
  private settleLocks(): void {
    for (const e of this.entries.values()) {
      const v = this.view(e);
      if (v.leechers > 0) this.opts.locks.acquire(e.image, e.version, LOCK_HOLDER, `${v.leechers} node(s) downloading`);
      else if (v.done) this.opts.locks.release(e.image, e.version, LOCK_HOLDER);
    }
  }

  /** Record a node's progress report. */
  report(mac: string, r: NodeSwarmReport): void {
    this.reports.set(mac, { ...r, mac, at: this.now() });
    if (r.progress < 1) this.lastLeecher.set(r.infoHash, this.now());
  }

  /** The latest report of a node, if it is fresh. */
  nodeReport(mac: string): (NodeSwarmReport & { at: number }) | undefined {
    const r = this.reports.get(mac);
    return r && this.now() - r.at < REPORT_FRESH_MS ? r : undefined;
  }

  /** Entry by info hash or by NAME@VERSION. */
  entry(infoHashOrKey: string): SwarmEntry | undefined {
    return this.entries.get(infoHashOrKey) ?? this.entries.get(this.byVersion.get(infoHashOrKey) ?? '');
  }

  /** Every swarm. */
  list(): SwarmView[] {
    return [...this.entries.values()].map((e) => this.view(e));
  }

  /** One swarm's state; leechers are peers (other than our seeder) with bytes left, by the tracker or by a fresh node report. */
  view(e: SwarmEntry): SwarmView {
    const now = this.now();
    const t = this.tracker.swarm(e.infoHash);
    const self = (p: PeerAnnounce) => p.ip === this.opts.address && p.port === this.seeder.port;
    const macs = this.opts.macsByIp?.() ?? new Map<string, string>();
    const peers = t.peers.filter((p) => !self(p)).map((p): PeerAnnounce & { mac?: string } => {
      const mac = macs.get(p.ip);
      return mac ? { ...p, mac } : p;
    });
    const nodes = [...this.reports.values()].filter((r) => r.infoHash === e.infoHash && now - r.at < REPORT_FRESH_MS);
    // A leecher the tracker heard from lately, or one our seeder is still connected to: a node that
    // lost power stops counting after ~1.5 announce intervals instead of the tracker's 3.
    const s = this.seeder.stats(e.infoHash);
    const connected = new Set(s?.peers.map((p) => p.ip));
    const recent = 1.5 * this.tracker.intervalMs;
    const leecherKeys = new Set(peers.filter((p) => p.left > 0 && (now - p.at < recent || connected.has(p.ip))).map((p) => p.mac ?? p.ip));
    for (const n of nodes) if (n.progress < 1 && now - n.at < LEECHER_REPORT_MS) leecherKeys.add(n.mac);
    const seeders = peers.filter((p) => p.left === 0).length;
    if (leecherKeys.size > 0) this.lastLeecher.set(e.infoHash, now);
    const quietFor = now - (this.lastLeecher.get(e.infoHash) ?? now);
    return {
      image: e.image,
      version: e.version,
      infoHash: e.infoHash,
      length: e.length,
      pieceLength: e.pieceLength,
      torrent: this.torrentUrl(e.image, e.version),
      webSeed: e.webSeed,
      seeders,
      leechers: leecherKeys.size,
      done: leecherKeys.size === 0 && quietFor >= this.opts.settleSeconds * 1000,
      server: { uploaded: s?.uploaded ?? 0, uploadSpeed: s?.uploadSpeed ?? 0, served: s?.served ?? { rare: 0, common: 0 }, queued: s?.queued ?? 0, peers: s?.peers.length ?? 0 },
      peers,
      nodes,
    };
  }

  private registerMetrics(registry: Registry): void {
    const svc = this;
    new Gauge({
      name: 'imgsrv_swarm_server_uploaded_bytes',
      help: 'Bytes the server seeded per image version (since start)',
      labelNames: ['image'],
      registers: [registry],
      collect() {
        this.reset();
        for (const e of svc.entries.values()) this.set({ image: `${e.image}@${e.version}` }, svc.seeder.stats(e.infoHash)?.uploaded ?? 0);
      },
    });
    new Gauge({
      name: 'imgsrv_swarm_peers',
      help: 'Peers in each swarm by state',
      labelNames: ['image', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const e of svc.entries.values()) {
          const v = svc.view(e);
          this.set({ image: `${e.image}@${e.version}`, state: 'seeder' }, v.seeders);
          this.set({ image: `${e.image}@${e.version}`, state: 'leecher' }, v.leechers);
        }
      },
    });
  }

  /** Stop seeding and the refresh timer (locks stay: a restart resumes them). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.refreshing?.catch(() => undefined);
    await this.seeder.stop();
    await this.tracker.close();
  }
}
