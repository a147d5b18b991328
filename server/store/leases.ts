/**
 * The DHCP lease store in SQLite: the synchronous `LeaseStore` the DHCP
 * allocator (netboot/dhcp/leases.ts) works on. Every write is committed
 * before the server answers the client: on its own, or with the rest of the
 * packet's writes in the transaction the DHCP server wraps around a batch
 * (`DhcpServerOptions.transaction`, wired by server/serve.ts).
 */
import type { DatabaseSync } from 'node:sqlite';
import type { Lease, LeaseStore, Reservation } from '../../netboot/dhcp/leases.ts';
import { stmt } from './statements.ts';
import { inTransaction } from './transaction.ts';

interface Row {
  ip: string;
  mac: string;
  state: Lease['state'];
  expires_at: number;
  hostname: string | null;
}

const toLease = (r: Row): Lease => ({
  ip: r.ip,
  mac: r.mac,
  state: r.state,
  expiresAt: r.expires_at,
  ...(r.hostname === null ? {} : { hostname: r.hostname }),
});

/** LeaseStore over the `leases` and `reservations` tables. */
export class SqliteLeaseStore implements LeaseStore {
  private readonly db: DatabaseSync;
  /**
   * The reservation table in memory: the allocator reads it for every candidate
   * address, and only setReservations changes it. Kept only from outside a
   * transaction, so it never holds rows that a rollback undid.
   */
  private reserved: readonly Reservation[] | undefined;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  byMac(mac: string): Lease | undefined {
    // A MAC normally holds one address; if history left several, the newest wins.
    const row = stmt(this.db, 'SELECT * FROM leases WHERE mac = ? ORDER BY expires_at DESC LIMIT 1').get(mac) as Row | undefined;
    return row && toLease(row);
  }

  leasesOf(mac: string): Lease[] {
    return (stmt(this.db, 'SELECT * FROM leases WHERE mac = ?').all(mac) as unknown as Row[]).map(toLease);
  }

  byIp(ip: string): Lease | undefined {
    const row = stmt(this.db, 'SELECT * FROM leases WHERE ip = ?').get(ip) as Row | undefined;
    return row && toLease(row);
  }

  all(): Lease[] {
    return (stmt(this.db, 'SELECT * FROM leases ORDER BY ip').all() as unknown as Row[]).map(toLease);
  }

  upsert(lease: Lease): void {
    stmt(
      this.db,
      `INSERT INTO leases (ip, mac, state, expires_at, hostname) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (ip) DO UPDATE SET mac = excluded.mac, state = excluded.state,
           expires_at = excluded.expires_at, hostname = excluded.hostname`,
    ).run(lease.ip, lease.mac, lease.state, lease.expiresAt, lease.hostname ?? null);
  }

  remove(ip: string): void {
    stmt(this.db, 'DELETE FROM leases WHERE ip = ?').run(ip);
  }

  reservations(): readonly Reservation[] {
    if (this.reserved) return this.reserved;
    const rows = Object.freeze(this.readReservations().map((r) => Object.freeze(r)));
    if (!this.db.isTransaction) this.reserved = rows;
    return rows;
  }

  private readReservations(): Reservation[] {
    const rows = stmt(this.db, 'SELECT mac, ip, hostname FROM reservations ORDER BY mac').all() as unknown as Array<{
      mac: string;
      ip: string;
      hostname: string | null;
    }>;
    return rows.map((r) => ({ mac: r.mac, ip: r.ip, ...(r.hostname === null ? {} : { hostname: r.hostname }) }));
  }

  /** Replace the reservation table with the configured set (config is the source of truth). */
  setReservations(list: Reservation[]): void {
    // Forget the copy first: if the write fails, the next read goes back to the table.
    this.reserved = undefined;
    inTransaction(this.db, () => {
      this.db.exec('DELETE FROM reservations');
      const ins = stmt(this.db, 'INSERT INTO reservations (mac, ip, hostname) VALUES (?, ?, ?)');
      for (const r of list) ins.run(r.mac, r.ip, r.hostname ?? null);
    });
    this.reservations();
  }
}
