/**
 * Draw bench/results/swarm.svg from bench/results/swarm.json: makespan
 * against N (log2 axis) for each method, with the physical bound (image
 * bytes / link rate) as a dashed line. Plain SVG like bench/plot.ts: a few
 * lines need no plotting library. bench/swarm.ts calls it at the end; run
 * it alone to redraw: `node bench/swarm-plot.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One measured (method, N) of bench/swarm.ts. */
export interface SwarmRun {
  method: string;
  n: number;
  /** With --repeat: the median of `makespansS`, and the other figures are those of the run nearest to it. */
  makespanS: number;
  /** With --repeat (swarm): every run's makespan, in the order they ran. */
  makespansS?: number[];
  boundS: number;
  ratioToBound: number;
  ratioToN1: number | undefined;
  /** Whole-machine CPU busy share during the run, 0..1 (the machine is shared: other work counts too). */
  cpuBusy: number;
  /** CPU seconds of the bench process and every child reaped during the run (node clients, curl, udpcast). */
  clientCpuS: number;
  /** CPU seconds of `imgsrv serve` during the run. */
  serverCpuS: number;
  /** Percent of the TCP segments sent during the run that were retransmissions: the server's, and all nodes' together. */
  retransPct?: { server: number; nodes: number };
  finishS: number[];
  /** Swarm only: seconds the node processes took to load their code before the clock started (bench/swarm/barrier.mjs). */
  loadS?: number;
  /** Swarm only: bytes the nodes got from the server (seeder + web seed), from each other, and of the first over HTTP. */
  serverBytes?: number;
  peerBytes?: number;
  webSeedBytes?: number;
  /** Swarm only, per node: seconds from its download's end to its restore's end, and its largest backlog (bytes verified, not yet restored). */
  lagS?: number[];
  maxBacklogBytes?: number[];
  /** Swarm only: the largest lag as a share of the makespan, in percent. */
  lagPct?: number;
  /** Swarm only: clock start → the last node's download end (the makespan less the restore's tail). */
  downloadMakespanS?: number;
}

/** The content of bench/results/swarm.json. */
export interface SwarmResults {
  benchmark: string;
  rateMbit: number;
  /** The lab hosts' TCP congestion control (`--tcp`). */
  tcpCongestionControl?: string;
  sizeBytes: number;
  /** The torrent's piece length (bytes). */
  pieceLength: number | undefined;
  linkCheckMbit: number;
  unicastSource: string;
  multicastMaxBitrateMbit: number;
  /** The server's swarm.uploadLimit during the swarm runs (0 = none). */
  serverUploadLimitMbit: number;
  /** What each swarm node did with the stream: 'unpack' (restored its files, as a node does) or 'none' (hashed it); absent in runs before it was recorded: none. */
  restore?: 'unpack' | 'none';
  measuredAt: string;
  machine: Record<string, unknown>;
  runs: SwarmRun[];
}

const COLORS: Record<string, string> = { swarm: '#2b6cb0', unicast: '#a0aec0', multicast: '#dd6b20' };
const LABELS: Record<string, string> = { swarm: 'imgsrv swarm', unicast: 'unicast HTTP', multicast: 'udpcast multicast' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const r1 = (v: number) => Math.round(v * 10) / 10;

/** A round tick step (1, 2 or 5 × 10^k) giving about four intervals up to `max`. */
function tickStep(max: number): number {
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

/** The SVG text of the makespan-against-N plot. */
export function swarmSvg(res: SwarmResults): string {
  const W = 640;
  const H = 400;
  const left = 60;
  const right = 170;
  const top = 60;
  const bottom = 50;
  const ns = [...new Set(res.runs.map((r) => r.n))].sort((a, b) => a - b);
  const boundS = (res.sizeBytes * 8) / (res.rateMbit * 1e6);
  const step = tickStep(Math.max(boundS, ...res.runs.map((r) => r.makespanS)) * 1.05);
  const ymax = Math.ceil((Math.max(boundS, ...res.runs.map((r) => r.makespanS)) * 1.05) / step) * step;
  const lx = Math.log2(ns[0] ?? 1);
  const span = Math.max(1, Math.log2(ns.at(-1) ?? 2) - lx);
  const x = (n: number) => r1(left + ((Math.log2(n) - lx) / span) * (W - left - right));
  const y = (s: number) => r1(H - bottom - (s / ymax) * (H - top - bottom));
  const parts: string[] = [];
  const at = (method: string, n: number) => res.runs.find((r) => r.method === method && r.n === n);
  const swarmMax = at('swarm', ns.at(-1) ?? 0);
  const swarm1 = at('swarm', 1);
  const unicastMax = at('unicast', ns.at(-1) ?? 0);
  const notes = [
    swarmMax && swarm1 ? `swarm N=${swarmMax.n} / N=1 = ${(swarmMax.makespanS / swarm1.makespanS).toFixed(2)}` : '',
    swarmMax && unicastMax ? `unicast / swarm at N=${swarmMax.n} = ${(unicastMax.makespanS / swarmMax.makespanS).toFixed(1)}` : '',
  ].filter(Boolean);
  parts.push(`<text x="${left}" y="22" font-weight="bold">Deploy ${(res.sizeBytes / 1e6).toFixed(0)} MB to N nodes, every link ${res.rateMbit} Mbit/s${res.tcpCongestionControl ? `, TCP ${esc(res.tcpCongestionControl)}` : ''}</text>`);
  parts.push(`<text x="${left}" y="40" font-size="11" fill="#555">makespan in s (lower is better)${notes.length ? `; ${esc(notes.join('; '))}` : ''}</text>`);
  // Axes, y grid, x ticks at the measured N.
  for (let s = 0; s <= ymax + step / 2; s += step) {
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(s)}" y2="${y(s)}" stroke="#e2e8f0"/>`);
    parts.push(`<text x="${left - 6}" y="${y(s) + 4}" font-size="11" text-anchor="end">${r1(s)}</text>`);
  }
  for (const n of ns) parts.push(`<text x="${x(n)}" y="${H - bottom + 16}" font-size="11" text-anchor="middle">${n}</text>`);
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - 12}" font-size="12" text-anchor="middle">nodes N</text>`);
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(boundS)}" y2="${y(boundS)}" stroke="#000" stroke-dasharray="5 4"/>`);
  // One line per method, then the legend (with the bound) on the right.
  const methods = [...new Set(res.runs.map((r) => r.method))];
  methods.forEach((m) => {
    const pts = ns.map((n) => at(m, n)).filter((r): r is SwarmRun => r !== undefined);
    const color = COLORS[m] ?? '#333';
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((r) => `${x(r.n)},${y(r.makespanS)}`).join(' ')}"/>`);
    for (const r of pts) parts.push(`<circle cx="${x(r.n)}" cy="${y(r.makespanS)}" r="3.5" fill="${color}"><title>${esc(`${m} N=${r.n}: ${r.makespanS} s (${r.ratioToBound}× bound)`)}</title></circle>`);
  });
  [...methods.map((m) => ({ label: LABELS[m] ?? m, color: COLORS[m] ?? '#333', dash: '' })), { label: `bound ${boundS.toFixed(1)} s`, color: '#000', dash: ' stroke-dasharray="5 4"' }].forEach((l, i) => {
    const ly = top + 10 + i * 20;
    parts.push(`<line x1="${W - right + 16}" x2="${W - right + 40}" y1="${ly}" y2="${ly}" stroke="${l.color}" stroke-width="2"${l.dash}/>`);
    parts.push(`<text x="${W - right + 46}" y="${ly + 4}" font-size="12">${esc(l.label)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
${parts.join('\n')}
</svg>
`;
}

/** Write the plot of `res` to `file`. */
export function writeSwarmPlot(res: SwarmResults, file: string): void {
  writeFileSync(file, swarmSvg(res));
}

if (import.meta.main) {
  const results = join(import.meta.dirname, 'results');
  writeSwarmPlot(JSON.parse(readFileSync(join(results, 'swarm.json'), 'utf8')) as SwarmResults, join(results, 'swarm.svg'));
  process.stdout.write(`wrote ${join(results, 'swarm.svg')}\n`);
}
