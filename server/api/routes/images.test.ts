import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageLocks } from '../../images/locks.ts';
import type { ImageStore } from '../../images/store.ts';
import { appRoutes } from '../app.ts';
import { TEST_ADMIN as ADMIN, nodeAuth, testApp, type TestApp } from '../testdata/app.ts';

const auth = { authorization: `Bearer ${ADMIN}` };

describe('image and capture routes', () => {
  let t: TestApp;
  let app: FastifyInstance;
  let images: ImageStore;
  let locks: ImageLocks;

  beforeAll(async () => {
    t = await testApp({ versions: 2 });
    ({ app, images, locks } = t);
  });
  afterAll(async () => t.close());

  it('lists versions with stable fields, shows one, verifies it', async () => {
    const list = (await app.inject({ url: '/api/v1/images', headers: auth })).json() as Array<Record<string, unknown>>;
    expect(list.map((i) => i.version)).toEqual([1, 2]);
    for (const k of ['name', 'version', 'size', 'sha256', 'compressedSize', 'sourceHost', 'createdAt']) expect(list[0]).toHaveProperty(k);
    const show = (await app.inject({ url: '/api/v1/images/web/2', headers: auth })).json() as { meta: { host: { bootloader: string } } };
    expect(show.meta.host.bootloader).toBe('unknown');
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
      for (const headers of [{}, nodeAuth('52:54:00:00:00:01'), { authorization: 'Bearer wrong' }]) {
        const res = await app.inject({ method: r.method as 'GET', url, headers, payload: r.method === 'GET' ? undefined : {} });
        expect(res.statusCode, `${r.method} ${r.url}`).toBe(401);
      }
    }
    expect(images.versions('web')).toEqual([2, 3]);
  });
});
