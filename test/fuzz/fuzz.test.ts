/**
 * CI fuzzing: every registered target for a short budget (FUZZ_SECONDS,
 * default 2 s each; test/fuzz/soak.ts runs them for minutes), its committed
 * regression inputs first. Targets run in watched child processes, two at a
 * time; the ones that write files run in the namespace sandbox (as root).
 * Any crash, hang or write outside the target fails the test and leaves its
 * input in test/fuzz/crashes/<target>/<sha1>.bin. DHCP and TFTP fuzz in
 * their own test files (CI_ELSEWHERE).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { budgetSeconds, describeFindings, type FuzzResult } from './harness.ts';
import { CI_ELSEWHERE, TARGETS } from './registry.ts';
import { runTarget } from './run.ts';

const SECONDS = budgetSeconds(2);
const targets = TARGETS.filter((t) => !CI_ELSEWHERE[t.name]);
const results = new Map<string, Promise<FuzzResult>>();

/** Start every job, at most `n` running at once; the promises come back in order. */
function limited<T>(jobs: Array<() => Promise<T>>, n: number): Array<Promise<T>> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return jobs.map(async (job) => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await job();
    } finally {
      running--;
      waiting.shift()?.();
    }
  });
}

beforeAll(() => {
  // Two at a time: each is a child process, and CI machines have two cores. Each test awaits its own.
  const runs = limited(targets.map((t) => () => runTarget(t, { seconds: SECONDS })), 2);
  targets.forEach((t, i) => {
    runs[i]!.catch(() => undefined);
    results.set(t.name, runs[i]!);
  });
});

describe(`fuzz targets (${SECONDS} s each)`, () => {
  for (const t of targets) {
    it(`${t.name}: ${t.description}`, async () => {
      const r = await results.get(t.name)!;
      console.log(`fuzz ${r.target}: ${r.execs} inputs (${r.regressions} regressions) in ${r.seconds.toFixed(1)} s, ${r.accepted} accepted, ${r.rejected} rejected, ${r.crashes} crashes, ${r.hangs} hangs, ${r.escapes} escapes`);
      expect(r.error).toBeUndefined();
      expect(describeFindings(r.target, r.findings)).toBe('');
      expect(r.crashes + r.hangs + r.escapes).toBe(0);
      expect(r.accepted + r.rejected).toBeGreaterThan(r.regressions);
    }, (SECONDS * targets.length + 120) * 1000);
  }
});
