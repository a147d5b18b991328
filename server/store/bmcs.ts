/**
 * BMC credentials per node and per group. This repository stores the
 * password sealed, as opaque bytes: it never sees a clear password and has
 * no key (server/power/credentials.ts seals and opens).
 */
import type { DatabaseSync } from 'node:sqlite';
import { stmt } from './statements.ts';

/** A node's own BMC row. */
export interface NodeBmcRow {
  mac: string;
  driver: string;
  address: string;
  port: number | null;
  user: string | null;
  secret: Uint8Array | null;
  updatedAt: number;
}

/** A group's shared BMC login. */
export interface GroupBmcRow {
  name: string;
  user: string;
  secret: Uint8Array;
  updatedAt: number;
}

/** Repository over `node_bmcs` and `group_bmcs`. */
export class BmcRepo {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  /** Store (replacing) a node's BMC row; the node must exist. */
  setNode(r: Omit<NodeBmcRow, 'updatedAt'>, now = Date.now()): void {
    stmt(
      this.db,
      `INSERT INTO node_bmcs (mac, driver, address, port, user, secret, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (mac) DO UPDATE SET driver = excluded.driver, address = excluded.address, port = excluded.port,
         user = excluded.user, secret = excluded.secret, updated_at = excluded.updated_at`,
    ).run(r.mac, r.driver, r.address, r.port, r.user, r.secret, now);
  }

  node(mac: string): NodeBmcRow | undefined {
    const row = stmt(this.db, 'SELECT mac, driver, address, port, user, secret, updated_at AS updatedAt FROM node_bmcs WHERE mac = ?').get(mac);
    return row as unknown as NodeBmcRow | undefined;
  }

  removeNode(mac: string): boolean {
    return Number(stmt(this.db, 'DELETE FROM node_bmcs WHERE mac = ?').run(mac).changes) > 0;
  }

  setGroup(r: Omit<GroupBmcRow, 'updatedAt'>, now = Date.now()): void {
    stmt(
      this.db,
      `INSERT INTO group_bmcs (name, user, secret, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET user = excluded.user, secret = excluded.secret, updated_at = excluded.updated_at`,
    ).run(r.name, r.user, r.secret, now);
  }

  group(name: string): GroupBmcRow | undefined {
    return stmt(this.db, 'SELECT name, user, secret, updated_at AS updatedAt FROM group_bmcs WHERE name = ?').get(name) as unknown as GroupBmcRow | undefined;
  }

  removeGroup(name: string): boolean {
    return Number(stmt(this.db, 'DELETE FROM group_bmcs WHERE name = ?').run(name).changes) > 0;
  }
}
