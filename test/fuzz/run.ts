/**
 * Run a registered target the way it must run: in a watched child process
 * (so even a synchronous infinite loop is caught, and its input named),
 * inside the namespace sandbox when it writes files and we are root. Run
 * in-process only with `isolate: false` (debugging). Findings are saved as
 * fixtures under test/fuzz/crashes/<target>/ before the result is returned.
 */
import path from 'node:path';
import { fuzz, REGRESSIONS_DIR, replay, saveFinding, type FuzzResult, type FuzzTarget } from './harness.ts';
import { runInChild, sandboxAvailable } from './sandbox.ts';

/** Time a child gets on top of its budget (start-up, building seed archives) before the watchdog fires. */
const GRACE_MS = 45_000;

/** Whether a target writes files and must run in the namespace sandbox (refused as root without one). */
function sandboxed(target: FuzzTarget): boolean {
  return target.sandbox === true && sandboxAvailable();
}

/** Fuzz a target for `seconds`; findings are written to test/fuzz/crashes/<target>/<sha1>.bin. */
export async function runTarget(target: FuzzTarget, opts: { seconds: number; seed?: number; isolate?: boolean }): Promise<FuzzResult> {
  const seed = opts.seed ?? (Number(process.env['FUZZ_SEED']) || 1);
  const inChild = opts.isolate !== false || sandboxed(target);
  const r = inChild
    ? await runInChild(target.name, ['--seconds', String(opts.seconds), '--seed', String(seed)], opts.seconds * 1000 + GRACE_MS, sandboxed(target))
    : await fuzz(target, { seconds: opts.seconds, seed });
  for (const f of r.findings) saveFinding(target.name, f);
  return r;
}

/** Replay test/fuzz/regressions/<target>/* (in a watched child); returns how many ran and the ones that fail again. */
export async function replayTarget(target: FuzzTarget, opts: { isolate?: boolean } = {}): Promise<FuzzResult> {
  if (opts.isolate !== false || sandboxed(target)) return runInChild(target.name, ['--replay'], GRACE_MS * 2, sandboxed(target));
  const started = performance.now();
  const r = await replay(target, path.join(REGRESSIONS_DIR, target.name));
  const count = (k: string): number => r.findings.filter((f) => f.kind === k).length;
  return {
    target: target.name, seed: 0, seconds: (performance.now() - started) / 1000, execs: r.replayed, regressions: r.replayed, accepted: 0, rejected: 0,
    crashes: count('crash'), hangs: count('hang'), escapes: count('escape'), corpus: 0, reasons: {}, findings: r.findings,
  };
}
