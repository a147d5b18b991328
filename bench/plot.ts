/**
 * Draw bench/results/netboot.svg from the JSON results (no plotting library:
 * a few bars are plain SVG). Run after bench/tftp.ts and bench/dhcp.ts:
 * `node bench/plot.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const RESULTS = join(import.meta.dirname, 'results');

interface Bar {
  label: string;
  value: number;
  ours: boolean;
}

interface Panel {
  title: string;
  unit: string;
  note: string;
  bars: Bar[];
}

function load<T>(name: string): T {
  return JSON.parse(readFileSync(join(RESULTS, name), 'utf8')) as T;
}

const tftp = load<{ throughput_MBps: Record<string, number>; ratio_imgsrv_over_tftpd_hpa: number }>('tftp.json');
const dhcp = load<{ clients: number; ours: { medianTotalMs: number }; dnsmasq: { medianTotalMs: number } }>('dhcp.json');

const panels: Panel[] = [
  {
    title: 'TFTP: 64 MiB, curl blksize 1468',
    unit: 'MB/s (higher is better)',
    note: `imgsrv / tftpd-hpa = ${tftp.ratio_imgsrv_over_tftpd_hpa.toFixed(2)}`,
    bars: [
      { label: 'imgsrv', value: tftp.throughput_MBps.imgsrv!, ours: true },
      { label: 'tftpd-hpa', value: tftp.throughput_MBps.tftpd_hpa!, ours: false },
      { label: 'imgsrv, windowsize 16', value: tftp.throughput_MBps.imgsrv_windowsize16!, ours: true },
    ],
  },
  {
    title: `DHCP: herd of ${dhcp.clients} clients to bound`,
    unit: 'ms (lower is better)',
    note: `imgsrv / dnsmasq = ${(dhcp.ours.medianTotalMs / dhcp.dnsmasq.medianTotalMs).toFixed(2)}`,
    bars: [
      { label: 'imgsrv', value: dhcp.ours.medianTotalMs, ours: true },
      { label: 'dnsmasq', value: dhcp.dnsmasq.medianTotalMs, ours: false },
    ],
  },
];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const W = 420;
const H = 230;
const parts: string[] = [];
panels.forEach((p, i) => {
  const x0 = i * W + 20;
  const max = Math.max(...p.bars.map((b) => b.value));
  const barW = (W - 60) / p.bars.length - 16;
  parts.push(`<text x="${x0}" y="22" font-weight="bold">${esc(p.title)}</text>`);
  parts.push(`<text x="${x0}" y="40" font-size="11" fill="#555">${esc(p.unit)}; ${esc(p.note)}</text>`);
  p.bars.forEach((b, j) => {
    const h = Math.max(1, (b.value / max) * 140);
    const x = x0 + 10 + j * (barW + 16);
    const y = 200 - h;
    parts.push(`<rect x="${x}" y="${y}" width="${barW}" height="${h}" fill="${b.ours ? '#2b6cb0' : '#a0aec0'}"/>`);
    parts.push(`<text x="${x + barW / 2}" y="${y - 4}" font-size="11" text-anchor="middle">${b.value.toFixed(b.value < 100 ? 1 : 0)}</text>`);
    parts.push(`<text x="${x + barW / 2}" y="216" font-size="11" text-anchor="middle">${esc(b.label)}</text>`);
  });
});
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W * panels.length}" height="${H}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
${parts.join('\n')}
</svg>
`;
writeFileSync(join(RESULTS, 'netboot.svg'), svg);
process.stdout.write(`wrote ${join(RESULTS, 'netboot.svg')}\n`);
