/** A node's lag report (how far its restore trails its download) through the real route into its view. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { openStore, type Store } from '../store/db.ts';
import { buildApp } from './app.ts';
import { createRegistry } from './metrics.ts';
import { TEST_NODES, testSources } from './testdata/app.ts';

const ADMIN = 'admin-token-for-lag-tests';
const MAC = 'aa:bb:cc:dd:ee:24';

describe('node lag report', () => {
  let app: FastifyInstance;
  let store: Store;
  beforeAll(async () => {
    store = openStore(':memory:');
    store.tokens.set('admin', ADMIN);
    app = await buildApp({
      store,
      logger: silentLogger,
      registry: createRegistry(store),
      boot: { filesDir: '/nonexistent', httpBase: 'http://198.18.0.1:8080', mode: () => 'http' as const, tftpServer: '198.18.0.1', kernelArgs: [], sources: testSources(store) },
      nodes: TEST_NODES,
      status: () => ({ version: 't', startedAt: 0, interface: 'eth0', address: '198.18.0.1', services: {} }),
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    store.close();
  });
  const report = (payload: object) =>
    app.inject({ method: 'POST', url: '/api/v1/nodes/report', headers: { authorization: `Bearer ${TEST_NODES.tokenFor(MAC)}` }, payload: { mac: MAC, ...payload } });

  it('keeps the latest lag and shows it after the restore', async () => {
    expect((await report({ phase: 'restoring', lag: { backlog: 1000, maxBacklog: 5000, atDownloadEnd: null, seconds: null } })).statusCode).toBe(200);
    expect((await report({ phase: 'seeding', lag: { backlog: 0, maxBacklog: 5000, atDownloadEnd: 800, seconds: 0.42 } })).statusCode).toBe(200);
    const node = (await app.inject({ url: `/api/v1/nodes/${MAC}`, headers: { authorization: `Bearer ${ADMIN}` } })).json() as Record<string, unknown>;
    expect(node).toMatchObject({ phase: 'seeding', lag: { backlog: 0, maxBacklog: 5000, atDownloadEnd: 800, seconds: 0.42 } });
  });

  it('refuses a lag with a missing or negative figure', async () => {
    expect((await report({ lag: { backlog: 1, maxBacklog: 1, atDownloadEnd: null } })).statusCode).toBe(400);
    expect((await report({ lag: { backlog: -1, maxBacklog: 1, atDownloadEnd: null, seconds: null } })).statusCode).toBe(400);
  });
});
