/** Find the one stable IPv4 address (and its subnet) of the netboot interface. */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { ImgsrvError } from '../core/errors.ts';

/** The address the server answers from, with its subnet. */
export interface InterfaceAddress {
  name: string;
  address: string;
  prefix: number;
  mac: string;
}

/**
 * Pick the interface's address: the configured one (which must be on the
 * interface) or its first IPv4 address. Relays and clients need the same
 * answer every time, so we never rotate between several.
 */
export function resolveInterface(name: string, wanted?: string, ifaces = networkInterfaces()): InterfaceAddress {
  const list = ifaces[name];
  if (!list) {
    const known = Object.keys(ifaces).join(', ');
    throw new ImgsrvError('BAD_USAGE', `no network interface named ${name}`, { hint: `pick one of: ${known}` });
  }
  const v4 = list.filter((a) => a.family === 'IPv4' && !a.internal);
  const pick = wanted ? v4.find((a) => a.address === wanted) : v4[0];
  if (!pick) {
    throw new ImgsrvError('BAD_USAGE', wanted ? `interface ${name} has no address ${wanted}` : `interface ${name} has no IPv4 address`, {
      hint: wanted ? `addresses on ${name}: ${v4.map((a) => a.address).join(', ') || 'none'}` : `add one, e.g. ip addr add 198.18.0.1/24 dev ${name}`,
    });
  }
  const prefix = Number(pick.cidr?.split('/')[1] ?? 24);
  return { name, address: pick.address, prefix, mac: pick.mac };
}

/** The link speed the kernel reports for `name` in bytes/s, or undefined (virtual links report -1 or nothing). */
export function linkSpeed(name: string, sysfs = '/sys/class/net'): number | undefined {
  try {
    const mbit = Number(readFileSync(`${sysfs}/${name}/speed`, 'utf8').trim());
    return Number.isFinite(mbit) && mbit > 0 ? (mbit * 1e6) / 8 : undefined;
  } catch {
    return undefined;
  }
}
