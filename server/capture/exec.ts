/**
 * Running ssh and rsync as child processes: argument arrays only (never a
 * shell), killed on abort, stderr kept (its tail) for the error message,
 * rsync's progress2 stream parsed as it arrives.
 */
import { spawn } from 'node:child_process';
import { CHANGE_MARK } from './commands.ts';
import type { Logger } from '../../core/log.ts';
import { parseProgressLine, parseStats, splitOutput, type RsyncProgress, type RsyncStats } from './rsync-output.ts';

/** How a child process ended. */
export interface ExecResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const TAIL = 64 << 10;

/** Run `argv` to completion; stdout is kept whole up to `maxStdout`, stderr's last 64 KiB. */
export function execArgv(
  argv: readonly string[],
  opts: { signal?: AbortSignal | undefined; onStdout?: (chunk: string) => void; maxStdout?: number; logger?: Logger; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    if (!cmd) return reject(new Error('empty argv'));
    opts.logger?.debug({ argv }, 'spawn');
    // LC_ALL=C: rsync and ssh messages in English, which classifyFailure reads.
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...(opts.env ?? process.env), LC_ALL: 'C' } });
    let stdout = '';
    let stderr = '';
    const max = opts.maxStdout ?? 16 << 20;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (opts.onStdout) opts.onStdout(d);
      else if (stdout.length < max) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-TAIL);
    });
    const abort = () => {
      // SIGTERM lets rsync remove its temporary file and close the ssh session; SIGKILL if it lingers.
      child.kill('SIGTERM');
      setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), 5000).unref();
    };
    if (opts.signal?.aborted) abort();
    else opts.signal?.addEventListener('abort', abort, { once: true });
    child.once('error', (err) => {
      opts.signal?.removeEventListener('abort', abort);
      reject(err);
    });
    child.once('close', (exitCode, signal) => {
      opts.signal?.removeEventListener('abort', abort);
      resolve({ exitCode, signal, stdout, stderr });
    });
  });
}

/** What one rsync run reports. */
export interface RsyncRun extends ExecResult {
  stats: RsyncStats | undefined;
  /** Items rsync created, changed or deleted in the destination (its --out-format lines). */
  changes: number;
}

/** Run rsync with --info=progress2,stats2, calling `onProgress` for every progress sample. */
export async function runRsync(argv: readonly string[], opts: { signal?: AbortSignal | undefined; onProgress: (p: RsyncProgress) => void; logger?: Logger }): Promise<RsyncRun> {
  let rest = '';
  let text = '';
  let changes = 0;
  const res = await execArgv(argv, {
    signal: opts.signal,
    logger: opts.logger,
    onStdout: (chunk) => {
      const { lines, rest: r } = splitOutput(rest + chunk);
      rest = r;
      for (const line of lines) {
        const p = parseProgressLine(line);
        if (p) opts.onProgress(p);
        else if (line.startsWith(CHANGE_MARK)) changes++;
        // Keep everything else: the stats block is at the end.
        else text = (text + line + '\n').slice(-TAIL);
      }
    },
  });
  if (rest.startsWith(CHANGE_MARK)) changes++;
  else text += rest;
  return { ...res, stdout: text, stats: parseStats(text), changes };
}
