/**
 * A file-backed LeaseStore for lab tests: the whole table as one JSON file,
 * rewritten on every change. Proves that the allocator's state survives a
 * server restart through nothing but the LeaseStore interface.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { MemoryLeaseStore, type Lease, type LeaseStore, type Reservation } from '../../netboot/dhcp/leases.ts';

/** LeaseStore persisted to `path` (created on first write). */
export class JsonLeaseStore implements LeaseStore {
  private readonly mem: MemoryLeaseStore;
  private readonly path: string;

  constructor(path: string, reservations: Reservation[] = []) {
    this.path = path;
    const rows = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Lease[]) : [];
    this.mem = new MemoryLeaseStore(reservations, rows);
  }
  byMac(mac: string): Lease | undefined {
    return this.mem.byMac(mac);
  }
  leasesOf(mac: string): Lease[] {
    return this.mem.leasesOf(mac);
  }
  byIp(ip: string): Lease | undefined {
    return this.mem.byIp(ip);
  }
  all(): Lease[] {
    return this.mem.all();
  }
  upsert(lease: Lease): void {
    this.mem.upsert(lease);
    this.flush();
  }
  remove(ip: string): void {
    this.mem.remove(ip);
    this.flush();
  }
  reservations(): readonly Reservation[] {
    return this.mem.reservations();
  }
  private flush(): void {
    writeFileSync(`${this.path}.tmp`, JSON.stringify(this.mem.all(), null, 1));
    renameSync(`${this.path}.tmp`, this.path);
  }
}
