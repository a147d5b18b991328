/**
 * Lease allocation for full-mode DHCP (RFC 2131 §4.3) over a narrow,
 * synchronous `LeaseStore` (SQLite in the server, memory in tests). The store
 * holds one row per address, so an address can never belong to two MACs; it
 * holds what a client asked for (bindings, declines, releases), while offers
 * stay in memory (offers.ts).
 */
import { OfferBook, type HeldOffer } from './offers.ts';
import { intToIp, ipToInt } from './options.ts';

/** One address's state. A declined address carries mac 'declined'. The store sees no 'offered' rows but those an older version wrote. */
export interface Lease {
  mac: string;
  ip: string;
  state: 'offered' | 'bound' | 'declined' | 'released';
  expiresAt: number /* ms since epoch */;
  hostname?: string;
}

/** A fixed MAC → address binding set by the operator. */
export interface Reservation {
  mac: string;
  ip: string;
  hostname?: string;
}

/** Synchronous lease storage; the server implements it in SQLite. */
export interface LeaseStore {
  /** The MAC's newest row. */
  byMac(mac: string): Lease | undefined;
  /** Every row of the MAC (one per subnet it was served on). */
  leasesOf(mac: string): Lease[];
  byIp(ip: string): Lease | undefined;
  all(): Lease[];
  upsert(lease: Lease): void; // keyed by ip (one row per address; a declined address has a mac like 'declined')
  remove(ip: string): void;
  /** Called for every candidate address: keep it cheap (the SQLite store answers from memory). */
  reservations(): readonly Reservation[];
}

/** In-memory LeaseStore for tests and for `--dhcp` runs without a state store. */
export class MemoryLeaseStore implements LeaseStore {
  private readonly rows = new Map<string, Lease>();
  private readonly macs = new Map<string, string>();
  private readonly reserved: Reservation[];

  constructor(reservations: Reservation[] = [], leases: Lease[] = []) {
    this.reserved = reservations;
    for (const l of leases) this.upsert(l);
  }
  byMac(mac: string): Lease | undefined {
    const ip = this.macs.get(mac);
    return ip === undefined ? undefined : this.rows.get(ip);
  }
  byIp(ip: string): Lease | undefined {
    return this.rows.get(ip);
  }
  leasesOf(mac: string): Lease[] {
    return [...this.rows.values()].filter((l) => l.mac === mac);
  }
  all(): Lease[] {
    return [...this.rows.values()];
  }
  upsert(lease: Lease): void {
    const old = this.rows.get(lease.ip);
    if (old && this.macs.get(old.mac) === lease.ip) this.macs.delete(old.mac);
    this.rows.set(lease.ip, { ...lease });
    this.macs.set(lease.mac, lease.ip);
  }
  remove(ip: string): void {
    const old = this.rows.get(ip);
    if (old && this.macs.get(old.mac) === ip) this.macs.delete(old.mac);
    this.rows.delete(ip);
  }
  reservations(): readonly Reservation[] {
    return this.reserved;
  }
}

/** Timing policy of the pool. */
export interface PoolTimes {
  /** Lease length granted on ACK. */
  leaseMs: number;
  /** How long an OFFER holds an address before someone else may get it (RFC 2131 §4.3.1 "reasonable"). */
  offerMs?: number;
  /** How long a DECLINEd address stays unusable (RFC 2131 §4.3.3). */
  quarantineMs?: number;
}

/** Outcome of a DHCPREQUEST (RFC 2131 §4.3.2). */
export type RequestOutcome = { kind: 'ack'; lease: Lease } | { kind: 'nak'; why: string } | { kind: 'ignore'; why: string };

/** The state a DHCPREQUEST reveals, per RFC 2131 §4.3.2. */
export type RequestState = 'selecting' | 'init-reboot' | 'renewing';

/** An OFFER's address; `reclaimedFrom` names the MAC whose unrequested offer of it was withdrawn. */
export type Offer = Lease & { reclaimedFrom?: string };

/**
 * Address allocation over a LeaseStore and an inclusive range. Bindings
 * (and declines, releases) live in the store; offers live in an OfferBook
 * in memory, and when the pool is full the oldest offer that was never
 * REQUESTed gives way to the next DISCOVER (a host inventing MACs fills the
 * pool with offers nobody will take up; the client that retries must not
 * wait for them to lapse).
 */
export class LeasePool {
  private readonly first: number;
  private readonly last: number;
  private readonly offerMs: number;
  private readonly quarantineMs: number;
  private cursor: number;
  private readonly store: LeaseStore;
  private readonly subnet: { address: string; prefix: number };
  private readonly leaseMs: number;
  private readonly exclude: Set<string>;
  private readonly book = new OfferBook();
  /**
   * Set when a scan of the range found nothing free: until `until` (the first
   * moment something that blocked it lapses) the next scan would find nothing
   * either, unless this pool freed an address itself (which clears it) or the
   * reservations changed. It spares a full pool one store read per address
   * for every DISCOVER of a flood.
   */
  private full: { until: number; reservations: readonly Reservation[] } | undefined;
  /**
   * MACs with a binding on record (live, lapsed or released): read from the
   * store at first use, then kept by this pool, the store's only writer. The
   * rate limiter asks about every packet of a flood, so the answer must not
   * cost a query.
   */
  private known: Set<string> | undefined;

  /** `exclude` lists addresses inside the range that must never be leased (our own, the router's). */
  constructor(
    store: LeaseStore,
    range: { first: string; last: string },
    subnet: { address: string; prefix: number },
    times: PoolTimes,
    exclude: string[] = [],
  ) {
    this.store = store;
    this.exclude = new Set(exclude);
    this.subnet = subnet;
    this.leaseMs = times.leaseMs;
    this.first = ipToInt(range.first);
    this.last = ipToInt(range.last);
    if (this.last < this.first) throw new RangeError(`range ${range.first}-${range.last} is empty`);
    this.offerMs = times.offerMs ?? 30_000;
    this.quarantineMs = times.quarantineMs ?? 10 * 60_000;
    this.cursor = this.first;
  }

  /** Whether an address lies in our subnet (NAK anything outside, RFC 2131 §4.3.2 "incorrect network"). */
  inSubnet(ip: string): boolean {
    const mask = this.subnet.prefix === 0 ? 0 : (~0 << (32 - this.subnet.prefix)) >>> 0;
    return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(this.subnet.address) & mask) >>> 0);
  }

  private inRange(ip: string): boolean {
    const n = ipToInt(ip);
    return n >= this.first && n <= this.last;
  }

  private reservationOf(mac: string): Reservation | undefined {
    return this.store.reservations().find((r) => r.mac === mac);
  }

  private reservedFor(ip: string): string | undefined {
    return this.store.reservations().find((r) => r.ip === ip)?.mac;
  }

  /**
   * When `mac` may take `ip`: -Infinity for now, Infinity for never (excluded,
   * reserved for another, outside the range), else when what holds it lapses.
   * With `yieldTentative`, another MAC's offer that was never REQUESTed holds nothing.
   */
  private freeAt(mac: string, ip: string, now: number, yieldTentative: boolean): number {
    if (this.exclude.has(ip)) return Infinity;
    const owner = this.reservedFor(ip);
    if (owner !== undefined && owner !== mac) return Infinity;
    if (owner === undefined && !this.inRange(ip)) return Infinity;
    const held = this.book.get(ip, now);
    const heldUntil = held && held.mac !== mac && (held.known || !yieldTentative) ? held.expiresAt : -Infinity;
    const row = this.store.byIp(ip);
    const rowUntil = !row || row.state === 'released' || (row.mac === mac && row.state !== 'declined') ? -Infinity : row.expiresAt;
    return Math.max(heldUntil, rowUntil);
  }

  /** Whether `mac` may take `ip` now: nobody else holds it live (with `yieldTentative`, bar an unrequested offer), not quarantined or reserved for another. */
  usableBy(mac: string, ip: string, now: number, yieldTentative = false): boolean {
    return this.freeAt(mac, ip, now, yieldTentative) <= now;
  }

  /** Whether `mac` has REQUESTed from us before: a binding of it, live, lapsed or released, is on record. */
  knows(mac: string): boolean {
    this.known ??= new Set(this.store.all().flatMap((l) => (l.state === 'bound' || l.state === 'released' ? [l.mac] : [])));
    return this.known.has(mac);
  }

  /** Whether `mac` holds a live offer. */
  holdsOffer(mac: string, now: number): boolean {
    return this.book.ofMac(mac, now) !== undefined;
  }

  /** Live offers held in memory (for stats). */
  offersHeld(now: number): number {
    return this.book.live(now);
  }

  /**
   * Pick an address to OFFER (RFC 2131 §4.3.1): the reservation, else the offer
   * the client already holds, else its current or previous address, else the one
   * it asked for, else the next free one, else the oldest unrequested offer of
   * another client. Holds the offer in memory; undefined when the pool is exhausted.
   */
  offer(mac: string, requested: string | undefined, now: number): Offer | undefined {
    // Read once: nothing below writes, and each read is a query on the server's store.
    const prev = this.store.byMac(mac);
    const held = this.book.ofMac(mac, now);
    const pick = this.choose(mac, requested, now, prev, held);
    if (!pick) return undefined;
    const { ip, reclaimedFrom } = pick;
    const name = held?.hostname ?? prev?.hostname;
    const keep = name !== undefined ? { hostname: name } : {};
    // Its own binding, long enough to cover the REQUEST: nothing to hold, and never shortened.
    if (prev?.ip === ip && prev.state === 'bound' && prev.expiresAt >= now + this.offerMs) return { ...prev };
    const known = held?.known === true || prev?.state === 'bound' || prev?.state === 'released';
    this.book.put({ mac, ip, expiresAt: now + this.offerMs, known, ...keep });
    return { mac, ip, state: 'offered', expiresAt: now + this.offerMs, ...keep, ...(reclaimedFrom !== undefined ? { reclaimedFrom } : {}) };
  }

  private choose(mac: string, requested: string | undefined, now: number, prev: Lease | undefined, held: HeldOffer | undefined): { ip: string; reclaimedFrom?: string } | undefined {
    const res = this.reservationOf(mac);
    if (res) return this.usableBy(mac, res.ip, now) ? { ip: res.ip } : undefined;
    if (held) return { ip: held.ip };
    if (prev && prev.state !== 'declined' && this.usableBy(mac, prev.ip, now)) return { ip: prev.ip };
    if (requested !== undefined && this.usableBy(mac, requested, now)) return { ip: requested };
    const free = this.scan(mac, now);
    if (free !== undefined) return { ip: free };
    // Full: withdraw the oldest offer nobody REQUESTed (never a binding, never a known client's live offer).
    for (const o of this.book.oldestFirst()) {
      if (o.known || o.mac === mac || o.expiresAt <= now) continue;
      if (this.usableBy(mac, o.ip, now, true)) return { ip: o.ip, reclaimedFrom: o.mac };
    }
    return undefined;
  }

  /** The next free address from the cursor on, or undefined (and the `full` hint set). */
  private scan(mac: string, now: number): string | undefined {
    const reservations = this.store.reservations();
    if (this.full && now < this.full.until && this.full.reservations === reservations) return undefined;
    const size = this.last - this.first + 1;
    let until = Infinity;
    for (let i = 0; i < size; i++) {
      const n = this.first + ((this.cursor - this.first + i) % size);
      const ip = intToIp(n);
      const at = this.freeAt(mac, ip, now, false);
      if (at <= now) {
        this.cursor = n === this.last ? this.first : n + 1;
        return ip;
      }
      until = Math.min(until, at);
    }
    this.full = { until, reservations };
    return undefined;
  }

  /** This pool let go of an address: the next scan must look again. */
  private freed(): void {
    this.full = undefined;
  }

  /** Store a binding, dropping the MAC's row for any other address so one MAC holds one address; `prev` is the MAC's current row. */
  private take(lease: Lease, prev = this.store.byMac(lease.mac)): void {
    if (prev && prev.ip !== lease.ip) {
      this.store.remove(prev.ip);
      this.freed();
    }
    this.store.upsert(lease);
  }

  /**
   * Judge a DHCPREQUEST (RFC 2131 §4.3.2). `serverIdOurs` is undefined when the
   * request carries no server identifier.
   */
  request(
    mac: string,
    state: RequestState,
    ip: string,
    serverIdOurs: boolean | undefined,
    now: number,
    hostname?: string,
  ): RequestOutcome {
    if (state === 'selecting' && !serverIdOurs) {
      // The client chose another server: our offer is void.
      const mine = this.book.ofMac(mac, now);
      if (mine) {
        this.book.delete(mine.ip);
        this.freed();
      }
      return { kind: 'ignore', why: 'client selected another server' };
    }
    if (state !== 'selecting' && !this.inSubnet(ip)) return { kind: 'nak', why: `${ip} is not on our network` };
    const held = this.book.get(ip, now);
    const row = this.store.byIp(ip);
    const ours = held
      ? held.mac === mac
      : row !== undefined && row.mac === mac && (row.state === 'bound' || row.state === 'offered') && (state === 'selecting' || row.expiresAt > now);
    if (ours) return this.bind(mac, ip, now, hostname ?? held?.hostname, row);
    // Not (or no longer) ours: the offer was reclaimed or lost in a restart, or the lease
    // lapsed. Authoritative for this subnet, we grant an address that is free to this
    // client, or only offered to another that never asked for it (a REQUEST outranks an
    // unrequested offer), rather than make the client start over.
    if (this.usableBy(mac, ip, now, true) && (this.reservationOf(mac)?.ip ?? ip) === ip) return this.bind(mac, ip, now, hostname, row);
    return { kind: 'nak', why: state === 'selecting' ? `no offer of ${ip} to this client` : `${ip} is not available to this client` };
  }

  /** `row` is the address's current row (read by the caller, nothing written since). */
  private bind(mac: string, ip: string, now: number, hostname: string | undefined, row: Lease | undefined): RequestOutcome {
    const name = hostname ?? (row?.mac === mac ? row.hostname : undefined);
    const lease: Lease = { mac, ip, state: 'bound', expiresAt: now + this.leaseMs, ...(name !== undefined ? { hostname: name } : {}) };
    // The address's offer (this client's, or another's it outranks) is settled; so is any other offer to this client.
    this.book.delete(ip);
    if (row && row.mac !== mac) this.known?.delete(row.mac); // its row is about to be overwritten
    this.known?.add(mac);
    const other = this.book.ofMac(mac, now);
    if (other) {
      this.book.delete(other.ip);
      this.freed();
    }
    this.take(lease);
    return { kind: 'ack', lease };
  }

  /** DHCPDECLINE (RFC 2131 §4.3.3): the address is in use by someone else; quarantine it. */
  decline(mac: string, ip: string, now: number): boolean {
    const held = this.book.get(ip, now);
    const row = this.store.byIp(ip);
    if (held ? held.mac !== mac : !row || row.mac !== mac) return false;
    this.book.delete(ip);
    if (row) this.known?.delete(row.mac);
    this.store.upsert({ mac: 'declined', ip, state: 'declined', expiresAt: now + this.quarantineMs });
    return true;
  }

  /** DHCPRELEASE (RFC 2131 §4.3.4): free the address but remember whose it was. */
  release(mac: string, ip: string, now: number): boolean {
    const row = this.store.byIp(ip);
    if (!row || row.mac !== mac || row.state === 'declined') return false;
    this.store.upsert({ ...row, state: 'released', expiresAt: now });
    this.freed();
    return true;
  }
}
