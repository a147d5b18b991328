/**
 * Which subnet a request is served from, and the lease store as one subnet
 * sees it. A relay agent puts the address of the interface it heard the
 * client on into giaddr (RFC 2131 §4.3.1); RFC 3527 (option 82 sub-option 5,
 * link selection) and RFC 3011 (option 118, subnet selection) name the
 * client's link when giaddr can't (the relay's address on that link is not
 * the one the server should use). Also the lease store as one subnet sees
 * it, one pool per subnet, and the checks that refuse subnets that can't be
 * served. No I/O.
 */
import type { DhcpMessage } from './codec.ts';
import { LeasePool, type Lease, type LeaseStore, type Reservation } from './leases.ts';
import { ImgsrvError } from '../../core/errors.ts';
import { ipFromBytes, ipToInt } from './options.ts';

/** A subnet the server hands addresses on (the local one, or one behind a relay). */
export interface ServedSubnet {
  /** The network address and prefix ('198.18.1.0', 24). */
  address: string;
  prefix: number;
  router?: string | undefined;
  dns?: string[] | undefined;
  domain?: string | undefined;
  leaseSeconds: number;
  /** Full mode: the subnet's addresses. Absent on a local subnet without a range (relayed subnets only). */
  pool?: LeasePool | undefined;
}

/** A subnet behind a relay agent: its network, its addresses and what its clients are told. */
export interface RelayedSubnet {
  address: string;
  prefix: number;
  range: { first: string; last: string };
  router?: string | undefined;
  dns?: string[] | undefined;
  domain?: string | undefined;
  leaseSeconds?: number | undefined;
}

/** What picked the subnet, for logs. */
export type SelectedBy = 'link-selection' | 'subnet-selection' | 'giaddr' | 'ciaddr' | 'local';

/** The subnet a request is served from, or the link address no configured subnet contains. */
export type SubnetChoice = { subnet: ServedSubnet; by: SelectedBy } | { subnet: undefined; by: SelectedBy; link: string };

/** RFC 3527 §3: sub-option 5 of option 82 holds the link's IPv4 address. */
export const LINK_SELECTION = 5;
const ZERO = '0.0.0.0';

/** The network mask of a prefix length as a number. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
}

/** Whether `ip` lies in `net`. */
export function contains(net: { address: string; prefix: number }, ip: string): boolean {
  const m = maskOf(net.prefix);
  return ((ipToInt(ip) & m) >>> 0) === ((ipToInt(net.address) & m) >>> 0);
}

/** Whether two networks share an address (one contains the other's network address, with the shorter prefix). */
export function overlaps(a: { address: string; prefix: number }, b: { address: string; prefix: number }): boolean {
  return contains(a.prefix <= b.prefix ? a : b, a.prefix <= b.prefix ? b.address : a.address);
}

/** '198.18.1.0/24' → { address: '198.18.1.0', prefix: 24 } (the address masked to its network); undefined if malformed. */
export function parseCidr(s: string): { address: string; prefix: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(s.trim());
  if (!m) return undefined;
  const prefix = Number(m[2]);
  const parts = m[1]!.split('.').map(Number);
  if (prefix > 32 || parts.some((p) => p > 255)) return undefined;
  const n = (ipToInt(m[1]!) & maskOf(prefix)) >>> 0;
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return { address: ipFromBytes(b, 0), prefix };
}

/** The RFC 3527 link-selection address in a request's option 82, if any (a malformed one is ignored). */
export function linkSelectionOf(msg: DhcpMessage): string | undefined {
  const sub = msg.options.agentInfo?.find((s) => s.code === LINK_SELECTION);
  return sub && sub.data.length === 4 ? ipFromBytes(sub.data, 0) : undefined;
}

/**
 * The subnet a request is served from: link selection (82/5, set by the
 * relay, RFC 3527 §4) > subnet selection (118, RFC 3011 §3) > giaddr (RFC
 * 2131 §4.3.1) > the local subnet. A request with no relay in between but a
 * ciaddr in a relayed subnet is a routed client renewing or releasing by
 * unicast (RFC 2131 §4.3.2 RENEWING: giaddr is 0), so it is served by the
 * subnet of its address. A link address no subnet contains is unknown: the
 * caller answers nothing.
 */
export function selectSubnet(local: ServedSubnet, relayed: readonly ServedSubnet[], msg: DhcpMessage): SubnetChoice {
  const all = [local, ...relayed];
  const pick = (link: string, by: SelectedBy): SubnetChoice => {
    const subnet = all.find((s) => contains(s, link));
    return subnet ? { subnet, by } : { subnet: undefined, by, link };
  };
  const link = linkSelectionOf(msg);
  if (link !== undefined && link !== ZERO) return pick(link, 'link-selection');
  const sel = msg.options.subnetSelection;
  if (sel !== undefined && sel !== ZERO) return pick(sel, 'subnet-selection');
  if (msg.giaddr !== ZERO) return pick(msg.giaddr, 'giaddr');
  if (msg.ciaddr !== ZERO) {
    const routed = relayed.find((s) => contains(s, msg.ciaddr));
    if (routed) return { subnet: routed, by: 'ciaddr' };
  }
  return { subnet: local, by: 'local' };
}

/**
 * `store` as one subnet's pool sees it: the MAC's lease and the reservations
 * in that subnet only, so a MAC holds one address per subnet (a machine that
 * moves keeps its old lease until it lapses), and a reservation on another
 * subnet never makes this one offer an address that can't work here. Rows
 * are keyed by address, and subnets never overlap, so the pools share one table.
 */
export function subnetLeaseStore(store: LeaseStore, net: { address: string; prefix: number }): LeaseStore {
  const inNet = (l: { ip: string }): boolean => contains(net, l.ip);
  let lastAll: readonly Reservation[] | undefined;
  let mine: readonly Reservation[] = [];
  return {
    byMac: (mac) => newest(store.leasesOf(mac).filter(inNet)),
    byIp: (ip) => store.byIp(ip),
    leasesOf: (mac) => store.leasesOf(mac).filter(inNet),
    all: () => store.all().filter(inNet),
    upsert: (lease) => store.upsert(lease),
    remove: (ip) => store.remove(ip),
    // The pool compares the array it gets by identity to know the reservations changed: keep one per change.
    reservations: () => {
      const all = store.reservations();
      if (all !== lastAll) {
        lastAll = all;
        mine = all.filter(inNet);
      }
      return mine;
    },
  };
}

function newest(leases: Lease[]): Lease | undefined {
  let best: Lease | undefined;
  for (const l of leases) if (!best || l.expiresAt > best.expiresAt) best = l;
  return best;
}

/** '198.18.1.0/24', for logs and status. */
export function cidrOf(net: { address: string; prefix: number }): string {
  return `${net.address}/${net.prefix}`;
}

/**
 * Refuse a set of subnets that can't be served: two that overlap (an address
 * would belong to both pools), a range or router outside its subnet. The
 * config schema checks the relayed ones among themselves; only here is the
 * local subnet (the interface's) known.
 */
export function checkRelayedSubnets(local: { address: string; prefix: number }, relays: readonly RelayedSubnet[]): void {
  relays.forEach((r, i) => {
    const where = `dhcp.subnets.${i} (${cidrOf(r)})`;
    if (overlaps(local, r)) {
      throw new ImgsrvError('BAD_CONFIG', `${where} overlaps the netboot interface's own subnet ${cidrOf(local)}`, {
        hint: 'the local subnet is configured by dhcp.range, dhcp.router and dhcp.dns; list only subnets behind relays in dhcp.subnets',
      });
    }
    const other = relays.findIndex((o, j) => j < i && overlaps(o, r));
    if (other >= 0) throw new ImgsrvError('BAD_CONFIG', `${where} overlaps dhcp.subnets.${other} (${cidrOf(relays[other]!)})`, { hint: 'each address belongs to one subnet' });
    for (const [what, ip] of [['range start', r.range.first], ['range end', r.range.last], ['router', r.router]] as const) {
      if (ip !== undefined && !contains(r, ip)) throw new ImgsrvError('BAD_CONFIG', `${where}: the ${what} ${ip} is outside the subnet`, { hint: 'give addresses inside the subnet' });
    }
  });
}

/**
 * One pool per subnet, each over its own rows of `store` (subnetLeaseStore):
 * the local subnet's (when it has a range; the server's address and router
 * never leased) and each relayed subnet's (its router never leased). Throws
 * BAD_CONFIG for subnets checkRelayedSubnets refuses.
 */
export function buildPools(
  store: LeaseStore,
  local: { address: string; prefix: number; router?: string | undefined; range?: { first: string; last: string } | undefined; serverAddress: string; leaseSeconds: number },
  relays: readonly RelayedSubnet[],
): { local: LeasePool | undefined; relayed: ServedSubnet[] } {
  checkRelayedSubnets(local, relays);
  const poolOf = (net: { address: string; prefix: number }, range: { first: string; last: string }, leaseSeconds: number, exclude: string[]): LeasePool =>
    new LeasePool(subnetLeaseStore(store, net), range, net, { leaseMs: leaseSeconds * 1000 }, exclude);
  const routerOf = (r: string | undefined): string[] => (r ? [r] : []);
  const localNet = { address: local.address, prefix: local.prefix };
  return {
    local: local.range ? poolOf(localNet, local.range, local.leaseSeconds, [local.serverAddress, ...routerOf(local.router)]) : undefined,
    relayed: relays.map((r) => {
      const leaseSeconds = r.leaseSeconds ?? local.leaseSeconds;
      const net = { address: r.address, prefix: r.prefix };
      return { ...net, router: r.router, dns: r.dns, domain: r.domain, leaseSeconds, pool: poolOf(net, r.range, leaseSeconds, routerOf(r.router)) };
    }),
  };
}
