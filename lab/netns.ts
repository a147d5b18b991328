/**
 * The network lab: network namespaces joined by a Linux bridge, addressed in
 * 198.18.0.0/15 (RFC 2544), with no route out. Everything created here is
 * named `isv<pid>-…` and removed by `destroy()`, on process exit, and by
 * `sweepStaleLabs()` when a previous run died before it could clean up.
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const LAB_NAME = /^isv(\d+)-/;

/** Options for running a command. */
export interface ShOptions {
  timeoutMs?: number;
  /** Return stderr after stdout (for tools that report on stderr, like udhcpc). */
  withStderr?: boolean;
}

/** Run a command with an argument array (never a shell); reject with its stderr on failure. */
export async function sh(cmd: string, args: string[], opts: ShOptions = {}): Promise<string> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 });
    return opts.withStderr ? stdout + stderr : stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** One host of the lab: a namespace with one veth on the lab bridge. */
export interface LabHost {
  readonly ns: string;
  readonly ifname: string;
  readonly address: string | undefined;
  /** Run a command inside the namespace and return its stdout. */
  exec(cmd: string, args: string[], opts?: ShOptions): Promise<string>;
  /** Start a long-running process inside the namespace; the lab ends it on destroy. */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
}

let counter = 0;
const liveLabs = new Set<Lab>();

/** A lab: one switch namespace holding bridge `br0`, plus hosts and taps attached to it. */
export class Lab {
  readonly id: string;
  readonly switchNs: string;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  /** veth peers of `attach`: deleting the switch namespace removes them with their other end. */
  private readonly attached: string[] = [];

  private constructor(id: string) {
    this.id = id;
    this.switchNs = `${id}-sw`;
  }

  /** Create the switch namespace and its bridge. */
  static async create(): Promise<Lab> {
    const lab = new Lab(`isv${process.pid}-${counter++}`);
    liveLabs.add(lab);
    try {
      await lab.addNamespace(lab.switchNs);
      await lab.ipns(lab.switchNs, ['link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
      await lab.ipns(lab.switchNs, ['link', 'set', 'br0', 'up']);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private async addNamespace(ns: string): Promise<void> {
    await sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await this.ipns(ns, ['link', 'set', 'lo', 'up']);
  }

  private ipns(ns: string, args: string[]): Promise<string> {
    return sh('ip', ['-n', ns, ...args]);
  }

  /**
   * Add a host namespace `<id>-<name>` with interface `eth0` on the bridge.
   * `cidr` (e.g. 198.18.0.1/24) is optional: a DHCP client host starts without one.
   */
  async addHost(name: string, cidr?: string, opts: { mac?: string } = {}): Promise<LabHost> {
    const ns = `${this.id}-${name}`;
    await this.addNamespace(ns);
    const peer = `v${this.namespaces.length}${name}`.slice(0, 15);
    await sh('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', peer, 'netns', this.switchNs]);
    if (opts.mac) await this.ipns(ns, ['link', 'set', 'eth0', 'address', opts.mac]);
    await this.ipns(this.switchNs, ['link', 'set', peer, 'master', 'br0', 'up']);
    if (cidr) await this.ipns(ns, ['addr', 'add', cidr, 'dev', 'eth0']);
    await this.ipns(ns, ['link', 'set', 'eth0', 'up']);
    return this.host(ns, 'eth0', cidr?.split('/')[0]);
  }

  /** Give an existing host (of any lab) one more interface, on this lab's bridge: a second network. */
  async attach(host: LabHost, ifname: string, cidr?: string): Promise<void> {
    const peer = `a${this.namespaces.length}${ifname}`.slice(0, 15);
    await sh('ip', ['link', 'add', ifname, 'netns', host.ns, 'type', 'veth', 'peer', 'name', peer, 'netns', this.switchNs]);
    this.attached.push(peer);
    await this.ipns(this.switchNs, ['link', 'set', peer, 'master', 'br0', 'up']);
    if (cidr) await this.ipns(host.ns, ['addr', 'add', cidr, 'dev', ifname]);
    await this.ipns(host.ns, ['link', 'set', ifname, 'up']);
  }

  /** Add a tap on the bridge (inside the switch namespace) for a QEMU NIC; run QEMU with `lab.switch.spawn`. */
  async addTap(name: string): Promise<string> {
    await this.ipns(this.switchNs, ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
    await this.ipns(this.switchNs, ['link', 'set', name, 'master', 'br0', 'up']);
    return name;
  }

  /** The switch namespace as a host (QEMU runs here so its taps reach the bridge). */
  get switch(): LabHost {
    return this.host(this.switchNs, 'br0', undefined);
  }

  private host(ns: string, ifname: string, address: string | undefined): LabHost {
    return {
      ns,
      ifname,
      address,
      exec: (cmd, args, opts) => sh('ip', ['netns', 'exec', ns, cmd, ...args], opts),
      spawn: (cmd, args, opts = {}) => {
        const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'pipe', ...opts });
        this.children.add(child);
        child.once('exit', () => this.children.delete(child));
        return child;
      },
    };
  }

  private destroying: Promise<void> | undefined;

  /**
   * End the processes this lab started (by PID) and delete its namespaces.
   * Safe to call twice, or concurrently (a signal handler and a finally block):
   * every caller waits for the same teardown.
   */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    liveLabs.delete(this);
    await Promise.all([...this.children].map((c) => stopChild(c)));
    for (const ns of this.namespaces.splice(0).reverse()) {
      await killNamespacePids(ns);
      await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
  }
}

/** SIGTERM a child, then SIGKILL after a grace period; resolves when it has exited. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Kill whatever still runs inside a namespace we created (e.g. a daemon that forked). */
async function killNamespacePids(ns: string): Promise<void> {
  const out = await sh('ip', ['netns', 'pids', ns]).catch(() => '');
  for (const pid of out.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Remove namespaces left by earlier lab runs whose process no longer exists. */
export async function sweepStaleLabs(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']).catch(() => '');
  const stale: string[] = [];
  for (const line of out.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const m = LAB_NAME.exec(ns);
    if (!m || isAlive(Number(m[1]))) continue;
    await killNamespacePids(ns);
    await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    stale.push(ns);
  }
  return stale;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether this process can build labs (root with `ip netns`). Lab tests skip with a reason otherwise. */
export async function labAvailable(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  try {
    await sh('ip', ['netns', 'list']);
    return true;
  } catch {
    return false;
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void Promise.all([...liveLabs].map((l) => l.destroy())).finally(() => process.exit(130));
  });
}
