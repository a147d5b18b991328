import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packImage } from '../../../images/pack.ts';
import { silentLogger } from '../../log.ts';
import { openStore, type Store } from '../../store/db.ts';
import { CaptureManager } from '../../capture/manager.ts';
import { metaDraft } from '../../capture/run.ts';
import { ImageLocks } from '../../images/locks.ts';
import { ImageStore } from '../../images/store.ts';
import { appRoutes, buildApp } from '../app.ts';
import { createRegistry } from '../metrics.ts';

const ADMIN = 'admin-token-for-tests';
const NODE = 'node-token-for-tests';
const auth = { authorization: `Bearer ${ADMIN}` };

describe('image and capture routes', () => {
  let app: FastifyInstance;
  let store: Store;
  let images: ImageStore;
  let locks: ImageLocks;
  const dir = mkdtempSync(join(tmpdir(), 'imgsrv-api-img-'));

  beforeAll(async () => {
    store = openStore(':memory:');
    store.tokens.set('admin', ADMIN);
    store.tokens.set('node', NODE);
    locks = new ImageLocks(store.db);
    images = new ImageStore({ root: join(dir, 'images'), locks, logger: silentLogger });
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'os-release'), 'ID=test\n');
    for (let i = 0; i < 2; i++) {
      await images.build('web', async (d) => metaDraft(await packImage({ root: tree, outDir: d }), { sourceHost: 'root@198.18.0.10', host: { partitionTable: 'unknown', disks: [], filesystems: [], swap: [], bootMode: 'bios', bootloader: 'grub', kernels: [], interfaces: [] } }));
    }
    // A capture that never finishes by itself: enough to test start, follow, cancel.
    const captures = new CaptureManager({
      store,
      images,
      dataDir: dir,
      settings: { excludes: [], zstdLevel: 3, threads: 0, connectTimeoutSeconds: 5, user: 'root', port: 22 },
      logger: silentLogger,
      run: (job) => new Promise((_, reject) => job.signal.addEventListener('abort', () => reject(job.signal.reason))),
    });
    app = await buildApp({
      store,
      logger: silentLogger,
      registry: createRegistry(store),
      boot: { filesDir: dir, httpBase: 'http://198.18.0.1', mode: () => 'http' as const, tftpServer: '198.18.0.1', nodeToken: NODE, kernelArgs: [] },
      status: () => ({ version: 't', startedAt: 0, interface: null, address: null, services: {} }),
      images,
      captures,
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists versions with stable fields, shows one, verifies it', async () => {
    const list = (await app.inject({ url: '/api/v1/images', headers: auth })).json() as Array<Record<string, unknown>>;
    expect(list.map((i) => i.version)).toEqual([1, 2]);
    for (const k of ['name', 'version', 'size', 'sha256', 'compressedSize', 'sourceHost', 'createdAt']) expect(list[0]).toHaveProperty(k);
    const show = (await app.inject({ url: '/api/v1/images/web/2', headers: auth })).json() as { meta: { host: { bootloader: string } } };
    expect(show.meta.host.bootloader).toBe('grub');
    expect((await app.inject({ url: '/api/v1/images/web/9', headers: auth })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/v1/images/..%2Fetc/1', headers: auth })).statusCode).toBe(400);
    const v = await app.inject({ method: 'POST', url: '/api/v1/images/web/1/verify', headers: auth });
    expect(v.json()).toEqual({ ok: true, problems: [] });
  });

  it('refuses to remove a version in use (409), removes it otherwise (204)', async () => {
    locks.acquire('web', 1, 'deployment:1');
    const r = await app.inject({ method: 'DELETE', url: '/api/v1/images/web/1', headers: auth });
    expect(r.statusCode).toBe(409);
    expect(r.json().message).toMatch(/in use by deployment:1/);
    locks.release('web', 1, 'deployment:1');
    expect((await app.inject({ method: 'DELETE', url: '/api/v1/images/web/1', headers: auth })).statusCode).toBe(204);
    expect(images.versions('web')).toEqual([2]);
  });

  it('exports a bundle and imports it back as the next version', async () => {
    const ex = await app.inject({ url: '/api/v1/images/web/2/export', headers: auth });
    expect(ex.statusCode).toBe(200);
    expect(ex.headers['content-type']).toBe('application/x-tar');
    const im = await app.inject({ method: 'POST', url: '/api/v1/images/import', headers: { ...auth, 'content-type': 'application/x-tar' }, payload: ex.rawPayload });
    expect(im.statusCode, im.body).toBe(201);
    expect(im.json()).toMatchObject({ name: 'web', version: 3, keptVersion: false });
    const bad = await app.inject({ method: 'POST', url: '/api/v1/images/import', headers: { ...auth, 'content-type': 'application/x-tar' }, payload: Buffer.alloc(1024) });
    expect(bad.statusCode).toBe(400);
  });

  it('starts, follows (long-poll) and cancels a capture; refuses hostile sources', async () => {
    const start = await app.inject({ method: 'POST', url: '/api/v1/captures', headers: auth, payload: { source: '198.18.0.10', name: 'web' } });
    expect(start.statusCode).toBe(202);
    const id = start.json().id as string;
    const got = (await app.inject({ url: `/api/v1/captures/${id}`, headers: auth })).json() as { state: string; seq: number };
    expect(got.state).toBe('running');
    const poll = app.inject({ url: `/api/v1/captures/${id}?since=${got.seq}&wait=5`, headers: auth });
    const cancel = await app.inject({ method: 'POST', url: `/api/v1/captures/${id}/cancel`, headers: auth });
    expect(cancel.json()).toMatchObject({ cancelled: true });
    await new Promise((r) => setTimeout(r, 20));
    expect(((await poll).json() as { seq: number }).seq).toBeGreaterThan(got.seq);
    expect((await app.inject({ url: `/api/v1/captures/${id}`, headers: auth })).json()).toMatchObject({ state: 'cancelled', errorCode: 'CANCELLED' });
    for (const source of ['-oProxyCommand=id', 'x;rm -rf /']) {
      const r = await app.inject({ method: 'POST', url: '/api/v1/captures', headers: auth, payload: { source } });
      expect(r.statusCode).toBe(400);
      expect(r.json().message).toMatch(/not a host name/);
    }
    expect((await app.inject({ method: 'POST', url: '/api/v1/captures', headers: auth, payload: { source: 'h', evil: 1 } })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/v1/captures', headers: auth })).json()).toHaveLength(1);
  });

  it('every image and capture route needs the admin token (the node token is not enough)', async () => {
    const routes = appRoutes.get(app)!.filter((r) => r.url.startsWith('/api/v1/images') || r.url.startsWith('/api/v1/captures'));
    expect(routes.length).toBeGreaterThanOrEqual(10);
    for (const r of routes) {
      const url = r.url.replace(':name', 'web').replace(':version', '2').replace(':id', 'cap-x-000000');
      for (const headers of [{}, { authorization: `Bearer ${NODE}` }, { authorization: 'Bearer wrong' }]) {
        const res = await app.inject({ method: r.method as 'GET', url, headers, payload: r.method === 'GET' ? undefined : {} });
        expect(res.statusCode, `${r.method} ${r.url}`).toBe(401);
      }
    }
    expect(images.versions('web')).toEqual([2, 3]);
  });
});
