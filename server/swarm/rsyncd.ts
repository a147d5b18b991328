/**
 * The rsync daemon that exports torrent files to the nodes
 * (`rsync://<addr>/torrents/<image>/<version>.torrent`): the real
 * `rsync --daemon`, configured by us (rsyncd-conf.ts), bound to the netboot
 * address only, and restarted with backoff whenever it dies on its own.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, constants, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Counter, type Registry } from 'prom-client';
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { endOrphan, isLocalAddress, probe, signal, waitReady } from './rsyncd-proc.ts';
import { BACKOFF, inUse, nextRestart, notLocal, parseLogLine, renderRsyncdConf, startFailure, type RsyncdModule } from './rsyncd-conf.ts';

/** How to run the daemon. */
export interface RsyncDaemonOptions {
  /** Config, pid and lock files and the log FIFO go in <stateDir> (e.g. <data>/rsyncd), created 0700. */
  stateDir: string;
  /** Exported modules; all read-only. */
  modules: RsyncdModule[];
  /** Address to bind: the netboot interface's address (an IP of this host, never a wildcard). */
  address: string;
  /** TCP port (rsync's default is 873). */
  port: number;
  logger: Logger;
  /** Registry for imgsrv_rsyncd_restarts_total. */
  registry?: Registry;
  /** rsync binary (default `rsync` from PATH). */
  rsyncPath?: string;
  /** How long start() waits for the daemon to accept connections (default 10 s). */
  readyTimeoutMs?: number;
}

const STOP_GRACE_MS = 5000;

/** A supervised `rsync --daemon` exporting read-only modules. */
export class RsyncDaemon {
  private readonly opts: RsyncDaemonOptions;
  private readonly log: Logger;
  private readonly restartsMetric: Counter<string>;
  private readonly configFile: string;
  private readonly pidFile: string;
  private readonly logFifo: string;
  private logReader: Socket | undefined;
  private child: ChildProcess | undefined;
  private childExit: Promise<void> = Promise.resolve();
  private spawnedAt = 0;
  /** Last lines rsync wrote, for the error message when it fails to start. */
  private tail: string[] = [];
  private supervising = false;
  private stopping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoff = { delayMs: BACKOFF.initialMs / 2, quickFailures: 0 };
  private restartCount = 0;
  private readonly onProcessExit = () => this.signalGroup('SIGKILL');

  constructor(opts: RsyncDaemonOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ subsystem: 'rsyncd' });
    this.configFile = join(opts.stateDir, 'rsyncd.conf');
    this.pidFile = join(opts.stateDir, 'rsyncd.pid');
    this.logFifo = join(opts.stateDir, 'rsyncd.log.fifo');
    const name = 'imgsrv_rsyncd_restarts_total';
    const existing = opts.registry?.getSingleMetric(name) as Counter<string> | undefined;
    this.restartsMetric = existing ?? new Counter({ name, help: 'rsync daemon restarts after it died on its own', registers: opts.registry ? [opts.registry] : [] });
  }

  /** PID of the running rsync listener, if any. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** How many times the supervisor restarted the daemon. */
  get restarts(): number {
    return this.restartCount;
  }

  /** Write the config and start the daemon; resolves once it accepts connections on address:port. */
  async start(): Promise<void> {
    if (this.supervising || this.child) throw new ImgsrvError('CONFLICT', 'rsync daemon already started', { hint: 'call stop() first' });
    if (this.stopping) throw new ImgsrvError('CONFLICT', 'rsync daemon was stopped', { hint: 'create a new RsyncDaemon' });
    const { stateDir, address, port } = this.opts;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ImgsrvError('BAD_CONFIG', `rsync port ${port} is invalid`, { hint: 'set swarm.rsyncPort to 1-65535' });
    if (!isLocalAddress(address)) throw notLocal(address);
    const conf = renderRsyncdConf({
      pidFile: this.pidFile,
      lockFile: join(stateDir, 'rsyncd.lock'),
      logFile: this.logFifo,
      modules: this.opts.modules,
    });
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    chmodSync(stateDir, 0o700);
    writeFileSync(this.configFile, conf, { mode: 0o600 });
    this.openLog();
    process.once('exit', this.onProcessExit);
    try {
      await this.launch();
    } catch (err) {
      process.off('exit', this.onProcessExit);
      this.logReader?.destroy();
      throw err;
    }
    this.supervising = true;
  }

  /**
   * rsync's log goes to a FIFO we read: its `log file` must be a path it can
   * open (our stderr is a socketpair, which /dev/stderr cannot reopen, and
   * without a log file it logs to syslog), and a FIFO never grows on disk.
   * Opened read-write so it never reports EOF between daemon restarts.
   */
  private openLog(): void {
    let fd: number;
    try {
      rmSync(this.logFifo, { force: true });
      execFileSync('mkfifo', ['-m', '0600', this.logFifo], { stdio: ['ignore', 'ignore', 'pipe'] });
      fd = openSync(this.logFifo, constants.O_RDWR | constants.O_NONBLOCK);
    } catch (err) {
      throw new ImgsrvError('IO', `cannot create the rsync log FIFO ${this.logFifo}: ${(err as Error).message.split('\n')[0]}`, {
        hint: 'put the data directory on a local Linux file system',
        cause: err,
      });
    }
    this.logReader = new Socket({ fd, readable: true, writable: false });
    this.logReader.on('error', (err) => this.log.warn({ err: err.message }, 'reading the rsync log failed'));
    createInterface({ input: this.logReader, crlfDelay: Infinity }).on('line', (line) => this.logLine(line));
  }

  /** SIGTERM the daemon (SIGKILL after a grace period) and stop supervising; safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.supervising = false;
    clearTimeout(this.timer);
    process.off('exit', this.onProcessExit);
    const child = this.child;
    if (!child) return void this.logReader?.destroy();
    this.signalGroup('SIGTERM');
    const kill = setTimeout(() => this.signalGroup('SIGKILL'), STOP_GRACE_MS);
    await this.childExit;
    clearTimeout(kill);
    // Connections still being served are children in the daemon's process group: end them too.
    signal(-child.pid!, 'SIGTERM');
    setTimeout(() => this.logReader?.destroy(), 200).unref();
    this.log.info({ rsyncPid: child.pid }, 'rsync daemon stopped');
  }

  /** Signal the daemon's process group (it is its leader: spawned detached). */
  private signalGroup(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid !== undefined) signal(-pid, sig) || signal(pid, sig);
  }

  /** Spawn rsync and wait until it answers; on failure the child is gone and the error says why. */
  private async launch(): Promise<void> {
    const { address, port } = this.opts;
    await endOrphan(this.pidFile, this.configFile, this.log);
    // Probe first: once ours runs, a greeting could not tell it from a squatter on the same port.
    if ((await probe(address, port)) !== 'refused') throw inUse(address, port);
    if (this.stopping) throw new ImgsrvError('CANCELLED', 'rsync daemon stopped while starting');
    const child = this.spawnChild();
    const ready = await waitReady(address, port, this.childExit, this.opts.readyTimeoutMs ?? 10_000);
    if (ready === 'ready' && this.child === child) {
      this.log.info({ rsyncPid: child.pid, address, port, modules: this.opts.modules.map((m) => m.name) }, 'rsync daemon listening');
      return;
    }
    if (ready === 'timeout') this.signalGroup('SIGKILL');
    await this.childExit;
    // rsync's last words travel through the log FIFO: give them a moment to arrive.
    await new Promise((r) => setTimeout(r, 100));
    throw this.startError(ready === 'timeout');
  }

  private spawnChild(): ChildProcess {
    const { address, port } = this.opts;
    const args = ['--daemon', '--no-detach', `--config=${this.configFile}`, `--address=${address}`, `--port=${port}`];
    // stdin must not be a socket (Node's 'pipe' is a socketpair): rsync would think inetd started it.
    // detached: own process group, so a Ctrl-C meant for imgsrv does not kill it behind the supervisor's back.
    const child = spawn(this.opts.rsyncPath ?? 'rsync', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, LC_ALL: 'C' } });
    this.child = child;
    this.spawnedAt = Date.now();
    this.tail = [];
    // Errors before the log is open (bad config, pid file) come on stderr. readline hands over an
    // unterminated last line at the stream's end, which comes before the child's 'close'.
    createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', (line) => this.logLine(line));
    this.childExit = new Promise((resolve) => {
      child.once('error', (err) => {
        this.tail.push(String(err.message));
        if (child.pid === undefined) this.onExit(child, null, null, err, resolve);
      });
      child.once('close', (code, sig) => {
        this.onExit(child, code, sig, undefined, resolve);
      });
    });
    return child;
  }

  private logLine(line: string): void {
    const l = parseLogLine(line);
    if (!l) return;
    this.tail = [...this.tail.slice(-19), l.msg];
    this.log[l.level]({ rsyncPid: l.rsyncPid }, l.msg);
  }

  private onExit(child: ChildProcess, code: number | null, sig: NodeJS.Signals | null, err: Error | undefined, resolve: () => void): void {
    if (this.child !== child) return resolve();
    this.child = undefined;
    resolve();
    if (!this.supervising) return;
    const ranMs = Date.now() - this.spawnedAt;
    this.backoff = nextRestart(this.backoff, ranMs);
    const level = this.backoff.quickFailures >= BACKOFF.loudAfter ? 'error' : 'warn';
    this.log[level](
      { rsyncPid: child.pid, code, signal: sig, ranMs, restartInMs: this.backoff.delayMs, quickFailures: this.backoff.quickFailures, err: err?.message, last: this.tail.at(-1) },
      'rsync daemon exited unexpectedly; restarting',
    );
    this.timer = setTimeout(() => void this.restart(), this.backoff.delayMs);
  }

  private async restart(): Promise<void> {
    if (!this.supervising) return;
    this.restartCount++;
    this.restartsMetric.inc();
    const spawnedBefore = this.spawnedAt;
    try {
      await this.launch();
    } catch (err) {
      if (!this.supervising) return;
      this.log.error({ err: err instanceof ImgsrvError ? err.oneLine() : String(err) }, 'rsync daemon restart failed');
      // A child that was spawned and died has already scheduled the next try
      // (onExit); one that never got spawned (port taken) needs it from here.
      if (this.spawnedAt === spawnedBefore) {
        this.backoff = nextRestart(this.backoff, 0);
        this.timer = setTimeout(() => void this.restart(), this.backoff.delayMs);
      }
    }
  }

  /** Turn rsync's last words into one line and a hint. */
  private startError(timedOut: boolean): ImgsrvError {
    const { address, port, rsyncPath } = this.opts;
    return startFailure(this.tail, { address, port, rsyncPath: rsyncPath ?? 'rsync', pidFile: this.pidFile, configFile: this.configFile, timedOut });
  }
}
