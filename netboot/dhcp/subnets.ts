/**
 * Which subnet a request is served from, and the lease store as one subnet
 * sees it. A relay agent puts the address of the interface it heard the
 * client on into giaddr (RFC 2131 §4.3.1); RFC 3527 (option 82 sub-option 5,
 * link selection) and RFC 3011 (option 118, subnet selection) name the
 * client's link when giaddr can't (the relay's address on that link is not
 * the one the server should use). Pure functions; no I/O.
 */
import type { DhcpMessage } from './codec.ts';
import type { Lease, LeaseStore, Reservation } from './leases.ts';
import type { LeasePool } from './leases.ts';
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
