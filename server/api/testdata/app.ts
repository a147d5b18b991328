/**
 * One test fixture for the HTTP API: a store with known tokens, an image
 * store with real packed versions, deployment planning and live settings,
 * wired through the real `buildApp`. Used by the API tests (not by the
 * server itself).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { packImage } from '../../../images/pack.ts';
import { unknownFacts } from '../../capture/probe.ts';
import { metaDraft } from '../../capture/run.ts';
import { configSchema } from '../../config/schema.ts';
import { CaptureManager } from '../../capture/manager.ts';
import type { DeployContext, DeploySettings } from '../../deploy/plan.ts';
import { ImageLocks } from '../../images/locks.ts';
import { ImageStore } from '../../images/store.ts';
import { generateKeyFiles, ImageSigner } from '../../images/signer.ts';
import { LiveSettingsService } from '../../live-settings.ts';
import { silentLogger } from '../../../core/log.ts';
import { openStore, type Store } from '../../store/db.ts';
import { buildApp, type AppDeps } from '../app.ts';
import { createRegistry } from '../metrics.ts';
import { NodeIdentity } from '../../node-identity.ts';
import type { BootSourceDeps } from '../../boot-source.ts';

/** The boot-source check over the store's leases and TEST_NEIGHBOURS; unverified sources refused. */
export function testSources(store: Store): BootSourceDeps {
  return { leaseOf: (ip) => store.leases.byIp(ip), neighbours: () => TEST_NEIGHBOURS, allowUnverified: () => false };
}

export const TEST_ADMIN = 'admin-token-for-api-tests';
/** The node key of the test apps: `TEST_NODES.tokenFor(mac)` is node `mac`'s token. */
export const TEST_NODES = new NodeIdentity(Buffer.alloc(32, 0x5a));
/** The authorization header of node `mac`. */
export const nodeAuth = (mac: string) => ({ authorization: `Bearer ${TEST_NODES.tokenFor(mac)}` });
/** Neighbour entries the test apps' boot-source check sees (address → MAC); tests set and clear them. */
export const TEST_NEIGHBOURS = new Map<string, string>();

/** A built (ready, not listening) app and what it was built from. */
export interface TestApp {
  app: FastifyInstance;
  store: Store;
  images: ImageStore;
  locks: ImageLocks;
  deploy: DeployContext;
  live: LiveSettingsService;
  /** A capture manager whose captures never finish by themselves: enough to start, follow and cancel. */
  captures: CaptureManager;
  dir: string;
  close(): Promise<void>;
}

/** Build the app over a fresh in-memory store with `versions` published versions of image `web`. */
export async function testApp(
  opts: { versions?: number; config?: unknown; deploySettings?: Partial<DeploySettings>; signing?: boolean; extra?: Partial<AppDeps> } = {},
): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), 'imgsrv-api-'));
  const store = openStore(':memory:');
  store.tokens.set('admin', TEST_ADMIN);
  const locks = new ImageLocks(store.db);
  // With signing: a key in the data dir, as `imgsrv keys generate` makes it; versions are signed at publish.
  if (opts.signing) generateKeyFiles(dir);
  const signer = new ImageSigner(dir);
  const images = new ImageStore({ root: join(dir, 'images'), locks, logger: silentLogger, signer });
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'etc', 'hostname'), 'sample\n');
  for (let i = 0; i < (opts.versions ?? 1); i++) {
    await images.build('web', async (d, v) =>
      metaDraft(await packImage({ root: tree, outDir: d }), { sourceHost: 'rsync://198.18.0.10/root', host: unknownFacts(), torrent: { image: 'web', version: v } }),
    );
  }
  const config = configSchema.parse(opts.config ?? {});
  const live = new LiveSettingsService(store, config);
  const deploy: DeployContext = {
    store,
    images,
    locks,
    settings: { keep: [], promptTimeout: 45, hostnamePattern: config.nodes.hostnamePattern, linger: 30, ...opts.deploySettings },
    torrentBase: 'rsync://198.18.0.1/torrents',
  };
  const captures = new CaptureManager({
    store,
    images,
    dataDir: dir,
    settings: { excludes: [], zstdLevel: 3, threads: 0, connectTimeoutSeconds: 5, user: 'root', port: 22 },
    logger: silentLogger,
    run: (job) => new Promise((_, reject) => job.signal.addEventListener('abort', () => reject(job.signal.reason))),
  });
  const app = await buildApp({
    nodes: TEST_NODES,
    store,
    logger: silentLogger,
    registry: createRegistry(store),
    boot: { filesDir: dir, httpBase: 'http://198.18.0.1', mode: () => live.get().boot.mode, tftpServer: '198.18.0.1', kernelArgs: ['console=ttyS0'], sources: testSources(store) },
    status: () => ({ version: 't', startedAt: 0, interface: null, address: null, services: {} }),
    images,
    captures,
    deploy,
    live,
    signingKey: () => signer.publicKey(),
    ...opts.extra,
  });
  await app.ready();
  return {
    app,
    store,
    images,
    locks,
    deploy,
    live,
    captures,
    dir,
    close: async () => {
      await captures.shutdown();
      await app.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
