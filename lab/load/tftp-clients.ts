/**
 * Lab runner for TFTP load: from one client namespace, start many transfers
 * of the same file at one wall-clock instant — real clients as processes
 * (curl, tftp-hpa, busybox tftp, each writing to a pipe we hash) and our own
 * client in-process for RFC 7440 windowsize — and print one JSON line:
 * `{ results: LoadTransfer[] }`. Usage: node load-clients.ts '<LoadPlan JSON>'.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tftpGet } from '../../netboot/tftp/client.ts';

/** One transfer to run: which client, and the options it asks for. */
export interface LoadSpec {
  client: 'curl' | 'tftp-hpa' | 'busybox' | 'ours';
  blksize?: number;
  windowsize?: number;
}

/** What the runner is told. */
export interface LoadPlan {
  server: string;
  file: string;
  /** Wall-clock ms (Date.now) at which every transfer starts. */
  startAt: number;
  /** A transfer still running after this long is killed and counts as stalled. */
  timeoutMs: number;
  transfers: LoadSpec[];
}

/** How one transfer went; times are wall-clock ms so runners in different namespaces line up. */
export interface LoadTransfer extends LoadSpec {
  ok: boolean;
  bytes: number;
  sha256: string;
  startedAt: number;
  endedAt: number;
  error?: string;
}

/** The argument vector of a real client that writes the file to stdout. */
export function clientCommand(plan: Pick<LoadPlan, 'server' | 'file' | 'timeoutMs'>, s: LoadSpec): [string, string[]] {
  switch (s.client) {
    case 'curl': {
      const blk = s.blksize ? ['--tftp-blksize', String(s.blksize)] : [];
      return ['curl', ['-sS', '--fail', ...blk, '--max-time', String(Math.ceil(plan.timeoutMs / 1000)), `tftp://${plan.server}/${plan.file}`, '-o', '-']];
    }
    case 'tftp-hpa':
      // tftp-hpa open()s its output file, and /dev/stdout on the socket Node gives a child cannot be opened: a real pipe.
      return ['bash', ['-o', 'pipefail', '-c', 'tftp "$@" | cat', 'tftp', '-m', 'binary', plan.server, '-c', 'get', plan.file, '/dev/stdout']];
    case 'busybox':
      return ['busybox', ['tftp', '-g', '-r', plan.file, '-l', '-', ...(s.blksize ? ['-b', String(s.blksize)] : []), plan.server]];
    case 'ours':
      throw new Error('our client runs in-process');
  }
}

function runProcess(plan: LoadPlan, s: LoadSpec): Promise<LoadTransfer> {
  const [cmd, args] = clientCommand(plan, s);
  const hash = createHash('sha256');
  let bytes = 0;
  let err = '';
  const startedAt = Date.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => {
    hash.update(d);
    bytes += d.length;
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), plan.timeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // tftp-hpa exits 0 after an error too: what it said on stderr goes with any result.
      const ok = code === 0;
      const said = err.trim().slice(-300);
      const error = ok ? said || undefined : `${cmd} exited ${code ?? signal}: ${said}`;
      resolve({ ...s, ok, bytes, sha256: hash.digest('hex'), startedAt, endedAt: Date.now(), ...(error ? { error } : {}) });
    });
  });
}

async function runOurs(plan: LoadPlan, s: LoadSpec): Promise<LoadTransfer> {
  const hash = createHash('sha256');
  const startedAt = Date.now();
  const options: Record<string, string> = { tsize: '0' };
  if (s.blksize) options['blksize'] = String(s.blksize);
  if (s.windowsize) options['windowsize'] = String(s.windowsize);
  try {
    // Give up after 25 s of silence, as tftp-hpa does (resending every second meanwhile).
    const get = tftpGet({ address: plan.server, file: plan.file, options, timeoutMs: 1000, maxRetries: 25, sink: (c) => hash.update(c) });
    const r = await Promise.race([get, new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`still running after ${plan.timeoutMs} ms`)), plan.timeoutMs).unref())]);
    return { ...s, ok: true, bytes: r.size, sha256: hash.digest('hex'), startedAt, endedAt: Date.now() };
  } catch (e) {
    return { ...s, ok: false, bytes: 0, sha256: '', startedAt, endedAt: Date.now(), error: (e as Error).message };
  }
}

if (import.meta.main) {
  const plan = JSON.parse(process.argv[2] ?? '{}') as LoadPlan;
  await new Promise((r) => setTimeout(r, Math.max(0, plan.startAt - Date.now())));
  const results = await Promise.all(plan.transfers.map((s) => (s.client === 'ours' ? runOurs(plan, s) : runProcess(plan, s))));
  // Exit once written: a transfer given up on may still hold its socket open.
  process.stdout.write(`${JSON.stringify({ results })}\n`, () => process.exit(0));
}
