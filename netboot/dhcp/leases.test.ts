import { describe, expect, it } from 'vitest';
import { LeasePool, MemoryLeaseStore, type LeaseStore } from './leases.ts';

const subnet = { address: '198.18.0.0', prefix: 24 };
const range = { first: '198.18.0.10', last: '198.18.0.19' };
const LEASE = 60_000;
const mac = (i: number): string => `52:54:00:00:00:${i.toString(16).padStart(2, '0')}`;

function pool(store: LeaseStore = new MemoryLeaseStore(), exclude: string[] = []): LeasePool {
  return new LeasePool(store, range, subnet, { leaseMs: LEASE, offerMs: 5_000, quarantineMs: 100_000 }, exclude);
}

/** DISCOVER → REQUEST(selecting) for one client; returns the bound address. */
function bind(p: LeasePool, m: string, now: number): string | undefined {
  const offer = p.offer(m, undefined, now);
  if (!offer) return undefined;
  const out = p.request(m, 'selecting', offer.ip, true, now);
  return out.kind === 'ack' ? out.lease.ip : undefined;
}

describe('LeasePool', () => {
  it('offers the first free address, binds it on REQUEST and gives the same one back', () => {
    const p = pool();
    expect(bind(p, mac(1), 0)).toBe('198.18.0.10');
    expect(p.offer(mac(1), undefined, 1000)?.ip).toBe('198.18.0.10');
    expect(bind(p, mac(2), 0)).toBe('198.18.0.11');
  });

  it('honours a requested address when it is free', () => {
    expect(pool().offer(mac(1), '198.18.0.15', 0)?.ip).toBe('198.18.0.15');
  });

  it('never offers excluded addresses (server, router)', () => {
    expect(pool(new MemoryLeaseStore(), ['198.18.0.10']).offer(mac(1), '198.18.0.10', 0)?.ip).toBe('198.18.0.11');
  });

  it('gives reservations their address and keeps it from others', () => {
    const store = new MemoryLeaseStore([{ mac: mac(9), ip: '198.18.0.10' }, { mac: mac(8), ip: '198.18.0.200' }]);
    const p = pool(store);
    expect(p.offer(mac(1), '198.18.0.10', 0)?.ip).toBe('198.18.0.11');
    expect(bind(p, mac(9), 0)).toBe('198.18.0.10');
    expect(bind(p, mac(8), 0)).toBe('198.18.0.200'); // reservations may sit outside the dynamic range
  });

  it('returns a previous address after its owner released it', () => {
    const p = pool();
    const ip = bind(p, mac(1), 0)!;
    expect(p.release(mac(1), ip, 10)).toBe(true);
    expect(p.offer(mac(1), undefined, 20)?.ip).toBe(ip);
  });

  it('lets others reuse a released or expired address only when nothing else is free', () => {
    const p = pool();
    for (let i = 0; i < 10; i++) bind(p, mac(i), 0);
    expect(p.offer(mac(50), undefined, 1)).toBeUndefined(); // exhausted
    p.release(mac(3), '198.18.0.13', 2);
    expect(p.offer(mac(50), undefined, 3)?.ip).toBe('198.18.0.13');
    expect(p.offer(mac(51), undefined, 3)).toBeUndefined();
    expect(p.offer(mac(51), undefined, LEASE + 1)?.ip).toBeDefined(); // everything else expired
  });

  it('expires offers quickly so an abandoned DISCOVER does not hold an address', () => {
    const p = pool();
    for (let i = 0; i < 10; i++) p.offer(mac(i), undefined, 0);
    expect(p.offer(mac(99), undefined, 1000)).toBeUndefined();
    expect(p.offer(mac(99), undefined, 6000)).toBeDefined();
  });

  it('quarantines a declined address', () => {
    const store = new MemoryLeaseStore();
    const p = pool(store);
    const ip = bind(p, mac(1), 0)!;
    expect(p.decline(mac(2), ip, 1)).toBe(false); // only the holder may decline
    expect(p.decline(mac(1), ip, 1)).toBe(true);
    expect(store.byIp(ip)?.state).toBe('declined');
    expect(p.offer(mac(1), ip, 2)?.ip).not.toBe(ip);
    expect(p.usableBy(mac(3), ip, 50_000)).toBe(false);
    expect(p.usableBy(mac(3), ip, 100_002)).toBe(true);
  });

  describe('DHCPREQUEST (RFC 2131 §4.3.2)', () => {
    it('SELECTING: NAKs an address we did not offer to this client', () => {
      const p = pool();
      p.offer(mac(1), undefined, 0);
      expect(p.request(mac(2), 'selecting', '198.18.0.10', true, 0).kind).toBe('nak');
      expect(p.request(mac(1), 'selecting', '198.18.0.11', true, 0).kind).toBe('nak');
    });
    it('SELECTING another server: forgets our offer silently', () => {
      const store = new MemoryLeaseStore();
      const p = pool(store);
      p.offer(mac(1), undefined, 0);
      expect(p.request(mac(1), 'selecting', '198.18.0.10', false, 0).kind).toBe('ignore');
      expect(store.byMac(mac(1))).toBeUndefined();
    });
    it('INIT-REBOOT: ACKs the own lease, NAKs wrong network and others\' addresses', () => {
      const p = pool();
      const ip = bind(p, mac(1), 0)!;
      expect(p.request(mac(1), 'init-reboot', ip, undefined, 10).kind).toBe('ack');
      expect(p.request(mac(2), 'init-reboot', ip, undefined, 10).kind).toBe('nak');
      expect(p.request(mac(1), 'init-reboot', '10.0.0.5', undefined, 10).kind).toBe('nak');
      expect(p.request(mac(3), 'init-reboot', '198.18.0.250', undefined, 10).kind).toBe('nak'); // outside the range
    });
    it('RENEWING: extends the lease', () => {
      const store = new MemoryLeaseStore();
      const p = pool(store);
      const ip = bind(p, mac(1), 0)!;
      const out = p.request(mac(1), 'renewing', ip, undefined, 30_000);
      expect(out.kind).toBe('ack');
      expect(store.byIp(ip)?.expiresAt).toBe(30_000 + LEASE);
    });
  });

  it('never hands one address to two MACs under churn', () => {
    const store = new MemoryLeaseStore();
    const p = pool(store);
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const bound = new Map<string, string>(); // ip → mac, as clients believe
    for (let t = 0; t < 20_000; t++) {
      const now = t * 50;
      const m = mac(rnd(25));
      const act = rnd(4);
      if (act === 0) {
        const ip = bind(p, m, now);
        if (ip) {
          for (const [k, v] of bound) if (v === m) bound.delete(k);
          const holder = bound.get(ip);
          // The previous holder's lease must have lapsed (or been released/declined) first.
          if (holder && holder !== m) expect(store.byIp(ip)?.mac).toBe(m);
          bound.set(ip, m);
        }
      } else if (act === 1) {
        const l = store.byMac(m);
        if (l) p.release(m, l.ip, now);
      } else if (act === 2) {
        const l = store.byMac(m);
        if (l) p.request(m, 'renewing', l.ip, undefined, now);
      } else if (rnd(20) === 0) {
        const l = store.byMac(m);
        if (l) p.decline(m, l.ip, now);
      }
      const live = store.all().filter((l) => l.state === 'bound' && l.expiresAt > now);
      expect(new Set(live.map((l) => l.ip)).size).toBe(live.length);
      expect(new Set(live.map((l) => l.mac)).size).toBe(live.length);
    }
  });
});
