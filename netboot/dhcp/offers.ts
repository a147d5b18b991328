/**
 * OFFERs held in memory, oldest first. An offer is tentative (RFC 2131
 * §4.3.1: the server "need not" reserve it, and a client must REQUEST before
 * it holds anything), so it is never written to the lease store: a flood of
 * DISCOVERs from invented MACs costs no disk write, and a restart that loses
 * the book costs a client one more round trip at most. One entry per
 * address, so the book is never larger than the pool.
 */

/** An address offered to a MAC and held for it until `expiresAt`. */
export interface HeldOffer {
  mac: string;
  ip: string;
  expiresAt: number /* ms since epoch */;
  /**
   * The MAC has REQUESTed from us before (a binding of it, live, lapsed or
   * released, is on record): such an offer is never reclaimed while it lasts.
   */
  known: boolean;
  hostname?: string;
}

/** The held offers, by address and by MAC, in the order they were last made. */
export class OfferBook {
  /** Map order is age order: `put` re-inserts, so the first entry is the least recently offered. */
  private readonly byIp = new Map<string, HeldOffer>();
  private readonly byMac = new Map<string, string>();

  /** The live offer of `ip`, if any. */
  get(ip: string, now: number): HeldOffer | undefined {
    const o = this.byIp.get(ip);
    return o && o.expiresAt > now ? o : undefined;
  }

  /** The live offer made to `mac`, if any. */
  ofMac(mac: string, now: number): HeldOffer | undefined {
    const ip = this.byMac.get(mac);
    return ip === undefined ? undefined : this.get(ip, now);
  }

  /** Hold `o`, replacing any offer of the same address or to the same MAC; it becomes the newest. */
  put(o: HeldOffer): void {
    this.delete(o.ip);
    const old = this.byMac.get(o.mac);
    if (old !== undefined) this.delete(old);
    this.byIp.set(o.ip, { ...o });
    this.byMac.set(o.mac, o.ip);
  }

  /** Drop the offer of `ip`; returns it (live or not). */
  delete(ip: string): HeldOffer | undefined {
    const o = this.byIp.get(ip);
    if (!o) return undefined;
    this.byIp.delete(ip);
    if (this.byMac.get(o.mac) === ip) this.byMac.delete(o.mac);
    return o;
  }

  /** Every held offer, live or lapsed, least recently made first. */
  oldestFirst(): IterableIterator<HeldOffer> {
    return this.byIp.values();
  }

  /** How many offers are live at `now`. */
  live(now: number): number {
    let n = 0;
    for (const o of this.byIp.values()) if (o.expiresAt > now) n++;
    return n;
  }
}
