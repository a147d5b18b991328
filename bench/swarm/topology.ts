/**
 * The swarm benchmark's network: one lab bridge, the server at 198.18.0.1 and
 * nodes at 198.18.0.(10+i), every link shaped with tbf to the same rate in
 * both directions: on the host's eth0 (its upload) and on the bridge-side
 * veth peer (egress toward the host: its download). The bridge then behaves
 * like a switch with R-rate ports, which is what the physical bound assumes.
 * Every host's TCP uses one congestion control, set on its lab route (below).
 */
import { readFileSync } from 'node:fs';
import { Lab, type LabHost } from '../../lab/netns.ts';

/** Address of the server namespace. */
export const SERVER_IP = '198.18.0.1';

/** Address of node `i` (0-based). */
export const nodeIp = (i: number): string => `198.18.0.${10 + i}`;

/** Locally administered MAC of node `i`, so the server's node inventory sees distinct nodes. */
export const nodeMac = (i: number): string => `02:00:c6:12:00:${(10 + i).toString(16).padStart(2, '0')}`;

/**
 * The server side of every method (imgsrv serve, the static HTTP server,
 * udp-sender) runs at this nice value; `serverCommand` prefixes it. In a
 * deployment the server has a machine of its own; here it shares 2 cores
 * with N node processes. At N = 16 on nice 0 the imgsrv main thread spent
 * 15.2 s of a 38 s run runnable but waiting for a CPU (schedstat), against
 * 2.1 s running, and its paced uploads went out in bursts after stalls of
 * up to 0.85 s. At -10 it waited 4.6 s. The nodes keep nice 0: they are the
 * N machines being measured, and the benchmark reports their CPU contention
 * (`cpuBusy`, `clientCpuS`) rather than hiding it.
 */
export const SERVER_NICE = -10;

/** `cmd args` run at SERVER_NICE: nice(1) execs it, so the PID is the command's and its threads and children inherit the priority. */
export function serverCommand(cmd: string, args: string[]): [string, string[]] {
  return ['nice', ['-n', String(SERVER_NICE), cmd, ...args]];
}

/** The benchmark's lab: server and nodes, all links shaped. */
export interface SwarmTopology {
  lab: Lab;
  server: LabHost;
  nodes: LabHost[];
}

/**
 * tbf parameters for `rateMbit`. The bucket must hold at least one jiffy of
 * traffic (rate / HZ, HZ ≥ 100) and one full-size frame, or tbf cannot reach
 * its rate; the queue holds 100 ms at the rate, enough to absorb TCP bursts
 * without turning the link into a bufferbloat test.
 */
export function tbfArgs(rateMbit: number): string[] {
  const bytesPerS = (rateMbit * 1e6) / 8;
  const burst = Math.max(32 * 1024, Math.ceil(bytesPerS / 100));
  return ['rate', `${rateMbit}mbit`, 'burst', String(burst), 'latency', '100ms'];
}

/** Name of the bridge-side peer of `host`'s eth0, found by ifindex (the lab's naming is its own business). */
async function bridgePeer(lab: Lab, host: LabHost): Promise<string> {
  const [own] = JSON.parse(await host.exec('ip', ['-j', 'link', 'show', 'dev', 'eth0'])) as Array<{ link_index?: number }>;
  const links = JSON.parse(await lab.switch.exec('ip', ['-j', 'link', 'show'])) as Array<{ ifindex: number; ifname: string }>;
  const peer = links.find((l) => l.ifindex === own?.link_index);
  if (!peer) throw new Error(`cannot find the bridge-side peer of ${host.ns}/eth0`);
  return peer.ifname;
}

/** Shape both directions of `host`'s link to `rateMbit`. */
async function shape(lab: Lab, host: LabHost, rateMbit: number): Promise<void> {
  const tbf = tbfArgs(rateMbit);
  await host.exec('tc', ['qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', ...tbf]);
  await lab.switch.exec('tc', ['qdisc', 'replace', 'dev', await bridgePeer(lab, host), 'root', 'tbf', ...tbf]);
}

/**
 * Default congestion control of the lab's TCP: Debian's kernel default,
 * which the netboot image's kernel (and a Debian server) runs. New network
 * namespaces inherit this machine's default instead (BBR here), and
 * `net.ipv4.tcp_congestion_control` inside a namespace may only name an
 * algorithm in the host's `tcp_allowed_congestion_control` (here `reno
 * bbr`), so the benchmark sets it on the lab route (`congctl`), which needs
 * only the namespace's own CAP_NET_ADMIN and covers connections both made
 * and accepted on the lab subnet. It matters: at N = 16 the swarm took
 * 31.5/30.7/30.3 s with BBR against 29.6/29.4/28.9 s with Reno, and
 * 30.0/29.7/29.1 s with CUBIC against 28.6/28.9/29.1 s with Reno (two sets
 * of alternating runs, 2026-12-02); with BBR the nodes retransmitted 3.2–3.5 %
 * of their segments, with CUBIC or Reno 1.1–1.9 %. Reno was the fastest,
 * but the nodes run CUBIC, so CUBIC is what the benchmark models.
 */
export const DEFAULT_TCP = 'cubic';

/** The congestion controls this kernel has (`--tcp` must name one). */
export function availableCongestionControls(): string[] {
  return readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8').trim().split(/\s+/);
}

/** Put `tcp` on `host`'s on-link route of the lab subnet, so every TCP connection across the lab uses it. */
async function setCongestionControl(host: LabHost, tcp: string): Promise<void> {
  const routes = JSON.parse(await host.exec('ip', ['-j', 'route', 'show', 'dev', 'eth0', 'proto', 'kernel', 'scope', 'link'])) as Array<{ dst: string; prefsrc?: string }>;
  const lab = routes.find((r) => r.dst !== undefined && r.prefsrc !== undefined);
  if (!lab) throw new Error(`${host.ns}: no on-link route on eth0 to set the congestion control on`);
  await host.exec('ip', ['route', 'replace', lab.dst, 'dev', 'eth0', 'proto', 'kernel', 'scope', 'link', 'src', lab.prefsrc!, 'congctl', tcp]);
}

/** TCP segments a host sent and retransmitted so far. */
export interface TcpSegments {
  out: number;
  retrans: number;
}

/** A host's TcpSegments, from its namespace's /proc/net/snmp. */
export async function tcpSegments(host: LabHost): Promise<TcpSegments> {
  const [names, values] = (await host.exec('cat', ['/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Tcp:')).map((l) => l.trim().split(/\s+/));
  const field = (name: string): number => {
    const v = Number(values?.[names?.indexOf(name) ?? -1]);
    if (!Number.isFinite(v)) throw new Error(`${host.ns}: no Tcp ${name} in /proc/net/snmp`);
    return v;
  };
  return { out: field('OutSegs'), retrans: field('RetransSegs') };
}

/**
 * Build the lab: server plus `nodes` node namespaces, links shaped to
 * `rateMbit`, TCP congestion control `tcp` on every host, a multicast route
 * in every namespace (udpcast), and IGMP
 * snooping off on the bridge so multicast reaches every port without a
 * querier (it is flooded either way; off makes that explicit and stable).
 */
export async function buildTopology(nodes: number, rateMbit: number, tcp: string): Promise<SwarmTopology> {
  const lab = await Lab.create();
  try {
    await lab.switch.exec('ip', ['link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0']);
    const server = await lab.addHost('server', `${SERVER_IP}/24`);
    const hosts: LabHost[] = [];
    for (let i = 0; i < nodes; i++) hosts.push(await lab.addHost(`n${i}`, `${nodeIp(i)}/24`, { mac: nodeMac(i) }));
    for (const h of [server, ...hosts]) {
      await shape(lab, h, rateMbit);
      await setCongestionControl(h, tcp);
      // Only inside the lab namespace, only on the lab link: multicast never has a way out.
      await h.exec('ip', ['route', 'add', '224.0.0.0/4', 'dev', 'eth0']);
    }
    return { lab, server, nodes: hosts };
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}
