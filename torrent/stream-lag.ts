/**
 * How far the restore trails the download: the bytes verified but not yet
 * handed to the in-order reader (the backlog), the largest backlog, and the
 * seconds from the download's last piece to the restore's end. Pure
 * bookkeeping over a clock; SwarmDownload feeds it from webtorrent's
 * `verified` events and the in-order stream's pushes.
 */

/** The lag figures of one node, as its reports carry them (contract/report.ts). */
export interface StreamLagReport {
  /** Bytes verified and not yet handed to the restore, now. */
  backlog: number;
  /** The largest backlog seen so far. */
  maxBacklog: number;
  /** The backlog when the download ended (null until it did). */
  atDownloadEnd: number | null;
  /** Seconds from the download's end to the restore's end (null until both ended). */
  seconds: number | null;
}

/** Backlog and end-to-end lag of one download and its in-order reader. */
export class StreamLag {
  readonly #now: () => number;
  #verified = 0;
  #consumed = 0;
  #max = 0;
  #downloadEnd: number | null = null;
  #atDownloadEnd: number | null = null;
  #restoreEnd: number | null = null;

  /** `now` in milliseconds (default performance.now). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** `bytes` more are verified (a piece, or the pieces a resumed download already held). */
  verified(bytes: number): void {
    this.#verified += bytes;
    this.#max = Math.max(this.#max, this.backlog);
  }

  /** `bytes` more were handed to the restore, in order. */
  consumed(bytes: number): void {
    this.#consumed += bytes;
  }

  /** The last piece verified (only the first call counts). */
  downloadEnded(): void {
    if (this.#downloadEnd !== null) return;
    this.#downloadEnd = this.#now();
    this.#atDownloadEnd = this.backlog;
  }

  /** The restore has everything it needs; a later call (the unpack's own end after the stream's) moves the end. */
  restoreEnded(): void {
    this.#restoreEnd = this.#now();
  }

  /** Bytes verified and not yet consumed. */
  get backlog(): number {
    return Math.max(0, this.#verified - this.#consumed);
  }

  /** The figures so far. */
  report(): StreamLagReport {
    const seconds = this.#downloadEnd !== null && this.#restoreEnd !== null ? Math.max(0, this.#restoreEnd - this.#downloadEnd) / 1000 : null;
    return { backlog: this.backlog, maxBacklog: this.#max, atDownloadEnd: this.#atDownloadEnd, seconds: seconds === null ? null : Math.round(seconds * 1000) / 1000 };
  }
}
