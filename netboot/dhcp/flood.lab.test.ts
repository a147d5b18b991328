/**
 * Issue 25, DHCP under a flood. One real `imgsrv serve --dhcp full` (SQLite
 * store) with a pool of 30 addresses; a host in another namespace sends
 * 50,000 mutated DISCOVERs, each from an invented MAC (lab/load/dhcp-flood.ts),
 * and the moment it is done a real busybox udhcpc asks for a lease: it must
 * be bound within UDHCPC_BOUND_MS. A pool that held every offer until it
 * lapsed (30 s) would leave udhcpc with nothing. The DISCOVER udhcpc sends
 * while the server still works through the flood's queue competes with it for
 * the new-client budget and may be dropped; its retry a second later must not.
 * Then the same flood against `--dhcp proxy`: a PXE DISCOVER right after it
 * still gets its proxy OFFER. Prints one FLOOD line per figure.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FloodResult, ProbeResult } from '../../lab/load/dhcp-flood.ts';
import { REPO, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { metricSum, scrapeMetrics, udpCounters } from '../../lab/proc-watch.ts';
import type { Lease } from './leases.ts';

const NODE = join(REPO, 'node_modules', '.bin', 'node');
const FLOOD = join(REPO, 'lab', 'load', 'dhcp-flood.ts');
const SERVER = '198.18.25.1';
const HTTP = `http://${SERVER}:8080`;
const RANGE = '198.18.25.100-198.18.25.129'; // 30 addresses, a /27's worth
const PACKETS = 50_000;
const CLIENT_MAC = '02:00:25:00:00:01';
/** udhcpc (a DISCOVER a second) must be bound this soon after the last flood packet left. */
const UDHCPC_BOUND_MS = 5000;
/** The proxy OFFER for a PXE DISCOVER sent right after the flood. */
const PROXY_OFFER_MS = 2000;

describe.runIf(await labAvailable())('DHCP under a flood of DISCOVERs from invented MACs (issue 25)', () => {
  let lab: Lab;
  let srv: LabHost;
  let flooder: LabHost;
  let client: LabHost;
  let tmp: string;
  const servers: LabServer[] = [];

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = mkdtempSync(join(tmpdir(), 'imgsrv-idf25-'));
    lab = await Lab.create();
    srv = await lab.addHost('idf25-srv', `${SERVER}/24`);
    flooder = await lab.addHost('idf25-flood');
    client = await lab.addHost('idf25-cli', undefined, { mac: CLIENT_MAC });
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await lab?.destroy();
    for (const s of servers) rmSync(s.data, { recursive: true, force: true });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const start = async (args: string[]): Promise<LabServer> => {
    const s = await startLabServer(srv, ['--interface', 'eth0', '--http-port', '8080', ...args]);
    servers.push(s);
    return s;
  };
  /** Start the flood; `sent` resolves the moment its last packet has left, `result` when it has counted the OFFERs it saw. */
  const startFlood = (): { sent: Promise<void>; result: Promise<FloodResult & { seed: number }> } => {
    const child = flooder.spawn(NODE, [FLOOD, '--count', String(PACKETS)]);
    const lines: string[] = [];
    let buf = '';
    let err = '';
    let onLine = (): void => {};
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) lines.push(buf.slice(0, i));
      onLine();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const sent = new Promise<void>((resolve, reject) => {
      onLine = () => lines.length && resolve();
      void exited.then((code) => reject(new Error(`the flood exited (${code}) before sending:\n${err}`)));
    });
    const result = exited.then((code) => {
      if (code !== 0) throw new Error(`the flood exited with ${code}:\n${err}`);
      return JSON.parse(lines.at(-1) ?? '{}') as FloodResult & { seed: number };
    });
    return { sent, result };
  };
  /** The server's DHCP figures between two scrapes. */
  const figures = (m0: Map<string, number>, m1: Map<string, number>, udp0: Record<string, number>, udp1: Record<string, number>) => {
    const d = (name: string, labels = ''): number => metricSum(m1, name, labels) - metricSum(m0, name, labels);
    return {
      received: d('imgsrv_dhcp_received_total'),
      offers: d('imgsrv_dhcp_sent_total', 'type="DHCPOFFER"'),
      limitedNew: d('imgsrv_dhcp_rate_limited_total', 'limit="new-client"'),
      limitedIngress: d('imgsrv_dhcp_rate_limited_total', 'limit="ingress"'),
      limitedMac: d('imgsrv_dhcp_rate_limited_total', 'limit="mac"'),
      limitedTotal: d('imgsrv_dhcp_rate_limited_total', 'limit="total"'),
      reclaimed: d('imgsrv_dhcp_offers_reclaimed_total'),
      exhausted: d('imgsrv_dhcp_pool_exhausted_total'),
      malformed: d('imgsrv_dhcp_dropped_total'),
      kernelDrops: (udp1['RcvbufErrors'] ?? 0) - (udp0['RcvbufErrors'] ?? 0),
    };
  };

  it(`full mode: udhcpc is bound within ${UDHCPC_BOUND_MS} ms of a ${PACKETS}-DISCOVER flood; no offer is written to the store`, async () => {
    const server = await start(['--dhcp', 'full', '--range', RANGE]);
    const m0 = await scrapeMetrics(srv, `${HTTP}/metrics`);
    const udp0 = await udpCounters(srv);
    const script = join(tmp, 'udhcpc.sh');
    writeFileSync(script, '#!/bin/sh\necho "event=$1 ip=$ip serverid=$serverid"\nexit 0\n');
    chmodSync(script, 0o755);
    const flood = startFlood();
    await flood.sent;
    const t0 = performance.now();
    // Retrying like a real client (a DISCOVER a second, 6 tries), so a failure costs seconds, not minutes.
    const out = await client
      .exec('sh', ['-c', 'exec busybox "$@" 2>&1', 'sh', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '6', '-T', '1', '-s', script], { timeoutMs: 30_000 })
      .catch((e: Error) => e.message);
    const udhcpcMs = performance.now() - t0;
    const bound = /event=bound ip=(\S+) serverid=(\S+)/.exec(out);
    const f = await flood.result;

    const m1 = await scrapeMetrics(srv, `${HTTP}/metrics`);
    const fig = figures(m0, m1, udp0, await udpCounters(srv));
    const token = readFileSync(join(server.data, 'admin.token'), 'utf8').trim();
    const leases = JSON.parse(await srv.exec('curl', ['-sf', '--max-time', '30', '-H', `Authorization: Bearer ${token}`, `${HTTP}/api/v1/leases`])) as Lease[];
    console.log(`FLOOD full: sent ${f.sent} mutated DISCOVERs (${f.mangled} with overwritten bytes) in ${Math.round(f.sendMs)} ms (seed ${f.seed}); ` +
      `server received ${fig.received}, sent ${fig.offers} OFFERs (${f.offersSeen} seen by the flooder), reclaimed ${fig.reclaimed}, exhausted ${fig.exhausted}; ` +
      `dropped: new-client limit ${fig.limitedNew}, ingress ${fig.limitedIngress}, MAC ${fig.limitedMac}, total ${fig.limitedTotal}, malformed ${fig.malformed}, kernel queue ${fig.kernelDrops}`);
    console.log(`FLOOD full: udhcpc said: ${out.trim().split('\n').join(' | ')}`);
    console.log(`FLOOD full: udhcpc ${bound ? `bound ${bound[1]} in ${Math.round(udhcpcMs)} ms` : `got no lease in ${Math.round(udhcpcMs)} ms`}; lease rows after: ${leases.length}`);

    expect(bound, `udhcpc said:\n${out}`).not.toBeNull();
    expect(bound![2]).toBe(SERVER);
    expect(udhcpcMs).toBeLessThan(UDHCPC_BOUND_MS);
    // The flood wrote nothing to the store: the only lease is udhcpc's binding.
    expect(leases.map((l) => [l.mac, l.ip, l.state])).toEqual([[CLIENT_MAC, bound![1], 'bound']]);
    expect(server.child.exitCode).toBeNull();
  });

  it('proxy mode: a PXE DISCOVER right after the flood gets its proxy OFFER', async () => {
    await servers.at(-1)?.stop();
    await start(['--dhcp', 'proxy']);
    const m0 = await scrapeMetrics(srv, `${HTTP}/metrics`);
    const udp0 = await udpCounters(srv);
    const flood = startFlood();
    await flood.sent;
    const p = JSON.parse((await client.exec(NODE, [FLOOD, '--probe', CLIENT_MAC, '--pxe', '--deadline-ms', '10000'], { timeoutMs: 30_000 })).trim()) as ProbeResult;
    const f = await flood.result;
    const fig = figures(m0, await scrapeMetrics(srv, `${HTTP}/metrics`), udp0, await udpCounters(srv));
    console.log(`FLOOD proxy: sent ${f.sent} in ${Math.round(f.sendMs)} ms; server received ${fig.received}, sent ${fig.offers} proxy OFFERs; ` +
      `dropped: new-client limit ${fig.limitedNew}, ingress ${fig.limitedIngress}, MAC ${fig.limitedMac}, total ${fig.limitedTotal}, malformed ${fig.malformed}, kernel queue ${fig.kernelDrops}; ` +
      `probe: ${p.ms === null ? 'no OFFER' : `proxy OFFER in ${Math.round(p.ms)} ms`} after ${p.discovers} DISCOVER(s)`);
    expect(p.offer).toMatchObject({ serverId: SERVER, yiaddr: '0.0.0.0', vendorClass: 'PXEClient' });
    expect(p.ms!).toBeLessThan(PROXY_OFFER_MS);
  });
});
