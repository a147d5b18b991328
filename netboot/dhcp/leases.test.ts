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
    expect(p.request(mac(50), 'selecting', '198.18.0.13', true, 3).kind).toBe('ack');
    expect(p.offer(mac(51), undefined, 3)).toBeUndefined();
    expect(p.offer(mac(51), undefined, LEASE + 1)?.ip).toBeDefined(); // everything else expired
  });

  it('keeps offers out of the store: only what a client REQUESTed is written', () => {
    const store = new MemoryLeaseStore();
    const p = pool(store);
    for (let i = 0; i < 30; i++) p.offer(mac(i), undefined, i);
    expect(store.all()).toEqual([]);
    expect(p.offersHeld(30)).toBe(10);
    expect(p.request(mac(29), 'selecting', p.offer(mac(29), undefined, 31)!.ip, true, 31).kind).toBe('ack');
    expect(store.all().map((l) => [l.mac, l.state])).toEqual([[mac(29), 'bound']]);
  });

  it('knows the MACs with a binding on record, from the store at start and as it binds', () => {
    const store = new MemoryLeaseStore([], [{ mac: mac(7), ip: '198.18.0.17', state: 'bound', expiresAt: 0 }]);
    const p = pool(store);
    expect(p.knows(mac(7))).toBe(true); // lapsed, but it did REQUEST once
    p.offer(mac(1), undefined, 0);
    expect(p.knows(mac(1))).toBe(false); // an offer proves nothing
    const ip = bind(p, mac(1), 0)!;
    p.release(mac(1), ip, 1);
    expect(p.knows(mac(1))).toBe(true);
    expect(p.request(mac(2), 'init-reboot', ip, undefined, 2).kind).toBe('ack'); // released: mac(2) takes it over
    expect([p.knows(mac(1)), p.knows(mac(2))]).toEqual([false, true]);
    expect(p.decline(mac(2), ip, 3)).toBe(true);
    expect(p.knows(mac(2))).toBe(false);
  });

  describe('a full pool (issue 25: a flood of DISCOVERs from invented MACs)', () => {
    /** Fill the range with offers to MACs 100…109, one ms apart: .10 is the oldest. */
    const flooded = (p: LeasePool): void => {
      for (let i = 0; i < 10; i++) expect(p.offer(mac(100 + i), undefined, i)?.ip).toBe(`198.18.0.${10 + i}`);
    };

    it('reclaims the oldest unrequested offer first, and never a binding', () => {
      const p = pool();
      expect(bind(p, mac(1), 0)).toBe('198.18.0.10');
      for (let i = 0; i < 9; i++) p.offer(mac(100 + i), undefined, 1 + i); // .11 … .19
      // Each new client takes the oldest offer in turn; the binding of .10 is never touched.
      for (let i = 0; i < 9; i++) {
        const o = p.offer(mac(200 + i), undefined, 20 + i);
        expect(o).toMatchObject({ ip: `198.18.0.${11 + i}`, reclaimedFrom: mac(100 + i) });
      }
      // Round again: the oldest is now the offer made at 20 to mac(200).
      expect(p.offer(mac(300), undefined, 40)).toMatchObject({ ip: '198.18.0.11', reclaimedFrom: mac(200) });
      expect(p.request(mac(1), 'renewing', '198.18.0.10', undefined, 50).kind).toBe('ack');
    });

    it('a client retrying its DISCOVER keeps its offer and moves it to the back of the queue', () => {
      const p = pool();
      flooded(p);
      expect(p.offer(mac(100), undefined, 20)?.ip).toBe('198.18.0.10'); // the same offer, renewed
      expect(p.offer(mac(200), undefined, 21)).toMatchObject({ ip: '198.18.0.11', reclaimedFrom: mac(101) });
    });

    it('never reclaims the live offer of a client that has REQUESTed from us before', () => {
      const p = pool();
      expect(bind(p, mac(1), 0)).toBe('198.18.0.10');
      p.release(mac(1), '198.18.0.10', 1);
      expect(p.offer(mac(1), undefined, 2)?.ip).toBe('198.18.0.10'); // known: it has bound before
      for (let i = 0; i < 9; i++) p.offer(mac(100 + i), undefined, 3 + i);
      expect(p.offer(mac(200), undefined, 20)).toMatchObject({ ip: '198.18.0.11', reclaimedFrom: mac(100) });
      // Once that offer lapses (offerMs 5 s) its address is free like any other.
      expect(p.offer(mac(201), undefined, 5003)?.ip).toBe('198.18.0.10');
    });

    it('is exhausted only when every address is bound or offered to a known client', () => {
      const p = pool();
      for (let i = 0; i < 10; i++) bind(p, mac(i), 0);
      expect(p.offer(mac(50), undefined, 1)).toBeUndefined();
    });

    it('binds a REQUEST whose offer was reclaimed, when the address is only offered to another', () => {
      const p = pool();
      flooded(p);
      const mine = p.offer(mac(1), undefined, 20)!; // reclaims .10 from mac(100)
      for (let i = 0; i < 10; i++) p.offer(mac(200 + i), undefined, 21 + i); // the flood goes on: .10 reclaimed again
      expect(p.request(mac(1), 'selecting', mine.ip, true, 40)).toMatchObject({ kind: 'ack', lease: { ip: mine.ip, mac: mac(1) } });
      // The MAC whose offer it was learns so at its own REQUEST.
      expect(p.request(mac(209), 'selecting', mine.ip, true, 41).kind).toBe('nak');
    });

    it('under churn with a flood mixed in, a live binding never changes hands', () => {
      const store = new MemoryLeaseStore();
      const p = pool(store);
      let seed = 25;
      const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
      const live = new Map<string, { mac: string; until: number }>(); // ip → binding the client was ACKed
      for (let t = 0; t < 20_000; t++) {
        const now = t * 20;
        for (const [ip, b] of live) if (b.until <= now) live.delete(ip);
        const act = rnd(6);
        if (act < 3) p.offer(`02:66:${[0, 0, 0, 0].map(() => rnd(256).toString(16).padStart(2, '0')).join(':')}`, undefined, now); // the flood
        else {
          const m = mac(rnd(25));
          if (act === 3) {
            const o = p.offer(m, undefined, now);
            const out = o && p.request(m, 'selecting', o.ip, true, now + rnd(40));
            if (out?.kind === 'ack') {
              for (const [ip, b] of live) if (b.mac === m) live.delete(ip);
              live.set(out.lease.ip, { mac: m, until: out.lease.expiresAt });
            }
          } else if (act === 4) {
            const l = store.byMac(m);
            if (l && p.release(m, l.ip, now)) live.delete(l.ip);
          } else {
            const l = store.byMac(m);
            const out = l && p.request(m, 'renewing', l.ip, undefined, now);
            if (out?.kind === 'ack') live.set(out.lease.ip, { mac: m, until: out.lease.expiresAt });
          }
        }
        for (const [ip, b] of live) expect(store.byIp(ip)).toMatchObject({ mac: b.mac, state: 'bound' });
      }
    });

    it('looks at the store once per DISCOVER, not once per address, while nothing can have freed up', () => {
      const store = new MemoryLeaseStore();
      let reads = 0;
      const counting: LeaseStore = Object.assign(Object.create(store) as LeaseStore, {
        byIp: (ip: string) => (reads++, store.byIp(ip)),
      });
      const p = pool(counting);
      for (let i = 0; i < 10; i++) bind(p, mac(i), 0);
      p.offer(mac(50), undefined, 1); // a full scan: 10 reads
      reads = 0;
      for (let i = 0; i < 100; i++) expect(p.offer(mac(51 + i), undefined, 2 + i)).toBeUndefined();
      expect(reads).toBe(0);
      p.release(mac(3), '198.18.0.13', 200);
      expect(p.offer(mac(60), undefined, 201)?.ip).toBe('198.18.0.13');
    });
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
    it('SELECTING: NAKs an address bound to another or offered to a known client; an unrequested offer gives way', () => {
      const p = pool();
      expect(bind(p, mac(1), 0)).toBe('198.18.0.10');
      expect(p.request(mac(2), 'selecting', '198.18.0.10', true, 0).kind).toBe('nak');
      p.release(mac(1), '198.18.0.10', 1);
      p.offer(mac(1), undefined, 2); // known: bound before
      expect(p.request(mac(2), 'selecting', '198.18.0.10', true, 3).kind).toBe('nak');
      p.offer(mac(3), undefined, 4); // .11, never requested
      expect(p.request(mac(2), 'selecting', '198.18.0.11', true, 5).kind).toBe('ack');
      expect(p.request(mac(3), 'selecting', '198.18.0.11', true, 6).kind).toBe('nak');
      expect(p.request(mac(2), 'selecting', '198.18.0.250', true, 7).kind).toBe('nak'); // outside the range
    });
    it('SELECTING another server: forgets our offer silently', () => {
      const store = new MemoryLeaseStore();
      const p = pool(store);
      p.offer(mac(1), undefined, 0);
      expect(p.request(mac(1), 'selecting', '198.18.0.10', false, 0).kind).toBe('ignore');
      expect(store.byMac(mac(1))).toBeUndefined();
      expect(p.offersHeld(0)).toBe(0);
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
