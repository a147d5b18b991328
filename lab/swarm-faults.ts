/**
 * What the swarm fault tests look at: the server's view of a deployment,
 * the state store as a second SQLite reader sees it, the bytes of a
 * published version, the processes left in a namespace, and a partition of
 * the lab's bridge (nftables in the switch namespace).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sh, type Lab, type LabHost } from './netns.ts';
import type { LabServer } from './imgsrv.ts';
import type { SimNode } from './sim-node.ts';

/** The part of `imgsrv swarm show --json` the tests read. */
export interface ServerSwarmView {
  done: boolean;
  leechers: number;
  server: { uploaded: number };
  nodes: Array<{ mac: string; progress: number; at: number }>;
}

/**
 * GET /api/v1/swarm/IMAGE with the admin token (what `imgsrv swarm show --json`
 * prints), by curl in the server's namespace: a CLI process takes seconds to
 * start on a loaded machine, and the fault must land mid-download.
 */
export async function swarmView(server: LabServer, host: LabHost, image: string): Promise<ServerSwarmView> {
  const token = readFileSync(join(server.data, 'admin.token'), 'utf8').trim();
  const url = `http://${host.address}:8080/api/v1/swarm/${encodeURIComponent(image)}`;
  return JSON.parse(await host.exec('curl', ['-sSf', '--max-time', '10', '-H', `authorization: Bearer ${token}`, url])) as ServerSwarmView;
}

/**
 * Poll the server's view until every one of `sims` has reported progress and
 * their mean is at least `atLeast` (0..1); returns that view. Fails early if a node exits.
 */
export async function waitProgress(server: LabServer, host: LabHost, image: string, sims: SimNode[], atLeast: number, timeoutMs: number): Promise<ServerSwarmView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await swarmView(server, host, image);
    const p = serverProgress(v, sims.map((s) => s.mac));
    if (p.every((x) => x > 0) && spread(p).mean >= atLeast) return v;
    const gone = sims.find((s) => s.child.exitCode !== null);
    if (gone) throw new Error(`node ${gone.mac} exited (${gone.child.exitCode}) before the fault:\n${gone.stderr()}`);
    if (Date.now() > deadline) throw new Error(`nodes never reached ${atLeast * 100} %: ${JSON.stringify(v.nodes)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** The progress the server last heard from each of `macs` (0 when it has heard nothing). */
export function serverProgress(v: ServerSwarmView, macs: string[]): number[] {
  return macs.map((m) => v.nodes.find((n) => n.mac === m)?.progress ?? 0);
}

/** Min, mean and max, to 3 decimals. */
export function spread(values: number[]): { min: number; mean: number; max: number } {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { min: r(Math.min(...values)), mean: r(values.reduce((a, b) => a + b, 0) / values.length), max: r(Math.max(...values)) };
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** sha256 of every file of a published version (artifact, meta, info, signature…) and of its .torrent. */
export function versionDigests(data: string, image: string, version: number): Record<string, string> {
  const dir = join(data, 'images', image, String(version));
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) out[`images/${image}/${version}/${name}`] = sha256(join(dir, name));
  const torrent = `torrents/${image}/${version}.torrent`;
  out[torrent] = sha256(join(data, torrent));
  return out;
}

/** The store as a second reader sees it: `PRAGMA integrity_check`, the nodes `macs`, the settings and the image locks. */
export function readStore(data: string, macs: string[]) {
  const db = new DatabaseSync(join(data, 'imgsrv.db'), { readOnly: true, timeout: 5000 });
  try {
    const integrity = (db.prepare('PRAGMA integrity_check').all() as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('; ');
    const nodes = db
      .prepare(`SELECT mac, install, installed_image AS image, seq, error FROM nodes WHERE mac IN (${macs.map(() => '?').join(',')}) ORDER BY mac`)
      .all(...macs) as Array<{ mac: string; install: string; image: string | null; seq: number | null; error: string | null }>;
    const settings = db.prepare('SELECT key, value FROM settings ORDER BY key').all() as Array<{ key: string; value: string }>;
    const locks = db.prepare('SELECT name, version, holder FROM image_locks ORDER BY holder').all() as Array<{ name: string; version: number; holder: string }>;
    return { integrity, nodes, settings, locks };
  } finally {
    db.close();
  }
}

/** Processes running in a namespace, with their command lines. */
export async function nsProcesses(ns: string): Promise<Array<{ pid: number; cmd: string }>> {
  const pids = (await sh('ip', ['netns', 'pids', ns])).split(/\s+/).filter(Boolean).map(Number);
  return pids.flatMap((pid) => {
    try {
      return [{ pid, cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') }];
    } catch {
      return [];
    }
  });
}

/** Whether a process is still running (a zombie is not). */
export function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The bridge port (in the switch namespace) of a host's eth0. */
async function bridgePort(lab: Lab, host: LabHost): Promise<string> {
  const [own] = JSON.parse(await sh('ip', ['-n', host.ns, '-j', 'link', 'show', host.ifname])) as Array<{ link_index: number }>;
  const ports = JSON.parse(await sh('ip', ['-n', lab.switchNs, '-j', 'link', 'show'])) as Array<{ ifindex: number; ifname: string }>;
  const port = ports.find((p) => p.ifindex === own?.link_index);
  if (!port) throw new Error(`no bridge port for ${host.ns}`);
  return port.ifname;
}

/** A cut in the lab's network, until healed. */
export interface Partition {
  /** Frames the cut has dropped so far. */
  dropped(): Promise<number>;
  heal(): Promise<void>;
}

/**
 * Split the lab's bridge in two: `side` (still reaching each other) and
 * everything else (the server and the other nodes). Frames crossing the cut
 * are dropped silently, in both directions, ARP included: a pulled uplink,
 * not a refused connection.
 */
export async function partition(lab: Lab, side: LabHost[]): Promise<Partition> {
  const ports = (await Promise.all(side.map((h) => bridgePort(lab, h)))).map((p) => `"${p}"`).join(', ');
  const table = `imgsrv_cut_${process.pid}`;
  const rules = `table bridge ${table} {\n chain cut {\n  type filter hook forward priority 0; policy accept;\n  iifname { ${ports} } oifname != { ${ports} } counter drop\n  oifname { ${ports} } iifname != { ${ports} } counter drop\n }\n}\n`;
  await new Promise<void>((ok, fail) => {
    const child = lab.switch.spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => (code === 0 ? ok() : fail(new Error(`nft -f: ${err}`))));
    child.stdin!.end(rules);
  });
  return {
    dropped: async () => {
      const out = await lab.switch.exec('nft', ['-j', 'list', 'table', 'bridge', table]);
      const items = (JSON.parse(out) as { nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }> }).nftables;
      return items.reduce((sum, i) => sum + (i.rule?.expr.reduce((s, e) => s + (e.counter?.packets ?? 0), 0) ?? 0), 0);
    },
    heal: async () => void (await lab.switch.exec('nft', ['delete', 'table', 'bridge', table])),
  };
}

/** Bytes the nodes received, by source: the server's seeder, its web seed, other nodes. */
export function bytesBySource(sims: SimNode[], serverIp: string): { seeder: number; webSeed: number; peers: number; total: number } {
  const out = { seeder: 0, webSeed: 0, peers: 0, total: 0 };
  for (const s of sims) {
    for (const [src, n] of Object.entries(s.complete()?.bySource ?? {})) {
      if (src === 'webseed') out.webSeed += n;
      else if (src === serverIp) out.seeder += n;
      else out.peers += n;
      out.total += n;
    }
  }
  return out;
}
