import { describe, expect, it } from 'vitest';
import { BOOTREQUEST, emptyMessage, type DhcpMessage } from './codec.ts';
import { MemoryLeaseStore } from './leases.ts';
import { LINK_SELECTION, contains, linkSelectionOf, overlaps, parseCidr, selectSubnet, subnetLeaseStore, type ServedSubnet } from './subnets.ts';

const local: ServedSubnet = { address: '198.18.0.0', prefix: 24, leaseSeconds: 600 };
const far: ServedSubnet = { address: '198.18.1.0', prefix: 24, leaseSeconds: 600 };
const farther: ServedSubnet = { address: '198.18.2.0', prefix: 23, leaseSeconds: 600 };

function msg(o: { giaddr?: string; ciaddr?: string; link?: Buffer; sel?: string }): DhcpMessage {
  const m = emptyMessage(BOOTREQUEST, 1, '52:54:00:00:00:01');
  if (o.giaddr) m.giaddr = o.giaddr;
  if (o.ciaddr) m.ciaddr = o.ciaddr;
  if (o.link) m.options.agentInfo = [{ code: 1, data: Buffer.from('port') }, { code: LINK_SELECTION, data: o.link }];
  if (o.sel) m.options.subnetSelection = o.sel;
  return m;
}
const pick = (m: DhcpMessage) => {
  const c = selectSubnet(local, [far, farther], m);
  return c.subnet ? `${c.by} ${c.subnet.address}` : `${c.by} unknown ${c.link}`;
};

describe('subnet selection', () => {
  it('parses and compares networks', () => {
    expect(parseCidr('198.18.1.0/24')).toEqual({ address: '198.18.1.0', prefix: 24 });
    expect(parseCidr('198.18.1.9/24')).toEqual({ address: '198.18.1.0', prefix: 24 });
    for (const bad of ['198.18.1.0', '198.18.1.0/33', '300.1.1.1/8', 'x/24']) expect(parseCidr(bad)).toBeUndefined();
    expect(contains(farther, '198.18.3.255')).toBe(true);
    expect(contains(farther, '198.18.4.0')).toBe(false);
    expect(overlaps(far, { address: '198.18.0.0', prefix: 23 })).toBe(true);
    expect(overlaps({ address: '198.18.0.0', prefix: 23 }, far)).toBe(true);
    expect(overlaps(far, farther)).toBe(false);
  });

  it('link selection > subnet selection > giaddr > routed ciaddr > local', () => {
    const link = Buffer.from([198, 18, 2, 7]);
    expect(pick(msg({ giaddr: '198.18.1.1', sel: '198.18.0.9', link }))).toBe('link-selection 198.18.2.0');
    expect(pick(msg({ giaddr: '198.18.1.1', sel: '198.18.3.9' }))).toBe('subnet-selection 198.18.2.0');
    expect(pick(msg({ giaddr: '198.18.1.1' }))).toBe('giaddr 198.18.1.0');
    expect(pick(msg({ giaddr: '198.18.0.254' }))).toBe('giaddr 198.18.0.0');
    expect(pick(msg({ ciaddr: '198.18.1.50' }))).toBe('ciaddr 198.18.1.0');
    expect(pick(msg({ ciaddr: '198.18.0.50' }))).toBe('local 198.18.0.0');
    expect(pick(msg({ ciaddr: '10.0.0.5' }))).toBe('local 198.18.0.0');
    expect(pick(msg({}))).toBe('local 198.18.0.0');
  });

  it('names the unknown link, and ignores a malformed link selection', () => {
    expect(pick(msg({ giaddr: '10.1.1.1' }))).toBe('giaddr unknown 10.1.1.1');
    expect(pick(msg({ giaddr: '198.18.1.1', link: Buffer.from([10, 0, 0, 1]) }))).toBe('link-selection unknown 10.0.0.1');
    expect(pick(msg({ sel: '203.0.113.1' }))).toBe('subnet-selection unknown 203.0.113.1');
    expect(linkSelectionOf(msg({ giaddr: '198.18.1.1', link: Buffer.from([1, 2, 3]) }))).toBeUndefined();
    expect(pick(msg({ giaddr: '198.18.1.1', link: Buffer.from([1, 2, 3]) }))).toBe('giaddr 198.18.1.0');
  });
});

describe('the lease store as one subnet sees it', () => {
  it('shows the MAC\'s row and the reservations of that subnet only', () => {
    const store = new MemoryLeaseStore(
      [{ mac: 'aa:aa:aa:aa:aa:01', ip: '198.18.1.10' }, { mac: 'aa:aa:aa:aa:aa:02', ip: '198.18.0.10' }],
      [
        { mac: 'aa:aa:aa:aa:aa:03', ip: '198.18.0.100', state: 'bound', expiresAt: 5 },
        { mac: 'aa:aa:aa:aa:aa:03', ip: '198.18.1.100', state: 'bound', expiresAt: 9 },
      ],
    );
    const l = subnetLeaseStore(store, local);
    const f = subnetLeaseStore(store, far);
    expect(l.byMac('aa:aa:aa:aa:aa:03')?.ip).toBe('198.18.0.100');
    expect(f.byMac('aa:aa:aa:aa:aa:03')?.ip).toBe('198.18.1.100');
    expect(l.all().map((x) => x.ip)).toEqual(['198.18.0.100']);
    expect(f.reservations().map((r) => r.ip)).toEqual(['198.18.1.10']);
    expect(l.reservations().map((r) => r.ip)).toEqual(['198.18.0.10']);
    // The same array until the reservations change (the pool's full-scan hint compares by identity).
    expect(l.reservations()).toBe(l.reservations());
  });
});
