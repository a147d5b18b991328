/**
 * Preloaded (`node --import`) into every node client of the swarm benchmark:
 * load the client's code, say so on stdout (`{"event":"loaded"}`), then wait
 * for one line on stdin before the client itself runs.
 *
 * Why: a real node loads its client on its own CPU; here 16 node processes
 * share 2 cores, and loading webtorrent and our modules costs each about
 * 1 CPU-s, so at N = 16 the last node would start ~8 s after the first for a
 * reason no deployment has. The benchmark starts the clock when every node
 * has loaded and then releases them all at once (clients.ts); how long the
 * loading took is reported next to the makespan, not hidden.
 */
import { once } from 'node:events';

// Everything cli.ts imports that costs time to load (webtorrent and its dependency tree above all).
await Promise.all([
  import('../../initramfs-client/swarm/download.ts'),
  import('../../initramfs-client/swarm/fetch-torrent.ts'),
  import('../../initramfs-client/client/api.ts'),
  import('../../initramfs-client/swarm/cli-plan.ts'),
]);
process.stdout.write(`${JSON.stringify({ event: 'loaded' })}\n`);
await once(process.stdin, 'data');
process.stdin.destroy();
