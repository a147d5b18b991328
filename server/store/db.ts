/**
 * The state store: one SQLite file (`node:sqlite`) in the data directory.
 * It is the one place state lives, so a restart loses nothing.
 */
import { DatabaseSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import { MIGRATIONS } from './migrations.ts';
import { inTransaction } from './transaction.ts';
import { forgetStatements } from './statements.ts';
import { NodeRepo } from './nodes.ts';
import { SqliteLeaseStore } from './leases.ts';
import { EventLog } from './events.ts';
import { TokenRepo } from './tokens.ts';
import { SettingsRepo } from './settings.ts';
import { GroupRepo } from './groups.ts';
import { SessionRepo } from './sessions.ts';
import { ImageCheckRepo } from './image-checks.ts';
import { BmcRepo } from './bmcs.ts';

/** The opened store with one repository per table group. */
export interface Store {
  readonly db: DatabaseSync;
  readonly schemaVersion: number;
  readonly nodes: NodeRepo;
  readonly leases: SqliteLeaseStore;
  readonly events: EventLog;
  readonly tokens: TokenRepo;
  readonly settings: SettingsRepo;
  readonly groups: GroupRepo;
  readonly sessions: SessionRepo;
  readonly imageChecks: ImageCheckRepo;
  readonly bmcs: BmcRepo;
  close(): void;
}

/** Open (creating if needed) the store at `file` and bring its schema up to date. */
export function openStore(file: string): Store {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file, { timeout: 5000 });
  } catch (err) {
    throw new ImgsrvError('IO', `cannot open state store ${file}`, { hint: 'check that --data points to a writable directory', cause: err });
  }
  // WAL with synchronous = FULL: every commit fsyncs the WAL before it returns. A DHCP lease is
  // committed before the OFFER/ACK that announces it leaves (dhcp-store.ts), and a node's install
  // state before the plan or answer that acts on it; NORMAL (fsync only at checkpoints) survives a
  // process crash but can lose the last commits on a power cut, and after it the server would hand
  // a bound address to another node or re-plan an installed one. The cost is one fsync per commit
  // (bench/store-sync.ts); the DHCP server already batches a burst of packets into one transaction.
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;');
  const schemaVersion = migrate(db);
  const settings = new SettingsRepo(db);
  return {
    db,
    schemaVersion,
    nodes: new NodeRepo(db, () => settings.get<string | null>('nodes.defaultGroup') ?? null),
    leases: new SqliteLeaseStore(db),
    events: new EventLog(db),
    tokens: new TokenRepo(db),
    settings,
    groups: new GroupRepo(db),
    sessions: new SessionRepo(db),
    imageChecks: new ImageCheckRepo(db),
    bmcs: new BmcRepo(db),
    close: () => {
      forgetStatements(db);
      db.close();
    },
  };
}

/** Apply every migration newer than the file's `user_version`; returns the resulting version. */
export function migrate(db: DatabaseSync, migrations: readonly string[] = MIGRATIONS): number {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number };
  const current = row.user_version;
  if (current > migrations.length) {
    throw new ImgsrvError('IO', `state store schema version ${current} is newer than this imgsrv (${migrations.length})`, {
      hint: 'upgrade imgsrv, or point --data at another directory',
    });
  }
  for (let v = current; v < migrations.length; v++) {
    try {
      inTransaction(db, () => {
        db.exec(migrations[v]!);
        db.exec(`PRAGMA user_version = ${v + 1}`);
      });
    } catch (err) {
      throw new ImgsrvError('IO', `state store migration ${v + 1} failed`, { cause: err });
    }
  }
  return migrations.length;
}
