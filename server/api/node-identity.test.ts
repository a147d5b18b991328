/**
 * A node may speak only for itself (issue 25): each node's token is bound to
 * its MAC, goes out only in that node's boot files and only to a requester
 * tied to that MAC, and the routes that act for a node check it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NodeIdentity } from '../node-identity.ts';
import { checkBootSource, readNeighbours } from '../boot-source.ts';
import { createNodeTftpFiles } from '../tftp-files.ts';
import { nodeAuth, TEST_NEIGHBOURS, TEST_NODES, testApp, testSources, TEST_ADMIN, type TestApp } from './testdata/app.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const A = '52:54:00:0a:00:01';
const B = '52:54:00:0b:00:02';
const admin = { authorization: `Bearer ${TEST_ADMIN}` };

describe('node tokens', () => {
  it('name one MAC, and a changed MAC, signature or key is no token', () => {
    const t = TEST_NODES.tokenFor('52-54-00-0A-00-01');
    expect(t).toMatch(/^n1\.5254000a0001\.[A-Za-z0-9_-]{43}$/);
    expect(TEST_NODES.macOf(t)).toBe(A);
    const [v, , sig] = t.split('.');
    expect(TEST_NODES.macOf(`${v}.5254000b0002.${sig}`)).toBeUndefined();
    expect(TEST_NODES.macOf(`${t.slice(0, -2)}AA`)).toBeUndefined();
    expect(new NodeIdentity(Buffer.alloc(32, 1)).macOf(t)).toBeUndefined();
    expect(TEST_NODES.macOf('node-token-of-old')).toBeUndefined();
  });
});

describe('a node speaks only for itself', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  afterAll(async () => {
    await t.close();
  });
  afterEach(() => TEST_NEIGHBOURS.clear());

  const report = (mac: string, body: Record<string, unknown>, headers = nodeAuth(mac), remoteAddress = '127.0.0.1') =>
    t.app.inject({ method: 'POST', url: '/api/v1/nodes/report', headers, payload: { mac, ...body }, remoteAddress });

  it("refuses a report or plan request for another node's MAC, and it locks and creates nothing", async () => {
    const asA = nodeAuth(A);
    const r = await report(B, { phase: 'seeding' }, asA);
    expect(r.statusCode).toBe(403);
    expect(r.json().message).toMatch(/may speak only for itself/);
    const plan = await t.app.inject({ url: `/api/v1/nodes/${B}/plan`, headers: asA });
    expect(plan.statusCode).toBe(403);
    expect(t.store.nodes.get(B)).toBeUndefined();
    expect(t.locks.holders('web', 1)).toEqual([]);
  });

  it('refuses a forged token as unauthenticated', async () => {
    const forged = `n1.${B.replaceAll(':', '')}.${'A'.repeat(43)}`;
    expect((await report(B, { phase: 'booted' }, { authorization: `Bearer ${forged}` })).statusCode).toBe(401);
  });

  it("takes a node's report only from its leased address when it holds one of our leases", async () => {
    t.store.leases.upsert({ ip: '198.18.0.50', mac: A, state: 'bound', expiresAt: Date.now() + 60_000 });
    const elsewhere = await report(A, { phase: 'booted' }, nodeAuth(A), '198.18.0.51');
    expect(elsewhere.statusCode).toBe(403);
    expect(elsewhere.json().message).toMatch(/holds the lease for 198\.18\.0\.50/);
    expect((await report(A, { phase: 'booted' }, nodeAuth(A), '198.18.0.50')).statusCode).toBe(200);
    t.store.leases.remove('198.18.0.50');
  });

  it('takes the restored system of a node with a static address from that address while its netboot lease runs', async () => {
    t.store.leases.upsert({ ip: '198.18.0.52', mac: A, state: 'bound', expiresAt: Date.now() + 60_000 });
    t.store.nodes.setNetwork(A, { address: '198.18.0.77/24', gateway: '198.18.0.1' });
    expect((await report(A, { phase: 'booted' }, nodeAuth(A), '198.18.0.77')).statusCode).toBe(200);
    // The report carried no address: the node is where it spoke from.
    expect(t.store.nodes.get(A)?.ip).toBe('198.18.0.77');
    expect((await report(A, { phase: 'booted' }, nodeAuth(A), '198.18.0.78')).statusCode).toBe(403);
    t.store.nodes.setNetwork(A, null);
    t.store.leases.remove('198.18.0.52');
  });

  it("hands a boot script, with that node's token, only to a requester tied to the MAC", async () => {
    TEST_NEIGHBOURS.set('198.18.0.60', A);
    const other = await t.app.inject({ url: `/boot/ipxe/${B}`, remoteAddress: '198.18.0.60' });
    expect(other.statusCode).toBe(403);
    expect(other.body).toMatch(/^#!ipxe\necho imgsrv: refused: 198\.18\.0\.60 is 52:54:00:0a:00:01 on the local network/);
    expect(other.body).not.toMatch(/imgsrv\.token/);
    expect(t.store.nodes.get(B)).toBeUndefined();

    const own = await t.app.inject({ url: `/boot/ipxe/${A}`, remoteAddress: '198.18.0.60' });
    expect(own.statusCode).toBe(200);
    expect(own.body).toContain(`imgsrv.token=${TEST_NODES.tokenFor(A)} imgsrv.mac=${A} `);

    // Routed, not our lease: no MAC to compare, so no token.
    const routed = await t.app.inject({ url: `/boot/ipxe/${B}`, remoteAddress: '198.19.7.7' });
    expect(routed.statusCode).toBe(403);
    expect(routed.body).toMatch(/can't be tied to/);

    // Our lease decides before the neighbour table.
    t.store.leases.upsert({ ip: '198.18.0.61', mac: A, state: 'bound', expiresAt: Date.now() + 60_000 });
    TEST_NEIGHBOURS.set('198.18.0.61', B);
    expect((await t.app.inject({ url: `/boot/ipxe/${B}`, remoteAddress: '198.18.0.61' })).statusCode).toBe(403);
    t.store.leases.remove('198.18.0.61');
  });

  it('serves pxelinux and tftp-mode iPXE files the same way', async () => {
    const files = createNodeTftpFiles({ store: t.store, nodes: TEST_NODES, sources: testSources(t.store), httpBase: 'http://198.18.0.1', kernelArgs: [] });
    TEST_NEIGHBOURS.set('198.18.0.62', A);
    const from = { address: '198.18.0.62', port: 2000 };
    expect(await files('pxelinux.cfg/01-52-54-00-0b-00-02', from)).toBeNull();
    expect(await files('imgsrv-5254000b0002.ipxe', from)).toBeNull();
    expect((await files('pxelinux.cfg/01-52-54-00-0a-00-01', from))!.toString()).toContain(`imgsrv.token=${TEST_NODES.tokenFor(A)} imgsrv.mac=${A}`);
    expect((await files('imgsrv-5254000a0001.ipxe', from))!.toString()).toContain(`imgsrv.token=${TEST_NODES.tokenFor(A)} imgsrv.mac=${A}`);
    // A config without a MAC could carry no node's token.
    expect(await files('pxelinux.cfg/default', from)).toBeNull();
    // The Secure Boot path's GRUB: the entry config is the same for all and holds no token; the node's own is its alone.
    expect((await files('grub/grub.cfg', from))!.toString()).not.toContain('imgsrv.token');
    expect(await files('grub/imgsrv-52:54:00:0b:00:02.cfg', from)).toBeNull();
    expect((await files('grub/imgsrv-52:54:00:0a:00:01.cfg', from))!.toString()).toContain(`'imgsrv.token=${TEST_NODES.tokenFor(A)}' 'imgsrv.mac=${A}'`);
  });

  it("never lets a report replace an operator's hostname; a node's own name it may change", async () => {
    const C = '52:54:00:0c:00:03';
    expect((await t.app.inject({ method: 'PUT', url: `/api/v1/nodes/${C}`, headers: admin, payload: { hostname: 'web1' } })).statusCode).toBe(200);
    const r = await report(C, { phase: 'booted', hostname: 'evil' });
    expect(r.json()).toEqual({ ok: true, hostname: 'web1' });
    expect(t.store.nodes.get(C)).toMatchObject({ hostname: 'web1', hostnameBy: 'operator' });
    expect(t.store.events.list({ mac: C }).map((e) => e.kind)).toContain('node.hostname.kept');

    const D = '52:54:00:0d:00:04';
    await report(D, { phase: 'booted', hostname: 'typed-at-prompt' });
    expect(t.store.nodes.get(D)).toMatchObject({ hostname: 'typed-at-prompt', hostnameBy: 'node' });
    await report(D, { phase: 'booted', hostname: 'typed-again' });
    expect(t.store.nodes.get(D)!.hostname).toBe('typed-again');
  });

  it("counts a 'retired' report as a wiped disk only after the wipe plan went to that node", async () => {
    const E = '52:54:00:0e:00:05';
    await report(E, { phase: 'booted' });
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/nodes/${E}/retire`, headers: admin, payload: { wipe: true } })).statusCode).toBe(200);
    await report(E, { phase: 'retired', message: 'disk wiped' });
    expect(t.store.nodes.get(E)!.retired).toMatchObject({ wipe: true });
    expect((await t.app.inject({ url: `/api/v1/nodes/${E}/plan`, headers: nodeAuth(E) })).json()).toMatchObject({ action: 'wipe' });
    await report(E, { phase: 'retired', message: 'disk /dev/vda wiped' });
    expect(t.store.nodes.get(E)!.retired).toMatchObject({ wipe: false });
  });

  it('adds no node past the inventory cap from an unauthenticated request; its own report still registers it', async () => {
    const F = '52:54:00:0f:00:06';
    t.store.nodes.setLimit(t.store.nodes.count());
    try {
      const s = await t.app.inject({ url: `/boot/ipxe/${F}` });
      expect(s.statusCode).toBe(503);
      expect(s.body).toMatch(/inventory is full/);
      expect(t.store.nodes.get(F)).toBeUndefined();
      expect(t.store.nodes.sight({ mac: F, firmware: 'bios' })).toEqual({ created: false, refused: true });
      expect(t.store.nodes.get(F)).toBeUndefined();
      expect((await report(F, { phase: 'booted' })).statusCode).toBe(200);
      expect(t.store.nodes.get(F)).toBeDefined();
    } finally {
      t.store.nodes.setLimit(10_000);
    }
  });
});

describe('boot source check', () => {
  const deps = (over: Partial<Parameters<typeof checkBootSource>[0]> = {}) => ({
    leaseOf: () => undefined,
    neighbours: () => new Map<string, string>(),
    allowUnverified: () => false,
    ...over,
  });
  it('trusts loopback, refuses an expired lease as evidence, and lets the operator allow unverified sources', () => {
    expect(checkBootSource(deps(), A, '::ffff:127.0.0.1')).toEqual({ ok: true, how: 'loopback' });
    const expired = { ip: '198.18.0.9', mac: B, state: 'bound' as const, expiresAt: 1 };
    expect(checkBootSource(deps({ leaseOf: () => expired, neighbours: () => new Map([['198.18.0.9', A]]) }), A, '::ffff:198.18.0.9')).toEqual({ ok: true, how: 'neighbour' });
    expect(checkBootSource(deps({ allowUnverified: () => true }), A, '198.19.1.1')).toEqual({ ok: true, how: 'unverified' });
  });
  it("reads the kernel's ARP table format, skipping incomplete entries", () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgsrv-arp-'));
    try {
      const f = join(dir, 'arp');
      writeFileSync(
        f,
        [
          'IP address       HW type     Flags       HW address            Mask     Device',
          '198.18.0.2       0x1         0x2         52:54:00:0a:00:01     *        br0',
          '198.18.0.3       0x1         0x0         00:00:00:00:00:00     *        br0',
          '',
        ].join('\n'),
      );
      expect([...readNeighbours(f)]).toEqual([['198.18.0.2', A]]);
      expect(readNeighbours(join(dir, 'missing')).size).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bounds on unauthenticated and node requests', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  afterAll(async () => {
    await t.close();
  });

  it('rate-limits boot requests per address (429), other addresses unaffected', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 125; i++) codes.push((await t.app.inject({ url: `/boot/ipxe/${B}`, remoteAddress: '198.19.3.3' })).statusCode);
    expect(codes.slice(0, 120).every((c) => c === 403)).toBe(true);
    expect(codes.slice(120)).toEqual([429, 429, 429, 429, 429]);
    expect((await t.app.inject({ url: '/boot/files/vmlinuz', remoteAddress: '198.19.3.3' })).statusCode).toBe(429);
    expect((await t.app.inject({ url: `/boot/ipxe/${A}` })).statusCode).toBe(200);
  });

  it('caps a report body', async () => {
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/nodes/report', headers: { ...nodeAuth(A), 'content-type': 'application/json' }, payload: JSON.stringify({ mac: A, message: 'x'.repeat(40_000) }) });
    expect(r.statusCode).toBe(413);
  });
});
