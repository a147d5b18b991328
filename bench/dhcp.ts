/**
 * DHCP benchmark: a herd of simulated clients (our codec, one socket, each
 * client its own chaddr and xid) runs DISCOVER → OFFER → REQUEST → ACK all at
 * once against our full-mode server and against dnsmasq, in the same lab
 * layout (server namespace, herd namespace, one bridge), runs alternated,
 * median of N. Prints the times and the ratio; writes bench/results/dhcp.json.
 * dnsmasq runs with --no-ping (we do not ping either) and --quiet-dhcp; our
 * server logs at warn. Needs root (network namespaces) and dnsmasq.
 * Usage: node bench/dhcp.ts [--clients N] [--runs N]
 * (internally also `node bench/dhcp.ts --herd N`, run inside the herd namespace).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab, labAvailable, stopChild, sweepStaleLabs, type LabHost } from '../test/lab/netns.ts';
import { BOOTREQUEST, FLAG_BROADCAST, decode, emptyMessage, encode, type DhcpMessage } from '../netboot/dhcp/codec.ts';
import { MessageType } from '../netboot/dhcp/options.ts';
import { NODE, startRunner } from '../netboot/dhcp/testdata/lab-helpers.ts';
import { median } from './stats.ts';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '500' }, runs: { type: 'string', default: '3' }, herd: { type: 'string' } } });

if (values.herd) {
  const r = await herd(Number(values.herd));
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}

/** One herd run: every client through the four-message exchange; times in ms. */
async function herd(n: number): Promise<{ totalMs: number; p50Ms: number; p99Ms: number; retransmits: number; done: number }> {
  // The herd namespace has no address; like a ROM, it still needs to reach 255.255.255.255.
  execFileSync('ip', ['route', 'replace', '255.255.255.255/32', 'dev', 'eth0']);
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => sock.bind(68, '0.0.0.0', r));
  sock.setBroadcast(true);
  sock.setRecvBufferSize(4 << 20);
  sock.setSendBufferSize(4 << 20);
  const base = (Math.random() * 2 ** 31) >>> 0;
  type C = { mac: string; xid: number; stage: 'discover' | 'request' | 'done'; offer?: DhcpMessage; sentAt: number; doneMs?: number };
  const clients: C[] = Array.from({ length: n }, (_, i) => ({
    mac: `02:00:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
    xid: (base + i) >>> 0,
    stage: 'discover',
    sentAt: 0,
  }));
  const byXid = new Map(clients.map((c) => [c.xid, c]));
  let retransmits = 0;
  let done = 0;
  const t0 = performance.now();
  const send = (c: C): void => {
    const m = emptyMessage(BOOTREQUEST, c.xid, c.mac);
    m.flags = FLAG_BROADCAST; // we cannot take unicast to an unconfigured address
    if (c.stage === 'discover') m.options = { messageType: MessageType.DISCOVER, paramList: [1, 3, 6, 51] };
    else m.options = { messageType: MessageType.REQUEST, serverId: c.offer!.options.serverId!, requestedIp: c.offer!.yiaddr, paramList: [1, 3, 6, 51] };
    c.sentAt = performance.now();
    sock.send(encode(m), 67, '255.255.255.255');
  };
  const finished = new Promise<void>((resolve) => {
    sock.on('message', (b) => {
      let m: DhcpMessage;
      try {
        m = decode(b);
      } catch {
        return;
      }
      const c = byXid.get(m.xid);
      if (!c) return;
      if (c.stage === 'discover' && m.options.messageType === MessageType.OFFER) {
        c.offer = m;
        c.stage = 'request';
        send(c);
      } else if (c.stage === 'request' && m.options.messageType === MessageType.ACK && m.yiaddr === c.offer?.yiaddr) {
        c.stage = 'done';
        c.doneMs = performance.now() - t0;
        if (++done === n) resolve();
      } else if (c.stage === 'request' && m.options.messageType === MessageType.NAK) {
        c.stage = 'discover';
        send(c);
      }
    });
  });
  for (const c of clients) send(c);
  // Retransmit after 2 s of silence (RFC 2131 §4.1 suggests 4 s ± 1; shorter keeps the bench tight).
  const timer = setInterval(() => {
    const now = performance.now();
    for (const c of clients) {
      if (c.stage !== 'done' && now - c.sentAt > 2000) {
        retransmits++;
        send(c);
      }
    }
  }, 250);
  await Promise.race([finished, new Promise((r) => setTimeout(r, 60_000))]);
  clearInterval(timer);
  sock.close();
  const times = clients.map((c) => c.doneMs ?? Infinity).sort((a, b) => a - b);
  const pct = (p: number): number => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  return { totalMs: Math.max(...times), p50Ms: pct(0.5), p99Ms: pct(0.99), retransmits, done };
}

if (!(await labAvailable())) {
  console.error('bench/dhcp.ts needs root and ip netns: run it as root on a machine with network namespaces');
  process.exit(1);
}
const N = Number(values.clients);
const RUNS = Number(values.runs);
const SELF = fileURLToPath(import.meta.url);
const SERVER = '198.18.0.1';
// A /22 leaves room for 1022 addresses: the range below holds 1000, twice the default herd.
const RANGE = { first: '198.18.0.10', last: '198.18.3.249' };

await sweepStaleLabs();
const lab = await Lab.create();
type Run = Awaited<ReturnType<typeof herd>>;
const results: { ours: Run[]; dnsmasq: Run[] } = { ours: [], dnsmasq: [] };
try {
  const srv = await lab.addHost('srv', `${SERVER}/22`);
  const herdHost = await lab.addHost('herd');
  const runHerd = async (h: LabHost): Promise<Run> => JSON.parse((await h.exec(NODE, [SELF, '--herd', String(N)], { timeoutMs: 120_000 })).trim()) as Run;

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
    'Clients retransmit after 2 s of silence: a run with retransmits > 0 lost packets (server receive queue overflow), and its total is dominated by the 2 s timer.',
};
out.ratio = Number((out.ours.medianTotalMs / out.dnsmasq.medianTotalMs).toFixed(2));
writeFileSync(new URL('./results/dhcp.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
console.log(`DHCP herd of ${N}: ours ${out.ours.medianTotalMs} ms, dnsmasq ${out.dnsmasq.medianTotalMs} ms, ratio ${out.ratio}`);
