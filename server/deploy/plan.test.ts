import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../store/db.ts';
import type { ImageLocks } from '../images/locks.ts';
import { appRoutes } from '../api/app.ts';
import { checkUpTimeouts } from './plan.ts';
import { TEST_ADMIN, nodeAuth, testApp, type TestApp } from '../api/testdata/app.ts';
import type { DeployPlan, RestorePlan } from '../../contract/plan.ts';

/** A plan as the API sends it, any action: its fields read without narrowing. */
type PlanJson = Pick<DeployPlan, 'action'> & Partial<Omit<RestorePlan, 'action'>> & { reason?: string; retryAfterSec?: number };

const admin = { authorization: `Bearer ${TEST_ADMIN}` };
const node = nodeAuth('52:54:00:00:00:99');
const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';

describe('deployment plan, reports and local boot', () => {
  let t: TestApp;
  let app: FastifyInstance;
  let store: Store;
  let locks: ImageLocks;

  beforeAll(async () => {
    t = await testApp({ versions: 2, deploySettings: { keep: ['/data'], promptTimeout: 45 } });
    ({ app, store, locks } = t);
  });
  afterAll(async () => t.close());

  const plan = async (mac: string): Promise<PlanJson> => {
    const res = await app.inject({ method: 'GET', url: `/api/v1/nodes/${mac}/plan`, headers: nodeAuth(mac) });
    expect(res.statusCode).toBe(200);
    return res.json();
  };
  const reportPhase = (mac: string, phase: string, extra: object = {}) =>
    app.inject({ method: 'POST', url: '/api/v1/nodes/report', headers: nodeAuth(mac), payload: { mac, phase, ...extra } });

  it('makes blank nodes wait until an image is set, and refuses an image that does not exist', async () => {
    expect((await plan(A)).action).toBe('wait');
    const bad = await app.inject({ method: 'PUT', url: '/api/v1/deploy', headers: admin, payload: { image: 'nope' } });
    expect(bad.statusCode).toBe(404);
    expect((await app.inject({ method: 'PUT', url: '/api/v1/deploy', headers: node, payload: { image: 'web' } })).statusCode).toBe(401);
    const set = await app.inject({ method: 'PUT', url: '/api/v1/deploy', headers: admin, payload: { image: 'web' } });
    expect(set.json()).toMatchObject({ image: 'web', resolved: { name: 'web', version: 2 }, keep: ['/data'] });
  });

  it('hands out the latest version with its torrent, a numbered hostname suggestion, and locks the version', async () => {
    const p = await plan(A);
    expect(p).toMatchObject({
      action: 'restore',
      image: { name: 'web', version: 2 },
      torrentUrl: 'rsync://198.18.0.1/torrents/web/2.torrent',
      hostname: { assigned: null, suggestion: 'node-1', promptTimeoutSec: 45 },
      keep: ['/data'],
      linger: 30,
    });
    expect(p.meta?.torrent?.infoHash).toMatch(/^[0-9a-f]{40}$/);
    expect(locks.holders('web', 2).map((l) => l.holder)).toEqual([`node:${A}`]);
    // Asking again (a power cut) gives the same number, and the next node the next one.
    expect((await plan(A)).hostname?.suggestion).toBe('node-1');
    expect((await plan(B)).hostname?.suggestion).toBe('node-2');
  });

  it('an assigned hostname skips the prompt; the hostname a node took is kept', async () => {
    await app.inject({ method: 'PUT', url: `/api/v1/nodes/${B}`, headers: admin, payload: { hostname: 'db-1' } });
    expect((await plan(B)).hostname?.assigned).toBe('db-1');
    expect((await reportPhase(A, 'restoring', { hostname: 'web-a', restore: { written: 10, total: 100 } })).json()).toMatchObject({ hostname: 'web-a' });
    const a = (await app.inject({ method: 'GET', url: `/api/v1/nodes/${A}`, headers: admin })).json();
    expect(a).toMatchObject({ hostname: 'web-a', install: 'installing', installedImage: 'web@2', restore: { written: 10, total: 100 } });
  });

  it('a seeding node is installed: its iPXE script boots the local disk and the lock is released', async () => {
    expect((await app.inject({ method: 'GET', url: `/boot/ipxe/${A}` })).body).toContain('kernel ');
    await reportPhase(A, 'seeding');
    expect(store.nodes.get(A)?.install).toBe('installed');
    expect(locks.holders('web', 2).map((l) => l.holder)).toEqual([`node:${B}`]);
    const script = (await app.inject({ method: 'GET', url: `/boot/ipxe/${A}` })).body;
    expect(script).toMatch(/^#!ipxe\n/);
    // BIOS: back to the firmware (next device: the disk); UEFI: chain the local-boot loader.
    expect(script).toMatch(/\niseq \$\{platform\} efi \|\| exit\n/);
    expect(script).toContain('chain http://198.18.0.1/boot/files/localboot.efi');
    expect(script).not.toContain('kernel ');
    expect((await plan(A)).action).toBe('local-boot');
  });

  it('a failed node waits for an operator; reimage starts it over', async () => {
    await reportPhase(B, 'failed', { message: 'restore failed at step "mkfs"\n$ mkfs.ext4 …\nno space' });
    expect(store.nodes.get(B)).toMatchObject({ install: 'failed', error: expect.stringContaining('mkfs') });
    expect(locks.holders('web', 2)).toEqual([]);
    expect((await plan(B)).action).toBe('wait');
    expect((await app.inject({ method: 'POST', url: `/api/v1/nodes/${B}/reimage`, headers: node, payload: {} })).statusCode).toBe(401);
    const r = await app.inject({ method: 'POST', url: `/api/v1/nodes/${B}/reimage`, headers: admin, payload: { image: 'web@1' } });
    expect(r.json()).toMatchObject({ install: 'pending', image: 'web@1', error: null });
    expect((await plan(B))).toMatchObject({ action: 'restore', image: { name: 'web', version: 1 }, hostname: { assigned: 'db-1' } });
    // An installed node re-imaged goes back to the network boot.
    await app.inject({ method: 'POST', url: `/api/v1/nodes/${A}/reimage`, headers: admin });
    expect((await app.inject({ method: 'GET', url: `/boot/ipxe/${A}` })).body).toContain('kernel ');
  });

  it('refuses every deploy and node route without a token, and the admin-only ones with the node token', async () => {
    const routes = appRoutes.get(app)!.filter((r) => /deploy|\/plan|reimage/.test(r.url));
    expect(routes.map((r) => `${r.method} ${r.url}`).sort()).toEqual(['GET /api/v1/deploy', 'GET /api/v1/nodes/:mac/plan', 'HEAD /api/v1/deploy', 'HEAD /api/v1/nodes/:mac/plan', 'POST /api/v1/nodes/:mac/reimage', 'PUT /api/v1/deploy']);
    for (const r of routes) {
      const url = r.url.replace(':mac', A);
      for (const headers of [{}, { authorization: 'Bearer wrong' }]) {
        const res = await app.inject({ method: r.method as 'GET', url, headers, payload: ['GET', 'HEAD'].includes(r.method) ? undefined : {} });
        expect(res.statusCode, `${r.method} ${r.url}`).toBe(401);
      }
      if (!r.url.endsWith('/plan')) {
        const res = await app.inject({ method: r.method as 'GET', url, headers: node, payload: ['GET', 'HEAD'].includes(r.method) ? undefined : {} });
        expect(res.statusCode, `${r.method} ${r.url} with the node token`).toBe(401);
      }
    }
  });

  it("fails a node whose restored system never said it came up, and a late 'done' clears it", async () => {
    const C = '52:54:00:00:00:0c';
    await plan(C);
    await reportPhase(C, 'seeding');
    await reportPhase(C, 'rebooting');
    expect(store.nodes.get(C)).toMatchObject({ phase: 'rebooting', install: 'installed' });
    const at = store.nodes.get(C)!.lastSeen;
    expect(checkUpTimeouts(t.deploy, at + 899_000)).toEqual([]);
    expect(checkUpTimeouts(t.deploy, at + 901_000)).toEqual([C]);
    const failed = store.nodes.get(C)!;
    expect(failed).toMatchObject({ phase: 'failed', install: 'installed' });
    expect(failed.error).toMatch(/^did not come up: no word from the restored system within 900 s/);
    expect(store.events.list({ mac: C }).map((e) => e.kind)).toContain('node.failed');
    // Once failed it is not failed again; the restored system's late word puts it right.
    expect(checkUpTimeouts(t.deploy, at + 2_000_000)).toEqual([]);
    await reportPhase(C, 'done');
    expect(store.nodes.get(C)).toMatchObject({ phase: 'done', install: 'installed', error: null });
  });

  it("takes a node's own disk hint before its group's and the deployment's, and refuses a bad one when it is saved", async () => {
    const D = '52:54:00:00:00:0d';
    const bad = await app.inject({ method: 'PUT', url: `/api/v1/nodes/${D}`, headers: admin, payload: { targetDisk: 'colour=red' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/targetDisk: disk hint key "colour" is unknown/);
    expect((await app.inject({ method: 'PUT', url: '/api/v1/groups/rack9', headers: admin, payload: { targetDisk: 'model=WDC*' } })).statusCode).toBe(200);
    const badGroup = await app.inject({ method: 'PUT', url: '/api/v1/groups/rack9', headers: admin, payload: { targetDisk: 'size=2T-1T' } });
    expect(badGroup.json().message).toMatch(/the range is empty/);
    await app.inject({ method: 'PUT', url: `/api/v1/nodes/${D}`, headers: admin, payload: { group: 'rack9' } });
    expect((await plan(D)).targetDisk).toBe('model=WDC*');
    expect((await app.inject({ method: 'PUT', url: `/api/v1/nodes/${D}`, headers: admin, payload: { targetDisk: 'serial=S64A,size=>=400G' } })).statusCode).toBe(200);
    expect((await plan(D)).targetDisk).toBe('serial=S64A,size=>=400G');
  });

  it("carries a node's own static address in its plan, checked when saved", async () => {
    const E = '52:54:00:00:00:0e';
    const bad = await app.inject({ method: 'PUT', url: `/api/v1/nodes/${E}`, headers: admin, payload: { network: { address: '198.18.0.21' } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/network: address "198.18.0.21" is not IPv4 CIDR/);
    const net = { address: '198.18.0.21/24', gateway: '198.18.0.1', dns: ['198.18.0.53'] };
    expect((await app.inject({ method: 'PUT', url: `/api/v1/nodes/${E}`, headers: admin, payload: { network: net } })).json()).toMatchObject({ network: net });
    expect((await plan(E)).network).toEqual(net);
    await app.inject({ method: 'PUT', url: `/api/v1/nodes/${E}`, headers: admin, payload: { network: null } });
    expect((await plan(E)).network).toBeNull();
  });
});
