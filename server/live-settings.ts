/**
 * Settings an operator changes while the server runs (console, CLI, API):
 * DHCP mode, range and reservations, boot mode, the hostname pattern and the
 * group new nodes join. The config file gives the defaults; a change is
 * stored, then applied (the DHCP service restarts when its mode or range
 * changes). If applying fails, the previous settings are stored and applied
 * again, so a bad change loses nothing.
 */
import { isIPv4 } from 'node:net';
import type { Config } from './config/schema.ts';
import { rangeSchema } from './config/schema.ts';
import { ImgsrvError } from './errors.ts';
import type { Store } from './store/db.ts';
import { normalizeMac } from './store/nodes.ts';
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
  private apply: (next: LiveSettings, prev: LiveSettings) => Promise<void> = async () => undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(store: Store, config: Config) {
    this.store = store;
    const r = config.dhcp.range;
    this.defaults = {
      dhcp: { mode: config.dhcp.mode, range: r ? `${r.first}-${r.last}` : null, reservations: config.dhcp.reservations },
      boot: { mode: config.boot.mode },
      nodes: { hostnamePattern: config.nodes.hostnamePattern, defaultGroup: null },
    };
  }

  /** Set what applying a change does (serve wires DHCP restarts and reservations here). */
  onApply(fn: (next: LiveSettings, prev: LiveSettings) => Promise<void>): void {
    this.apply = fn;
  }

  /** The settings in force. */
  get(): LiveSettings {
    const s = this.store.settings;
    const d = this.defaults;
    return {
      dhcp: {
        mode: s.get<LiveSettings['dhcp']['mode']>(KEYS.dhcpMode) ?? d.dhcp.mode,
        range: s.get<string | null>(KEYS.dhcpRange) ?? d.dhcp.range,
        reservations: s.get<Reservation[]>(KEYS.reservations) ?? d.dhcp.reservations,
      },
      boot: { mode: s.get<'http' | 'tftp'>(KEYS.bootMode) ?? d.boot.mode },
      nodes: { hostnamePattern: s.get<string>(KEYS.hostnamePattern) ?? d.nodes.hostnamePattern, defaultGroup: s.get<string | null>(KEYS.defaultGroup) ?? null },
    };
  }

  /** Validate, store and apply a change; changes run one at a time. Throws BAD_USAGE naming the key, or the apply error after rolling back. */
  update(patch: LiveSettingsPatch): Promise<LiveSettings> {
    const run = this.queue.then(() => this.updateNow(patch));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async updateNow(patch: LiveSettingsPatch): Promise<LiveSettings> {
    const prev = this.get();
    const next: LiveSettings = {
      dhcp: { ...prev.dhcp, ...patch.dhcp },
      boot: { ...prev.boot, ...patch.boot },
      nodes: { ...prev.nodes, ...patch.nodes },
    };
    next.dhcp.reservations = next.dhcp.reservations.map((r, i) => checkReservation(r, i));
    this.check(next);
    this.write(next);
    try {
      this.store.leases.setReservations(next.dhcp.reservations);
      await this.apply(next, prev);
    } catch (err) {
      this.write(prev);
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
    if (s.dhcp.mode === 'full' && !s.dhcp.range) throw new ImgsrvError('BAD_USAGE', 'dhcp.range: full DHCP mode needs an address range', { hint: 'set dhcp.range, or use proxy mode' });
    const ips = new Set<string>();
    for (const r of s.dhcp.reservations) {
      if (ips.has(r.ip)) throw new ImgsrvError('BAD_USAGE', `dhcp.reservations: ${r.ip} is reserved twice`, { hint: 'one MAC per address' });
      ips.add(r.ip);
    }
    if (new Set(s.dhcp.reservations.map((r) => r.mac)).size !== s.dhcp.reservations.length) {
      throw new ImgsrvError('BAD_USAGE', 'dhcp.reservations: a MAC is reserved twice', { hint: 'one address per MAC' });
    }
    const g = s.nodes.defaultGroup;
    if (g !== null && !this.store.groups.get(g)) throw new ImgsrvError('BAD_USAGE', `nodes.defaultGroup: no group ${g}`, { hint: 'create it first: `imgsrv groups set NAME`' });
  }

  private write(s: LiveSettings): void {
    const set = (k: string, v: unknown) => this.store.settings.set(k, v);
    this.store.db.exec('BEGIN IMMEDIATE');
    try {
      set(KEYS.dhcpMode, s.dhcp.mode);
      set(KEYS.dhcpRange, s.dhcp.range);
      set(KEYS.reservations, s.dhcp.reservations);
      set(KEYS.bootMode, s.boot.mode);
      set(KEYS.hostnamePattern, s.nodes.hostnamePattern);
      set(KEYS.defaultGroup, s.nodes.defaultGroup);
      this.store.db.exec('COMMIT');
    } catch (err) {
      this.store.db.exec('ROLLBACK');
      throw err;
    }
  }
}

function checkReservation(r: Reservation, i: number): Reservation {
  const mac = normalizeMac(r.mac);
  if (!mac) throw new ImgsrvError('BAD_USAGE', `dhcp.reservations.${i}.mac: "${r.mac}" is not a MAC address`, { hint: 'use aa:bb:cc:dd:ee:ff' });
  if (!isIPv4(r.ip)) throw new ImgsrvError('BAD_USAGE', `dhcp.reservations.${i}.ip: "${r.ip}" is not an IPv4 address`, { hint: 'e.g. 198.18.0.50' });
  return r.hostname ? { mac, ip: r.ip, hostname: r.hostname } : { mac, ip: r.ip };
}
