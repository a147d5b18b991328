/**
 * A simulated node for the swarm lab tests: the node's swarm CLI
 * (initramfs-client/swarm/cli.ts) in a lab namespace, reporting to the real
 * `imgsrv serve` with the node token. With `plan` it goes through the
 * deployment protocol as a booted node does (report, plan, torrent over
 * rsync, BitTorrent, verify against the image's meta, seed until done), all
 * but the disk; without, it downloads the torrent it is given.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { writeNodeTokenFile } from '../server/data-dir.ts';
import type { ChildProcess } from 'node:child_process';
import type { LabHost } from './netns.ts';
import { REPO, type LabServer } from './imgsrv.ts';

const NODE_BIN = join(REPO, 'node_modules', '.bin', 'node');
const CLI = join(REPO, 'initramfs-client', 'swarm', 'cli.ts');

/** The CLI's `complete` line. */
export interface SimComplete {
  sha256: string;
  bytes: number;
  seconds: number;
  fromPeers: number;
  fromWebSeed: number;
  uploaded: number;
  verifiedAgainst?: string;
  /** Payload bytes per source: a peer's IP, or "webseed". */
  bySource: Record<string, number>;
}

/** One JSON line of the CLI, with the wall-clock time (ms) it arrived. */
export type SimEvent = Record<string, unknown> & { event: string; at: number };

/** How to start a simulated node. */
export interface SimNodeOptions {
  /** Take image and torrent from the server's plan (the deployment protocol) instead of `torrent`. */
  plan?: boolean;
  torrent?: string;
  /** Seconds to keep seeding when the server never says done (default: the plan's, else 120). */
  linger?: number;
}

/** One simulated node: the CLI in a namespace, its JSON lines collected. */
export class SimNode {
  readonly mac: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private readonly lines: SimEvent[] = [];
  private partial = '';
  private err = '';

  constructor(host: LabHost, server: LabServer, work: string, mac: string, opts: SimNodeOptions = {}) {
    this.mac = mac;
    const dir = mkdtempSync(join(work, 'node-'));
    const source = opts.plan ? ['--plan'] : ['--torrent', opts.torrent ?? 'rsync://198.18.0.1/torrents/web/1.torrent'];
    const linger = opts.linger ?? (opts.plan ? undefined : 120);
    this.child = host.spawn(
      NODE_BIN,
      [CLI, ...source, '--dir', dir, '--address', host.address!, '--server', 'http://198.18.0.1:8080', '--token-file', writeNodeTokenFile(server.data, mac, join(dir, 'node.token')), '--mac', mac, ...(linger === undefined ? [] : ['--linger', String(linger)]), '--report-interval', '1', '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child.stdout!.on('data', (d: Buffer) => this.onData(d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.err = (this.err + d.toString()).slice(-20_000)));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  private onData(text: string): void {
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    const at = Date.now();
    for (const l of parts) if (l.startsWith('{')) this.lines.push({ ...(JSON.parse(l) as { event: string }), at });
  }

  events(kind: string): SimEvent[] {
    return this.lines.filter((e) => e.event === kind);
  }

  /** The last progress line that arrived at or before `t` (ms). */
  progressAt(t: number): SimEvent | undefined {
    return this.events('progress').filter((e) => e.at <= t).at(-1);
  }

  /** The longest time (ms) its progress lines showed no new byte from any source before it completed. */
  longestStall(): number {
    let [last, since, worst] = [-1, 0, 0];
    for (const e of this.events('progress')) {
      const got = Number(e.fromPeers) + Number(e.fromWebSeed);
      if (got !== last || e.done) [last, since] = [got, e.at];
      else worst = Math.max(worst, e.at - since);
      if (e.done) break;
    }
    return worst;
  }

  complete(): (SimComplete & { at: number }) | undefined {
    return this.events('complete')[0] as unknown as (SimComplete & { at: number }) | undefined;
  }

  /** The last lines of the CLI's stderr (its pino log). */
  stderr(): string {
    return this.err.slice(-3000);
  }

  async finish(): Promise<{ code: number | null; complete?: SimComplete & { at: number }; seeded?: SimEvent; stderr: string }> {
    const code = await this.exited;
    return { code, complete: this.complete(), seeded: this.events('seeded')[0], stderr: this.stderr() };
  }
}
