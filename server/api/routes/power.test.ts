import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImgsrvError } from '../../../core/errors.ts';
import { silentLogger } from '../../../core/log.ts';
import { openStore, type Store } from '../../store/db.ts';
import { buildApp } from '../app.ts';
import { createRegistry } from '../metrics.ts';
import { TEST_NODES, testSources } from '../testdata/app.ts';
import { BmcCredentialStore } from '../../power/credentials.ts';
import { SecretBox } from '../../power/secret-box.ts';
import { PowerService } from '../../power/service.ts';
import type { BmcCredentials, PowerDriver, PowerState } from '../../power/driver.ts';

const ADMIN = 'admin-token-for-tests';
const MAC = 'aa:bb:cc:dd:ee:01';
const PASSWORD = 'Pw-never-shown-42';

/** A BMC in memory: one chassis per address; "deaf" never powers the node into a report. */
class FakeBmc implements PowerDriver {
  readonly name = 'fake';
  state: PowerState = 'on';
  calls: string[] = [];
  private check(c: BmcCredentials) {
    if (c.password !== PASSWORD) throw new ImgsrvError('BMC_AUTH', `BMC ${c.address} refused the user name or password (RAKP 2 HMAC is invalid)`);
  }
  async status(c: BmcCredentials) {
    this.check(c);
    return { state: this.state, answer: `Chassis Power is ${this.state}`, attempts: 1 };
  }
  async power(c: BmcCredentials, action: string) {
    this.check(c);
    this.calls.push(action);
    this.state = action === 'off' ? 'off' : 'on';
    return { answer: `Chassis Power Control: ${action}`, attempts: 1 };
  }
  async bootOnce(c: BmcCredentials, device: string) {
    this.check(c);
    this.calls.push(`boot ${device}`);
    return { answer: `Set Boot Device to ${device}; next boot: ${device}`, attempts: 1 };
  }
}

describe('power API', () => {
  let app: FastifyInstance;
  let store: Store;
  const bmc = new FakeBmc();
  const dir = mkdtempSync(join(tmpdir(), 'imgsrv-power-'));
  const auth = { authorization: `Bearer ${ADMIN}` };
  const reimaged: string[] = [];

  beforeAll(async () => {
    mkdirSync(join(dir, 'netboot'));
    store = openStore(':memory:');
    store.tokens.set('admin', ADMIN);
    const credentials = new BmcCredentialStore(store, new SecretBox(Buffer.alloc(32, 3)));
    const service = new PowerService({ store, credentials, driver: bmc, log: silentLogger, markForReimage: (m) => void reimaged.push(m), pollMs: 1 });
    app = await buildApp({
      store,
      logger: silentLogger,
      registry: createRegistry(store),
      boot: { filesDir: join(dir, 'netboot'), httpBase: 'http://198.18.0.1', mode: () => 'http' as const, tftpServer: '198.18.0.1', kernelArgs: [], sources: testSources(store), loaders: { dir, available: [] } },
      nodes: TEST_NODES,
      status: () => ({ version: 't', startedAt: 0, interface: 'eth0', address: '198.18.0.1', services: {} }),
      power: { credentials, service },
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('needs the admin token for every BMC and power route', async () => {
    for (const [method, url] of [['GET', `/api/v1/nodes/${MAC}/bmc`], ['PUT', `/api/v1/nodes/${MAC}/bmc`], ['POST', `/api/v1/nodes/${MAC}/power`], ['POST', `/api/v1/nodes/${MAC}/reimage-now`], ['PUT', '/api/v1/groups/g/bmc'], ['POST', `/api/v1/nodes/${MAC}/boot-once`]] as const) {
      const r = await app.inject({ method, url, payload: {} });
      expect(r.statusCode, `${method} ${url}`).toBe(401);
    }
    expect((await app.inject({ method: 'PUT', url: `/api/v1/nodes/${MAC}/bmc`, headers: { authorization: `Bearer ${TEST_NODES.tokenFor(MAC)}` }, payload: { address: "x" } })).statusCode).toBe(401);
  });

  it('takes a password and never gives it back', async () => {
    const set = await app.inject({ method: 'PUT', url: `/api/v1/nodes/${MAC}/bmc`, headers: auth, payload: { address: '198.18.0.9', user: 'admin', password: PASSWORD } });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ address: '198.18.0.9', user: 'admin', passwordSet: true });
    for (const url of [`/api/v1/nodes/${MAC}/bmc`, `/api/v1/nodes/${MAC}`, '/api/v1/nodes', '/api/v1/events']) {
      const body = (await app.inject({ url, headers: auth })).body;
      expect(body, url).not.toContain(PASSWORD);
    }
    expect(JSON.stringify(store.events.list({ mac: MAC }))).not.toContain(PASSWORD);
  });

  it('refuses an address that is not a host name or an IPv4 address', async () => {
    const r = await app.inject({ method: 'PUT', url: `/api/v1/nodes/${MAC}/bmc`, headers: auth, payload: { address: '-oProxyCommand=x', user: 'a', password: 'b' } });
    expect(r.statusCode).toBe(400);
  });

  it('powers the node, recording the BMC answer as an event', async () => {
    const r = await app.inject({ method: 'POST', url: `/api/v1/nodes/${MAC}/power`, headers: auth, payload: { action: 'status' } });
    expect(r.json()).toMatchObject({ mac: MAC, action: 'status', state: 'on', answer: 'Chassis Power is on' });
    await app.inject({ method: 'POST', url: `/api/v1/nodes/${MAC}/power`, headers: auth, payload: { action: 'cycle' } });
    const ev = store.events.list({ mac: MAC }).filter((e) => e.kind === 'node.power');
    expect(ev.map((e) => e.message)).toEqual(['status: Chassis Power is on', 'cycle: Chassis Power Control: cycle']);
    expect(ev[1]!.data).toMatchObject({ action: 'cycle', bmc: '198.18.0.9', attempts: 1 });
  });

  it("answers a BMC's refusal with 502 and its reason, and logs the failure", async () => {
    const other = 'aa:bb:cc:dd:ee:02';
    await app.inject({ method: 'PUT', url: `/api/v1/nodes/${other}/bmc`, headers: auth, payload: { address: '198.18.0.10', user: 'admin', password: 'wrong' } });
    const r = await app.inject({ method: 'POST', url: `/api/v1/nodes/${other}/power`, headers: auth, payload: { action: 'on' } });
    expect(r.statusCode).toBe(502);
    expect(r.json()).toMatchObject({ error: 'BMC_AUTH', message: expect.stringMatching(/refused the user name or password/) });
    expect(store.events.list({ mac: other }).at(-1)).toMatchObject({ kind: 'node.power.failed' });
    const none = await app.inject({ method: 'POST', url: '/api/v1/nodes/aa:bb:cc:dd:ee:03/power', headers: auth, payload: { action: 'on' } });
    expect(none.statusCode).toBe(404);
    expect(none.json().message).toMatch(/has no BMC: set one/);
  });

  it('re-images now: off, one-time PXE, on, then done at the netboot report', async () => {
    bmc.calls = [];
    const start = await app.inject({ method: 'POST', url: `/api/v1/nodes/${MAC}/reimage-now`, headers: auth, payload: { timeoutSeconds: 10 } });
    expect(start.statusCode).toBe(202);
    expect(reimaged).toContain(MAC);
    await expect.poll(() => bmc.calls.join(',')).toBe('off,boot pxe,on');
    const report = await app.inject({ method: 'POST', url: '/api/v1/nodes/report', headers: { authorization: `Bearer ${TEST_NODES.tokenFor(MAC)}` }, payload: { mac: MAC, phase: 'booted' } });
    expect(report.statusCode).toBe(200);
    await expect.poll(async () => (await app.inject({ url: `/api/v1/nodes/${MAC}/reimage-now`, headers: auth })).json().state).toBe('booted');
    expect(store.events.list({ mac: MAC }).at(-1)).toMatchObject({ kind: 'node.reimage.booted' });
  });
});

describe('re-image now without a netboot report', () => {
  it('runs the power sequence twice, then fails saying what to check', async () => {
    const store = openStore(':memory:');
    const bmc = new FakeBmc();
    const credentials = new BmcCredentialStore(store, new SecretBox(Buffer.alloc(32, 4)));
    credentials.setNode(MAC, { address: 'bmc-1', user: 'admin', password: PASSWORD });
    const service = new PowerService({ store, credentials, driver: bmc, log: silentLogger, markForReimage: () => undefined, pollMs: 1 });
    service.startReimage(MAC, { timeoutMs: 30 });
    expect(() => service.startReimage(MAC, { timeoutMs: 30 })).toThrow(/already running/);
    await expect.poll(() => service.job(MAC)?.state).toBe('failed');
    expect(bmc.calls).toEqual(['off', 'boot pxe', 'on', 'off', 'boot pxe', 'on']);
    expect(service.job(MAC)!.attempt).toBe(2);
    expect(service.job(MAC)!.message).toMatch(/did not network-boot after 2 power cycles.*PXE enabled on the NIC/);
    expect(store.events.list({ mac: MAC }).at(-1)).toMatchObject({ kind: 'node.reimage.failed' });
    store.close();
  });
});
