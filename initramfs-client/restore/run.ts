/**
 * The one way the restore runs external tools: argv arrays (never a shell),
 * combined output captured, a timeout that kills the child by PID, and a
 * StepError that names the step and keeps the output tail for the operator.
 */
import { spawn } from 'node:child_process';
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';

/** How much of a failing command's output is kept in the error. */
const OUTPUT_TAIL_BYTES = 4096;
const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;

/** Options for one command. */
export interface RunOptions {
  input?: string | Buffer;
  cwd?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** One external command: argv array, never a shell. Throws StepError (step name, argv, last ~4 KiB of combined output) on non-zero exit or timeout. */
export interface Runner {
  run(step: string, argv: readonly string[], opts?: RunOptions): Promise<string>;
}

/** A restore step whose command failed: which step, the argv and the tail of its output. */
export class StepError extends ImgsrvError {
  readonly step: string;
  readonly argv: readonly string[];
  readonly output: string;
  constructor(step: string, argv: readonly string[], output: string, reason: string, cause?: unknown) {
    const last = output.trim().split('\n').slice(-1)[0] ?? '';
    super('STEP_FAILED', `${step}: ${argv.join(' ')} ${reason}${last ? `: ${last}` : ''}`, {
      hint: 'see the command output in the node log; fix the cause and restore the node again',
      cause,
    });
    this.name = 'StepError';
    this.step = step;
    this.argv = argv;
    this.output = output;
  }
}

/** Keep the last bytes of a growing output; the head of a long mkfs log is rarely the useful part. */
function tail(chunks: Buffer[]): string {
  const all = Buffer.concat(chunks);
  return all.subarray(Math.max(0, all.length - OUTPUT_TAIL_BYTES)).toString('utf8');
}

/** A Runner that spawns real processes and logs each step and its argv at debug. */
export function createRunner(log: Logger): Runner {
  return {
    run(step, argv, opts = {}) {
      const [cmd, ...args] = argv;
      if (cmd === undefined) throw new ImgsrvError('INTERNAL', `${step}: empty command`);
      log.debug({ step, argv }, 'run');
      return new Promise<string>((resolve, reject) => {
        const child = spawn(cmd, args, {
          cwd: opts.cwd,
          env: opts.env ? { ...process.env, ...opts.env } : process.env,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        // stdout alone is the result; the combined stream is what a failure shows
        const stdout: Buffer[] = [];
        const combined: Buffer[] = [];
        let combinedLen = 0;
        const keep = (b: Buffer): void => {
          combined.push(b);
          combinedLen += b.length;
          // trim in bulk so a chatty tool doesn't grow memory without bound
          if (combinedLen > OUTPUT_TAIL_BYTES * 4) {
            const t = Buffer.from(tail(combined), 'utf8');
            combined.length = 0;
            combined.push(t);
            combinedLen = t.length;
          }
        };
        child.stdout.on('data', (b: Buffer) => { stdout.push(b); keep(b); });
        child.stderr.on('data', (b: Buffer) => keep(b));
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
        }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        child.on('error', (err) => {
          clearTimeout(timer);
          reject(new StepError(step, argv, tail(combined), `could not start (${err.message})`, err));
        });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          const out = tail(combined);
          if (timedOut) return reject(new StepError(step, argv, out, `timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`));
          if (code !== 0) {
            log.debug({ step, code, signal, output: out }, 'step failed');
            return reject(new StepError(step, argv, out, signal ? `killed by ${signal}` : `exited with status ${code}`));
          }
          resolve(Buffer.concat(stdout).toString('utf8'));
        });
        // a tool that exits without reading stdin must not crash us with EPIPE
        child.stdin.on('error', () => {});
        if (opts.input !== undefined) child.stdin.end(opts.input);
        else child.stdin.end();
      });
    },
  };
}
