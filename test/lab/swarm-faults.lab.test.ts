/**
 * Faults during a deployment of 8 simulated nodes (the swarm CLI with
 * --plan: booted report, plan, torrent over rsync, BitTorrent from the
 * server and each other, sha256 against the published image, seeding until
 * the server says done). The server's upload is capped so the download
 * lasts long enough for the fault to land in the middle of it.
 *  (a) `kill -9` of `imgsrv serve` at 20-60 %, restarted on the same data
 *      dir: every node finishes verified, the store and the image are intact.
 *  (b) half the swarm cut off from the server and the other half for 30 s:
 *      everyone finishes.
 * Figures go to stdout as `FIGURES <name> <json>` lines for docs/reliability.md.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageMeta } from '../../images/meta.ts';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { SimNode } from '../../lab/sim-node.ts';
import { makeTestImage } from '../../lab/swarm-image.ts';
import { bytesBySource, nsProcesses, partition, readStore, running, serverProgress, spread, swarmView, versionDigests, waitProgress } from '../../lab/swarm-faults.ts';

const run = (await labAvailable()) ? describe : describe.skip;
const SIZE = 24 << 20;
const SERVER_IP = '198.18.0.1';
const NODES = 8;
const CUT_MS = 30_000;
const macs = (set: number) => Array.from({ length: NODES }, (_, i) => `52:54:00:fa:${String(set).padStart(2, '0')}:0${i + 1}`);
const figures = (name: string, f: object) => console.log(`FIGURES ${name} ${JSON.stringify(f)}`);
const secs = (ms: number) => Math.round(ms / 100) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
/** A node's own progress (its last JSON line) at time `t`. */
const progressAt = (s: SimNode, t: number) => Number(s.progressAt(t)?.progress ?? 0);
/** How many nodes added the web seed because the swarm gave them nothing for a while, and dropped it when the seeder was back (web-seed-fallback.ts). */
const webSeedFallbacks = (group: SimNode[]) => ({
  added: group.filter((s) => s.stderr().includes('adding the web seed')).length,
  dropped: group.filter((s) => s.stderr().includes('dropping the web seed')).length,
});

/**
 * Every node exited 0, streamed exactly the published image (sha256 and size, checked by the CLI and here),
 * never started over (one plan, progress never went back) and stopped when the server said done.
 */
async function expectAllVerified(sims: SimNode[], meta: ImageMeta): Promise<void> {
  const results = await Promise.all(sims.map((s) => s.finish()));
  results.forEach((r, i) => {
    const s = sims[i]!;
    expect(r.code, `${s.mac}: ${r.stderr}`).toBe(0);
    expect(s.events('plan').map((e) => e.action)).toEqual(['restore']);
    const p = s.events('progress').map((e) => Number(e.progress));
    expect(p.every((x, j) => j === 0 || x >= p[j - 1]!), `${s.mac} progress went back`).toBe(true);
    expect(r.complete?.sha256).toBe(meta.artifact.sha256);
    expect(r.complete?.bytes).toBe(meta.artifact.compressedBytes);
    expect(r.complete?.verifiedAgainst).toBe('web@1');
    expect(r.seeded?.result).toBe('done');
  });
}

run('swarm faults: 8 simulated nodes deploying from imgsrv serve', () => {
  let lab: Lab;
  let srv: LabHost;
  let server: LabServer;
  let meta: ImageMeta;
  let work: string;
  let data: string;
  let serveArgs: string[];
  const hosts: LabHost[] = [];
  const sims: SimNode[] = [];

  beforeAll(async () => {
    await sweepStaleLabs();
    work = mkdtempSync(join(tmpdir(), 'imgsrv-swarm-faults-'));
    data = join(work, 'data');
    meta = await makeTestImage(data, 'web', SIZE);
    // 10 Mbit/s out of the server: each piece leaves it about once (super-seeding), so the
    // deployment lasts about SIZE / 1.25 MB/s whatever the node count.
    writeFileSync(join(work, 'imgsrv.yaml'), 'swarm:\n  uploadLimit: 10Mbit\n  settle: 3\n  linger: 300\n');
    serveArgs = ['--interface', 'eth0', '--dhcp', 'off', '--http-port', '8080', '--config', join(work, 'imgsrv.yaml')];
    lab = await Lab.create();
    srv = await lab.addHost('srv', `${SERVER_IP}/24`);
    for (let i = 1; i <= NODES; i++) hosts.push(await lab.addHost(`n${i}`, `198.18.0.${10 + i}/24`));
    server = await startLabServer(srv, serveArgs, { data });
    await server.cli(['deploy', 'set', 'web']);
  }, 180_000);

  afterAll(async () => {
    for (const s of sims) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    await server?.stop();
    await lab?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('kill -9 of imgsrv serve mid-deployment: restarted on the same data dir, state intact, all 8 nodes finish verified', async () => {
    const mine = macs(1);
    const before = { files: versionDigests(data, 'web', 1), deploy: JSON.parse(await server.cli(['deploy', 'show', '--json'])) as { image: string; keep: string[] } };
    expect(before.deploy.image).toBe('web');
    const t0 = Date.now();
    const nodes = hosts.map((h, i) => new SimNode(h, server, work, mine[i]!, { plan: true }));
    sims.push(...nodes);

    // Mid-download on the server's view, then SIGKILL by PID: no shutdown code runs.
    const atKill = await waitProgress(server, srv, 'web@1', nodes, 0.25, 120_000);
    const pid = server.child.pid!;
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('server/cli/main.ts');
    const inFlight = readStore(data, mine);
    // Mid-download for every node: none has the whole image yet.
    expect(nodes.filter((s) => s.complete()).map((s) => s.mac)).toEqual([]);
    const tKill = Date.now();
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => server.child.once('exit', r));
    // What the dead server left running in its namespace: its rsync daemon (own process group, by design).
    const survivors = await nsProcesses(srv.ns);
    // The store as the crash left it (WAL and all), read before anything opens it again.
    const crashed = readStore(data, mine);
    expect(crashed.integrity).toBe('ok');
    const orphanPid = Number(readFileSync(join(data, 'rsyncd', 'rsyncd.pid'), 'utf8').trim());

    server = await startLabServer(srv, serveArgs, { data });
    const tUp = Date.now();
    // The restarted server ended the orphan (it held the rsync port) and runs its own daemon.
    expect(server.log()).toContain('ending an rsync daemon left running by a previous imgsrv');
    for (const p of survivors) expect(running(p.pid), `left over: ${p.cmd}`).toBe(false);
    const rsyncPid = Number(readFileSync(join(data, 'rsyncd', 'rsyncd.pid'), 'utf8').trim());
    expect(rsyncPid).not.toBe(orphanPid);
    expect(running(rsyncPid)).toBe(true);
    const afterRestart = readStore(data, mine);
    expect(afterRestart.integrity).toBe('ok');
    // Every node the dead server knew is there with the same install state, sequence number and image; settings and locks too.
    expect(inFlight.nodes).toHaveLength(NODES);
    for (const state of [crashed, afterRestart]) {
      expect(state.nodes.map(({ mac, install, seq, image }) => ({ mac, install, seq, image }))).toEqual(inFlight.nodes.map(({ mac, install, seq, image }) => ({ mac, install, seq, image })));
      expect(state.settings).toEqual(inFlight.settings);
      expect(state.locks).toEqual(inFlight.locks);
    }

    await expectAllVerified(nodes, meta);
    const tDone = Math.max(...nodes.map((s) => s.complete()!.at));

    const after = readStore(data, mine);
    expect(after.integrity).toBe('ok');
    expect(after.nodes.map((n) => n.install)).toEqual(Array(NODES).fill('installed'));
    expect(after.nodes.every((n) => n.image === 'web@1' && n.error === null)).toBe(true);
    expect(after.settings).toEqual(inFlight.settings);
    // Installed nodes no longer hold their image version against removal.
    expect(after.locks.filter((l) => mine.some((m) => l.holder === `node:${m}`))).toEqual([]);
    expect(versionDigests(data, 'web', 1)).toEqual(before.files);
    expect(JSON.parse(await server.cli(['deploy', 'show', '--json']))).toMatchObject({ image: before.deploy.image, keep: before.deploy.keep, resolved: { name: 'web', version: 1 } });
    // What they received in all stays near 8 images (duplicates come from endgame requests and the web seed).
    const bytes = bytesBySource(nodes, SERVER_IP);
    expect(bytes.total).toBeLessThan(1.25 * NODES * meta.artifact.compressedBytes);
    const end = await swarmView(server, srv, 'web@1');
    figures('kill9', {
      nodes: NODES,
      imageBytes: meta.artifact.compressedBytes,
      killAtServerView: spread(serverProgress(atKill, mine)),
      killAtNodeView: spread(nodes.map((s) => progressAt(s, tKill))),
      seederSentBeforeKill: atKill.server.uploaded,
      seederSentAfterRestart: end.server.uploaded,
      installBeforeKill: inFlight.nodes.map((n) => n.install),
      leftRunningAfterKill: survivors.map((p) => p.cmd),
      secondsToKill: secs(tKill - t0),
      downtimeSeconds: secs(tUp - tKill),
      secondsToAllCompleteAfterRestart: secs(tDone - tUp),
      longestStallSeconds: spread(nodes.map((s) => secs(s.longestStall()))),
      receivedBytes: bytes,
      webSeedFallbacks: webSeedFallbacks(nodes),
      fromServerVsImage: round3((bytes.seeder + bytes.webSeed) / meta.artifact.compressedBytes),
      receivedVsImages: round3(bytes.total / (NODES * meta.artifact.compressedBytes)),
      receivedPerNodeVsImage: spread(nodes.map((s) => Object.values(s.complete()!.bySource).reduce((a, b) => a + b, 0) / meta.artifact.compressedBytes)),
    });
  }, 300_000);

  it(`network partition: half the swarm cut off from the server and the other half for ${CUT_MS / 1000} s, all 8 finish verified`, async () => {
    const mine = macs(2);
    const nodes = hosts.map((h, i) => new SimNode(h, server, work, mine[i]!, { plan: true }));
    sims.push(...nodes);
    const [cutOff, rest] = [nodes.slice(0, NODES / 2), nodes.slice(NODES / 2)];
    const atCut = await waitProgress(server, srv, 'web@1', nodes, 0.25, 120_000);
    const cut = await partition(lab, hosts.slice(0, NODES / 2));
    const tCut = Date.now();
    await new Promise((r) => setTimeout(r, CUT_MS));
    const during = await swarmView(server, srv, 'web@1');
    const dropped = await cut.dropped();
    const tHeal = Date.now();
    await cut.heal();

    // The cut was real: frames were dropped, and the server heard nothing from the cut-off half.
    expect(dropped).toBeGreaterThan(0);
    for (const s of cutOff) expect(during.nodes.find((n) => n.mac === s.mac)?.at ?? 0).toBeLessThan(tCut + 1000);
    // The other half kept going meanwhile.
    for (const s of rest) expect(progressAt(s, tHeal) > progressAt(s, tCut) || progressAt(s, tCut) === 1).toBe(true);

    await expectAllVerified(nodes, meta);
    const tDone = Math.max(...nodes.map((s) => s.complete()!.at));
    const after = readStore(data, mine);
    expect(after.integrity).toBe('ok');
    expect(after.nodes.map((n) => n.install)).toEqual(Array(NODES).fill('installed'));
    const view = (group: SimNode[]) =>
      group.map((s) => ({
        mac: s.mac,
        atCut: round3(progressAt(s, tCut)),
        atHeal: round3(progressAt(s, tHeal)),
        // Negative: finished before the heal.
        completeSecondsAfterHeal: secs(s.complete()!.at - tHeal),
        longestStallSeconds: secs(s.longestStall()),
        seeded: s.events('seeded')[0]?.result,
      }));
    figures('partition', {
      nodes: NODES,
      cutSeconds: secs(tHeal - tCut),
      cutAtServerView: spread(serverProgress(atCut, mine)),
      framesDropped: dropped,
      serverViewBeforeHeal: { done: during.done, leechers: during.leechers },
      cutOff: view(cutOff),
      other: view(rest),
      secondsToAllCompleteAfterHeal: secs(tDone - tHeal),
      receivedBytes: bytesBySource(nodes, SERVER_IP),
      receivedByCutOffHalf: bytesBySource(cutOff, SERVER_IP),
      webSeedFallbacks: webSeedFallbacks(nodes),
    });
  }, 300_000);
});
