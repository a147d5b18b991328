// Simulated nodes (the node download library's CLI, one per namespace) pull
// one image from the real `imgsrv serve`: the torrent over rsync, the data
// over BitTorrent from the server and from each other. Then the faults: a
// peer that disappears and the server's seeder restarting mid-download.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageMeta } from '../../images/meta.ts';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { SimNode } from '../../lab/sim-node.ts';
import { makeTestImage } from '../../lab/swarm-image.ts';

const run = (await labAvailable()) ? describe : describe.skip;
const SIZE = 24 << 20;

run('swarm: simulated nodes against imgsrv serve', () => {
  let lab: Lab;
  let server: LabServer;
  let meta: ImageMeta;
  let work: string;
  const nodes: LabHost[] = [];

  beforeAll(async () => {
    await sweepStaleLabs();
    work = mkdtempSync(join(tmpdir(), 'imgsrv-swarm-nodes-'));
    const data = join(work, 'data');
    meta = await makeTestImage(data, 'web', SIZE);
    // The server's upload is capped (40 Mbit/s = 5 MB/s) so that the peers' share is visible.
    writeFileSync(join(work, 'imgsrv.yaml'), 'swarm:\n  uploadLimit: 40Mbit\n  settle: 3\n');
    lab = await Lab.create();
    const srv = await lab.addHost('srv', '198.18.0.1/24');
    for (let i = 1; i <= 6; i++) nodes.push(await lab.addHost(`n${i}`, `198.18.0.${10 + i}/24`));
    server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'off', '--http-port', '8080', '--config', join(work, 'imgsrv.yaml')], { data });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await lab?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('4 nodes download one image concurrently, verified, trading pieces with each other', async () => {
    const sims = nodes.slice(0, 4).map((h, i) => new SimNode(h, server, work, `52:54:00:00:01:0${i + 1}`));
    const results = await Promise.all(sims.map((s) => s.finish()));
    for (const r of results) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.complete?.sha256).toBe(meta.artifact.sha256);
      expect(r.complete?.bytes).toBe(meta.artifact.compressedBytes);
      // They stopped seeding because the server said the deployment was done, not by lingering.
      expect(r.seeded?.result).toBe('done');
    }
    const fromPeers = results.reduce((s, r) => s + (r.complete?.fromPeers ?? 0), 0);
    const uploadedByNodes = results.reduce((s, r) => s + (r.complete?.uploaded ?? 0), 0);
    const view = JSON.parse(await server.cli(['swarm', 'show', 'web@1', '--json'])) as { server: { uploaded: number; served: { rare: number; common: number } }; done: boolean };
    // 4 copies were delivered; the server sent clearly fewer than 4: the rest came from peers.
    expect(fromPeers).toBeGreaterThan(0);
    expect(uploadedByNodes).toBeGreaterThan(0);
    expect(view.server.uploaded).toBeLessThan(3.5 * meta.artifact.compressedBytes);
    expect(view.done).toBe(true);
    // No longer downloading: the lock against removal goes at the swarm's next refresh (5 s).
    let inUse = true;
    for (let i = 0; i < 20 && inUse; i++) {
      inUse = (JSON.parse(await server.cli(['images', 'show', 'web@1', '--json'])) as { inUse: boolean }).inUse;
      if (inUse) await new Promise((r) => setTimeout(r, 500));
    }
    expect(inUse).toBe(false);
  }, 240_000);

  it('finishes with identical bytes when a peer disappears and the seeder restarts mid-download', async () => {
    const sims = nodes.slice(3, 6).map((h, i) => new SimNode(h, server, work, `52:54:00:00:02:0${i + 1}`));
    // Wait until the download is under way, then lose a peer (killed by its PID) and restart the seeder for 3 s.
    const deadline = Date.now() + 60_000;
    while (!sims.every((s) => s.events('progress').some((e) => (e.downloaded as number) > 1 << 20)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const victim = sims[0]!;
    expect(victim.complete()).toBeUndefined();
    process.kill(victim.child.pid!, 'SIGKILL');
    await server.cli(['swarm', 'restart-seeder', '--pause', '3000']);
    const results = await Promise.all(sims.slice(1).map((s) => s.finish()));
    for (const r of results) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.complete?.sha256).toBe(meta.artifact.sha256);
    }
    expect(await victim.exited).toBe(null);
  }, 240_000);
});
