/**
 * DHCP under load against a running `imgsrv serve` (full mode, SQLite lease
 * store): a herd of simulated PXE clients (lab/load/dhcp-herd.ts) in
 * one namespace and a few real udhcpc clients in their own, all at once, in
 * three rounds: first boot (DISCOVER), reboot (INIT-REBOOT REQUEST of the
 * address held) and a second PXE boot (DISCOVER again). After each round: the
 * server's lease table and its memory. Shared by the load lab test and
 * bench/load.ts; the caller judges the figures.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lease } from '../../netboot/dhcp/leases.ts';
import type { HerdResult } from './dhcp-herd.ts';
import { REPO, type LabServer } from '../imgsrv.ts';
import type { Lab, LabHost } from '../netns.ts';
import { findProcess, metricSum, procMemory, resetPeak, scrapeMetrics, udpCounters, type ProcMemory } from '../proc-watch.ts';

const NODE = join(REPO, 'node_modules', '.bin', 'node');
const HERD = join(REPO, 'lab', 'load', 'dhcp-herd.ts');
const HEAP = 'imgsrv_nodejs_heap_size_used_bytes';

/** What to run. */
export interface DhcpLoadOptions {
  clients: number;
  /** Real udhcpc clients alongside the herd, one namespace each. */
  udhcpc: number;
  /** The server's HTTP base as seen from its own namespace (metrics and the lease API). */
  httpBase: string;
  /** How long the herd keeps trying before it reports the clients still unanswered. */
  deadlineMs?: number;
}

/** One round: what the herd and udhcpc got, and the server afterwards. */
export interface DhcpRound {
  name: 'discover' | 'reboot' | 'rediscover';
  herd: HerdResult;
  /** udhcpc MAC → the address it obtained (null: none). */
  udhcpc: Record<string, string | null>;
  /** Longest udhcpc run, ms. */
  udhcpcMaxMs: number;
  /** The server's DHCP counters over the round (from /metrics). */
  server: { received: number; sent: number; naks: number; dropped: number; exhausted: number; kernelDrops: number };
  /** The server's lease table after the round (GET /api/v1/leases). */
  leases: Lease[];
  memory: ProcMemory;
  heapUsedBytes: number;
}

/** Every round, and the server before the first. */
export interface DhcpLoadReport {
  pid: number;
  before: ProcMemory;
  heapBeforeBytes: number;
  rounds: DhcpRound[];
}

/** MAC of the i-th udhcpc client (QEMU's prefix, apart from the herd's 02:00:00). */
export const udhcpcMac = (i: number): string => `52:54:00:1d:00:${i.toString(16).padStart(2, '0')}`;

/** One udhcpc run in `host`: the address it was given (or null), and how long it took. */
async function udhcpc(host: LabHost): Promise<{ ip: string | null; ms: number }> {
  const t0 = performance.now();
  // Real-client timing: 8 DISCOVERs 3 s apart, then give up (exit 1 with -n).
  const out = await host
    .exec('udhcpc', ['-i', 'eth0', '-f', '-q', '-n', '-t', '8', '-T', '3', '-s', '/bin/true'], { timeoutMs: 120_000, withStderr: true })
    .catch((e: Error) => e.message);
  return { ip: /lease of (\S+) obtained/.exec(out)?.[1] ?? null, ms: performance.now() - t0 };
}

/** Run the three rounds against `server` (whose namespace is `srv`). */
export async function dhcpLoad(lab: Lab, srv: LabHost, server: LabServer, o: DhcpLoadOptions): Promise<DhcpLoadReport> {
  const pid = findProcess(server.child.pid!, 'node');
  const token = readFileSync(join(server.data, 'admin.token'), 'utf8').trim();
  const metrics = () => scrapeMetrics(srv, `${o.httpBase}/metrics`);
  const leases = async (): Promise<Lease[]> =>
    JSON.parse(await srv.exec('curl', ['-sf', '--max-time', '30', '-H', `Authorization: Bearer ${token}`, `${o.httpBase}/api/v1/leases`])) as Lease[];
  const herdHost = await lab.addHost('herd');
  const real: LabHost[] = [];
  for (let i = 0; i < o.udhcpc; i++) real.push(await lab.addHost(`u${i}`, undefined, { mac: udhcpcMac(i) }));
  const tmp = mkdtempSync(join(tmpdir(), 'imgsrv-herd-'));
  let m0 = await metrics();
  let udp0 = await udpCounters(srv);
  const report: DhcpLoadReport = { pid, before: procMemory(pid), heapBeforeBytes: metricSum(m0, HEAP), rounds: [] };
  resetPeak(pid);
  try {
    let previous: Record<string, string> = {};
    for (const name of ['discover', 'reboot', 'rediscover'] as const) {
      const prevFile = join(tmp, `${name}.json`);
      writeFileSync(prevFile, JSON.stringify(previous));
      const deadlineMs = o.deadlineMs ?? 90_000;
      const mode = name === 'reboot' ? 'reboot' : 'discover';
      const args = [HERD, '--clients', String(o.clients), '--pxe', '--mode', mode, '--previous', prevFile, '--deadline-ms', String(deadlineMs)];
      // udhcpc has no memory between runs: each round it DISCOVERs afresh, beside the herd.
      const [herdOut, ...got] = await Promise.all([
        herdHost.exec(NODE, args, { timeoutMs: deadlineMs + 60_000 }),
        ...real.map((h) => udhcpc(h)),
      ]);
      const herd = JSON.parse(herdOut.trim()) as HerdResult;
      previous = herd.leases;
      const m1 = await metrics();
      const udp1 = await udpCounters(srv);
      const delta = (metric: string, labels = ''): number => metricSum(m1, metric, labels) - metricSum(m0, metric, labels);
      report.rounds.push({
        name,
        herd,
        udhcpc: Object.fromEntries(got.map((u, i) => [udhcpcMac(i), u.ip])),
        udhcpcMaxMs: Math.max(0, ...got.map((u) => u.ms)),
        server: {
          received: delta('imgsrv_dhcp_received_total'),
          sent: delta('imgsrv_dhcp_sent_total'),
          naks: delta('imgsrv_dhcp_sent_total', 'type="DHCPNAK"'),
          dropped: delta('imgsrv_dhcp_dropped_total'),
          exhausted: delta('imgsrv_dhcp_pool_exhausted_total'),
          kernelDrops: (udp1['RcvbufErrors'] ?? 0) - (udp0['RcvbufErrors'] ?? 0),
        },
        leases: await leases(),
        memory: procMemory(pid),
        heapUsedBytes: metricSum(m1, HEAP),
      });
      m0 = m1;
      udp0 = udp1;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return report;
}
