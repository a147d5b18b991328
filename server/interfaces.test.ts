import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it, onTestFinished } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linkSpeed, resolveInterface } from './interfaces.ts';

const v4 = (address: string, cidr: string): NetworkInterfaceInfo => ({
  address, netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr,
});

describe('netboot interface', () => {
  const ifaces = { eth1: [v4('198.18.0.1', '198.18.0.1/24'), v4('198.18.1.1', '198.18.1.1/23')] };
  it('answers from the first address, or the configured one', () => {
    expect(resolveInterface('eth1', undefined, ifaces)).toMatchObject({ address: '198.18.0.1', prefix: 24 });
    expect(resolveInterface('eth1', '198.18.1.1', ifaces)).toMatchObject({ address: '198.18.1.1', prefix: 23 });
  });
  it('names what is wrong', () => {
    expect(() => resolveInterface('eth9', undefined, ifaces)).toThrow(expect.objectContaining({ message: 'no network interface named eth9', hint: 'pick one of: eth1' }));
    expect(() => resolveInterface('eth1', '198.18.9.9', ifaces)).toThrow(/has no address 198\.18\.9\.9/);
    expect(() => resolveInterface('eth2', undefined, { eth2: [] })).toThrow(/has no IPv4 address/);
  });
});

describe('link speed', () => {
  it('reads /sys/class/net/<if>/speed (Mbit/s) as bytes/s; virtual links have none', () => {
    const sys = mkdtempSync(join(tmpdir(), 'imgsrv-sysfs-'));
    onTestFinished(() => rmSync(sys, { recursive: true, force: true }));
    for (const [name, speed] of [['eno1', '1000\n'], ['veth0', '-1\n']] as const) {
      mkdirSync(join(sys, name));
      writeFileSync(join(sys, name, 'speed'), speed);
    }
    expect(linkSpeed('eno1', sys)).toBe(125_000_000);
    expect(linkSpeed('veth0', sys)).toBeUndefined();
    expect(linkSpeed('nope', sys)).toBeUndefined();
  });
});
