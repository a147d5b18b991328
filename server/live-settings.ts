/**
 * Settings an operator changes while the server runs (console, CLI, API):
 * DHCP mode, range and reservations, boot mode, the hostname pattern and the
 * group new nodes join. The config file gives the defaults; a change is
 * stored, then applied (the DHCP service restarts when its mode or range
 * changes). If applying fails, the previous settings are stored and applied
 * again, so a bad change loses nothing. The settings in force are kept in
 * memory (read once at start, replaced by each change): the DHCP path asks
 * for the boot mode on every PXE packet.
 */
import type { Config } from './config/schema.ts';
import { rangeSchema, reservationSchema } from './config/schema.ts';
import { ImgsrvError } from '../core/errors.ts';
import { hostnamePatternProblem } from '../core/hostname.ts';
import type { Store } from './store/db.ts';
import { inTransaction } from './store/transaction.ts';
import type { Reservation } from '../netboot/dhcp/leases.ts';

/** The live settings (the API's GET /settings). */
export interface LiveSettings {
  dhcp: { mode: 'full' | 'proxy' | 'off'; range: string | null; reservations: Reservation[] };
  boot: { mode: 'http' | 'tftp' };
  nodes: { hostnamePattern: string; defaultGroup: string | null };
}

/** A nested partial of LiveSettings (PUT /settings). */
export interface LiveSettingsPatch {
  dhcp?: Partial<LiveSettings['dhcp']>;
  boot?: Partial<LiveSettings['boot']>;
  nodes?: Partial<LiveSettings['nodes']>;
}

/** Settings-table keys, one per field. */
const KEYS = {
  dhcpMode: 'dhcp.mode',
  dhcpRange: 'dhcp.range',
  reservations: 'dhcp.reservations',
  bootMode: 'boot.mode',
  hostnamePattern: 'nodes.hostnamePattern',
  defaultGroup: 'nodes.defaultGroup',
} as const;

/** Reads, validates, stores and applies the live settings. */
export class LiveSettingsService {
  private readonly store: Store;
  private readonly defaults: LiveSettings;
  /** The settings in force; this service is the only writer of their keys, so the copy cannot go stale. */
  private current: LiveSettings;
  private apply: (next: LiveSettings, prev: LiveSettings) => Promise<void> = async () => undefined;
  private queue: Promise<unknown> = Promise.resolve();

  /** Whether the config lists subnets behind relays (then full mode may run without a local range). */
  private readonly relayedSubnets: boolean;

  constructor(store: Store, config: Config) {
    this.store = store;
    this.relayedSubnets = config.dhcp.subnets.length > 0;
    const r = config.dhcp.range;
    this.defaults = {
      dhcp: { mode: config.dhcp.mode, range: r ? `${r.first}-${r.last}` : null, reservations: config.dhcp.reservations },
      boot: { mode: config.boot.mode },
      nodes: { hostnamePattern: config.nodes.hostnamePattern, defaultGroup: null },
    };
    this.current = this.read();
  }

  /** Set what applying a change does (serve wires DHCP restarts and reservations here). */
  onApply(fn: (next: LiveSettings, prev: LiveSettings) => Promise<void>): void {
    this.apply = fn;
  }

  /** The settings in force (frozen: a change goes through update). */
  get(): LiveSettings {
    return this.current;
  }

  /** Each stored value, else the config's. */
  private read(): LiveSettings {
    const d = this.defaults;
    const v = <T>(key: string, fallback: T): T => {
      const stored = this.store.settings.get<T>(key);
      return stored === undefined ? fallback : stored;
    };
    // A copy: the fallbacks are the config's own objects, which freezing must not touch.
    return deepFreeze(
      structuredClone({
        dhcp: { mode: v(KEYS.dhcpMode, d.dhcp.mode), range: v(KEYS.dhcpRange, d.dhcp.range), reservations: v(KEYS.reservations, d.dhcp.reservations) },
        boot: { mode: v(KEYS.bootMode, d.boot.mode) },
        nodes: { hostnamePattern: v(KEYS.hostnamePattern, d.nodes.hostnamePattern), defaultGroup: v(KEYS.defaultGroup, d.nodes.defaultGroup) },
      }),
    );
  }

  /** Stored settings that differ from the config's (a flag like --dhcp is overridden by them: say so at start). */
  overrides(): Array<{ key: string; stored: unknown; config: unknown }> {
    const now = this.get();
    const d = this.defaults;
    const pairs: Array<[string, unknown, unknown]> = [
      ['dhcp.mode', now.dhcp.mode, d.dhcp.mode],
      ['dhcp.range', now.dhcp.range, d.dhcp.range],
      ['dhcp.reservations', now.dhcp.reservations, d.dhcp.reservations],
      ['boot.mode', now.boot.mode, d.boot.mode],
      ['nodes.hostnamePattern', now.nodes.hostnamePattern, d.nodes.hostnamePattern],
    ];
    return pairs.filter(([, a, b]) => JSON.stringify(a) !== JSON.stringify(b)).map(([key, stored, config]) => ({ key, stored, config }));
  }

  /** Validate, store and apply a change; changes run one at a time. Throws BAD_USAGE naming the key, or the apply error after rolling back. */
  update(patch: LiveSettingsPatch): Promise<LiveSettings> {
    const run = this.queue.then(() => this.updateNow(patch));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async updateNow(patch: LiveSettingsPatch): Promise<LiveSettings> {
    const prev = this.current;
    const draft: LiveSettings = {
      dhcp: { ...prev.dhcp, ...patch.dhcp },
      boot: { ...prev.boot, ...patch.boot },
      nodes: { ...prev.nodes, ...patch.nodes },
    };
    draft.dhcp.reservations = draft.dhcp.reservations.map((r, i) => checkReservation(r, i));
    this.check(draft);
    const next = deepFreeze(draft);
    this.write(next);
    // In force from here on: the apply step and every packet after it see the new values.
    this.current = next;
    try {
      this.store.leases.setReservations(next.dhcp.reservations);
      await this.apply(next, prev);
    } catch (err) {
      this.write(prev);
      this.current = prev;
      this.store.leases.setReservations(prev.dhcp.reservations);
      await this.apply(prev, next).catch(() => undefined);
      throw new ImgsrvError('CONFLICT', `the change could not be applied, so the previous settings stay: ${(err as Error).message}`, {
        hint: 'see the server log',
        cause: err,
      });
    }
    return next;
  }

  private check(s: LiveSettings): void {
    if (s.dhcp.range !== null) {
      const parsed = rangeSchema.safeParse(s.dhcp.range);
      if (!parsed.success) throw new ImgsrvError('BAD_USAGE', `dhcp.range: ${parsed.error.issues[0]?.message ?? 'invalid'}`, { hint: 'e.g. 198.18.0.100-198.18.0.200' });
    }
    if (s.dhcp.mode === 'full' && !s.dhcp.range && !this.relayedSubnets) throw new ImgsrvError('BAD_USAGE', 'dhcp.range: full DHCP mode needs an address range', { hint: 'set dhcp.range, or use proxy mode' });
    const ips = new Set<string>();
    for (const r of s.dhcp.reservations) {
      if (ips.has(r.ip)) throw new ImgsrvError('BAD_USAGE', `dhcp.reservations: ${r.ip} is reserved twice`, { hint: 'one MAC per address' });
      ips.add(r.ip);
    }
    if (new Set(s.dhcp.reservations.map((r) => r.mac)).size !== s.dhcp.reservations.length) {
      throw new ImgsrvError('BAD_USAGE', 'dhcp.reservations: a MAC is reserved twice', { hint: 'one address per MAC' });
    }
    const pattern = hostnamePatternProblem(s.nodes.hostnamePattern);
    if (pattern) throw new ImgsrvError('BAD_USAGE', `nodes.hostnamePattern: ${pattern}`, { hint: 'e.g. node-{n} or rack1-{mac}' });
    const g = s.nodes.defaultGroup;
    if (g !== null && !this.store.groups.get(g)) throw new ImgsrvError('BAD_USAGE', `nodes.defaultGroup: no group ${g}`, { hint: 'create it first: `imgsrv groups set NAME`' });
  }

  /** Store the values that differ from the config's and drop the others, so the config file stays in charge of the rest. */
  private write(s: LiveSettings): void {
    const d = this.defaults;
    const set = (key: string, value: unknown, fallback: unknown) =>
      this.store.settings.set(key, JSON.stringify(value) === JSON.stringify(fallback) ? undefined : value);
    inTransaction(this.store.db, () => {
      set(KEYS.dhcpMode, s.dhcp.mode, d.dhcp.mode);
      set(KEYS.dhcpRange, s.dhcp.range, d.dhcp.range);
      set(KEYS.reservations, s.dhcp.reservations, d.dhcp.reservations);
      set(KEYS.bootMode, s.boot.mode, d.boot.mode);
      set(KEYS.hostnamePattern, s.nodes.hostnamePattern, d.nodes.hostnamePattern);
      set(KEYS.defaultGroup, s.nodes.defaultGroup, d.nodes.defaultGroup);
    });
  }
}

/** Freeze `v` and everything in it, so a caller of get() cannot change the settings in force behind the store's back. */
function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** One reservation through the config file's own rule, with the key path in the error. */
function checkReservation(r: Reservation, i: number): Reservation {
  const res = reservationSchema.safeParse(r);
  if (!res.success) {
    const issue = res.error.issues[0];
    throw new ImgsrvError('BAD_USAGE', `dhcp.reservations.${i}.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`, { hint: 'e.g. { mac: aa:bb:cc:dd:ee:01, ip: 198.18.0.50 }' });
  }
  return res.data;
}
