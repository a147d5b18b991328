/**
 * The server's seeder: one webtorrent client (TCP, bound to the netboot
 * address) seeding every deployable image version from its artifact, with
 * the upload policy (cap + rarest first) applied per image. The pieces are
 * trusted without re-hashing (`skipVerify`): they were hashed from these
 * very bytes while packing, and `imgsrv images verify` re-checks both.
 */
import type WebTorrent from 'webtorrent';
import type { Torrent } from 'webtorrent';
import type { Logger } from '../core/log.ts';
import { ArtifactStore } from './artifact-store.ts';
import { RevealPolicy, revealAhead } from './reveal-policy.ts';
import { UploadPolicy } from './upload-policy.ts';
import { destroyClient, seederPeerId, UNCHOKE_ALL } from './client.ts';
import { createBoundClient, patchSeederTorrent } from './webtorrent/index.ts';

/** One image version to seed. */
export interface SeedItem {
  image: string;
  version: number;
  infoHash: string;
  torrentFile: Buffer;
  artifact: string;
  length: number;
}

/** A peer connected to the seeder. */
export interface SeederPeer {
  ip: string;
  port: number;
  /** Bytes we sent it / it sent us. */
  uploaded: number;
  downloaded: number;
  /** Share of the pieces it has (0-1). */
  progress: number;
}

/** What the seeder knows about one torrent. */
export interface SeederStats {
  infoHash: string;
  uploaded: number;
  uploadSpeed: number;
  peers: SeederPeer[];
  served: { rare: number; common: number };
  queued: number;
}

/** Options: address/port to listen on, and the per-image upload cap in bytes/s (0 = none). */
export interface SeederOptions {
  address: string;
  port: number;
  uploadLimit: number;
  /** Reveal pieces a few at a time, fewest copies first (reveal-policy.ts), instead of announcing all. */
  superSeed: boolean;
  logger: Logger;
}

interface Seeded {
  item: SeedItem;
  torrent: Torrent;
  policy: UploadPolicy;
  reveal: RevealPolicy | undefined;
  /** Bytes uploaded by earlier incarnations of the client (restart keeps the totals). */
  carried: number;
}

/** The webtorrent seeder behind a small interface. */
export class Seeder {
  private client: WebTorrent | undefined;
  private readonly seeded = new Map<string, Seeded>();
  private readonly opts: SeederOptions;
  private readonly log: Logger;

  private constructor(opts: SeederOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ subsystem: 'seeder' });
  }

  /** Start listening (throws if the port is taken). */
  static async start(opts: SeederOptions): Promise<Seeder> {
    const s = new Seeder(opts);
    s.client = await s.newClient();
    return s;
  }

  private async newClient(): Promise<WebTorrent> {
    const client = await createBoundClient({ address: this.opts.address, port: this.opts.port, webSeeds: false, maxConns: 500, peerId: seederPeerId() });
    client.on('error', (err: Error) => this.log.error({ err: err.message }, 'seeder error'));
    this.log.info({ address: this.opts.address, port: client.torrentPort }, 'seeder listening');
    return client;
  }

  /** The TCP port peers connect to. */
  get port(): number {
    return this.client?.torrentPort ?? 0;
  }

  /** Seed `item` (no-op if already seeded). Resolves once the torrent is ready to serve. */
  async add(item: SeedItem, carried = 0): Promise<void> {
    const client = this.client;
    if (!client || this.seeded.has(item.infoHash)) return;
    const policy = new UploadPolicy({ rate: this.opts.uploadLimit });
    const torrent = client.add(item.torrentFile, {
      skipVerify: true,
      store: ArtifactStore,
      storeOpts: { file: item.artifact },
      // Our seeder needs no pieces from anyone: choke seeders, never download.
      alwaysChokeSeeders: true,
      // Every node that asks is unchoked: the upload policy shares the cap. webtorrent's default
      // (10 slots, re-chosen every 10 s by tit-for-tat) left 6 of 16 nodes choked for 10 s at a
      // time, holding pieces the reveal policy had shown them alone.
      uploads: UNCHOKE_ALL,
    } as Parameters<WebTorrent['add']>[1]);
    const entry: Seeded = { item, torrent, policy, reveal: undefined, carried };
    // Every webtorrent patch of the seeder, in the order webtorrent/index.ts states: duplicate
    // connections closed, then on each new wire the reveal policy (super-seed) and the upload policy.
    const reveal = (): RevealPolicy | undefined =>
      this.opts.superSeed ? (entry.reveal ??= new RevealPolicy({ pieces: torrent.pieces.length, ahead: revealAhead(torrent.pieceLength) })) : undefined;
    patchSeederTorrent(torrent, { peerId: client.peerId, uploads: policy, reveal });
    torrent.on('error', (err: Error) => this.log.error({ err: err.message, infoHash: item.infoHash }, 'torrent error'));
    this.seeded.set(item.infoHash, entry);
    await new Promise<void>((resolve, reject) => {
      if (torrent.ready) return resolve();
      torrent.once('ready', () => resolve());
      torrent.once('error', reject);
    });
    this.log.info({ image: `${item.image}@${item.version}`, infoHash: item.infoHash }, 'seeding');
  }

  /** Stop seeding one torrent (the artifact is untouched). */
  async remove(infoHash: string): Promise<void> {
    const s = this.seeded.get(infoHash);
    if (!s) return;
    this.seeded.delete(infoHash);
    s.policy.destroy();
    s.reveal?.destroy();
    await this.client?.remove(s.torrent, { destroyStore: false });
  }

  /** Info hashes being seeded. */
  infoHashes(): string[] {
    return [...this.seeded.keys()];
  }

  /** Change the per-image cap at runtime. */
  setUploadLimit(bytesPerSecond: number): void {
    this.opts.uploadLimit = bytesPerSecond;
    for (const s of this.seeded.values()) s.policy.setRate(bytesPerSecond);
  }

  /** Counters and connected peers of one torrent. */
  stats(infoHash: string): SeederStats | undefined {
    const s = this.seeded.get(infoHash);
    if (!s) return undefined;
    const t = s.torrent;
    const pieces = t.pieces.length || 1;
    const peers = t.wires
      .filter((w) => !w.destroyed)
      .map((w) => {
        let have = 0;
        for (let i = 0; i < t.pieces.length; i++) if (w.peerPieces.get(i)) have++;
        return { ip: w.remoteAddress, port: w.remotePort, uploaded: w.uploaded, downloaded: w.downloaded, progress: have / pieces };
      });
    return { infoHash, uploaded: s.carried + t.uploaded, uploadSpeed: t.uploadSpeed, peers, served: { ...s.policy.served }, queued: s.policy.queued };
  }

  /**
   * Restart the BitTorrent side (new client, same port, same torrents): what
   * an operator does after a network change, and what the fault tests do to
   * check that nodes carry on from peers and the web seed meanwhile.
   */
  async restart(pauseMs = 0): Promise<void> {
    const items = [...this.seeded.values()].map((s) => ({ item: s.item, carried: s.carried + s.torrent.uploaded }));
    await this.closeClient();
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    this.client = await this.newClient();
    for (const { item, carried } of items) await this.add(item, carried);
  }

  private async closeClient(): Promise<void> {
    for (const s of this.seeded.values()) {
      s.policy.destroy();
      s.reveal?.destroy();
    }
    this.seeded.clear();
    const c = this.client;
    this.client = undefined;
    if (c) await destroyClient(c);
  }

  /** Stop seeding everything and close the listener. */
  async stop(): Promise<void> {
    await this.closeClient();
  }
}
