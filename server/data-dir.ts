/**
 * The data directory: state store, tokens, TFTP root and netboot files.
 * Runtime data never lives in the repository.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, type Store } from './store/db.ts';
import { newToken, type TokenScope } from './store/tokens.ts';
import { loadNodeKey, NodeIdentity } from './node-identity.ts';
import { loadSecretKey, SecretBox } from './power/secret-box.ts';

/** Paths inside one data directory. */
export function dataPaths(data: string) {
  return {
    root: data,
    db: join(data, 'imgsrv.db'),
    adminToken: join(data, 'admin.token'),
    /** The key node tokens are derived from (node-identity.ts). */
    nodeKey: join(data, 'node.key'),
    /** The AES-256-GCM key BMC passwords are sealed under (server/power/secret-box.ts); never in the database. */
    bmcKey: join(data, 'bmc.key'),
    serverInfo: join(data, 'server.json'),
    tftpRoot: join(data, 'tftp'),
    /** kernel + initrd of the netboot environment, served over TFTP (imgsrv/…) and HTTP (/boot/files/…) */
    netbootDir: join(data, 'tftp', 'imgsrv'),
  };
}

export type DataPaths = ReturnType<typeof dataPaths>;

/** Node `mac`'s token under the node key of data directory `data` (for the lab, benches and tests that play nodes). */
export function nodeTokenOf(data: string, mac: string): string {
  return new NodeIdentity(loadNodeKey(dataPaths(data).nodeKey).key).tokenFor(mac);
}

/** Write node `mac`'s token into `file` (0600) for a client's --token-file; returns the file. */
export function writeNodeTokenFile(data: string, mac: string, file: string): string {
  writeFileSync(file, `${nodeTokenOf(data, mac)}\n`, { mode: 0o600 });
  return file;
}

/**
 * Open the store and make sure the admin token and the node key exist. The
 * admin token's plaintext lives only in a root-only file in the data dir (the
 * CLI reads it; the store keeps its hash); the node key, in another, is what
 * each node's own token is derived from; a third (bmc.key) seals the BMC passwords.
 */
export function initDataDir(data: string): { store: Store; paths: DataPaths; created: TokenScope[]; nodes: NodeIdentity; secrets: SecretBox } {
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
  const { key, created: newKey } = loadNodeKey(paths.nodeKey);
  if (newKey) created.push('node');
  const bmcKey = loadSecretKey(paths.bmcKey);
  // The one shared node token of earlier versions grants nothing now.
  rmSync(join(data, 'node.token'), { force: true });
  return { store, paths, created, nodes: new NodeIdentity(key), secrets: new SecretBox(bmcKey.key) };
}
