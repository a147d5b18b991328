/**
 * Real swarm traffic for the deployment chart: the node's own swarm client
 * (initramfs-client/swarm/cli.ts) downloads the image from the server's seeder
 * and from each other, and reports to the server like a booted node does.
 */
import { join } from 'node:path';
import { writeNodeTokenFile } from '../../../server/data-dir.ts';
import { REPO, type ConsoleServer } from './server.ts';

/** Run one swarm client per MAC until each has the image and has seeded a little; rejects on a failure. */
export async function runSwarmNodes(server: ConsoleServer, torrentUrl: string, macs: string[]): Promise<void> {
  const runs = macs.map(async (mac, i) => {
    const args = (address: string) => [
      join(REPO, 'initramfs-client', 'swarm', 'cli.ts'),
      '--torrent', torrentUrl,
      '--dir', join(server.data, `swarm-node-${i}`),
      '--address', address,
      '--server', server.base,
      '--token-file', writeNodeTokenFile(server.data, mac, join(server.data, `swarm-node-${i}.token`)),
      '--mac', mac,
      // Only peers and the seeder: the web seed would bypass the swarm the chart is about.
      '--web-seed', 'never',
      '--linger', '4',
      '--report-interval', '1',
      '--log-level', 'warn',
    ];
    const child = await server.spawnNode(i, process.execPath, args);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((ok) => child.once('exit', ok));
    if (code !== 0) throw new Error(`swarm node ${mac} exited with ${code}: ${err.trim()}`);
  });
  await Promise.all(runs);
}
