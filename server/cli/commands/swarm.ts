/** `imgsrv swarm ls|show|history|restart-seeder`: the BitTorrent side of deployments. */
import type { Command } from 'commander';
import type { SwarmView } from '../../swarm/service.ts';
import { apiFor } from '../client.ts';
import { humanBytes, printList } from '../output.ts';


/** Bytes peers sent each other: what the nodes downloaded minus what the server sent. */
function fromPeers(v: SwarmView): number {
  const down = v.nodes.reduce((s, n) => s + n.downloaded, 0);
  return Math.max(0, down - v.server.uploaded);
}

export function registerSwarm(program: Command): void {
  const swarm = program.command('swarm').description('image swarms: seeder, tracker, peers');

  swarm
    .command('ls')
    .description('list swarms (one per published image version)')
    .option('--json', 'print a JSON array (fields: image, version, infoHash, seeders, leechers, done, server, peers, nodes)')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const list = await apiFor(cmd).request<SwarmView[]>('GET', '/api/v1/swarm');
      printList(
        list,
        [
          ['image', (v) => `${v.image}@${v.version}`],
          ['size', (v) => humanBytes(v.length)],
          ['seeders', (v) => v.seeders],
          ['leechers', (v) => v.leechers],
          ['server sent', (v) => humanBytes(v.server.uploaded)],
          ['peers sent', (v) => humanBytes(fromPeers(v))],
          ['done', (v) => (v.done ? 'yes' : 'no')],
          ['torrent', (v) => v.torrent],
        ],
        Boolean(flags.json),
      );
    });

  swarm
    .command('show <image>')
    .description('one swarm (NAME@VERSION or info hash) with its peers')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }, cmd: Command) => {
      const v = await apiFor(cmd).request<SwarmView>('GET', `/api/v1/swarm/${encodeURIComponent(id)}`);
      if (flags.json) return void process.stdout.write(JSON.stringify(v, null, 2) + '\n');
      process.stdout.write(
        `${v.image}@${v.version}  ${v.infoHash}  ${humanBytes(v.length)} in ${Math.ceil(v.length / v.pieceLength)} pieces of ${humanBytes(v.pieceLength)}\n` +
          `torrent ${v.torrent}\nweb seed ${v.webSeed}\n` +
          `server sent ${humanBytes(v.server.uploaded)} (${v.server.served.rare} rare / ${v.server.served.common} common blocks), peers sent ${humanBytes(fromPeers(v))}; ${v.seeders} seeders, ${v.leechers} leechers, done: ${v.done ? 'yes' : 'no'}\n`,
      );
      printList(
        v.peers,
        [
          ['peer', (p) => `${p.ip}:${p.port}`],
          ['mac', (p) => p.mac],
          ['left', (p) => humanBytes(p.left)],
          ['down', (p) => humanBytes(p.downloaded)],
          ['up', (p) => humanBytes(p.uploaded)],
        ],
        false,
      );
    });

  swarm
    .command('history')
    .description('bytes sent over time: by the server vs by the nodes to each other (the peer-to-peer effect)')
    .option('--json', 'print JSON ({samples: [{at, server, peers}]}, cumulative bytes)')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const h = await apiFor(cmd).request<{ samples: Array<{ at: number; server: number; peers: number }> }>('GET', '/api/v1/swarm/history');
      if (flags.json) return void process.stdout.write(JSON.stringify(h, null, 2) + '\n');
      printList(
        h.samples,
        [
          ['at', (s) => new Date(s.at).toISOString()],
          ['server sent', (s) => humanBytes(s.server)],
          ['peers sent', (s) => humanBytes(s.peers)],
        ],
        false,
      );
    });

  swarm
    .command('restart-seeder')
    .description("restart the server's BitTorrent seeder (nodes carry on from peers and the web seed meanwhile)")
    .option('--pause <ms>', 'stay down this long before coming back', (v) => Number(v), 0)
    .action(async (flags: { pause: number }, cmd: Command) => {
      const r = await apiFor(cmd).request<{ port: number }>('POST', '/api/v1/swarm/seeder/restart', { pauseMs: flags.pause });
      process.stdout.write(`seeder restarted on port ${r.port}\n`);
    });
}
