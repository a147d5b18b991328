/**
 * DHCP benchmark: a herd of simulated clients (our codec, one socket, each
 * client its own chaddr and xid) runs DISCOVER → OFFER → REQUEST → ACK all at
 * once against our full-mode server and against dnsmasq, in the same lab
 * layout (server namespace, herd namespace, one bridge), runs alternated,
 * median of N. Prints the times and the ratio; writes bench/results/dhcp.json.
 * dnsmasq runs with --no-ping (we do not ping either) and --quiet-dhcp; our
 * server logs at warn. Needs root (network namespaces) and dnsmasq.
 * Usage: node bench/dhcp.ts [--clients N] [--runs N]
 * The herd is lab/load/dhcp-herd.ts (shared with the load lab test).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab, labAvailable, stopChild, sweepStaleLabs, type LabHost } from '../lab/netns.ts';
import { NODE, startRunner } from '../lab/dhcp/control.ts';
import type { HerdResult } from '../lab/load/dhcp-herd.ts';
import { median } from './stats.ts';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '500' }, runs: { type: 'string', default: '3' } } });

if (!(await labAvailable())) {
  console.error('bench/dhcp.ts needs root and ip netns: run it as root on a machine with network namespaces');
  process.exit(1);
}
const N = Number(values.clients);
const RUNS = Number(values.runs);
const HERD = fileURLToPath(new URL('../lab/load/dhcp-herd.ts', import.meta.url));
const SERVER = '198.18.0.1';
// A /22 leaves room for 1022 addresses: the range below holds 1000, twice the default herd.
const RANGE = { first: '198.18.0.10', last: '198.18.3.249' };

await sweepStaleLabs();
const lab = await Lab.create();
type Run = Omit<HerdResult, 'leases'>;
const results: { ours: Run[]; dnsmasq: Run[] } = { ours: [], dnsmasq: [] };
try {
  const srv = await lab.addHost('srv', `${SERVER}/22`);
  const herdHost = await lab.addHost('herd');
  const runHerd = async (h: LabHost): Promise<Run> => {
    const { leases: _, ...run } = JSON.parse((await h.exec(NODE, [HERD, '--clients', String(N)], { timeoutMs: 120_000 })).trim()) as HerdResult;
    return run;
  };

  for (let i = 0; i < RUNS; i++) {
    // Ours: a fresh server (empty in-memory lease store) per run.
    const ours = await startRunner(srv, { mode: 'full', serverAddress: SERVER, subnet: { address: '198.18.0.0', prefix: 22 }, range: RANGE, leaseSeconds: 3600, logLevel: 'warn' });
    try {
      results.ours.push(await runHerd(herdHost));
    } finally {
      await ours.stop();
    }
    // dnsmasq: same range, same layout, fresh process (no lease file) per run.
    const dm: ChildProcess = srv.spawn('dnsmasq', [
      '--no-daemon', '--port=0', '--conf-file=/dev/null', '--leasefile-ro', '--bind-interfaces', '--interface=eth0', '--pid-file=',
      `--dhcp-range=${RANGE.first},${RANGE.last},255.255.252.0,1h`, '--dhcp-lease-max=5000', '--no-ping', '--quiet-dhcp', '--log-facility=-',
    ]);
    dm.stderr?.resume();
    await new Promise((r) => setTimeout(r, 500));
    try {
      results.dnsmasq.push(await runHerd(herdHost));
    } finally {
      await stopChild(dm);
    }
    console.error(`run ${i + 1}/${RUNS}: ours ${results.ours.at(-1)!.totalMs.toFixed(0)} ms, dnsmasq ${results.dnsmasq.at(-1)!.totalMs.toFixed(0)} ms`);
  }
} finally {
  await lab.destroy();
}

const summary = (runs: Run[]) => ({
  medianTotalMs: Math.round(median(runs.map((r) => r.totalMs))),
  medianP50Ms: Math.round(median(runs.map((r) => r.p50Ms))),
  medianP99Ms: Math.round(median(runs.map((r) => r.p99Ms))),
  retransmits: runs.map((r) => r.retransmits),
  completed: runs.map((r) => r.done),
  runs: runs.map((r) => Math.round(r.totalMs)),
});
const out = {
  benchmark: 'dhcp herd: DISCOVER→OFFER→REQUEST→ACK, all clients at once',
  clients: N,
  runs: RUNS,
  date: new Date().toISOString(),
  ours: summary(results.ours),
  dnsmasq: { version: execFileSync('dnsmasq', ['--version']).toString().split('\n')[0], ...summary(results.dnsmasq) },
  ratio: 0,
  note:
    'ratio = ours / dnsmasq median total time (lower is better for us); dnsmasq with --no-ping --quiet-dhcp, ours logging at warn. ' +
    'Clients retransmit after 2 s of silence, then back off (4, 8, 16 s, ±25%): a run with retransmits > 0 lost packets (server receive queue overflow), and its total is dominated by the timer.',
};
out.ratio = Number((out.ours.medianTotalMs / out.dnsmasq.medianTotalMs).toFixed(2));
writeFileSync(new URL('./results/dhcp.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
console.log(`DHCP herd of ${N}: ours ${out.ours.medianTotalMs} ms, dnsmasq ${out.dnsmasq.medianTotalMs} ms, ratio ${out.ratio}`);
