/**
 * What unauthenticated read requests may claim (issue 25: a burst of 11,200
 * RRQs held 20,000 open files). Pure bookkeeping, no sockets or timers.
 *
 * Caps on transfers in total and per client address. When the total is
 * reached, the oldest transfer whose client has never answered (no ACK yet: a
 * spoofed source, or a client that went away) is evicted for a newcomer, so a
 * flood of forged requests cannot lock real clients out; a transfer whose
 * client answered is never evicted. Only a newcomer whose address has no
 * unanswered transfer of its own may evict: a flooding address is refused
 * (cheap) instead of churning slots (a file open and a socket each), while a
 * real client, which waits for one answer before it asks again, gets in.
 */

/** Caps; `maxTransfers` and `maxPerAddress` are at least 1. */
export interface SlotLimits {
  maxTransfers: number;
  maxPerAddress: number;
  /**
   * An evicted transfer keeps its socket and file until they are closed, a
   * moment later: eviction may run this far ahead of those closes, no further.
   * Default ceil(maxTransfers / 8).
   */
  evictionHeadroom?: number;
}

/** Defaults of the server: 256 transfers, 8 per client address (a PXE ROM or boot loader fetches one file at a time). */
export const DEFAULT_SLOT_LIMITS = { maxTransfers: 256, maxPerAddress: 8 } as const;

/** Anything held in a slot: the bookkeeping needs only its client address. */
export interface SlotHolder {
  readonly address: string;
}

/** Which cap refused a request. */
export type SlotLimit = 'total' | 'per-address';

/** The answer to `admit`: in (perhaps at the cost of an unanswered transfer), or refused by a cap. */
export type Admission<H> = { ok: true; evicted: H | null } | { ok: false; limit: SlotLimit };

/**
 * Slots for transfers. A holder is counted from `admit` until `release`
 * (after its socket and file are closed), so `held` bounds open descriptors:
 * never more than `maxHeld` = maxTransfers + evictionHeadroom.
 */
export class TransferSlots<H extends SlotHolder> {
  readonly maxTransfers: number;
  readonly maxPerAddress: number;
  readonly maxHeld: number;
  private readonly holders = new Set<H>();
  private readonly perAddress = new Map<string, number>();
  /** Held and not yet answered, oldest first (a Set keeps insertion order): eviction candidates. */
  private readonly unanswered = new Set<H>();
  private readonly unansweredPerAddress = new Map<string, number>();

  constructor(limits: SlotLimits) {
    if (!(limits.maxTransfers >= 1 && limits.maxPerAddress >= 1)) throw new RangeError('slot limits must be at least 1');
    this.maxTransfers = limits.maxTransfers;
    this.maxPerAddress = limits.maxPerAddress;
    this.maxHeld = limits.maxTransfers + (limits.evictionHeadroom ?? Math.ceil(limits.maxTransfers / 8));
  }

  /** Slots in use, evicted ones still closing included. */
  get held(): number {
    return this.holders.size;
  }

  /** Slots held by one client address. */
  heldBy(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  /** Slots of one client address whose client has not answered yet. */
  unansweredBy(address: string): number {
    return this.unansweredPerAddress.get(address) ?? 0;
  }

  /**
   * Take a slot for `h`, or say which cap refuses it. When the total is full
   * and `h`'s address has no unanswered transfer, the oldest unanswered holder
   * is evicted (returned: the caller ends it); it stays counted until released.
   */
  admit(h: H): Admission<H> {
    if (this.heldBy(h.address) >= this.maxPerAddress) return { ok: false, limit: 'per-address' };
    let evicted: H | null = null;
    if (this.holders.size >= this.maxTransfers) {
      const oldest = this.unanswered.values().next();
      if (oldest.done || this.holders.size >= this.maxHeld || this.unansweredBy(h.address) > 0) return { ok: false, limit: 'total' };
      evicted = oldest.value;
      this.answered(evicted); // no longer a candidate
    }
    this.holders.add(h);
    this.unanswered.add(h);
    this.unansweredPerAddress.set(h.address, this.unansweredBy(h.address) + 1);
    this.perAddress.set(h.address, this.heldBy(h.address) + 1);
    return { ok: true, evicted };
  }

  /** The client answered (a valid ACK): `h` is a real transfer now and is never evicted. */
  answered(h: H): void {
    if (!this.unanswered.delete(h)) return;
    decrement(this.unansweredPerAddress, h.address);
  }

  /** `h` has closed everything it held. Idempotent. */
  release(h: H): void {
    if (!this.holders.delete(h)) return;
    this.answered(h);
    decrement(this.perAddress, h.address);
  }
}

function decrement(m: Map<string, number>, key: string): void {
  const n = (m.get(key) ?? 0) - 1;
  if (n > 0) m.set(key, n);
  else m.delete(key);
}
