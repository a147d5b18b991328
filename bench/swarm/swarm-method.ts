/**
 * The method under test: the real `imgsrv serve` seeds the image (tracker,
 * seeder, rsync daemon, web seed) and N nodes run the node client
 * (initramfs-client/swarm/cli.ts) at once, each in its own namespace with
 * its own address and MAC, downloading from the server and from each other.
 * The nodes run the client as the initramfs ships it: one JavaScript file
 * bundled by esbuild (server/netboot-env/bundle.ts), not the TypeScript
 * sources, so no node process runs Node's TypeScript stripper (see
 * barrier.mjs). Measured at N = 16 on 2026-12-02: loading 2.7-3.5 s instead
 * of 8.3-10.1 s, the clients' CPU 56-67 s instead of 72-79 (loading
 * included), makespan 29.5-35.4 s (median 30.3, nine runs) against
 * 30.8-36.5 s (median 32.0, eight runs).
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundleClient } from '../../server/netboot-env/bundle.ts';
import { dataPaths, writeNodeTokenFile } from '../../server/data-dir.ts';
import { jsonClient, timeClients, type Timing } from './clients.ts';
import { BENCH_IMAGE, BENCH_VERSION } from './image.ts';
import { nodeIp, nodeMac, SERVER_IP, type SwarmTopology } from './topology.ts';

/** The node client's command-line entry (written alongside this benchmark). */
export const SWARM_CLI = resolve(import.meta.dirname, '..', '..', 'initramfs-client', 'swarm', 'cli.ts');

/** Each node client's entry: load the bundle, then wait for the start signal. */
const BARRIER = resolve(import.meta.dirname, 'barrier.mjs');

/** Bundle the node client (SWARM_CLI) as the initramfs does, into `dir`; returns the file. */
export async function bundleNodeClient(dir: string): Promise<string> {
  const file = join(dir, 'client.mjs');
  writeFileSync(file, (await bundleClient(SWARM_CLI)).data);
  // koffi (a native addon, the unpack's libc calls) stays outside the bundle, as in the initramfs: found beside it.
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(resolve(import.meta.dirname, '..', '..', 'node_modules', 'koffi'), join(dir, 'node_modules', 'koffi'));
  return file;
}

/** The server's data dir and swarm ports, as configured for the benchmark, and where nodes keep their downloads. */
export interface SwarmServer {
  data: string;
  /** Parent of the nodes' download directories (see scratchDir). */
  scratch: string;
  /** The bundled node client (bundleNodeClient). */
  client: string;
  httpPort: number;
  rsyncPort: number;
}

/** A swarm run's timing plus where the bytes came from. */
export interface SwarmTiming extends Timing {
  /** Bytes the nodes received from the server (seeder + web seed), if the nodes reported it. */
  serverBytes?: number;
  /** Bytes the nodes received from each other. */
  peerBytes?: number;
  /** Of serverBytes, those that came over the HTTP web seed. */
  webSeedBytes?: number;
  /** Per node: seconds from its download's end to its restore's end (StreamLag). */
  lagS?: number[];
  /** Per node: the largest backlog of verified bytes its restore had not yet taken. */
  maxBacklogBytes?: number[];
  /** Per node: seconds from the clock's start to its download's end. */
  downloadS?: number[];
}

/** What each node does with the in-order stream: restore its files (as a node does) or only hash it. */
export type RestoreMode = 'unpack' | 'none';

/** The node client's `complete` line (initramfs-client/swarm/cli.ts --json). */
interface CompleteEvent {
  event: 'complete';
  sha256: string;
  bytes: number;
  /** Payload bytes received, by source: peer address, or "webseed". */
  bySource: Record<string, number>;
  /** How far the stream trailed the download (torrent/stream-lag.ts). */
  lag?: { seconds: number | null; maxBacklog: number };
}

const isCompleteEvent = (r: Record<string, unknown>): r is Record<string, unknown> & CompleteEvent => r.event === 'complete';

/**
 * A scratch directory for the nodes' downloads: on tmpfs when there is one
 * (16 × the image in RAM is cheap here; a disk would add its own contention
 * to what we measure). The caller removes it.
 */
export function scratchDir(): string {
  return mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'imgsrv-bench-swarm-'));
}

/**
 * N nodes join the swarm at once, each with a fresh download directory
 * under the scratch directory. The nodes are stopped
 * as soon as the last one is complete: their linger would only add seeding
 * time that no node waits for.
 */
export async function runSwarm(topo: SwarmTopology, n: number, srv: SwarmServer, sha256: string, timeoutMs: number, lingerS: number, restore: RestoreMode = 'unpack'): Promise<SwarmTiming> {
  const work = mkdtempSync(join(srv.scratch, 'run-'));
  const traceRoot = process.env.IMGSRV_BENCH_SWARM_TRACE;
  const trace = traceRoot ? join(traceRoot, `run-N${n}-${Date.now()}`) : undefined;
  if (trace) mkdirSync(trace, { recursive: true });
  try {
    const start = (i: number) => {
      const dir = join(work, `n${i}`);
      mkdirSync(dir);
      const args = [
        '--torrent', `rsync://${SERVER_IP}:${srv.rsyncPort}/torrents/${BENCH_IMAGE}/${BENCH_VERSION}.torrent`,
        '--dir', dir,
        '--address', nodeIp(i),
        ...(restore === 'unpack' ? ['--unpack', join(dir, 'root')] : ['--out', '/dev/null']),
        '--server', `http://${SERVER_IP}:${srv.httpPort}`,
        '--token-file', writeNodeTokenFile(srv.data, nodeMac(i), join(dir, 'node.token')),
        '--mac', nodeMac(i),
        '--linger', String(lingerS),
        '--json',
        '--log-level', 'warn',
      ];
      // Done means the client streamed the whole image and its sha256 is the artifact's (every piece was SHA-1-checked too).
      const done = (r: Record<string, unknown>) => isCompleteEvent(r) && r.sha256 === sha256;
      const wrong = (r: Record<string, unknown>) => (isCompleteEvent(r) && r.sha256 !== sha256 ? `completed with sha256 ${r.sha256}, expected ${sha256}` : undefined);
      // Behind the barrier: the clock starts once every node has loaded its code (see barrier.mjs).
      // IMGSRV_BENCH_SWARM_TRACE=DIR keeps every node's JSON lines (progress each second, with its lag) in DIR/run-N<n>-<t>/n<i>.jsonl.
      const onLine = trace ? (r: Record<string, unknown>) => appendFileSync(join(trace, `n${i}.jsonl`), `${JSON.stringify({ t: performance.now(), ...r })}\n`) : undefined;
      return jsonClient(topo.nodes[i]!, process.execPath, ['--disable-warning=ExperimentalWarning', BARRIER, srv.client, ...args], done, wrong, { barrier: true, ...(onLine ? { onLine } : {}) });
    };
    const timing = await timeClients(n, start, timeoutMs);
    return { ...timing, ...bytesBySource(timing.reports), ...lagOf(timing) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Where the nodes' bytes came from, from their `complete` lines: the
 * server's seeder (its address) and web seed, or other nodes.
 */
export function bytesBySource(reports: Array<Record<string, unknown> | undefined>): { serverBytes?: number; peerBytes?: number; webSeedBytes?: number } {
  let server = 0;
  let peers = 0;
  let webSeed = 0;
  for (const r of reports) {
    if (!r || !isCompleteEvent(r) || typeof r.bySource !== 'object') return {};
    for (const [source, bytes] of Object.entries(r.bySource)) {
      if (source === 'webseed') webSeed += bytes;
      else if (source === SERVER_IP) server += bytes;
      else peers += bytes;
    }
  }
  return { serverBytes: server + webSeed, peerBytes: peers, webSeedBytes: webSeed };
}

/**
 * Each node's lag from its `complete` line: the seconds its restore ended
 * after its download, its largest backlog, and when its download ended on
 * the benchmark's clock (its finish less its lag).
 */
export function lagOf(t: { finishS: number[]; reports: Array<Record<string, unknown> | undefined> }): { lagS?: number[]; maxBacklogBytes?: number[]; downloadS?: number[] } {
  const lags = t.reports.map((r) => (r && isCompleteEvent(r) ? r.lag : undefined));
  if (lags.some((l) => !l || l.seconds === null)) return {};
  const lagS = lags.map((l) => l!.seconds!);
  return { lagS, maxBacklogBytes: lags.map((l) => l!.maxBacklog), downloadS: t.finishS.map((f, i) => Math.max(0, f - lagS[i]!)) };
}
