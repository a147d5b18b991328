/**
 * TFTP under load against a running `imgsrv serve`: many transfers of one
 * random file from its TFTP root, started at the same instant from several
 * client namespaces (lab/load/tftp-clients.ts: curl, tftp-hpa,
 * busybox and our windowsize client), while the server's resident memory is
 * sampled. Shared by the load lab test and bench/load.ts; the caller judges.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadPlan, LoadSpec, LoadTransfer } from './tftp-clients.ts';
import { sha256File, writeRandomFile } from '../tftp/control.ts';
import { REPO, type LabServer } from '../imgsrv.ts';
import type { LabHost } from '../netns.ts';
import { findProcess, metricSum, procMemory, resetPeak, sampleRss, scrapeMetrics, udpCounters, type ProcMemory } from '../proc-watch.ts';

const NODE = join(REPO, 'node_modules', '.bin', 'node');
const CLIENTS = join(REPO, 'lab', 'load', 'tftp-clients.ts');

/** The client mix, by share of the transfers: real clients first, our own for windowsize. */
const MIX: Array<[number, LoadSpec]> = [
  [0.3, { client: 'curl', blksize: 1468 }],
  [0.1, { client: 'curl' }],
  [0.1, { client: 'tftp-hpa' }],
  [0.1, { client: 'busybox', blksize: 1468 }],
  [0.25, { client: 'ours', blksize: 1468, windowsize: 16 }],
  [0.15, { client: 'ours', blksize: 1024, windowsize: 4 }],
];

/** `n` transfers in the proportions of MIX (rounding leftovers go to curl). */
export function transferMix(n: number): LoadSpec[] {
  const out: LoadSpec[] = [];
  for (const [share, spec] of MIX) for (let i = 0; i < Math.floor(share * n); i++) out.push(spec);
  while (out.length < n) out.push(MIX[0]![1]);
  return out;
}

/** What to run. */
export interface TftpLoadOptions {
  transfers: number;
  fileBytes: number;
  /** Client namespaces (addressed, on the server's network); transfers are dealt out round-robin. */
  hosts: LabHost[];
  /** The server's TFTP address and HTTP base (metrics), as seen from its namespace. */
  server: string;
  httpBase: string;
  /** A transfer still running after this long is killed and reported as failed. */
  timeoutMs?: number;
}

/**
 * The config a load run needs (pass it to `imgsrv serve --config`): each
 * client namespace stands for many machines, so the server's per-address cap
 * (default 8, issue 25) must cover transfers / hosts, and its total cap the
 * transfers (the defaults when they already do).
 */
export function tftpLoadConfig(o: { transfers: number; hosts: number }): { tftp: { maxTransfers: number; maxTransfersPerAddress: number } } {
  return { tftp: { maxTransfers: Math.max(256, o.transfers), maxTransfersPerAddress: Math.max(8, Math.ceil(o.transfers / o.hosts)) } };
}

/**
 * `serve` arguments for a load run: a config file (written into `dir`) with
 * the TFTP caps raised for its transfers and, with `clients`, the DHCP
 * new-client limit raised past a herd that size (the limits are for floods:
 * a load run measures the server, not them).
 */
export function tftpLoadArgs(dir: string, o: { transfers: number; hosts: number; clients?: number }): string[] {
  const file = join(dir, 'load-config.json');
  const herd = (n: number) => ({ rate: Math.max(2000, 4 * n), burst: Math.max(10_000, 4 * n) });
  const dhcp = o.clients ? { dhcp: { limits: { newClients: herd(o.clients), perIngress: herd(o.clients), total: herd(o.clients) } } } : {};
  writeFileSync(file, JSON.stringify({ ...tftpLoadConfig(o), ...dhcp }));
  return ['--config', file];
}

/** Transfers, server memory and server counters. */
export interface TftpLoadReport {
  sha256: string;
  transfers: LoadTransfer[];
  /** Most transfers in flight at one instant (from the clients' start and end times). */
  maxConcurrent: number;
  wallMs: number;
  before: ProcMemory;
  /** Largest of the 100 ms RSS samples and the kernel's VmHWM over the run. */
  peakKiB: number;
  after: ProcMemory;
  heapBeforeBytes: number;
  heapAfterBytes: number;
  serverRetransmits: number;
  serverFailed: number;
  /** Datagrams the server's kernel dropped on full socket queues (UDP RcvbufErrors). */
  kernelDrops: number;
}

/** Run the transfers against `server` (whose namespace is `srv`). */
export async function tftpLoad(srv: LabHost, server: LabServer, o: TftpLoadOptions): Promise<TftpLoadReport> {
  const pid = findProcess(server.child.pid!, 'node');
  const dir = join(server.data, 'tftp', 'load');
  mkdirSync(dir, { recursive: true });
  await writeRandomFile(join(dir, 'blob.bin'), o.fileBytes);
  const sha256 = await sha256File(join(dir, 'blob.bin'));
  const metrics = () => scrapeMetrics(srv, `${o.httpBase}/metrics`);
  const m0 = await metrics();
  const udp0 = await udpCounters(srv);
  const before = procMemory(pid);
  resetPeak(pid);
  const sampler = sampleRss(pid);
  const specs = transferMix(o.transfers);
  const timeoutMs = o.timeoutMs ?? 120_000;
  // Every runner waits for the same instant, so the transfers really overlap.
  const startAt = Date.now() + 2000 + 200 * o.hosts.length;
  const plans: LoadPlan[] = o.hosts.map((_, h) => ({
    server: o.server,
    file: 'load/blob.bin',
    startAt,
    timeoutMs,
    transfers: specs.filter((_, i) => i % o.hosts.length === h),
  }));
  const outs = await Promise.all(o.hosts.map((h, i) => h.exec(NODE, [CLIENTS, JSON.stringify(plans[i])], { timeoutMs: timeoutMs + 60_000 })));
  const wallMs = Date.now() - startAt;
  const transfers = outs.flatMap((out) => (JSON.parse(out.trim().split('\n').at(-1)!) as { results: LoadTransfer[] }).results);
  // The server counts a transfer when the last ACK arrives, a moment after the client is done.
  await new Promise((r) => setTimeout(r, 1000));
  const m1 = await metrics();
  const udp1 = await udpCounters(srv);
  const after = procMemory(pid);
  const peakKiB = Math.max(sampler.stop(), after.hwmKiB);
  const delta = (name: string, labels = ''): number => metricSum(m1, name, labels) - metricSum(m0, name, labels);
  return {
    sha256,
    transfers,
    maxConcurrent: maxOverlap(transfers),
    wallMs,
    before,
    peakKiB,
    after,
    heapBeforeBytes: metricSum(m0, 'imgsrv_nodejs_heap_size_used_bytes'),
    heapAfterBytes: metricSum(m1, 'imgsrv_nodejs_heap_size_used_bytes'),
    serverRetransmits: delta('imgsrv_tftp_retransmits_total'),
    serverFailed: delta('imgsrv_tftp_transfers_total', 'result="failed"'),
    kernelDrops: (udp1['RcvbufErrors'] ?? 0) - (udp0['RcvbufErrors'] ?? 0),
  };
}

/** Largest number of [startedAt, endedAt] intervals that overlap at one instant. */
export function maxOverlap(ts: ReadonlyArray<{ startedAt: number; endedAt: number }>): number {
  // Ends sort before starts at the same instant: touching intervals do not overlap.
  const events = ts.flatMap((t) => [[t.startedAt, 1] as const, [t.endedAt, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of events) max = Math.max(max, (now += d));
  return max;
}
