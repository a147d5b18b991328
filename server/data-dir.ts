/**
 * The data directory: state store, tokens, TFTP root and netboot files.
 * Runtime data never lives in the repository.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, type Store } from './store/db.ts';
import { newToken, type TokenScope } from './store/tokens.ts';

/** Paths inside one data directory. */
export function dataPaths(data: string) {
  return {
    root: data,
    db: join(data, 'imgsrv.db'),
    adminToken: join(data, 'admin.token'),
    nodeToken: join(data, 'node.token'),
    serverInfo: join(data, 'server.json'),
    tftpRoot: join(data, 'tftp'),
    /** kernel + initrd of the netboot environment, served over TFTP (imgsrv/…) and HTTP (/boot/files/…) */
    netbootDir: join(data, 'tftp', 'imgsrv'),
  };
}

export type DataPaths = ReturnType<typeof dataPaths>;

/**
 * Open the store and make sure both tokens exist. A token's plaintext lives
 * only in a root-only file in the data dir (the CLI reads the admin one, the
 * boot scripts embed the node one); the store keeps their hashes.
 */
export function initDataDir(data: string): { store: Store; paths: DataPaths; created: TokenScope[]; nodeToken: string } {
  const paths = dataPaths(data);
  mkdirSync(data, { recursive: true, mode: 0o700 });
  // Root's alone, whoever made it: it holds the tokens, the password hash, sessions and leases.
  chmodSync(data, 0o700);
  const store = openStore(paths.db);
  for (const f of [paths.db, `${paths.db}-wal`, `${paths.db}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  const created: TokenScope[] = [];
  const ensure = (scope: TokenScope, file: string): string => {
    if (store.tokens.has(scope) && existsSync(file)) return readFileSync(file, 'utf8').trim();
    const token = newToken();
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    store.tokens.set(scope, token);
    created.push(scope);
    return token;
  };
  ensure('admin', paths.adminToken);
  const nodeToken = ensure('node', paths.nodeToken);
  return { store, paths, created, nodeToken };
}
