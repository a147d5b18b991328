/**
 * The node's web seed in 'fallback' mode (download.ts): held back while the
 * swarm delivers, added when it has given nothing for a while (tracker or
 * seeder down, no peers), and dropped again once the server's seeder sends
 * pieces, so that after a server restart or a network cut the server's
 * upload policy applies again instead of every node that fell back pulling
 * the rest of the image over uncapped HTTP.
 */
import type { Torrent } from 'webtorrent';
import type { Logger } from '../core/log.ts';

const hostOf = (url: string): string => new URL(url).hostname.replace(/^\[|\]$/g, '');

/** Adds and drops the torrent's held-back web seeds. */
export class WebSeedFallback {
  readonly #torrent: Torrent;
  readonly #log: Logger;
  readonly #afterMs: number;
  /** Held back until the swarm stalls. */
  #reserve: string[];
  /** In use since the swarm stalled. */
  #active: string[] = [];
  #lastBytes = 0;
  #lastBytesAt = Date.now();

  constructor(torrent: Torrent, urls: string[], afterMs: number, log: Logger) {
    this.#torrent = torrent;
    this.#reserve = [...urls];
    this.#afterMs = afterMs;
    this.#log = log;
  }

  /** Called every second with the bytes received so far: add the web seeds once nothing came for `afterMs`. */
  tick(bytes: number, peers: number): void {
    const now = Date.now();
    if (bytes !== this.#lastBytes) [this.#lastBytes, this.#lastBytesAt] = [bytes, now];
    const t = this.#torrent;
    if (this.#reserve.length === 0 || t.done || t.destroyed || now - this.#lastBytesAt < this.#afterMs) return;
    this.#log.warn({ stalledMs: now - this.#lastBytesAt, peers }, 'no bytes from the swarm: adding the web seed');
    for (const url of this.#reserve.splice(0)) {
      t.addWebSeed(url);
      this.#active.push(url);
    }
  }

  /** Called when a BitTorrent peer at `address` sent payload: from the web seed's host, that is the server's seeder. */
  peerSent(address: string | undefined): void {
    if (this.#active.length === 0 || address === undefined || this.#torrent.destroyed) return;
    const ip = address.replace(/^::ffff:/, '');
    const back = this.#active.filter((url) => hostOf(url) === ip);
    if (back.length === 0) return;
    this.#active = this.#active.filter((url) => !back.includes(url));
    for (const url of back) this.#torrent.removePeer(url);
    this.#reserve.push(...back);
    this.#log.info({ seeder: ip }, "the server's seeder is sending again: dropping the web seed");
  }
}
