/**
 * Token buckets on the work one source may ask of the DHCP server, so that a
 * broken or hostile host can't take all of it (issue 25: 50,000 DISCOVERs
 * from invented MACs). Each limit is a bucket of `burst` tokens refilling at
 * `rate` per second; a packet takes a token from each bucket it counts
 * against, or is dropped (and takes none) if one is empty:
 *  - per client MAC (chaddr): one chatty client;
 *  - per ingress (a relay by its giaddr, or the local segment), every packet;
 *  - per ingress, new clients: packets from MACs that hold nothing with us
 *    (no binding on record, no offer). This is what a flood of invented MACs
 *    hits, and each of its packets asks for real work (a pool scan, an offer
 *    or a binding, a node sighting, a reply), so its steady rate is low and
 *    its burst a rack powering on. Clients we know are not held back by it;
 *  - in total: chaddr and giaddr are whatever the sender writes, and a sender
 *    that invents both gets fresh buckets for each; this one holds it.
 * Pure: the clock is an argument (the server passes a monotonic one).
 */

/** One bucket: `rate` tokens per second, holding at most `burst`. */
export interface Rate {
  rate: number;
  burst: number;
}

/** The limits (see the module comment). */
export interface DhcpLimits {
  perMac: Rate;
  perIngress: Rate;
  newClients: Rate;
  total: Rate;
}

/**
 * Defaults. Per MAC: a PXE boot (ROM, iPXE, the node's own client) sends a
 * dozen packets over tens of seconds. New clients: a rack of 1,000 powering
 * on at once fits the burst, with room for retransmits, and 200/s is well
 * under what the server decides per second with its SQLite store, so a flood
 * leaves it time for everyone else. Per ingress: that rack's DISCOVERs,
 * REQUESTs, and its reboot right after, inside the burst. In total: about
 * what the server can decide.
 */
export const DEFAULT_LIMITS: DhcpLimits = {
  perMac: { rate: 1, burst: 10 },
  perIngress: { rate: 2000, burst: 5000 },
  newClients: { rate: 200, burst: 1500 },
  total: { rate: 5000, burst: 10_000 },
};

/** Which limit a dropped packet hit. */
export type LimitName = 'mac' | 'new-client' | 'ingress' | 'total';

/** What the limiter needs to know of a packet. */
export interface PacketSource {
  mac: string;
  /** 'local', or the relay's giaddr. */
  ingress: string;
  /** The MAC holds nothing with us: no binding on record, no offer. */
  newClient: boolean;
}

/** Buckets by key; at most `max` remembered (the least recently used is forgotten, i.e. refilled). */
class Buckets {
  private readonly m = new Map<string, { tokens: number; at: number }>();
  private readonly rate: Rate;
  private readonly max: number;

  constructor(rate: Rate, max: number) {
    this.rate = rate;
    this.max = max;
  }

  /** Tokens in `key`'s bucket at `now` (ms). */
  level(key: string, now: number): number {
    const b = this.m.get(key);
    if (!b) return this.rate.burst;
    return Math.min(this.rate.burst, b.tokens + ((now - b.at) / 1000) * this.rate.rate);
  }

  /** Take one token from `key`'s bucket (its level must be ≥ 1). */
  take(key: string, now: number): void {
    const tokens = this.level(key, now) - 1;
    this.m.delete(key); // re-inserted last: Map order is recency
    this.m.set(key, { tokens, at: now });
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value as string);
  }

  get size(): number {
    return this.m.size;
  }
}

/** The admission check in front of the DHCP handler. */
export class DhcpRateLimiter {
  private readonly mac: Buckets;
  private readonly ingress: Buckets;
  private readonly newClients: Buckets;
  private readonly total: Buckets;

  /**
   * `trackedMacs` bounds the MACs remembered (memory under a flood of invented
   * ones). Forgetting one refills its bucket; with the default limits a MAC is
   * forgotten only after 10,000 others were admitted, which the limits spread
   * over 10 s or more: as long as its bucket takes to refill anyway.
   */
  constructor(limits: DhcpLimits = DEFAULT_LIMITS, trackedMacs = 10_000) {
    this.mac = new Buckets(limits.perMac, trackedMacs);
    this.ingress = new Buckets(limits.perIngress, 1024);
    this.newClients = new Buckets(limits.newClients, 1024);
    this.total = new Buckets(limits.total, 1);
  }

  /** Admit a packet (taking its tokens) and return undefined, or name the limit it exceeds. */
  admit(p: PacketSource, now: number): LimitName | undefined {
    if (this.mac.level(p.mac, now) < 1) return 'mac';
    if (p.newClient && this.newClients.level(p.ingress, now) < 1) return 'new-client';
    if (this.ingress.level(p.ingress, now) < 1) return 'ingress';
    if (this.total.level('', now) < 1) return 'total';
    this.mac.take(p.mac, now);
    if (p.newClient) this.newClients.take(p.ingress, now);
    this.ingress.take(p.ingress, now);
    this.total.take('', now);
    return undefined;
  }

  /** How many MACs the limiter remembers (at most `trackedMacs`). */
  get macsRemembered(): number {
    return this.mac.size;
  }
}
