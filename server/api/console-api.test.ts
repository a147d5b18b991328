import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployPlan, RestorePlan } from '../../contract/plan.ts';

/** A plan as the API sends it, any action: its fields read without narrowing. */
type PlanJson = Pick<DeployPlan, 'action'> & Partial<Omit<RestorePlan, 'action'>> & { reason?: string; retryAfterSec?: number };
import { appRoutes } from './app.ts';
import { TEST_ADMIN, nodeAuth, testApp, type TestApp } from './testdata/app.ts';

const admin = { authorization: `Bearer ${TEST_ADMIN}` };
const A = '52:54:00:00:01:0a';
const B = '52:54:00:00:01:0b';
const C = '52:54:00:00:01:0c';

describe('console API: sessions, groups, settings, retire, live', () => {
  let t: TestApp;
  const consoleRoot = mkdtempSync(join(tmpdir(), 'imgsrv-console-'));

  beforeAll(async () => {
    writeFileSync(join(consoleRoot, 'index.html'), '<!doctype html><title>imgsrv</title>');
    t = await testApp({ versions: 2, extra: { consoleRoot, signInPerMinute: 1000 } });
  });
  afterAll(async () => {
    await t.close();
    rmSync(consoleRoot, { recursive: true, force: true });
  });

  const inject = (method: string, url: string, payload?: unknown, headers: Record<string, string> = admin) =>
    t.app.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
  const plan = async (mac: string): Promise<PlanJson> => (await inject('GET', `/api/v1/nodes/${mac}/plan`, undefined, nodeAuth(mac))).json();
  const signIn = async (password: string) => {
    const res = await inject('POST', '/api/v1/session', { password }, {});
    const c = res.cookies.find((x) => x.name === 'imgsrv_session');
    return { res, cookie: c ? `imgsrv_session=${c.value}` : '', attrs: c };
  };

  it('signs in with the admin token or password, hands out a CSRF token, signs out', async () => {
    expect((await signIn('wrong')).res.statusCode).toBe(401);
    const s = await signIn(TEST_ADMIN);
    expect(s.res.statusCode).toBe(200);
    expect(s.attrs).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    const { csrfToken } = s.res.json() as { csrfToken: string };
    expect((await inject('GET', '/api/v1/session', undefined, { cookie: s.cookie })).json()).toMatchObject({ user: 'admin', csrfToken });

    // A password set through the API signs in; setting it ends every session.
    const put = await inject('PUT', '/api/v1/admin/password', { password: 'correct horse' }, { cookie: s.cookie, 'x-csrf-token': csrfToken });
    expect(put.statusCode).toBe(204);
    expect((await inject('GET', '/api/v1/nodes', undefined, { cookie: s.cookie })).statusCode).toBe(401);
    expect((await inject('PUT', '/api/v1/admin/password', { password: 'short' })).statusCode).toBe(400);
    const p = await signIn('correct horse');
    expect(p.res.statusCode).toBe(200);
    const csrf = (p.res.json() as { csrfToken: string }).csrfToken;
    expect((await inject('DELETE', '/api/v1/session', undefined, { cookie: p.cookie })).statusCode).toBe(403);
    expect((await inject('DELETE', '/api/v1/session', undefined, { cookie: p.cookie, 'x-csrf-token': csrf })).statusCode).toBe(204);
    expect((await inject('GET', '/api/v1/session', undefined, { cookie: p.cookie })).statusCode).toBe(401);
    expect(t.store.events.list().map((e) => e.kind)).toEqual(expect.arrayContaining(['auth.failed', 'auth.signin', 'auth.password']));
  });

  it('groups give their nodes an image, hostname pattern, kept partitions and kernel arguments', async () => {
    await inject('PUT', '/api/v1/deploy', { image: 'web' }); // the default: latest = web@2
    const g = await inject('PUT', '/api/v1/groups/rack1', { image: 'web@1', hostnamePattern: 'r1-{n}', keep: ['/srv'], kernelArgs: ['quiet'], promptTimeout: 0 });
    expect(g.statusCode).toBe(200);
    expect(g.json()).toMatchObject({ name: 'rack1', image: 'web@1', hostnamePattern: 'r1-{n}', keep: ['/srv'], kernelArgs: ['quiet'], targetDisk: null, nodes: 0 });
    expect((await inject('PUT', '/api/v1/groups/rack2', { image: 'nope' })).statusCode).toBe(404);
    expect((await inject('PUT', '/api/v1/groups/Bad Name', {})).statusCode).toBe(400);
    const badPattern = await inject('PUT', '/api/v1/groups/rack2', { hostnamePattern: '{n}-' });
    expect(badPattern.statusCode).toBe(400);
    expect(badPattern.json().message).toMatch(/hostnamePattern: it gives "1-"/);
    const injected = await inject('PUT', '/api/v1/groups/rack2', { kernelArgs: ['quiet', '#'] });
    expect(injected.statusCode).toBe(400);
    expect(injected.json().message).toMatch(/^kernelArgs\[1\]: .*iPXE syntax/);

    expect((await inject('PUT', `/api/v1/nodes/${A}`, { group: 'nope' })).statusCode).toBe(404);
    expect((await inject('PUT', `/api/v1/nodes/${A}`, { group: 'rack1', hostname: 'a1' })).json()).toMatchObject({ group: 'rack1', hostname: 'a1' });
    const pa = await plan(A);
    expect(pa).toMatchObject({ action: 'restore', image: { name: 'web', version: 1 }, keep: ['/srv'], hostname: { assigned: 'a1', promptTimeoutSec: 0 } });
    expect(pa.hostname?.suggestion).toMatch(/^r1-\d+$/);
    expect((await t.app.inject(`/boot/ipxe/${A}`)).body).toMatch(/console=ttyS0 quiet/);
    expect((await plan(B))).toMatchObject({ action: 'restore', image: { name: 'web', version: 2 } });

    expect((await inject('DELETE', '/api/v1/groups/rack1')).statusCode).toBe(409);
    expect((await inject('GET', '/api/v1/groups')).json()).toEqual([expect.objectContaining({ name: 'rack1', nodes: 1 })]);
  });

  it('new nodes join the default group; a group in use as the default cannot be removed', async () => {
    const s = await inject('PUT', '/api/v1/settings', { nodes: { defaultGroup: 'rack1' } });
    expect(s.statusCode).toBe(200);
    await inject('POST', '/api/v1/nodes/report', { mac: C, phase: 'booted' }, nodeAuth(C));
    expect((await inject('GET', `/api/v1/nodes/${C}`)).json()).toMatchObject({ group: 'rack1' });
    await inject('PUT', '/api/v1/groups/empty', {});
    await inject('PUT', '/api/v1/settings', { nodes: { defaultGroup: 'empty' } });
    expect((await inject('DELETE', '/api/v1/groups/empty')).statusCode).toBe(409);
    await inject('PUT', '/api/v1/settings', { nodes: { defaultGroup: null } });
    expect((await inject('DELETE', '/api/v1/groups/empty')).statusCode).toBe(204);
    expect((await inject('PUT', '/api/v1/settings', { nodes: { defaultGroup: 'gone' } })).json().message).toMatch(/nodes\.defaultGroup/);
  });

  it('live settings validate with the key named, and the boot mode applies to the next script', async () => {
    expect((await inject('GET', '/api/v1/settings')).json()).toEqual({
      dhcp: { mode: 'proxy', range: null, reservations: [] },
      boot: { mode: 'http' },
      nodes: { hostnamePattern: 'node-{n}', defaultGroup: null },
    });
    const full = await inject('PUT', '/api/v1/settings', { dhcp: { mode: 'full' } });
    expect(full.statusCode).toBe(400);
    expect(full.json().message).toMatch(/dhcp\.range/);
    const backwards = await inject('PUT', '/api/v1/settings', { dhcp: { mode: 'full', range: '198.18.0.200-198.18.0.100' } });
    expect(backwards.json().message).toMatch(/dhcp\.range/);
    expect((await inject('PUT', '/api/v1/settings', { dhcp: { bogus: 1 } })).statusCode).toBe(400);
    const ok = await inject('PUT', '/api/v1/settings', {
      dhcp: { mode: 'full', range: '198.18.0.100-198.18.0.200', reservations: [{ mac: '52-54-00-00-01-AA', ip: '198.18.0.50', hostname: 'db1' }] },
      boot: { mode: 'tftp' },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().dhcp.reservations).toEqual([{ mac: '52:54:00:00:01:aa', ip: '198.18.0.50', hostname: 'db1' }]);
    expect(t.store.leases.reservations()).toEqual([{ mac: '52:54:00:00:01:aa', ip: '198.18.0.50', hostname: 'db1' }]);
    expect((await t.app.inject(`/boot/ipxe/${B}`)).body).toContain('tftp://198.18.0.1/imgsrv/vmlinuz');
    const dup = await inject('PUT', '/api/v1/settings', { dhcp: { reservations: [{ mac: '52:54:00:00:01:aa', ip: '198.18.0.50' }, { mac: '52:54:00:00:01:ab', ip: '198.18.0.50' }] } });
    expect(dup.json().message).toMatch(/reserved twice/);
    await inject('PUT', '/api/v1/settings', { boot: { mode: 'http' } });
  });

  it('a retired node leaves the inventory, wipes its disk when asked, and comes back only by re-image', async () => {
    // B is installed: its disk boots until the wipe is asked for.
    expect(await plan(B)).toMatchObject({ action: 'restore' });
    await inject('POST', '/api/v1/nodes/report', { mac: B, phase: 'done' }, nodeAuth(B));
    expect((await t.app.inject(`/boot/ipxe/${B}`)).body).not.toContain('vmlinuz');
    const r = await inject('POST', `/api/v1/nodes/${B}/retire`, { wipe: true });
    expect(r.json()).toMatchObject({ mac: B, phase: 'retired', retired: { wipe: true } });
    expect(((await inject('GET', '/api/v1/nodes')).json() as Array<{ mac: string }>).map((n) => n.mac)).not.toContain(B);
    expect(((await inject('GET', '/api/v1/nodes?all=true')).json() as Array<{ mac: string }>).map((n) => n.mac)).toContain(B);
    expect(await plan(B)).toMatchObject({ action: 'wipe' });
    expect((await t.app.inject(`/boot/ipxe/${B}`)).body).toContain('vmlinuz'); // the netboot environment does the wipe
    await inject('POST', '/api/v1/nodes/report', { mac: B, phase: 'retired', message: 'disk /dev/vda wiped' }, nodeAuth(B));
    expect((await inject('GET', `/api/v1/nodes/${B}`)).json()).toMatchObject({ retired: { wipe: false } });
    expect(await plan(B)).toMatchObject({ action: 'wait' });
    expect((await t.app.inject(`/boot/ipxe/${B}`)).body).not.toContain('vmlinuz');
    expect((await inject('POST', `/api/v1/nodes/${B}/reimage`, {})).json()).toMatchObject({ install: 'pending', retired: null });
    expect(await plan(B)).toMatchObject({ action: 'restore' });
  });

  it('keeps the error of a node that fails before it asked for a plan', async () => {
    const mac = '52:54:00:00:01:0f';
    await inject('POST', '/api/v1/nodes/report', { mac, phase: 'failed', message: 'no NIC driver for 8086:15f3' }, nodeAuth(mac));
    expect((await inject('GET', `/api/v1/nodes/${mac}`)).json()).toMatchObject({ phase: 'failed', install: 'none', error: 'no NIC driver for 8086:15f3' });
  });

  it('records each verification with the image', async () => {
    expect((await inject('GET', '/api/v1/images')).json()[0]).toMatchObject({ name: 'web', verification: null });
    expect((await inject('POST', '/api/v1/images/web/1/verify', {})).json()).toMatchObject({ ok: true });
    let list = (await inject('GET', '/api/v1/images')).json() as Array<{ version: number; verification: { ok: boolean; problems: string[] } | null }>;
    expect(list.find((i) => i.version === 1)?.verification).toMatchObject({ ok: true, problems: [] });
    // A damaged artifact: the listing says so, with what did not match.
    truncateSync(join(t.images.dir('web', 1), 'image.tar.zst'), 20);
    expect((await inject('POST', '/api/v1/images/web/1/verify', {})).json()).toMatchObject({ ok: false });
    list = (await inject('GET', '/api/v1/images')).json() as typeof list;
    const failed = list.find((i) => i.version === 1)?.verification;
    expect(failed?.ok).toBe(false);
    expect(failed?.problems.join('\n')).toMatch(/image\.tar\.zst/);
  });

  it('streams node changes to a live console', async () => {
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const ac = new AbortController();
    const res = await fetch(`${base}/api/v1/live`, { headers: admin, signal: ac.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const until = async (re: RegExp) => {
      while (!re.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    };
    await until(/event: nodes\ndata: \[/);
    await inject('POST', '/api/v1/nodes/report', { mac: A, phase: 'downloading', swarm: { infoHash: 'a'.repeat(40), downloaded: 10, uploaded: 0, peers: 2, progress: 0.25, downloadSpeed: 5, uploadSpeed: 0 } }, nodeAuth(A));
    await until(/event: event\ndata: .*"node\.downloading"/);
    await until(/"phase":"downloading"/);
    ac.abort();
    expect((await fetch(`${base}/api/v1/live`)).status).toBe(401);
  });

  it('serves the console with a strict CSP, and OpenAPI docs of the API only', async () => {
    const page = await t.app.inject('/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'; script-src 'self'/);
    expect(page.headers['x-frame-options']).toBe('DENY');
    const spec = (await t.app.inject('/docs/json')).json() as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/api/v1/groups/{name}', '/api/v1/settings', '/api/v1/nodes/{mac}/retire', '/api/v1/session']));
    expect(Object.keys(spec.paths).filter((p) => !p.startsWith('/api/v1/'))).toEqual([]);
    expect((await t.app.inject('/docs')).statusCode).toBeLessThan(400);
  });

  it('refuses every mutating route of the full app without credentials', async () => {
    const routes = appRoutes.get(t.app)!.filter((r) => !['GET', 'HEAD', 'OPTIONS'].includes(r.method) && !(r.method === 'POST' && r.url === '/api/v1/session'));
    expect(routes.length).toBeGreaterThanOrEqual(14);
    for (const r of routes) {
      const url = r.url.replace(':mac', A).replace(':name', 'web').replace(':version', '1').replace(':id', 'cap-x-000000');
      const res = await t.app.inject({ method: r.method as 'POST', url, payload: {} });
      expect(res.statusCode, `${r.method} ${r.url}`).toBe(401);
    }
  });
});

describe('sign-in rate limit', () => {
  it('answers 429 after five attempts a minute from one address', async () => {
    const t = await testApp({ versions: 0 });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) codes.push((await t.app.inject({ method: 'POST', url: '/api/v1/session', payload: { password: 'guess' } })).statusCode);
      expect(codes).toEqual([401, 401, 401, 401, 401, 429]);
      const last = await t.app.inject({ method: 'POST', url: '/api/v1/session', payload: { password: TEST_ADMIN } });
      expect(last.statusCode).toBe(429);
      expect(last.json()).toMatchObject({ error: 'RATE_LIMITED' });
      expect(last.headers['retry-after']).toBeDefined();
    } finally {
      await t.close();
    }
  });
});
