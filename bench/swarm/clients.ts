/**
 * Starting N download clients at once and timing them: the makespan runs from
 * the moment all N are started until the last one holds the complete,
 * verified file. Two kinds of client: one whose stdout is the file (curl,
 * udp-receiver: hashed here as it streams, so verification costs no extra
 * pass), and one that reports its own completion as JSON lines (the swarm
 * client, which verifies every piece itself and then lingers to seed).
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { stopChild, type LabHost } from '../../lab/netns.ts';

/** One started client: its process and a promise of when (ms, performance.now()) it had the verified file. */
export interface ClientHandle {
  child: ChildProcess;
  done: Promise<ClientDone>;
  /** Clients started behind a barrier (barrier.mjs): resolves once the client has loaded its code. */
  loaded?: Promise<void>;
  /** Release a barrier client. */
  go?: () => void;
}

/** What a client reported when it finished. */
export interface ClientDone {
  at: number;
  /** The client's last JSON report, for clients that speak JSON. */
  report?: Record<string, unknown>;
}

/** Keep the last few KB of a stream for error messages. */
function tail(child: ChildProcess, which: 'stdout' | 'stderr'): () => string {
  let buf = '';
  child[which]?.on('data', (d: Buffer) => {
    buf = (buf + d.toString()).slice(-2000);
  });
  return () => buf.trim();
}

/** A client whose stdout carries the file: it is done when it exits 0 and the stream's sha256 is `sha256`. */
export function streamClient(host: LabHost, cmd: string, args: string[], sha256: string): ClientHandle {
  const child = host.spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const err = tail(child, 'stderr');
  const hash = createHash('sha256');
  let bytes = 0;
  child.stdout!.on('data', (d: Buffer) => {
    hash.update(d);
    bytes += d.length;
  });
  const done = new Promise<ClientDone>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const at = performance.now();
      if (code !== 0) return reject(new Error(`${cmd} in ${host.ns} exited ${code ?? signal}: ${err()}`));
      const got = hash.digest('hex');
      if (got !== sha256) return reject(new Error(`${cmd} in ${host.ns} received ${bytes} bytes with sha256 ${got}, expected ${sha256}`));
      resolve({ at });
    });
  });
  return { child, done };
}

/**
 * A client that prints JSON lines on stdout; it is done at the first line
 * for which `isDone` holds (it may keep running afterwards to seed), and
 * fails if it exits before that or `isFailure` holds for a line. With
 * `barrier`, the client was started behind barrier.mjs: `loaded` resolves at
 * its `{"event":"loaded"}` line and `go()` releases it.
 */
export function jsonClient(
  host: LabHost,
  cmd: string,
  args: string[],
  isDone: (r: Record<string, unknown>) => boolean,
  isFailure: (r: Record<string, unknown>) => string | undefined,
  opts: { barrier?: boolean; onLine?: (r: Record<string, unknown>) => void } = {},
): ClientHandle {
  const child = host.spawn(cmd, args, { stdio: [opts.barrier ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const err = tail(child, 'stderr');
  let last: Record<string, unknown> | undefined;
  let onLoaded: () => void = () => undefined;
  const loaded = new Promise<void>((resolve) => {
    onLoaded = resolve;
  });
  const done = new Promise<ClientDone>((resolve, reject) => {
    child.once('error', reject);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return; // not a report line
      }
      last = r;
      opts.onLine?.(r);
      if (r.event === 'loaded') return onLoaded();
      const failure = isFailure(r);
      if (failure) reject(new Error(`${cmd} in ${host.ns}: ${failure}`));
      else if (isDone(r)) resolve({ at: performance.now(), report: r });
    });
    child.once('close', (code, signal) => reject(new Error(`${cmd} in ${host.ns} exited ${code ?? signal} before it was done: ${err()} ${last ? JSON.stringify(last) : ''}`)));
  });
  if (!opts.barrier) return { child, done };
  // A client that dies while loading must not leave the barrier waiting: `done` rejects, and so does `loaded`.
  return { child, done, loaded: Promise.race([loaded, done.then(() => undefined)]), go: () => void child.stdin?.end('go\n') };
}

/** Timing of one run of N clients. */
export interface Timing {
  makespanS: number;
  /** Barrier clients: seconds from starting the first until the last had loaded its code (not in the makespan). */
  loadS?: number;
  /** Each client's finish time, seconds after the start. */
  finishS: number[];
  /** Each client's JSON report that said it was done (JSON clients only). */
  reports: Array<Record<string, unknown> | undefined>;
}

/**
 * Start every client (`start(i)` for i < n), wait for all of them to be done
 * and return the makespan. Any failure or the timeout stops the others and
 * throws. Clients still running at the end (seeders lingering) are stopped.
 */
export async function timeClients(n: number, start: (i: number) => ClientHandle, timeoutMs: number): Promise<Timing> {
  const handles: ClientHandle[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const spawned = performance.now();
    for (let i = 0; i < n; i++) handles.push(start(i));
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not all ${n} clients finished within ${timeoutMs / 1000} s`)), timeoutMs);
    });
    // Barrier clients: the clock starts when all have loaded, and all are released together.
    const barrier = handles.some((h) => h.loaded);
    if (barrier) await Promise.race([Promise.all(handles.map((h) => h.loaded)), timeout]);
    const t0 = performance.now();
    for (const h of handles) h.go?.();
    const done = await Promise.race([Promise.all(handles.map((h) => h.done)), timeout]);
    const finishS = done.map((d) => (d.at - t0) / 1000);
    return { makespanS: Math.max(...finishS), finishS, reports: done.map((d) => d.report), ...(barrier ? { loadS: (t0 - spawned) / 1000 } : {}) };
  } finally {
    clearTimeout(timer);
    // Rejections of the others after the first failure are expected now; keep them from going unhandled.
    for (const h of handles) h.done.catch(() => undefined);
    await Promise.all(handles.map((h) => stopChild(h.child)));
  }
}
