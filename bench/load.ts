/**
 * Load benchmark: the load lab test (test/lab/load.lab.test.ts) at a larger
 * scale, same modules and the same judgement — a herd of simulated PXE
 * clients plus real udhcpc clients in three rounds against `imgsrv serve
 * --dhcp full` on a /19, then many concurrent TFTP transfers by curl,
 * tftp-hpa, busybox and our windowsize client. Prints one line per figure
 * and any problem found; writes bench/results/load.json; exits 1 on a
 * problem. Needs root (network namespaces), udhcpc, curl, tftp-hpa, busybox.
 * Usage: node bench/load.ts [--clients 5000] [--udhcpc 8] [--transfers 1000] [--file-mib 2] [--tftp-hosts 10]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startLabServer } from '../lab/imgsrv.ts';
import { dhcpLoad } from '../lab/load/dhcp.ts';
import { dhcpFindings, tftpFindings, type Findings } from '../lab/load/report.ts';
import { tftpLoad, tftpLoadArgs } from '../lab/load/tftp.ts';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from '../lab/netns.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '5000' },
    udhcpc: { type: 'string', default: '8' },
    transfers: { type: 'string', default: '1000' },
    'file-mib': { type: 'string', default: '2' },
    'tftp-hosts': { type: 'string', default: '10' },
  },
});
const CLIENTS = Number(values.clients);
const UDHCPC = Number(values.udhcpc);
const TRANSFERS = Number(values.transfers);
const FILE_BYTES = Math.round(Number(values['file-mib']) * 2 ** 20);
const TFTP_HOSTS = Number(values['tftp-hosts']);
// A /19: the range holds 7,926 addresses; the TFTP clients sit above it.
const SERVER = '198.18.0.1';
const HTTP = `http://${SERVER}:8080`;
const RANGE = { first: '198.18.0.10', last: '198.18.30.255' };
if (CLIENTS + UDHCPC > 7900 || TFTP_HOSTS > 200) {
  console.error('bench/load.ts: at most 7,900 DHCP clients and 200 TFTP client namespaces (one /19)');
  process.exit(2);
}
if (!(await labAvailable())) {
  console.error('bench/load.ts needs root and ip netns');
  process.exit(1);
}

await sweepStaleLabs();
const lab = await Lab.create();
const found: Findings[] = [];
const results: Record<string, unknown> = { benchmark: 'load', date: new Date().toISOString() };
try {
  const srv = await lab.addHost('srv', `${SERVER}/19`);
  const data = mkdtempSync(join(tmpdir(), 'imgsrv-load-data-'));
  const caps = tftpLoadArgs(data, { transfers: TRANSFERS, hosts: TFTP_HOSTS, clients: CLIENTS });
  const server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'full', '--range', `${RANGE.first}-${RANGE.last}`, '--http-port', '8080', ...caps], { data });
  try {
    const t0 = performance.now();
    const d = dhcpFindings(await dhcpLoad(lab, srv, server, { clients: CLIENTS, udhcpc: UDHCPC, httpBase: HTTP, deadlineMs: 300_000 }), { clients: CLIENTS, udhcpc: UDHCPC, range: RANGE });
    results.dhcp = { ...d.json, wallMs: Math.round(performance.now() - t0) };
    found.push(d);
    for (const line of d.lines) console.log(line);
    const hosts: LabHost[] = [];
    for (let i = 0; i < TFTP_HOSTS; i++) hosts.push(await lab.addHost(`t${i}`, `198.18.31.${10 + i}/19`));
    const t = tftpFindings(await tftpLoad(srv, server, { transfers: TRANSFERS, fileBytes: FILE_BYTES, hosts, server: SERVER, httpBase: HTTP, timeoutMs: 600_000 }), {
      transfers: TRANSFERS,
      fileBytes: FILE_BYTES,
    });
    results.tftp = t.json;
    found.push(t);
    for (const line of t.lines) console.log(line);
  } finally {
    await server.stop();
    rmSync(server.data, { recursive: true, force: true });
  }
} finally {
  await lab.destroy();
}
const problems = found.flatMap((f) => f.problems);
results.problems = problems;
writeFileSync(new URL('./results/load.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
for (const p of problems) console.error(`PROBLEM ${p}`);
process.exit(problems.length ? 1 : 0);
