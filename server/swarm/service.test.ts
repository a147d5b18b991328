// The swarm service wired into the HTTP app, on loopback: torrents for the
// store's versions, the tracker and web seed routes, node reports, the
// "done" signal and the in-use lock, and auth on every swarm API route.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bencode from 'bencode';
import type { FastifyInstance } from 'fastify';
import parseTorrent from 'parse-torrent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packImage } from '../../images/pack.ts';
import { appRoutes, buildApp } from '../api/app.ts';
import { createRegistry } from '../api/metrics.ts';
import { unknownFacts } from '../capture/probe.ts';
import { metaDraft } from '../capture/run.ts';
import { ImageLocks } from '../images/locks.ts';
import { ImageStore } from '../images/store.ts';
import { silentLogger } from '../../core/log.ts';
import { openStore, type Store } from '../store/db.ts';
import { SwarmService } from './service.ts';
import { TEST_NODES, testSources } from '../api/testdata/app.ts';

const ADMIN = 'admin-token-for-tests';
const MAC = 'aa:bb:cc:dd:ee:01';
const NODE = TEST_NODES.tokenFor(MAC);
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

describe('swarm service', () => {
  let dir: string;
  let store: Store;
  let images: ImageStore;
  let swarm: SwarmService;
  let app: FastifyInstance;
  let infoHash: string;
  let now = 1_000_000;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'imgsrv-swarm-svc-'));
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    writeFileSync(join(tree, 'blob'), randomBytes(600_000));
    store = openStore(':memory:');
    store.tokens.set('admin', ADMIN);
    const locks = new ImageLocks(store.db);
    images = new ImageStore({ root: join(dir, 'images'), locks, logger: silentLogger });
    const meta = await images.build('web', async (d, v) => metaDraft(await packImage({ root: tree, outDir: d }), { sourceHost: 'root@h', host: unknownFacts(), torrent: { image: 'web', version: v } }));
    infoHash = meta.torrent!.infoHash;
    const registry = createRegistry(store);
    swarm = await SwarmService.create({
      torrentsDir: join(dir, 'torrents'),
      images,
      locks,
      address: '127.0.0.1',
      httpBase: 'http://127.0.0.1:8080',
      torrentPort: 0,
      rsyncPort: 873,
      uploadLimit: 0,
      settleSeconds: 10,
      logger: silentLogger,
      registry,
      now: () => now,
    });
    app = await buildApp({
      store,
      images,
      swarm,
      logger: silentLogger,
      registry,
      boot: { filesDir: dir, httpBase: 'http://127.0.0.1:8080', mode: () => 'http' as const, tftpServer: '127.0.0.1', kernelArgs: [], sources: testSources(store) },
      nodes: TEST_NODES,
      status: () => ({ version: 't', startedAt: 0, interface: 'lo', address: '127.0.0.1', services: {} }),
    });
    await app.ready();
    await swarm.activate();
  });
  afterAll(async () => {
    await app?.close();
    await swarm?.stop();
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a .torrent per version around the pack-time info dictionary', async () => {
    const t = await parseTorrent(readFileSync(join(dir, 'torrents', 'web', '1.torrent')));
    expect(t.infoHash).toBe(infoHash);
    expect(t.announce).toEqual(['http://127.0.0.1:8080/announce']);
    expect(t.urlList).toEqual(['http://127.0.0.1:8080/seed/web/1/web-1.tar.zst']);
    expect(swarm.torrentUrl('web', 1)).toBe('rsync://127.0.0.1/torrents/web/1.torrent');
  });

  it('serves the artifact as web seed, with ranges, only under its torrent name', async () => {
    const art = readFileSync(join(dir, 'images', 'web', '1', 'image.tar.zst'));
    const r = await app.inject({ url: '/seed/web/1/web-1.tar.zst', headers: { range: 'bytes=100-199' } });
    expect(r.statusCode).toBe(206);
    expect(r.rawPayload.equals(art.subarray(100, 200))).toBe(true);
    for (const url of ['/seed/web/1/image.tar.zst', '/seed/web/9/web-9.tar.zst', '/seed/web/1/..%2Fmeta.json', '/seed/..%2F..%2Fetc/1/passwd']) {
      expect((await app.inject(url)).statusCode, url).toBe(404);
    }
  });

  it('tracks a downloading node, locks the version, and says done once the swarm is quiet', async () => {
    // Percent-encode the raw info hash bytes as a BitTorrent client does.
    const ih = [...Buffer.from(infoHash, 'hex')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    const ann = (left: number, event?: string) => app.inject({ url: `/announce?info_hash=${ih}&peer_id=-TT0001-abcdefghijkl&port=7001&uploaded=0&downloaded=0&left=${left}&compact=1${event ? `&event=${event}` : ''}` });
    const res = await ann(500, 'started');
    expect(res.statusCode).toBe(200);
    const reply = bencode.decode(res.rawPayload) as Record<string, unknown>;
    expect(reply['failure reason']).toBeUndefined();
    expect(reply.incomplete).toBe(1);
    await swarm.refresh();
    let view = (await app.inject({ url: `/api/v1/swarm/${infoHash}`, headers: auth(NODE) })).json() as { leechers: number; done: boolean; peers: Array<{ port: number }> };
    expect(view).toMatchObject({ leechers: 1, done: false });
    expect(view.peers.map((p) => p.port)).toContain(7001);
    await expect(images.remove('web', 1)).rejects.toThrow(/in use|locked|deploy/i);
    await ann(0, 'completed');
    now += 11_000;
    await swarm.refresh();
    view = (await app.inject({ url: '/api/v1/swarm/web@1', headers: auth(NODE) })).json();
    expect(view).toMatchObject({ leechers: 0, done: true });
    expect(new ImageLocks(store.db).holders('web', 1)).toEqual([]);
  });

  it('records node reports and shows them in the node list', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/v1/nodes/report',
      headers: auth(NODE),
      payload: { mac: MAC, ip: '127.0.0.5', phase: 'booted', swarm: { infoHash, downloaded: 1000, uploaded: 10, peers: 3, progress: 0.5, downloadSpeed: 100, uploadSpeed: 1 } },
    });
    expect(r.statusCode).toBe(200);
    const nodes = (await app.inject({ url: '/api/v1/nodes', headers: auth(ADMIN) })).json() as Array<{ mac: string; swarm?: { progress: number } }>;
    expect(nodes.find((n) => n.mac === MAC)?.swarm?.progress).toBe(0.5);
    // A node still downloading keeps the swarm from being done.
    const view = (await app.inject({ url: `/api/v1/swarm/${infoHash}`, headers: auth(ADMIN) })).json() as { done: boolean; leechers: number };
    expect(view).toMatchObject({ done: false, leechers: 1 });
  });

  it('refuses the swarm API without a token, and restarting the seeder without the admin token', async () => {
    const routes = appRoutes.get(app)!.filter((r) => r.url.includes('/swarm'));
    expect(routes.length).toBeGreaterThanOrEqual(3);
    for (const r of routes) {
      const url = r.url.replace(':id', infoHash);
      for (const headers of [{}, auth('wrong')]) {
        const res = await app.inject({ method: r.method as 'GET', url, headers, payload: r.method === 'GET' ? undefined : {} });
        expect(res.statusCode, `${r.method} ${r.url}`).toBe(401);
      }
    }
    expect((await app.inject({ method: 'POST', url: '/api/v1/swarm/seeder/restart', headers: auth(NODE), payload: {} })).statusCode).toBe(401);
    const ok = await app.inject({ method: 'POST', url: '/api/v1/swarm/seeder/restart', headers: auth(ADMIN), payload: {} });
    expect(ok.statusCode).toBe(200);
    expect(swarm.seeder.infoHashes()).toEqual([infoHash]);
  });

  it('stops seeding a removed version and drops its torrent', async () => {
    now += 60_000;
    await swarm.refresh();
    new ImageLocks(store.db).release('web', 1, 'swarm');
    await images.remove('web', 1);
    await swarm.refresh();
    expect(swarm.seeder.infoHashes()).toEqual([]);
    expect(() => readFileSync(join(dir, 'torrents', 'web', '1.torrent'))).toThrow();
    expect((await app.inject('/seed/web/1/web-1.tar.zst')).statusCode).toBe(404);
  });
});
