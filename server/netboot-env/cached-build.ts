/**
 * One real netboot build shared by the tests: kept in <repo>/.cache/netboot-<hash>/
 * where the hash covers the builder's own sources, the Node binary, the host's
 * tools and kernel, and the trusted signing keys; build.json there also
 * records the files the client bundle was made from, with their hash, so an
 * edit to the client rebuilds while edits elsewhere in the tree don't.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger, type Logger } from '../../core/log.ts';
import { buildNetboot, type NetbootBuild } from './build.ts';
import { runtimeInputs } from './payload.ts';
import { normaliseTrustedKeys } from './trusted-keys.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** Where cached builds live (git-ignored). */
export const CACHE_DIR = join(REPO, '.cache');
/** The SOURCE_DATE_EPOCH of cached builds. */
export const CACHED_EPOCH = 1_700_000_000;

/** Options for `cachedNetboot`. */
export interface CachedNetbootOptions {
  clientEntry?: string;
  /** Public keys (PEM) the node trusts to sign images (see BuildNetbootOptions.trustedKeys). */
  trustedKeys?: readonly string[];
  logger?: Logger;
}

/** A cached build: the build's result, where it lives, whether it came from the cache and how long it took to make. */
export type CachedNetboot = NetbootBuild & { dir: string; cached: boolean; buildMs: number };

type Meta = NetbootBuild & { buildMs: number; bundleHash: string };

/** The real build (kernel from /boot, runtime from this host), from the cache when its inputs are unchanged. */
export async function cachedNetboot(opts: CachedNetbootOptions = {}): Promise<CachedNetboot> {
  const dir = join(CACHE_DIR, `netboot-${await builderHash(opts.clientEntry ?? '', opts.trustedKeys ?? [])}`);
  const paths = { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), dir };
  const hit = await readFile(join(dir, 'build.json'), 'utf8').then((t) => JSON.parse(t) as Meta, () => null);
  if (hit && hit.bundleHash === (await filesHash(hit.bundleInputs ?? []))) return { ...hit, ...paths, cached: true };
  const tmp = `${dir}.tmp-${process.pid}`;
  const t0 = Date.now();
  const out = await buildNetboot({
    outDir: tmp,
    logger: opts.logger ?? silentLogger,
    sourceDateEpoch: CACHED_EPOCH,
    ...(opts.clientEntry ? { clientEntry: opts.clientEntry } : {}),
    ...(opts.trustedKeys ? { trustedKeys: opts.trustedKeys } : {}),
  });
  const meta: Meta = { ...out, buildMs: Date.now() - t0, bundleHash: await filesHash(out.bundleInputs ?? []) };
  await writeFile(join(tmp, 'build.json'), JSON.stringify(meta, null, 2));
  await rm(dir, { recursive: true, force: true });
  // Another test process may have finished the same build meanwhile: theirs is as good as ours.
  await rename(tmp, dir).catch(() => rm(tmp, { recursive: true, force: true }));
  await prune(KEEP);
  return { ...meta, ...paths, cached: false };
}

/**
 * Cached builds kept (~65 MiB each): the tests use four (here the default and
 * the lab client; lab/imgsrv.ts, in the same directory, the served build
 * with and without trusted keys) and one spare; the rest are stale.
 */
const KEEP = 5;

/** Remove all but the `keep` newest cached builds. */
async function prune(keep: number): Promise<void> {
  const dirs = (await readdir(CACHE_DIR)).filter((d) => /^netboot-[0-9a-f]{16}$/.test(d));
  const withTime = await Promise.all(dirs.map(async (d) => ({ d, t: (await stat(join(CACHE_DIR, d)).catch(() => null))?.mtimeMs ?? 0 })));
  for (const { d } of withTime.sort((a, b) => b.t - a.t).slice(keep)) await rm(join(CACHE_DIR, d), { recursive: true, force: true });
}

/** sha256 of repo files' contents (a missing file counts as empty). */
async function filesHash(files: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f}\n`).update(await readFile(join(REPO, f)).catch(() => Buffer.from('\0missing')));
  return h.digest('hex');
}

/** First 16 hex digits of sha256 over the builder's sources (by content), the trusted keys, and the host files it takes (by size and mtime). */
export async function builderHash(clientEntry: string, trustedKeys: readonly string[] = []): Promise<string> {
  const h = createHash('sha256');
  h.update(`entry ${clientEntry}\n`);
  // By key id, sorted: the same keys in another order or PEM layout build the same initramfs.
  for (const k of normaliseTrustedKeys(trustedKeys)) h.update(`trusted ${k.keyId}\n`);
  const own = (await readdir(join(REPO, 'server/netboot-env'))).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => `server/netboot-env/${f}`);
  const init = (await readdir(join(REPO, 'initramfs-client/init'))).filter((f) => !f.endsWith('.test.ts')).map((f) => `initramfs-client/init/${f}`);
  h.update(await filesHash([...own, ...init, 'package-lock.json', 'core/log.ts', 'core/errors.ts', 'images/signing.ts'].sort()));
  const bootFiles = (await readdir('/boot')).filter((f) => f.startsWith('vmlinuz-') || f.startsWith('config-'));
  const modDeps = (await readdir('/lib/modules').catch(() => [] as string[])).map((v) => `/lib/modules/${v}/modules.dep`);
  for (const p of [...runtimeInputs(), ...bootFiles.map((f) => `/boot/${f}`), ...modDeps, '/bin/busybox', '/lib/firmware'].sort()) {
    const s = await stat(p).catch(() => null);
    h.update(`${p} ${s?.size ?? -1} ${s?.mtimeMs ?? -1}\n`);
  }
  await mkdir(CACHE_DIR, { recursive: true });
  return h.digest('hex').slice(0, 16);
}
