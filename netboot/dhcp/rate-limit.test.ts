import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, DhcpRateLimiter, type DhcpLimits, type PacketSource } from './rate-limit.ts';

const limits: DhcpLimits = { perMac: { rate: 1, burst: 3 }, perIngress: { rate: 20, burst: 40 }, newClients: { rate: 10, burst: 20 }, total: { rate: 100, burst: 50 } };
const mac = (i: number): string => `02:66:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
/** A packet from a MAC that holds nothing with us (a flood's, or a client's first DISCOVER). */
const discover = (i: number, ingress = 'local'): PacketSource => ({ mac: mac(i), ingress, newClient: true });
/** A packet from a MAC with a binding or an offer. */
const known = (i: number, ingress = 'local'): PacketSource => ({ mac: mac(i), ingress, newClient: false });

/** Admit `n` packets at `now`; the verdicts, counted. */
function offer(l: DhcpRateLimiter, n: number, now: number, p: (i: number) => PacketSource): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const v = l.admit(p(i), now) ?? 'admitted';
    out[v] = (out[v] ?? 0) + 1;
  }
  return out;
}

describe('DhcpRateLimiter', () => {
  it('holds one MAC to its burst, then to its rate', () => {
    const l = new DhcpRateLimiter(limits);
    expect(offer(l, 5, 0, () => discover(1))).toEqual({ admitted: 3, mac: 2 });
    expect(offer(l, 5, 1000, () => discover(1))).toEqual({ admitted: 1, mac: 4 });
    expect(offer(l, 5, 1000, () => discover(2))).toEqual({ admitted: 3, mac: 2 }); // another MAC is not held back
  });

  it('holds DISCOVERs from invented MACs to the new-client budget, and refills it at its rate', () => {
    const l = new DhcpRateLimiter(limits);
    expect(offer(l, 100, 0, (i) => discover(i))).toEqual({ admitted: 20, 'new-client': 80 });
    expect(offer(l, 100, 500, (i) => discover(1000 + i))).toEqual({ admitted: 5, 'new-client': 95 });
    // The flood took no tokens for what was dropped: 2 s later the burst is back in full.
    expect(offer(l, 100, 2500, (i) => discover(2000 + i))).toEqual({ admitted: 20, 'new-client': 80 });
  });

  it('lets the clients we know through a flood of new ones, up to the ingress limit', () => {
    const l = new DhcpRateLimiter(limits);
    offer(l, 100, 0, (i) => discover(i));
    expect(offer(l, 100, 0, (i) => known(5000 + i))).toEqual({ admitted: 20, ingress: 80 });
  });

  it('gives each relay its own buckets', () => {
    const l = new DhcpRateLimiter(limits);
    expect(offer(l, 30, 0, (i) => discover(i, '198.18.1.1'))).toEqual({ admitted: 20, 'new-client': 10 });
    expect(offer(l, 30, 0, (i) => discover(100 + i, '198.18.2.1'))).toEqual({ admitted: 20, 'new-client': 10 });
  });

  it('holds a sender that invents relays too to the total', () => {
    const l = new DhcpRateLimiter(limits);
    expect(offer(l, 100, 0, (i) => discover(i, `198.18.${i}.1`))).toEqual({ admitted: 50, total: 50 });
  });

  it('remembers a bounded number of MACs', () => {
    const lots = { rate: 1e9, burst: 1e9 };
    const l = new DhcpRateLimiter({ ...DEFAULT_LIMITS, perIngress: lots, newClients: lots, total: lots }, 1000);
    offer(l, 50_000, 0, (i) => discover(i));
    expect(l.macsRemembered).toBe(1000);
  });

  it('by default lets a rack of 1,000 boot at once, reboot, and PXE-boot again', () => {
    const l = new DhcpRateLimiter();
    expect(offer(l, 1000, 0, (i) => discover(i))).toEqual({ admitted: 1000 }); // DISCOVER
    expect(offer(l, 1000, 10, (i) => known(i))).toEqual({ admitted: 1000 }); // REQUEST of the offer
    expect(offer(l, 1000, 500, (i) => known(i))).toEqual({ admitted: 1000 }); // reboot: REQUEST
    expect(offer(l, 2000, 1000, (i) => known(i % 1000))).toEqual({ admitted: 2000 }); // DISCOVER, REQUEST
  });
});
