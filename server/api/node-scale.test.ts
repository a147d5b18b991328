/**
 * The node list at fleet size: GET /nodes paged, POST /nodes/bulk, and the
 * live feed's per-tick cost at 1,000 and 2,000 nodes (a `nodes-delta` frame
 * carries only the nodes that changed). The figures are printed, not
 * asserted in time; bytes are asserted, being exact.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../store/db.ts';
import { NodeViews } from './node-view.ts';
import { NodeFeed } from './node-feed.ts';
import { TEST_ADMIN, nodeAuth, testApp, type TestApp } from './testdata/app.ts';

const admin = { authorization: `Bearer ${TEST_ADMIN}` };
const mac = (i: number) => `52:54:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

describe('GET /nodes paged and POST /nodes/bulk', () => {
  let t: TestApp;
  const N = 1200;
  beforeAll(async () => {
    t = await testApp();
    t.store.nodes.setLimit(N + 10);
    for (let i = 0; i < N; i++) t.store.nodes.record({ mac: mac(i), ip: `198.18.${i >> 8}.${i & 0xff}`, firmware: 'bios', phase: 'booted' });
    t.store.groups.upsert('rack1', {});
  });
  afterAll(async () => t?.close());
  const inject = (method: string, url: string, payload?: unknown, headers: Record<string, string> = admin) =>
    t.app.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });

  it('pages the list in MAC order; the pages add up to the whole list', async () => {
    const whole = (await inject('GET', '/api/v1/nodes')).json() as Array<{ mac: string }>;
    expect(whole).toHaveLength(N);
    const paged: Array<{ mac: string }> = [];
    let after: string | undefined;
    for (;;) {
      const res = await inject('GET', `/api/v1/nodes?limit=500${after ? `&after=${after}` : ''}`);
      expect(res.statusCode).toBe(200);
      const page = res.json() as Array<{ mac: string }>;
      paged.push(...page);
      if (page.length < 500) {
        expect(res.headers['x-next-after']).toBeUndefined();
        break;
      }
      expect(res.headers['x-next-after']).toBe(page.at(-1)!.mac);
      after = page.at(-1)!.mac;
    }
    expect(paged.map((n) => n.mac)).toEqual(whole.map((n) => n.mac));
    expect((await inject('GET', `/api/v1/nodes?after=${mac(3)}`)).statusCode).toBe(400);
    expect((await inject('GET', '/api/v1/nodes?limit=0')).statusCode).toBe(400);
    expect((await inject('GET', '/api/v1/nodes?limit=10&after=nope')).statusCode).toBe(400);
  });

  it('puts a selection in a group, all or nothing', async () => {
    const sel = Array.from({ length: 1000 }, (_, i) => mac(i));
    const res = await inject('POST', '/api/v1/nodes/bulk', { action: 'group', macs: sel, group: 'rack1' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ action: 'group', nodes: 1000 });
    const nodes = (await inject('GET', '/api/v1/nodes')).json() as Array<{ mac: string; group: string | null }>;
    expect(nodes.filter((n) => n.group === 'rack1')).toHaveLength(1000);
    // One unknown MAC: nothing changes.
    const refused = await inject('POST', '/api/v1/nodes/bulk', { action: 'group', macs: [mac(1100), '52:54:00:ff:ff:ff'], group: 'rack1' });
    expect(refused.statusCode).toBe(404);
    expect(refused.json().message).toMatch(/52:54:00:ff:ff:ff/);
    expect(((await inject('GET', `/api/v1/nodes/${mac(1100)}`)).json() as { group: string | null }).group).toBeNull();
    expect((await inject('POST', '/api/v1/nodes/bulk', { action: 'group', macs: [mac(1)], group: 'nope' })).statusCode).toBe(404);
    expect((await inject('POST', '/api/v1/nodes/bulk', { action: 'group', macs: [mac(1)] })).json().message).toMatch(/needs group/);
    expect((await inject('POST', '/api/v1/nodes/bulk', { action: 'retire', macs: [mac(1)], group: 'rack1' })).json().message).toMatch(/retire takes no group/);
    expect((await inject('POST', '/api/v1/nodes/bulk', { action: 'explode', macs: [mac(1)] })).statusCode).toBe(400);
    expect((await inject('POST', '/api/v1/nodes/bulk', { action: 'retire', macs: [mac(1)] }, {})).statusCode).toBe(401);
    expect([401, 403]).toContain((await inject('POST', '/api/v1/nodes/bulk', { action: 'retire', macs: [mac(1)] }, nodeAuth(mac(1)))).statusCode);
  });

  it('pins, re-images and retires a selection', async () => {
    const sel = [mac(5), mac(6), mac(7)];
    expect((await inject('POST', '/api/v1/nodes/bulk', { action: 'image', macs: sel, image: 'web@1' })).statusCode).toBe(200);
    expect(((await inject('GET', `/api/v1/nodes/${mac(6)}`)).json() as { image: string }).image).toBe('web@1');
    expect((await inject('POST', '/api/v1/nodes/bulk', { action: 'image', macs: sel, image: 'web@9' })).statusCode).toBe(404);
    expect((await inject('POST', '/api/v1/nodes/bulk', { action: 'reimage', macs: sel })).statusCode).toBe(200);
    for (const m of sel) expect(((await inject('GET', `/api/v1/nodes/${m}`)).json() as { install: string }).install).toBe('pending');
    expect((await inject('POST', '/api/v1/nodes/bulk', { action: 'retire', macs: sel, wipe: true })).statusCode).toBe(200);
    for (const m of sel) expect(((await inject('GET', `/api/v1/nodes/${m}`)).json() as { retired: unknown }).retired).toMatchObject({ wipe: true });
    expect((await inject('GET', '/api/v1/nodes')).json()).toHaveLength(N - 3);
  });

  it('streams a node report to a live console as a delta of that node only', async () => {
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const ac = new AbortController();
    const res = await fetch(`${base}/api/v1/live`, { headers: admin, signal: ac.signal });
    const reader = res.body!.getReader();
    let text = '';
    const until = async (re: RegExp) => {
      while (!re.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    };
    await until(/event: nodes\ndata: \[.*\]\n\n/);
    text = '';
    const r = await inject('POST', '/api/v1/nodes/report', { mac: mac(9), phase: 'downloading' }, nodeAuth(mac(9)));
    expect(r.statusCode).toBe(200);
    await until(/event: nodes-delta\ndata: (.*)\n\n/);
    const delta = JSON.parse(/event: nodes-delta\ndata: (.*)\n\n/.exec(text)![1]!) as { changed: Array<{ mac: string; phase: string }>; removed: string[] };
    expect(delta).toEqual({ changed: [expect.objectContaining({ mac: mac(9), phase: 'downloading' })], removed: [] });
    // A bulk action reaches the console as one delta of the nodes it changed.
    text = '';
    expect((await inject('POST', '/api/v1/nodes/bulk', { action: 'image', macs: [mac(10), mac(11)], image: 'web@1' })).statusCode).toBe(200);
    await until(/event: nodes-delta\ndata: (.*)\n\n/);
    const bulk = JSON.parse(/event: nodes-delta\ndata: (.*)\n\n/.exec(text)![1]!) as { changed: Array<{ mac: string; image: string }> };
    expect(bulk.changed.map((n) => [n.mac, n.image])).toEqual([[mac(10), 'web@1'], [mac(11), 'web@1']]);
    ac.abort();
    expect((t.app.server.address() as AddressInfo).port).toBeGreaterThan(0);
  });
});

describe('live feed per-tick cost at 1,000 and 2,000 nodes', () => {
  const ms = (fn: () => void, reps = 5): number => {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    return (performance.now() - t0) / reps;
  };

  it('sends only what changed; prints bytes and time per tick', () => {
    const rows: string[] = [];
    for (const n of [1000, 2000]) {
      const store = openStore(':memory:');
      store.nodes.setLimit(n + 10);
      for (let i = 0; i < n; i++) {
        store.nodes.record({ mac: mac(i), ip: `198.18.${i >> 8}.${i & 0xff}`, firmware: i % 2 ? 'uefi' : 'bios', phase: 'downloading' });
        store.nodes.assignHostname(mac(i), `rack${Math.floor(i / 40)}-n${i % 40}`);
      }
      const views = new NodeViews(store);
      const feed = new NodeFeed(views, { fullEvery: 1_000_000 });
      // What a console that connects gets: every node, whatever the per-tick budget.
      feed.delta(true, Infinity);
      const snapshot = feed.snapshot();
      // What the feed sent every tick before deltas: the whole list.
      let whole = '';
      const wholeMs = ms(() => (whole = JSON.stringify(views.list())));
      // `changes` nodes report (not timed), then one tick builds the frame (timed); the mean of 5.
      let round = 0;
      const tick = (changes: number): { bytes: number; ms: number } => {
        let bytes = 0;
        let total = 0;
        for (let r = 0; r < 5; r++) {
          round++;
          for (let i = 0; i < changes; i++) {
            store.nodes.record({ mac: mac(i), kernel: `6.1.0-${round}` });
            views.touch(mac(i));
          }
          const t0 = performance.now();
          bytes = feed.delta()!.json.length;
          total += performance.now() - t0;
        }
        return { bytes, ms: total / 5 };
      };
      for (const changes of [1, Math.round(n / 10), n]) {
        const { bytes, ms: t } = tick(changes);
        // At most 500 nodes a frame (maxPerTick), about 370 bytes each here.
        expect(bytes).toBeLessThan(Math.min(changes, 500) * 600 + 100);
        rows.push(`| ${n} | ${changes} changed | ${(bytes / 1024).toFixed(1)} KiB | ${t.toFixed(2)} ms | ${(whole.length / 1024).toFixed(0)} KiB, ${wholeMs.toFixed(2)} ms |`);
      }
      // The nodes over the last tick's budget follow in the next ticks; then nothing changed: no frame at all.
      let rest = 0;
      for (let d = feed.delta(); d; d = feed.delta()) rest += d.changed;
      expect(rest).toBe(Math.max(0, n - 500));
      expect(feed.delta()).toBeUndefined();
      // The periodic full comparison costs time, no bytes.
      const fullMs = ms(() => expect(feed.delta(true)).toBeUndefined());
      rows.push(`| ${n} | 0 changed (full comparison) | 0 B | ${fullMs.toFixed(2)} ms | |`);
      expect(snapshot.length).toBeGreaterThan(n * 300);
      store.close();
    }
    console.log(['| nodes | tick | nodes-delta frame (at most 500 nodes) | build time | whole list (before) |', '| --- | --- | --- | --- | --- |', ...rows].join('\n'));
  });
});
