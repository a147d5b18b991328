/**
 * Process plumbing for the rsync daemon supervisor (rsyncd.ts): signalling
 * by PID, checking the bind address is ours, probing and waiting for the
 * listener, and ending a daemon a crashed imgsrv left behind.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from '../../core/log.ts';

/** kill() that reports success instead of throwing on a process that is gone. */
export function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Whether `address` is an IP literal assigned to one of this host's interfaces (no DNS, no wildcard). */
export function isLocalAddress(address: string): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === address));
}

/**
 * Connect and read the first bytes: `rsync` if a daemon greets us with
 * `@RSYNCD: <protocol>`, `refused` if nothing listens, `other` otherwise.
 * The address is local (checked at start), so this never leaves the host.
 */
export function probe(address: string, port: number, timeoutMs = 1000): Promise<'rsync' | 'refused' | 'other'> {
  return new Promise((resolve) => {
    const sock = connect({ host: address, port });
    let got = '';
    const done = (v: 'rsync' | 'refused' | 'other') => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done('other'), timeoutMs);
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.length >= 8) done(got.startsWith('@RSYNCD:') ? 'rsync' : 'other');
    });
    sock.on('end', () => done(got.startsWith('@RSYNCD:') ? 'rsync' : 'other'));
    sock.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : 'other'));
  });
}

/** Poll until the daemon greets us, the child exits, or the timeout passes. */
export async function waitReady(address: string, port: number, exited: Promise<void>, timeoutMs: number): Promise<'ready' | 'exited' | 'timeout'> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) return 'exited';
    if ((await probe(address, port)) === 'rsync') return gone ? 'exited' : 'ready';
    await Promise.race([exited, new Promise((r) => setTimeout(r, 100))]);
  }
  return gone ? 'exited' : 'timeout';
}

/**
 * Clear what a previous run left in the pid file. rsync ≥ 3.2.4 locks it and
 * overwrites a stale one, but older ones refuse to start while it exists.
 * A live rsync running our own config file is an orphan of an imgsrv that
 * died without stopping it (it holds our port): end it.
 */
export async function endOrphan(pidFile: string, configFile: string, log: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  } catch {
    return;
  }
  if (pid > 1 && commandLine(pid).includes(`--config=${configFile}`)) {
    log.warn({ rsyncPid: pid, pidFile }, 'ending an rsync daemon left running by a previous imgsrv');
    signal(-pid, 'SIGTERM') || signal(pid, 'SIGTERM');
    if (!(await gone(pid, 5000))) signal(-pid, 'SIGKILL') || signal(pid, 'SIGKILL');
    await gone(pid, 2000);
  }
  rmSync(pidFile, { force: true });
}

/** Wait until `pid` has exited; a zombie counts as exited (an orphan's reaper may take its time). */
async function gone(pid: number, timeoutMs: number): Promise<boolean> {
  const running = () => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  for (const end = Date.now() + timeoutMs; Date.now() < end && running(); ) await new Promise((r) => setTimeout(r, 50));
  return !running();
}

function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}
