/**
 * Lease allocation for full-mode DHCP (RFC 2131 §4.3) over a narrow,
 * synchronous `LeaseStore` (SQLite in the server, memory in tests). The store
 * holds one row per address, so an address can never belong to two MACs.
 */
import { intToIp, ipToInt } from './options.ts';

/** One address's state. A declined address carries mac 'declined'. */
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
  byMac(mac: string): Lease | undefined;
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

/** Address allocation over a LeaseStore and an inclusive range. */
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

  /** Whether `mac` may take `ip` now: nobody else holds it live, it is not quarantined or reserved for another. */
  usableBy(mac: string, ip: string, now: number): boolean {
    if (this.exclude.has(ip)) return false;
    const owner = this.reservedFor(ip);
    if (owner !== undefined && owner !== mac) return false;
    if (owner === undefined && !this.inRange(ip)) return false;
    const row = this.store.byIp(ip);
    if (!row || row.state === 'released') return true;
    if (row.mac === mac && row.state !== 'declined') return true;
    return row.expiresAt <= now;
  }

  /**
   * Pick an address to OFFER (RFC 2131 §4.3.1): the reservation, else the client's
   * current or previous address, else the one it asked for, else the next free one.
   * Records an 'offered' row; undefined when the pool is exhausted.
   */
  offer(mac: string, requested: string | undefined, now: number): Lease | undefined {
    // Read once: nothing below writes before take(), and each read is a query on the server's store.
    const prev = this.store.byMac(mac);
    const ip = this.choose(mac, requested, now, prev);
    if (ip === undefined) return undefined;
    const lease: Lease = {
      mac,
      ip,
      // Re-offering a bound address must not shorten the binding the client already has.
      state: prev?.ip === ip && prev.state === 'bound' && prev.expiresAt > now ? 'bound' : 'offered',
      expiresAt: prev?.ip === ip && prev.state === 'bound' ? Math.max(prev.expiresAt, now + this.offerMs) : now + this.offerMs,
      ...(prev?.hostname !== undefined ? { hostname: prev.hostname } : {}),
    };
    this.take(lease, prev);
    return lease;
  }

  private choose(mac: string, requested: string | undefined, now: number, prev: Lease | undefined): string | undefined {
    const res = this.reservationOf(mac);
    if (res) return this.usableBy(mac, res.ip, now) ? res.ip : undefined;
    if (prev && prev.state !== 'declined' && this.usableBy(mac, prev.ip, now)) return prev.ip;
    if (requested !== undefined && this.usableBy(mac, requested, now)) return requested;
    const size = this.last - this.first + 1;
    for (let i = 0; i < size; i++) {
      const n = this.first + ((this.cursor - this.first + i) % size);
      const ip = intToIp(n);
      if (this.usableBy(mac, ip, now)) {
        this.cursor = n === this.last ? this.first : n + 1;
        return ip;
      }
    }
    return undefined;
  }

  /** Store a lease, dropping the MAC's row for any other address so one MAC holds one address; `prev` is the MAC's current row. */
  private take(lease: Lease, prev = this.store.byMac(lease.mac)): void {
    if (prev && prev.ip !== lease.ip) this.store.remove(prev.ip);
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
    const row = this.store.byIp(ip);
    if (state === 'selecting') {
      if (!serverIdOurs) {
        // The client chose another server: our offer is void.
        const mine = this.store.byMac(mac);
        if (mine?.state === 'offered') this.store.remove(mine.ip);
        return { kind: 'ignore', why: 'client selected another server' };
      }
      if (!row || row.mac !== mac || row.state === 'declined' || row.state === 'released') {
        return { kind: 'nak', why: `no offer of ${ip} to this client` };
      }
      return this.bind(mac, ip, now, hostname, row);
    }
    if (!this.inSubnet(ip)) return { kind: 'nak', why: `${ip} is not on our network` };
    if (row && row.mac === mac && (row.state === 'bound' || row.state === 'offered') && row.expiresAt > now) {
      return this.bind(mac, ip, now, hostname, row);
    }
    // Authoritative for this subnet: re-grant an address we know is free (e.g. after
    // losing the lease database) rather than make the client wait for a timeout.
    if (this.usableBy(mac, ip, now) && (this.reservationOf(mac)?.ip ?? ip) === ip) return this.bind(mac, ip, now, hostname, row);
    return { kind: 'nak', why: `${ip} is not available to this client` };
  }

  /** `row` is the address's current row (read by the caller, nothing written since). */
  private bind(mac: string, ip: string, now: number, hostname: string | undefined, row: Lease | undefined): RequestOutcome {
    const name = hostname ?? row?.hostname;
    const lease: Lease = { mac, ip, state: 'bound', expiresAt: now + this.leaseMs, ...(name !== undefined ? { hostname: name } : {}) };
    this.take(lease);
    return { kind: 'ack', lease };
  }

  /** DHCPDECLINE (RFC 2131 §4.3.3): the address is in use by someone else; quarantine it. */
  decline(mac: string, ip: string, now: number): boolean {
    const row = this.store.byIp(ip);
    if (!row || row.mac !== mac) return false;
    this.store.upsert({ mac: 'declined', ip, state: 'declined', expiresAt: now + this.quarantineMs });
    return true;
  }

  /** DHCPRELEASE (RFC 2131 §4.3.4): free the address but remember whose it was. */
  release(mac: string, ip: string, now: number): boolean {
    const row = this.store.byIp(ip);
    if (!row || row.mac !== mac || row.state === 'declined') return false;
    this.store.upsert({ ...row, state: 'released', expiresAt: now });
    return true;
  }
}
