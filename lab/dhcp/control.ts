/**
 * Helpers for the DHCP lab tests: start the runner in a namespace and follow
 * its JSON lines.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopChild, type LabHost } from '../netns.ts';
import type { RunnerConfig } from './runner.ts';

export const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
export const RUNNER = fileURLToPath(new URL('./runner.ts', import.meta.url));
export const OBSERVER = fileURLToPath(new URL('./observer.ts', import.meta.url));

/** A running server runner and the JSON lines it printed. */
export interface Runner {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: () => string;
  /** Resolve with the first line (past or future) matching `pred`. */
  waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Start the runner with `cfg` inside `host` and wait for its ready line. */
export function startRunner(host: LabHost, cfg: RunnerConfig): Promise<Runner> {
  return startScript(host, RUNNER, [JSON.stringify(cfg)]);
}

/** Run the node script at `script` (an absolute path) in `host` until it exits; its last JSON line. */
export async function runScript(host: LabHost, script: string, args: string[], timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const out = await host.exec(NODE, [script, ...args], { timeoutMs });
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
}

/** Start a long-running node script in `host` and wait for it to print `{"ready":true}`. */
export async function startScript(host: LabHost, script: string, args: string[]): Promise<Runner> {
  const child = host.spawn(NODE, [script, ...args]);
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let err = '';
  let buf = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not ours */
      }
      for (const w of waiters) w();
    }
  });
  const runner: Runner = {
    child,
    lines,
    stderr: () => err,
    waitFor: (pred, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = lines.find(pred);
          if (hit) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`runner: no matching line within ${timeoutMs} ms; stderr:\n${err.slice(-3000)}`));
        }, timeoutMs);
        waiters.add(check);
        child.once('exit', () => check());
        check();
      }),
    stop: () => stopChild(child),
  };
  await runner.waitFor((l) => l.ready === true, 20_000);
  return runner;
}
