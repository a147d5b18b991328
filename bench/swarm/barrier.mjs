/**
 * Entry point of every node client in the swarm benchmark:
 *   node barrier.mjs <client.mjs> <client arguments…>
 * imports the bundled node client (the esbuild bundle the initramfs ships,
 * see swarm-method.ts), says so on stdout (`{"event":"loaded"}`), waits for
 * one line on stdin, then runs the client's main() with its own arguments.
 *
 * Why a barrier: a real node loads its client on its own CPU; here 16 node
 * processes share 2 cores, so at N = 16 the last node would start seconds
 * after the first for a reason no deployment has. The benchmark starts the
 * clock when every node has loaded and then releases them all at once
 * (clients.ts); how long the loading took is reported next to the makespan.
 *
 * Why plain JavaScript: a .ts entry makes Node load its TypeScript stripper,
 * a WebAssembly module whose optimising compiles then run in the background
 * of every node process during the download (about 5 % of the machine's CPU
 * at N = 16, measured with perf). The shipped client is JavaScript too.
 */
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';

const bundle = process.argv[2];
if (!bundle) throw new Error('usage: node barrier.mjs <client.mjs> [client arguments]');
process.argv.splice(1, 1); // the client parses process.argv.slice(2): its own arguments
const client = await import(pathToFileURL(bundle).href);
process.stdout.write(`${JSON.stringify({ event: 'loaded' })}\n`);
await once(process.stdin, 'data');
process.stdin.destroy();
await client.main();
