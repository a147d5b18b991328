/**
 * Who is asking for a node's boot files. A node's token goes out only in its
 * own boot files (iPXE script, pxelinux config), so before it does the server
 * ties the requester's address to the MAC the request names:
 *  - an address we leased: the lease's MAC must be that MAC;
 *  - else an address on a directly attached network: the kernel's neighbour
 *    (ARP) entry for it must be that MAC (a client on the segment ARPs for
 *    us before it can send a packet, so the entry is there);
 *  - else (a routed client of another DHCP server, proxy mode across a
 *    relay) the address can't be tied to a MAC: refused unless the operator
 *    allows unverified sources (`boot.unverifiedSources: allow`).
 * Loopback is the server's own host. What this does not stop (a host on the
 * segment that takes another machine's MAC and address) is in docs/security.md.
 */
import { readFileSync } from 'node:fs';
import { normalizeMac } from '../core/mac.ts';
import type { Lease } from '../netboot/dhcp/leases.ts';

/** How a boot request's source was tied to its MAC, or why it wasn't. */
export type SourceVerdict = { ok: true; how: 'lease' | 'neighbour' | 'loopback' | 'unverified' } | { ok: false; why: string };

/** The address without an IPv4-mapped IPv6 prefix (::ffff:198.18.0.5 → 198.18.0.5). */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

/** Complete IPv4 neighbour entries (address → MAC) from the kernel's ARP table of this network namespace. */
export function readNeighbours(file = '/proc/net/arp'): Map<string, string> {
  const out = new Map<string, string>();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  // IP address  HW type  Flags  HW address  Mask  Device
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    // ATF_COM (0x2): the entry is resolved; an incomplete one names no MAC.
    if ((Number.parseInt(f[2]!, 16) & 0x2) === 0) continue;
    const mac = normalizeMac(f[3]!);
    if (mac && mac !== '00:00:00:00:00:00') out.set(f[0]!, mac);
  }
  return out;
}

/** What the check reads. */
export interface BootSourceDeps {
  leaseOf(ip: string): Lease | undefined;
  neighbours(): ReadonlyMap<string, string>;
  /** Whether a source that can be tied to no MAC still gets the token. */
  allowUnverified(): boolean;
}

/** Whether `address` may receive the boot files (and token) of `mac`. */
export function checkBootSource(deps: BootSourceDeps, mac: string, address: string, now = Date.now()): SourceVerdict {
  const ip = plainAddress(address);
  if (isLoopback(ip)) return { ok: true, how: 'loopback' };
  const lease = deps.leaseOf(ip);
  if (lease && lease.expiresAt > now && (lease.state === 'bound' || lease.state === 'offered')) {
    return lease.mac === mac ? { ok: true, how: 'lease' } : { ok: false, why: `${ip} is leased to ${lease.mac}, not ${mac}` };
  }
  const neighbour = deps.neighbours().get(ip);
  if (neighbour) return neighbour === mac ? { ok: true, how: 'neighbour' } : { ok: false, why: `${ip} is ${neighbour} on the local network, not ${mac}` };
  if (deps.allowUnverified()) return { ok: true, how: 'unverified' };
  return { ok: false, why: `${ip} is neither our lease nor on a local network, so it can't be tied to ${mac} (boot.unverifiedSources: allow trusts such nodes)` };
}
