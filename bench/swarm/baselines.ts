/**
 * The two baselines of the swarm benchmark, run on the same shaped lab:
 *   - unicast: N `curl`s at once from one HTTP server (imgsrv's own web seed
 *     route, or a plain node:http file server);
 *   - multicast: Debian's udpcast, one `udp-sender` to N `udp-receiver`s.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { stopChild } from '../../lab/netns.ts';
import { streamClient, timeClients, type Timing } from './clients.ts';
import { SERVER_IP, serverCommand, type SwarmTopology } from './topology.ts';

/** A running unicast HTTP source. */
export interface UnicastSource {
  url: string;
  /** What serves it, for the results: 'imgsrv-webseed' or 'node-http-static'. */
  kind: string;
  stop(): Promise<void>;
}

/** Start the plain node:http file server in the server namespace on `port`. */
export async function startStaticServer(topo: SwarmTopology, file: string, port: number): Promise<UnicastSource> {
  const child = topo.server.spawn(...serverCommand(process.execPath, [join(import.meta.dirname, 'static-server.ts'), SERVER_IP, String(port), file]), { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
    child.once('exit', (code) => reject(new Error(`static server exited ${code}: ${err.trim()}`)));
  });
  return { url: `http://${SERVER_IP}:${port}/image.tar.zst`, kind: 'node-http-static', stop: () => stopChild(child) };
}

/** curl arguments that write the body to stdout and fail on HTTP errors. */
const curlArgs = (url: string): string[] => ['-sS', '--fail', '--no-progress-meter', '-o', '-', url];

/** N nodes fetch the image by HTTP at once. */
export function runUnicast(topo: SwarmTopology, n: number, source: UnicastSource, sha256: string, timeoutMs: number): Promise<Timing> {
  return timeClients(n, (i) => streamClient(topo.nodes[i]!, 'curl', curlArgs(source.url), sha256), timeoutMs);
}

/**
 * Measure one shaped link alone: node 0 fetches `bytes` of the source
 * (a range request) and the rate is returned in Mbit/s. Proves the tbf on
 * both ends really limits the link to ~R before anything is compared to R.
 */
export async function checkLink(topo: SwarmTopology, source: UnicastSource, bytes: number): Promise<number> {
  const t0 = performance.now();
  const got = await topo.nodes[0]!.exec('curl', ['-sS', '--fail', '-r', `0-${bytes - 1}`, '-o', '/dev/null', '-w', '%{size_download}', source.url], { timeoutMs: 300_000 });
  const s = (performance.now() - t0) / 1000;
  return (Number(got) * 8) / s / 1e6;
}

/**
 * udpcast: the sender in the server namespace waits for N receivers, then
 * multicasts the file; receivers write it to stdout (hashed as it comes).
 * `maxBitrateMbit` (0 = none) is udp-sender's own pacing; the tbf shaping
 * limits the link either way.
 */
export async function runMulticast(topo: SwarmTopology, n: number, file: string, sha256: string, timeoutMs: number, maxBitrateMbit: number): Promise<Timing & { senderLog: string }> {
  // Rendez-vous on 224.0.0.1 on both sides: the receiver's default (limited broadcast) needs a default
  // route, and lab namespaces have none by design (nothing may leave the lab).
  const rdv = ['--mcast-rdv-address', '224.0.0.1'];
  // --rexmit-hello-interval 100: udp-sender checks --min-receivers only when its hello timer fires, which
  // by default costs a fixed 2 s before every transfer; measured here, 100 ms removes it.
  const args = ['--file', file, '--interface', 'eth0', ...rdv, '--min-receivers', String(n), '--nokbd', '--full-duplex', '--no-progress', '--rexmit-hello-interval', '100'];
  if (maxBitrateMbit > 0) args.push('--max-bitrate', `${maxBitrateMbit}m`);
  const sender: ChildProcess = topo.server.spawn(...serverCommand('udp-sender', args), { stdio: ['ignore', 'pipe', 'pipe'] });
  let senderLog = '';
  sender.stdout!.on('data', (d: Buffer) => (senderLog = (senderLog + d.toString()).slice(-4000)));
  sender.stderr!.on('data', (d: Buffer) => (senderLog = (senderLog + d.toString()).slice(-4000)));
  const senderExit = new Promise<number | null>((resolve) => sender.once('exit', (code) => resolve(code)));
  try {
    // --exit-wait 50: after the last slice a receiver waits 500 ms by default (in case the final ACK is
    // lost) before it exits; it already has the data then, and the swarm's linger is not counted either.
    const recvArgs = ['--interface', 'eth0', ...rdv, '--nokbd', '--start-timeout', '30', '--exit-wait', '50'];
    const timing = await timeClients(n, (i) => streamClient(topo.nodes[i]!, 'udp-receiver', recvArgs, sha256), timeoutMs);
    // The sender ends once every receiver acknowledged the last slice; give it a moment, then it must have exited 0.
    const code = await Promise.race([senderExit, new Promise<'running'>((r) => setTimeout(() => r('running'), 10_000))]);
    if (code !== 0 && code !== 'running') throw new Error(`udp-sender exited ${code}: ${senderLog.trim()}`);
    return { ...timing, senderLog };
  } finally {
    await stopChild(sender);
  }
}
