/** Node inventory: every machine that network-booted, keyed by MAC. */
import type { DatabaseSync } from 'node:sqlite';
import { stmt } from './statements.ts';
import { normalizeMac } from '../../core/mac.ts';
import { ImgsrvError } from '../../core/errors.ts';

import { NODE_PHASES, type NodePhase } from '../../contract/report.ts';
import type { NodeAddress } from '../../contract/plan.ts';

export { NODE_PHASES, type NodePhase };

/** A node as the API and `imgsrv nodes ls --json` show it (stable field names). */
export interface NodeRecord {
  mac: string;
  ip: string | null;
  firmware: 'bios' | 'uefi' | null;
  arch: number | null;
  hostname: string | null;
  /** Who set the hostname: an operator (API, CLI, console, config) or the node's own report; an operator's outranks a report. */
  hostnameBy: HostnameSource | null;
  phase: NodePhase;
  kernel: string | null;
  firstSeen: number;
  lastSeen: number;
  /** Where the node stands with its disk: never installed, asked to (re)install, installing, installed, failed. */
  install: InstallState;
  /** Per-node image override (NAME or NAME@VERSION); null = the default image. */
  image: string | null;
  /** NAME@VERSION being or last installed. */
  installedImage: string | null;
  /** The last failure: failing step and its output. */
  error: string | null;
  /** Sequence number ({n} in the hostname pattern), given when the node first asks for its plan. */
  seq: number | null;
  /** The configuration group whose settings apply to the node; null = the global ones. */
  group: string | null;
  /** The node's own target disk hint (contract/disk-hint.ts); null = its group's or the deployment's. */
  targetDisk: string | null;
  /** The node's own static address, written into its restored system; null = DHCP. */
  network: NodeAddress | null;
  /** Set when an operator retired the node: it leaves the inventory and is never installed again; `wipe` = erase its disk at the next network boot. */
  retired: { at: number; wipe: boolean } | null;
  /** When the node was handed its wipe plan (a 'retired' report counts as "disk wiped" only after that); null otherwise. */
  wipePlannedAt: number | null;
}

/** Who set a node's hostname. */
export type HostnameSource = 'operator' | 'node';

/** Install states (see server/deploy/plan.ts for the transitions). */
export const INSTALL_STATES = ['none', 'pending', 'installing', 'installed', 'failed'] as const;
export type InstallState = (typeof INSTALL_STATES)[number];

/** Fields a sighting may update; absent fields keep their stored value. */
export interface NodeSighting {
  mac: string;
  ip?: string | undefined;
  firmware?: 'bios' | 'uefi' | undefined;
  arch?: number | undefined;
  phase?: NodePhase | undefined;
  kernel?: string | undefined;
}

interface Row {
  mac: string;
  ip: string | null;
  firmware: 'bios' | 'uefi' | null;
  arch: number | null;
  hostname: string | null;
  hostname_by: HostnameSource | null;
  phase: NodePhase;
  kernel: string | null;
  first_seen: number;
  last_seen: number;
  install: InstallState;
  image: string | null;
  installed_image: string | null;
  error: string | null;
  seq: number | null;
  group_name: string | null;
  target_disk: string | null;
  network: string | null;
  retired_at: number | null;
  wipe: number;
  wipe_planned_at: number | null;
}

const toRecord = (r: Row): NodeRecord => ({
  mac: r.mac,
  ip: r.ip,
  firmware: r.firmware,
  arch: r.arch,
  hostname: r.hostname,
  hostnameBy: r.hostname === null ? null : (r.hostname_by ?? 'operator'),
  phase: r.phase,
  kernel: r.kernel,
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
  install: r.install,
  image: r.image,
  installedImage: r.installed_image,
  error: r.error,
  seq: r.seq,
  group: r.group_name,
  targetDisk: r.target_disk,
  network: r.network === null ? null : (JSON.parse(r.network) as NodeAddress),
  retired: r.retired_at === null ? null : { at: r.retired_at, wipe: r.wipe === 1 },
  wipePlannedAt: r.wipe_planned_at,
});

export { normalizeMac } from '../../core/mac.ts';

/** A MAC from a request or a command line, normalised to aa:bb:cc:dd:ee:ff; BAD_USAGE when it isn't one. */
export function parseMac(raw: string): string {
  const mac = normalizeMac(raw);
  if (!mac) throw new ImgsrvError('BAD_USAGE', `"${raw}" is not a MAC address`, { hint: 'use the form aa:bb:cc:dd:ee:ff' });
  return mac;
}

/** The default cap on the inventory for unauthenticated sightings (config nodes.max). */
export const DEFAULT_NODE_LIMIT = 10_000;

/** How stale a node's lastSeen may get before a DHCP sighting that changes nothing else rewrites it (see NodeRepo.sight). */
export const LAST_SEEN_STEP_MS = 1000;

/** Repository over the `nodes` table. */
export class NodeRepo {
  private readonly db: DatabaseSync;
  private readonly defaultGroup: () => string | null;
  /** `defaultGroup` names the group a node joins when it is first seen (scale-out: boot a blank node into a group). */
  constructor(db: DatabaseSync, defaultGroup: () => string | null = () => null) {
    this.db = db;
    this.defaultGroup = defaultGroup;
  }

  private limit = DEFAULT_NODE_LIMIT;

  /** The inventory's cap for rows made by unauthenticated sightings (DHCP, boot files); see `admit`. */
  setLimit(n: number): void {
    this.limit = n;
  }

  /** How many rows the inventory holds (retired ones included). */
  count(): number {
    return Number((stmt(this.db, 'SELECT COUNT(*) AS n FROM nodes').get() as { n: number }).n);
  }

  /**
   * A sighting from an unauthenticated source (a boot file request): updates
   * a known node; adds an unknown one only while the inventory is under its
   * cap, else returns undefined and writes nothing. A node past the cap still
   * registers with its first authenticated report (`record`).
   */
  admit(s: NodeSighting, now = Date.now()): NodeRecord | undefined {
    if (!this.get(s.mac) && this.count() >= this.limit) return undefined;
    return this.record(s, now);
  }

  /** The group a new row starts in: the default group, when it (still) exists. */
  private newGroup(): string | null {
    const g = this.defaultGroup();
    return g && stmt(this.db, 'SELECT 1 FROM groups WHERE name = ?').get(g) ? g : null;
  }

  /** Insert or update a node from a sighting (DHCP, boot report, heartbeat). */
  record(s: NodeSighting, now = Date.now()): NodeRecord {
    this.upsert(s, now, this.newGroup());
    return this.get(s.mac)!;
  }

  /**
   * A DHCP sighting, written only when it changes something: a new node, a
   * changed field, or a lastSeen older than LAST_SEEN_STEP_MS. A client's
   * DISCOVER and REQUEST come milliseconds apart, and rewriting the row for the
   * second cost a write per packet under a booting rack (issue 7 load test).
   * Returns whether the node is new; an unknown node past the inventory's
   * cap is not added (`refused`).
   */
  sight(s: NodeSighting, now = Date.now()): { created: boolean; refused?: true } {
    const row = stmt(this.db, 'SELECT ip, firmware, arch, phase, kernel, last_seen FROM nodes WHERE mac = ?').get(s.mac) as
      | Pick<Row, 'ip' | 'firmware' | 'arch' | 'phase' | 'kernel' | 'last_seen'>
      | undefined;
    if (!row) {
      if (this.count() >= this.limit) return { created: false, refused: true };
      this.upsert(s, now, this.newGroup());
      return { created: true };
    }
    const differs = <T>(v: T | undefined, stored: T | null): boolean => v !== undefined && v !== stored;
    const changed =
      differs(s.ip, row.ip) || differs(s.firmware, row.firmware) || differs(s.arch, row.arch) || differs(s.phase, row.phase) || differs(s.kernel, row.kernel);
    // The group applies only to a new row (ON CONFLICT leaves it), so an update needs no settings lookup.
    if (changed || Math.abs(now - row.last_seen) >= LAST_SEEN_STEP_MS) this.upsert(s, now, null);
    return { created: false };
  }

  private upsert(s: NodeSighting, now: number, grp: string | null): void {
    stmt(
      this.db,
      `INSERT INTO nodes (mac, ip, firmware, arch, phase, kernel, first_seen, last_seen, group_name)
         VALUES (:mac, :ip, :firmware, :arch, COALESCE(:phase, 'discovered'), :kernel, :now, :now, :grp)
         ON CONFLICT (mac) DO UPDATE SET
           ip = COALESCE(:ip, ip), firmware = COALESCE(:firmware, firmware), arch = COALESCE(:arch, arch),
           phase = COALESCE(:phase, phase), kernel = COALESCE(:kernel, kernel), last_seen = :now`,
    ).run({
      mac: s.mac,
      ip: s.ip ?? null,
      firmware: s.firmware ?? null,
      arch: s.arch ?? null,
      phase: s.phase ?? null,
      kernel: s.kernel ?? null,
      now,
      grp,
    });
  }

  /**
   * Set (or clear, with null) a node's hostname; creates the node if unseen.
   * `by` 'operator' is an assignment (the node skips its prompt); 'node' is
   * the name the node reported, which never replaces an operator's: the
   * update then changes nothing and returns false.
   */
  assignHostname(mac: string, hostname: string | null, by: HostnameSource = 'operator', now = Date.now()): boolean {
    const r = stmt(
      this.db,
      `INSERT INTO nodes (mac, hostname, hostname_by, first_seen, last_seen, group_name) VALUES (:mac, :hostname, :by, :now, :now, :grp)
         ON CONFLICT (mac) DO UPDATE SET hostname = excluded.hostname, hostname_by = excluded.hostname_by
         WHERE :by = 'operator' OR nodes.hostname IS NULL OR nodes.hostname_by = 'node'`,
    ).run({ mac, hostname, by: hostname === null ? null : by, now, grp: this.newGroup() });
    return Number(r.changes) > 0;
  }

  get(mac: string): NodeRecord | undefined {
    const row = stmt(this.db, 'SELECT * FROM nodes WHERE mac = ?').get(mac) as Row | undefined;
    return row && toRecord(row);
  }

  /** The inventory: every node but retired ones, unless `all`. */
  list(opts: { all?: boolean } = {}): NodeRecord[] {
    const sql = opts.all ? 'SELECT * FROM nodes ORDER BY mac' : 'SELECT * FROM nodes WHERE retired_at IS NULL ORDER BY mac';
    return (stmt(this.db, sql).all() as unknown as Row[]).map(toRecord);
  }

  /** One page of the inventory in MAC order: at most `limit` nodes whose MAC sorts after `after` (keyset paging: stable while nodes come and go). */
  listPage(opts: { all?: boolean; after?: string | undefined; limit: number }): NodeRecord[] {
    const sql = `SELECT * FROM nodes WHERE mac > :after${opts.all ? '' : ' AND retired_at IS NULL'} ORDER BY mac LIMIT :limit`;
    return (stmt(this.db, sql).all({ after: opts.after ?? '', limit: opts.limit }) as unknown as Row[]).map(toRecord);
  }

  /** Set the install state; `installedImage`/`error` replace the stored ones when given (null clears). */
  setInstall(mac: string, install: InstallState, extra: { installedImage?: string | null; error?: string | null } = {}): NodeRecord | undefined {
    stmt(
      this.db,
      `UPDATE nodes SET install = :install,
           installed_image = CASE WHEN :setImage THEN :installedImage ELSE installed_image END,
           error = CASE WHEN :setError THEN :error ELSE error END
         WHERE mac = :mac`,
    ).run({
      mac,
      install,
      setImage: extra.installedImage !== undefined ? 1 : 0,
      installedImage: extra.installedImage ?? null,
      setError: extra.error !== undefined ? 1 : 0,
      error: extra.error ?? null,
    });
    return this.get(mac);
  }

  /** Pin a node to an image (NAME or NAME@VERSION), or back to the default with null; creates the node if unseen. */
  setImage(mac: string, image: string | null, now = Date.now()): NodeRecord {
    stmt(this.db, 'INSERT INTO nodes (mac, image, first_seen, last_seen, group_name) VALUES (?, ?, ?, ?, ?) ON CONFLICT (mac) DO UPDATE SET image = excluded.image')
      .run(mac, image, now, now, this.newGroup());
    return this.get(mac)!;
  }

  /** Set (or clear, with null) the node's own target disk hint; creates the node if unseen. */
  setTargetDisk(mac: string, hint: string | null, now = Date.now()): NodeRecord {
    stmt(this.db, 'INSERT INTO nodes (mac, target_disk, first_seen, last_seen, group_name) VALUES (?, ?, ?, ?, ?) ON CONFLICT (mac) DO UPDATE SET target_disk = excluded.target_disk')
      .run(mac, hint, now, now, this.newGroup());
    return this.get(mac)!;
  }

  /** Set (or clear, with null) the node's own static address; creates the node if unseen. */
  setNetwork(mac: string, network: NodeAddress | null, now = Date.now()): NodeRecord {
    stmt(this.db, 'INSERT INTO nodes (mac, network, first_seen, last_seen, group_name) VALUES (?, ?, ?, ?, ?) ON CONFLICT (mac) DO UPDATE SET network = excluded.network')
      .run(mac, network === null ? null : JSON.stringify(network), now, now, this.newGroup());
    return this.get(mac)!;
  }

  /** Put a node in a group (null: none); creates the node if unseen. The group must exist (foreign key). */
  setGroup(mac: string, group: string | null, now = Date.now()): NodeRecord {
    stmt(this.db, 'INSERT INTO nodes (mac, group_name, first_seen, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT (mac) DO UPDATE SET group_name = excluded.group_name')
      .run(mac, group, now, now);
    return this.get(mac)!;
  }

  /** Retire a node (out of the inventory, never installed again), or bring it back with null. */
  setRetired(mac: string, retired: { wipe: boolean } | null, now = Date.now()): NodeRecord | undefined {
    stmt(this.db, `UPDATE nodes SET retired_at = :at, wipe = :wipe, wipe_planned_at = NULL, phase = CASE WHEN :at IS NULL THEN phase ELSE 'retired' END WHERE mac = :mac`)
      .run({ mac, at: retired ? now : null, wipe: retired?.wipe ? 1 : 0 });
    return this.get(mac);
  }

  /** Note that a retired node was handed its wipe plan (its 'retired' report then means the disk was wiped). */
  markWipePlanned(mac: string, now = Date.now()): void {
    stmt(this.db, 'UPDATE nodes SET wipe_planned_at = ? WHERE mac = ? AND wipe = 1').run(now, mac);
  }

  /** The node's sequence number, giving it the next free one on first use (stable afterwards). */
  ensureSeq(mac: string): number {
    stmt(this.db, 'UPDATE nodes SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM nodes) WHERE mac = ? AND seq IS NULL').run(mac);
    const row = stmt(this.db, 'SELECT seq FROM nodes WHERE mac = ?').get(mac) as { seq: number | null } | undefined;
    if (row?.seq == null) throw new Error(`node ${mac} is not in the inventory`);
    return row.seq;
  }

  /** Remove a node from the inventory; returns whether it existed. */
  remove(mac: string): boolean {
    return Number(stmt(this.db, 'DELETE FROM nodes WHERE mac = ?').run(mac).changes) > 0;
  }
}
