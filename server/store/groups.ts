/**
 * Configuration groups: a group's image, hostname pattern, kept partitions
 * and boot settings apply to every node in it, in place of the global ones
 * (a null field inherits the global value).
 */
import type { DatabaseSync } from 'node:sqlite';
import { stmt } from './statements.ts';

/** A group as the API and `imgsrv groups ls --json` show it (stable field names). */
export interface GroupRecord {
  name: string;
  /** NAME (its latest version) or NAME@VERSION; null = the deploy image. */
  image: string | null;
  hostnamePattern: string | null;
  keep: string[] | null;
  /** Appended to the netboot kernel command line of the group's nodes. */
  kernelArgs: string[];
  targetDisk: string | null;
  promptTimeout: number | null;
  createdAt: number;
  /** Nodes in the group (retired ones not counted). */
  nodes: number;
}

/** Fields a PUT may change; absent ones keep their value. */
export type GroupPatch = Partial<Omit<GroupRecord, 'name' | 'createdAt' | 'nodes'>>;

interface Row {
  name: string;
  image: string | null;
  hostname_pattern: string | null;
  keep: string | null;
  kernel_args: string;
  target_disk: string | null;
  prompt_timeout: number | null;
  created_at: number;
  nodes: number;
}

const toRecord = (r: Row): GroupRecord => ({
  name: r.name,
  image: r.image,
  hostnamePattern: r.hostname_pattern,
  keep: r.keep === null ? null : (JSON.parse(r.keep) as string[]),
  kernelArgs: JSON.parse(r.kernel_args) as string[],
  targetDisk: r.target_disk,
  promptTimeout: r.prompt_timeout,
  createdAt: r.created_at,
  nodes: r.nodes,
});

const SELECT = `SELECT g.*, (SELECT COUNT(*) FROM nodes n WHERE n.group_name = g.name AND n.retired_at IS NULL) AS nodes FROM groups g`;

/** Repository over the `groups` table. */
export class GroupRepo {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  list(): GroupRecord[] {
    return (stmt(this.db, `${SELECT} ORDER BY g.name`).all() as unknown as Row[]).map(toRecord);
  }

  get(name: string): GroupRecord | undefined {
    const row = stmt(this.db, `${SELECT} WHERE g.name = ?`).get(name) as Row | undefined;
    return row && toRecord(row);
  }

  /** Create the group or change the given fields. */
  upsert(name: string, patch: GroupPatch, now = Date.now()): GroupRecord {
    const cur = this.get(name);
    const next = {
      image: patch.image !== undefined ? patch.image : (cur?.image ?? null),
      hostnamePattern: patch.hostnamePattern !== undefined ? patch.hostnamePattern : (cur?.hostnamePattern ?? null),
      keep: patch.keep !== undefined ? patch.keep : (cur?.keep ?? null),
      kernelArgs: patch.kernelArgs ?? cur?.kernelArgs ?? [],
      targetDisk: patch.targetDisk !== undefined ? patch.targetDisk : (cur?.targetDisk ?? null),
      promptTimeout: patch.promptTimeout !== undefined ? patch.promptTimeout : (cur?.promptTimeout ?? null),
    };
    stmt(
      this.db,
      `INSERT INTO groups (name, image, hostname_pattern, keep, kernel_args, target_disk, prompt_timeout, created_at)
         VALUES (:name, :image, :pattern, :keep, :args, :disk, :timeout, :now)
         ON CONFLICT (name) DO UPDATE SET image = :image, hostname_pattern = :pattern, keep = :keep,
           kernel_args = :args, target_disk = :disk, prompt_timeout = :timeout`,
    ).run({
      name,
      image: next.image,
      pattern: next.hostnamePattern,
      keep: next.keep === null ? null : JSON.stringify(next.keep),
      args: JSON.stringify(next.kernelArgs),
      disk: next.targetDisk,
      timeout: next.promptTimeout,
      now,
    });
    return this.get(name)!;
  }

  /** Remove an empty group; returns whether it existed. Nodes still in it (retired ones too) make the foreign key refuse. */
  remove(name: string): boolean {
    return Number(stmt(this.db, 'DELETE FROM groups WHERE name = ?').run(name).changes) > 0;
  }

  /** Every node (retired included) still pointing at the group. */
  members(name: string): string[] {
    return (stmt(this.db, 'SELECT mac FROM nodes WHERE group_name = ? ORDER BY mac').all(name) as Array<{ mac: string }>).map((r) => r.mac);
  }
}
