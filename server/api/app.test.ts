import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { openStore, type Store } from '../store/db.ts';
import { appRoutes, buildApp } from './app.ts';
import { createRegistry } from './metrics.ts';
import { TEST_NODES, testSources } from './testdata/app.ts';

const ADMIN = 'admin-token-for-tests';
const MAC = 'aa:bb:cc:dd:ee:01';
const NODE = TEST_NODES.tokenFor(MAC);

describe('HTTP API', () => {
  let app: FastifyInstance;
  let store: Store;
  const filesDir = join(mkdtempSync(join(tmpdir(), 'imgsrv-api-')), 'netboot');
  const loadersDir = join(dirname(filesDir), 'tftp');

  beforeAll(async () => {
    mkdirSync(filesDir);
    writeFileSync(join(filesDir, 'vmlinuz'), Buffer.alloc(100_000, 7));
    mkdirSync(loadersDir);
    for (const f of ['ipxe.efi', 'undionly.kpxe', 'secret.txt']) writeFileSync(join(loadersDir, f), `${f} bytes`);
    store = openStore(':memory:');
    store.tokens.set('admin', ADMIN);
    app = await buildApp({
      store,
      logger: silentLogger,
      registry: createRegistry(store),
      boot: {
        filesDir, httpBase: 'http://198.18.0.1:8080', mode: () => 'http' as const, tftpServer: '198.18.0.1', kernelArgs: ['console=ttyS0'], sources: testSources(store),
        // snponly.efi is missing (as when the ipxe package lacks it): named, but not there.
        loaders: { dir: loadersDir, available: ['ipxe.efi', 'undionly.kpxe'] },
      },
      nodes: TEST_NODES,
      status: () => ({ version: 't', startedAt: 0, interface: 'eth0', address: '198.18.0.1', services: { dhcp: { state: 'running' } } }),
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    store.close();
    rmSync(dirname(filesDir), { recursive: true, force: true });
  });

  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  it('serves /healthz and Prometheus /metrics without auth', async () => {
    expect((await app.inject('/healthz')).json()).toEqual({ ok: true });
    const m = await app.inject('/metrics');
    expect(m.statusCode).toBe(200);
    expect(m.body).toContain('imgsrv_nodes');
    expect(m.body).toContain('imgsrv_process_cpu_seconds_total');
  });

  it('takes a node report with the node token and lists it with the admin token', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/v1/nodes/report', headers: auth(NODE), payload: { mac: 'AA:BB:CC:DD:EE:01', ip: '198.18.0.100', firmware: 'uefi', kernel: '6.1.0', phase: 'booted' } });
    expect(r.statusCode).toBe(200);
    const list = (await app.inject({ url: '/api/v1/nodes', headers: auth(ADMIN) })).json() as Array<Record<string, unknown>>;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ mac: MAC, ip: '198.18.0.100', firmware: 'uefi', phase: 'booted', hostname: null });
    const events = (await app.inject({ url: `/api/v1/events?mac=${MAC}`, headers: auth(ADMIN) })).json() as Array<{ kind: string }>;
    expect(events.map((e) => e.kind)).toContain('node.booted');
  });

  it('the node token can only report', async () => {
    expect((await app.inject({ url: '/api/v1/nodes', headers: auth(NODE) })).statusCode).toBe(401);
    expect((await app.inject({ method: 'PUT', url: `/api/v1/nodes/${MAC}`, headers: auth(NODE), payload: { hostname: 'x' } })).statusCode).toBe(401);
  });

  it('validates input and names the problem', async () => {
    const bad = await app.inject({ method: 'POST', url: '/api/v1/nodes/report', headers: auth(NODE), payload: { mac: 'nope' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/mac/);
    const extra = await app.inject({ method: 'POST', url: '/api/v1/nodes/report', headers: auth(NODE), payload: { mac: MAC, evil: 1 } });
    expect(extra.statusCode).toBe(400);
    const host = await app.inject({ method: 'PUT', url: `/api/v1/nodes/${MAC}`, headers: auth(ADMIN), payload: { hostname: 'bad host;rm' } });
    expect(host.statusCode).toBe(400);
  });

  it('pre-assigns and clears a hostname, removes a node, 404s an unknown one', async () => {
    const put = await app.inject({ method: 'PUT', url: `/api/v1/nodes/${MAC}`, headers: auth(ADMIN), payload: { hostname: 'web1' } });
    expect(put.json()).toMatchObject({ mac: MAC, hostname: 'web1' });
    const report = await app.inject({ method: 'POST', url: '/api/v1/nodes/report', headers: auth(NODE), payload: { mac: MAC } });
    expect(report.json()).toEqual({ ok: true, hostname: 'web1' });
    expect((await app.inject({ method: 'DELETE', url: `/api/v1/nodes/${MAC}`, headers: auth(ADMIN) })).statusCode).toBe(204);
    expect((await app.inject({ method: 'DELETE', url: `/api/v1/nodes/${MAC}`, headers: auth(ADMIN) })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/v1/nodes/aa:bb:cc:dd:ee:99', headers: auth(ADMIN) })).statusCode).toBe(404);
  });

  it('serves the per-node iPXE script and the kernel with range requests', async () => {
    const s = await app.inject(`/boot/ipxe/${MAC}`);
    expect(s.statusCode).toBe(200);
    expect(s.body.startsWith('#!ipxe\n')).toBe(true);
    expect(s.body).toContain(`imgsrv.token=${NODE}`);
    expect(s.body).not.toContain(ADMIN);
    const part = await app.inject({ url: '/boot/files/vmlinuz', headers: { range: 'bytes=10-19' } });
    expect(part.statusCode).toBe(206);
    expect(part.rawPayload).toEqual(Buffer.alloc(10, 7));
    expect((await app.inject('/boot/files/../../etc/passwd')).statusCode).toBe(404);
    expect((await app.inject('/boot/files/%2e%2e/%2e%2e/etc/passwd')).statusCode).toBeGreaterThanOrEqual(400);
  });

  it('serves the EFI loaders to UEFI HTTP Boot by name, and nothing else from their directory', async () => {
    const efi = await app.inject('/boot/loaders/ipxe.efi');
    expect(efi.statusCode).toBe(200);
    expect(efi.body).toBe('ipxe.efi bytes');
    // A BIOS loader, a loader that isn't installed, another file, and ways out of the directory: 404.
    for (const url of ['/boot/loaders/undionly.kpxe', '/boot/loaders/snponly.efi', '/boot/loaders/secret.txt', '/boot/loaders/..%2Fnetboot%2Fvmlinuz', '/boot/loaders/%2e%2e%2fnetboot%2fvmlinuz']) {
      expect((await app.inject(url)).statusCode, url).toBe(404);
    }
  });

  it('shows status to the admin only', async () => {
    expect((await app.inject('/api/v1/status')).statusCode).toBe(401);
    const st = await app.inject({ url: '/api/v1/status', headers: auth(ADMIN) });
    expect(st.json()).toMatchObject({ interface: 'eth0', services: { dhcp: { state: 'running' } } });
  });

  // Signing in is the one API write that needs no credentials (it is rate-limited instead: console-api.test.ts).
  const SIGN_IN = 'POST /api/v1/session';

  it('refuses every mutating route and every API read without the admin token', async () => {
    const routes = appRoutes.get(app)!.filter((r) => `${r.method} ${r.url}` !== SIGN_IN);
    const mutating = routes.filter((r) => !['GET', 'HEAD', 'OPTIONS'].includes(r.method));
    expect(mutating.length).toBeGreaterThanOrEqual(8);
    const api = routes.filter((r) => r.url.startsWith('/api/'));
    for (const r of [...mutating, ...api]) {
      const url = r.url.replace(':mac', MAC).replace(':name', 'g1');
      for (const headers of [{}, auth('wrong'), { authorization: 'Basic abc' }, { cookie: 'imgsrv_session=forged' }]) {
        const res = await app.inject({ method: r.method as 'GET', url, headers, payload: r.method === 'GET' ? undefined : {} });
        expect(res.statusCode, `${r.method} ${r.url} with ${JSON.stringify(headers)}`).toBe(401);
      }
    }
  });

  it('a console session may read, but writes only with its CSRF token', async () => {
    const signIn = await app.inject({ method: 'POST', url: '/api/v1/session', payload: { password: ADMIN } });
    expect(signIn.statusCode).toBe(200);
    const cookie = `imgsrv_session=${signIn.cookies.find((c) => c.name === 'imgsrv_session')!.value}`;
    expect((await app.inject({ url: '/api/v1/nodes', headers: { cookie } })).statusCode).toBe(200);
    const mutating = appRoutes.get(app)!.filter((r) => !['GET', 'HEAD', 'OPTIONS'].includes(r.method) && `${r.method} ${r.url}` !== SIGN_IN);
    for (const r of mutating) {
      const url = r.url.replace(':mac', MAC).replace(':name', 'g1');
      for (const headers of [{ cookie }, { cookie, 'x-csrf-token': 'wrong' }]) {
        const res = await app.inject({ method: r.method as 'POST', url, headers, payload: {} });
        expect(res.statusCode, `${r.method} ${r.url} with ${JSON.stringify(Object.keys(headers))}`).toBe(403);
      }
    }
  });
});
