/**
 * Issue 7, load: one real `imgsrv serve` in the lab (full DHCP over a /22 with
 * its SQLite lease store, TFTP from its data dir), measured as its own
 * process. DHCP: 1,000 simulated PXE clients plus real udhcpc clients, all at
 * once, in three rounds (first boot, reboot, second PXE boot): nobody without
 * a lease, no address twice, the lease table exactly the clients' bindings,
 * the same address every round. TFTP: 200 transfers at once of a 1.5 MiB file
 * by curl, tftp-hpa, busybox and our windowsize client: all complete with the
 * right sha256, and the server's peak memory far below one file per transfer
 * (it streams). Prints one `LOAD` line per figure; writes var/results/load.json.
 * Bigger runs: bench/load.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { dhcpLoad } from '../../lab/load/dhcp.ts';
import { dhcpFindings, tftpFindings } from '../../lab/load/report.ts';
import { tftpLoad, tftpLoadArgs } from '../../lab/load/tftp.ts';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';

const SERVER = '198.18.0.1';
const HTTP = `http://${SERVER}:8080`;
const RANGE = { first: '198.18.0.10', last: '198.18.3.250' };
const CLIENTS = 1000;
const UDHCPC = 4;
const TRANSFERS = 200;
const FILE_BYTES = 3 << 19; // 1.5 MiB: lock-step 512-byte clients (tftp-hpa) make it 3,073 round trips each
const TFTP_HOSTS = 4;

const results: Record<string, unknown> = { test: 'test/lab/load.lab.test.ts', date: new Date().toISOString() };

describe.runIf(await labAvailable())('imgsrv serve under load (issue 7)', () => {
  let lab: Lab;
  let srv: LabHost;
  let server: LabServer;

  beforeAll(async () => {
    await sweepStaleLabs();
    lab = await Lab.create();
    srv = await lab.addHost('srv', `${SERVER}/22`);
    // The TFTP round runs more transfers from one address than the default cap allows a booting rack.
    const data = mkdtempSync(join(tmpdir(), 'imgsrv-load-data-'));
    const caps = tftpLoadArgs(data, { transfers: TRANSFERS, hosts: TFTP_HOSTS });
    server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'full', '--range', `${RANGE.first}-${RANGE.last}`, '--http-port', '8080', ...caps], { data });
  });
  afterAll(async () => {
    await server?.stop();
    await lab?.destroy();
    if (server) rmSync(server.data, { recursive: true, force: true });
    // Under var/ (ignored), so a local run leaves the tree clean; bench/load.ts writes the result of record.
    mkdirSync(join(REPO, 'var', 'results'), { recursive: true });
    writeFileSync(join(REPO, 'var', 'results', 'load.json'), `${JSON.stringify(results, null, 2)}\n`);
  });

  it(`${CLIENTS} DHCP clients and ${UDHCPC} udhcpc at once, three rounds: every one bound, no address twice, the same address each round`, async () => {
    const r = await dhcpLoad(lab, srv, server, { clients: CLIENTS, udhcpc: UDHCPC, httpBase: HTTP });
    const f = dhcpFindings(r, { clients: CLIENTS, udhcpc: UDHCPC, range: RANGE });
    for (const line of f.lines) console.log(`LOAD ${line}`);
    results.dhcp = f.json;
    expect(r.rounds.map((x) => x.name)).toEqual(['discover', 'reboot', 'rediscover']);
    expect(f.problems).toEqual([]);
  });

  it(`${TRANSFERS} TFTP transfers at once from real clients: all complete with identical bytes, server memory bounded`, async () => {
    const hosts: LabHost[] = [];
    for (let i = 0; i < TFTP_HOSTS; i++) hosts.push(await lab.addHost(`t${i}`, `198.18.3.${251 + i}/22`));
    const r = await tftpLoad(srv, server, { transfers: TRANSFERS, fileBytes: FILE_BYTES, hosts, server: SERVER, httpBase: HTTP });
    const f = tftpFindings(r, { transfers: TRANSFERS, fileBytes: FILE_BYTES });
    for (const line of f.lines) console.log(`LOAD ${line}`);
    results.tftp = f.json;
    expect(f.problems).toEqual([]);
    expect(server.child.exitCode).toBeNull();
  });
});
