/**
 * A routed lab for DHCP relay: the server's segment (198.18.0.0/24) and a far
 * segment (198.18.1.0/24), each its own bridge, joined by a router namespace
 * that forwards between them and runs the real ISC `dhcrelay` (Debian's
 * isc-dhcp-relay) in the foreground, started and stopped by its PID. The
 * server reaches the far segment through the router (a route, no NAT), as a
 * server on a real campus network does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Lab, stopChild, type LabHost } from './netns.ts';

/** Addresses of the routed lab. */
export const RELAY_LAB = {
  server: '198.18.0.1',
  /** The router's address on the server's segment. */
  routerNear: '198.18.0.254',
  /** The router's address on the far segment: the far clients' router, and the relay's giaddr. */
  routerFar: '198.18.1.1',
  farSubnet: '198.18.1.0/24',
  /** A third segment with no dhcp.subnets entry (its relay is unknown to the server). */
  strayRouter: '198.18.2.1',
  straySubnet: '198.18.2.0/24',
} as const;

/** A running dhcrelay and what it printed. */
export interface Relay {
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** The two (three) segments, the server host and the router. */
export class RelayLab {
  readonly near: Lab;
  readonly far: Lab;
  readonly stray: Lab;
  readonly server: LabHost;
  readonly router: LabHost;
  private readonly relays = new Set<Relay>();
  private readonly tmp: string;

  private constructor(near: Lab, far: Lab, stray: Lab, server: LabHost, router: LabHost, tmp: string) {
    this.near = near;
    this.far = far;
    this.stray = stray;
    this.server = server;
    this.router = router;
    this.tmp = tmp;
  }

  /** Build the segments and the router (forwarding on, no relay yet). */
  static async create(): Promise<RelayLab> {
    const labs: Lab[] = [];
    try {
      for (let i = 0; i < 3; i++) labs.push(await Lab.create());
      const [near, far, stray] = labs as [Lab, Lab, Lab];
      const server = await near.addHost('srv', `${RELAY_LAB.server}/24`);
      const router = await near.addHost('rtr', `${RELAY_LAB.routerNear}/24`);
      await far.attach(router, 'eth1', `${RELAY_LAB.routerFar}/24`);
      await stray.attach(router, 'eth2', `${RELAY_LAB.strayRouter}/24`);
      await router.exec('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      // The server's way back to the far segments is the router (replies to giaddr, HTTP, TFTP).
      for (const net of [RELAY_LAB.farSubnet, RELAY_LAB.straySubnet]) await server.exec('ip', ['route', 'add', net, 'via', RELAY_LAB.routerNear]);
      return new RelayLab(near, far, stray, server, router, mkdtempSync(join(tmpdir(), 'imgsrv-relay-')));
    } catch (err) {
      for (const l of labs) await l.destroy();
      throw err;
    }
  }

  /**
   * Start `dhcrelay -4 -d` in the router: upstream eth0, downstream the far
   * (and stray) segments, forwarding to the server. `linkSelection` runs it
   * with `-U eth0` (RFC 3527): giaddr is then the router's near address and
   * the far link travels in option 82 sub-option 5.
   */
  async startRelay(opts: { linkSelection?: boolean } = {}): Promise<Relay> {
    const pidFile = join(this.tmp, `dhcrelay-${this.relays.size}.pid`);
    const args = ['-4', '-d', '-pf', pidFile, '-iu', 'eth0', '-id', 'eth1', '-id', 'eth2', ...(opts.linkSelection ? ['-U', 'eth0'] : []), RELAY_LAB.server];
    const child = this.router.spawn('dhcrelay', args);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const relay: Relay = {
      child,
      output: () => out,
      stop: async () => {
        this.relays.delete(relay);
        await stopChild(child);
      },
    };
    this.relays.add(relay);
    // dhcrelay prints its interfaces, then "Sending on … / Listening on …"; it is ready once it says so for the server side.
    const deadline = Date.now() + 10_000;
    while (!/Sending on\s+Socket/i.test(out)) {
      if (child.exitCode !== null) throw new Error(`dhcrelay exited with ${child.exitCode}:\n${out}`);
      if (Date.now() > deadline) throw new Error(`dhcrelay not ready in 10 s:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return relay;
  }

  /** A client host on the far segment (no address: it asks DHCP). */
  addFarClient(name: string, mac: string): Promise<LabHost> {
    return this.far.addHost(name, undefined, { mac });
  }

  /** A client host on the segment the server has no subnet for. */
  addStrayClient(name: string, mac: string): Promise<LabHost> {
    return this.stray.addHost(name, undefined, { mac });
  }

  /** Stop the relays (by PID), then remove every namespace and temp file. */
  async destroy(): Promise<void> {
    for (const r of [...this.relays]) await r.stop();
    for (const l of [this.stray, this.far, this.near]) await l.destroy();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
