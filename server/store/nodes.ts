/** Node inventory: every machine that network-booted, keyed by MAC. */
import type { DatabaseSync } from 'node:sqlite';

/** Phases a node moves through; later issues add downloading, restoring, … */
export const NODE_PHASES = ['discovered', 'booted', 'downloading', 'restoring', 'personalising', 'seeding', 'done', 'failed', 'retired'] as const;
export type NodePhase = (typeof NODE_PHASES)[number];

/** A node as the API and `imgsrv nodes ls --json` show it (stable field names). */
export interface NodeRecord {
  mac: string;
  ip: string | null;
  firmware: 'bios' | 'uefi' | null;
  arch: number | null;
  hostname: string | null;
  phase: NodePhase;
  kernel: string | null;
  firstSeen: number;
  lastSeen: number;
}

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
  phase: NodePhase;
  kernel: string | null;
  first_seen: number;
  last_seen: number;
}

const toRecord = (r: Row): NodeRecord => ({
  mac: r.mac,
  ip: r.ip,
  firmware: r.firmware,
  arch: r.arch,
  hostname: r.hostname,
  phase: r.phase,
  kernel: r.kernel,
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
});

export { normalizeMac } from '../../netboot/mac.ts';

/** Repository over the `nodes` table. */
export class NodeRepo {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** Insert or update a node from a sighting (DHCP, boot report, heartbeat). */
  record(s: NodeSighting, now = Date.now()): NodeRecord {
    this.db
      .prepare(
        `INSERT INTO nodes (mac, ip, firmware, arch, phase, kernel, first_seen, last_seen)
         VALUES (:mac, :ip, :firmware, :arch, COALESCE(:phase, 'discovered'), :kernel, :now, :now)
         ON CONFLICT (mac) DO UPDATE SET
           ip = COALESCE(:ip, ip), firmware = COALESCE(:firmware, firmware), arch = COALESCE(:arch, arch),
           phase = COALESCE(:phase, phase), kernel = COALESCE(:kernel, kernel), last_seen = :now`,
      )
      .run({
        mac: s.mac,
        ip: s.ip ?? null,
        firmware: s.firmware ?? null,
        arch: s.arch ?? null,
        phase: s.phase ?? null,
        kernel: s.kernel ?? null,
        now,
      });
    return this.get(s.mac)!;
  }

  /** Pre-assign (or clear, with null) a node's hostname; creates the node if unseen. */
  assignHostname(mac: string, hostname: string | null, now = Date.now()): NodeRecord {
    this.db
      .prepare(
        `INSERT INTO nodes (mac, hostname, first_seen, last_seen) VALUES (?, ?, ?, ?)
         ON CONFLICT (mac) DO UPDATE SET hostname = excluded.hostname`,
      )
      .run(mac, hostname, now, now);
    return this.get(mac)!;
  }

  get(mac: string): NodeRecord | undefined {
    const row = this.db.prepare('SELECT * FROM nodes WHERE mac = ?').get(mac) as Row | undefined;
    return row && toRecord(row);
  }

  list(): NodeRecord[] {
    return (this.db.prepare('SELECT * FROM nodes ORDER BY mac').all() as unknown as Row[]).map(toRecord);
  }

  /** Remove a node from the inventory; returns whether it existed. */
  remove(mac: string): boolean {
    return Number(this.db.prepare('DELETE FROM nodes WHERE mac = ?').run(mac).changes) > 0;
  }
}
