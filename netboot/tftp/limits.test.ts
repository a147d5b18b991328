/** The slot bookkeeping, without sockets. */
import { describe, expect, it } from 'vitest';
import { TransferSlots } from './limits.ts';

const holder = (address: string, name = address) => ({ address, name });

describe('TransferSlots', () => {
  it('refuses past the per-address cap and frees the slot on release', () => {
    const s = new TransferSlots<ReturnType<typeof holder>>({ maxTransfers: 10, maxPerAddress: 2 });
    const a1 = holder('10.0.0.1', 'a1');
    const a2 = holder('10.0.0.1', 'a2');
    expect(s.admit(a1)).toEqual({ ok: true, evicted: null });
    expect(s.admit(a2)).toEqual({ ok: true, evicted: null });
    expect(s.admit(holder('10.0.0.1', 'a3'))).toEqual({ ok: false, limit: 'per-address' });
    expect(s.admit(holder('10.0.0.2'))).toEqual({ ok: true, evicted: null });
    expect(s.heldBy('10.0.0.1')).toBe(2);
    s.release(a1);
    s.release(a1); // idempotent
    expect(s.heldBy('10.0.0.1')).toBe(1);
    expect(s.held).toBe(2);
    expect(s.admit(holder('10.0.0.1', 'a4')).ok).toBe(true);
  });

  it('when full, evicts the oldest transfer whose client never answered, never an answered one', () => {
    const s = new TransferSlots<ReturnType<typeof holder>>({ maxTransfers: 3, maxPerAddress: 8, evictionHeadroom: 2 });
    const [a, b, c] = [holder('10.0.0.1'), holder('10.0.0.2'), holder('10.0.0.3')];
    for (const h of [a, b, c]) s.admit(h);
    s.answered(a);
    const d = holder('10.0.0.4');
    expect(s.admit(d)).toEqual({ ok: true, evicted: b }); // a answered: b is the oldest unanswered
    expect(s.held).toBe(4); // b still holds its socket until released
    s.answered(c);
    s.answered(d);
    expect(s.admit(holder('10.0.0.5'))).toEqual({ ok: false, limit: 'total' }); // nobody left to evict
    s.release(b);
    expect(s.held).toBe(3);
    expect(s.admit(holder('10.0.0.6'))).toEqual({ ok: false, limit: 'total' });
    s.release(c);
    expect(s.admit(holder('10.0.0.7'))).toEqual({ ok: true, evicted: null });
  });

  it('when full, lets only an address with no unanswered transfer of its own evict', () => {
    const s = new TransferSlots<ReturnType<typeof holder>>({ maxTransfers: 2, maxPerAddress: 8 });
    const [f1, f2] = [holder('10.0.0.1', 'f1'), holder('10.0.0.1', 'f2')];
    s.admit(f1);
    s.admit(f2);
    expect(s.unansweredBy('10.0.0.1')).toBe(2);
    // The flooding address asks again: refused, no churn.
    expect(s.admit(holder('10.0.0.1', 'f3'))).toEqual({ ok: false, limit: 'total' });
    // A real client (nothing pending) gets in at the flood's expense.
    const real = holder('10.0.0.2');
    expect(s.admit(real)).toEqual({ ok: true, evicted: f1 });
    expect(s.unansweredBy('10.0.0.1')).toBe(1);
    s.answered(real);
    s.answered(real); // idempotent
    expect(s.unansweredBy('10.0.0.2')).toBe(0);
    s.release(f1);
    // Its transfer running, the real client may ask for its next file.
    expect(s.admit(holder('10.0.0.2', 'next'))).toEqual({ ok: true, evicted: f2 });
  });

  it('never holds more than maxTransfers + headroom, however fast requests evict', () => {
    const s = new TransferSlots<ReturnType<typeof holder>>({ maxTransfers: 8, maxPerAddress: 1 });
    expect(s.maxHeld).toBe(9); // ceil(8 / 8)
    const evicted: unknown[] = [];
    let refused = 0;
    // A flood from distinct (forged) addresses that never answers, and nothing is released yet.
    for (let i = 0; i < 1000; i++) {
      const r = s.admit(holder(`10.0.${i >> 8}.${i & 255}`));
      if (!r.ok) refused++;
      else if (r.evicted) evicted.push(r.evicted);
      expect(s.held).toBeLessThanOrEqual(s.maxHeld);
    }
    expect(evicted).toHaveLength(1);
    expect(refused).toBe(1000 - 9);
    // Once the evicted one has closed, the next request evicts again.
    s.release(evicted[0] as ReturnType<typeof holder>);
    expect(s.admit(holder('10.9.9.9')).ok).toBe(true);
  });

  it('rejects caps below 1', () => {
    expect(() => new TransferSlots({ maxTransfers: 0, maxPerAddress: 1 })).toThrow(RangeError);
    expect(() => new TransferSlots({ maxTransfers: 1, maxPerAddress: Number.NaN })).toThrow(RangeError);
  });
});
