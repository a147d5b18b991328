/**
 * Long fuzzing: every target of test/fuzz/registry.ts for --seconds each
 * (default 60), one after another, each in a watched child process (the
 * unpackers in the namespace sandbox when run as root), committed
 * regression inputs first. Prints per target: executions, executions/s,
 * accepted vs rejected, crashes, hangs, escapes; writes
 * bench/results/fuzz.json. Failing inputs are saved as fixtures under
 * test/fuzz/crashes/<target>/<sha1>.bin. Exits 1 if anything failed.
 * Usage: node test/fuzz/soak.ts [--seconds N] [--seed N] [--targets a,b]
 *        node test/fuzz/soak.ts --replay   (only the committed regression inputs)
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeFindings, type FuzzResult } from './harness.ts';
import { TARGETS, targetByName } from './registry.ts';
import { replayTarget, runTarget } from './run.ts';
import { sandboxAvailable } from './sandbox.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, seed: { type: 'string', default: '1' }, targets: { type: 'string' }, replay: { type: 'boolean' } } });
const SECONDS = Number(values.seconds);
const SEED = Number(values.seed);
const targets = values.targets ? values.targets.split(',').map(targetByName) : [...TARGETS];

const results: FuzzResult[] = [];
const row = (cells: Array<string | number>): string => cells.map((c, i) => String(c)[i === 0 ? 'padEnd' : 'padStart'](i === 0 ? 14 : 10)).join(' ');
console.log(`fuzzing ${targets.length} targets for ${SECONDS} s each (seed ${SEED}${sandboxAvailable() ? ', file-writing targets sandboxed' : ''})`);
console.log(row(['target', 'execs', 'execs/s', 'accepted', 'rejected', 'crashes', 'hangs', 'escapes', 'regress.']));
if (values.replay) {
  let failed = 0;
  for (const t of targets) {
    const r = await replayTarget(t);
    failed += r.findings.length + (r.error ? 1 : 0);
    console.log(`${t.name}: ${r.execs} regression inputs replayed, ${r.findings.length} fail${r.error ? ` (${r.error})` : ''}`);
    if (r.findings.length) console.log(describeFindings(r.target, r.findings).replace(/^/gm, '  '));
  }
  process.exit(failed > 0 ? 1 : 0);
}

for (const t of targets) {
  const r = await runTarget(t, { seconds: SECONDS, seed: SEED });
  results.push(r);
  console.log(row([r.target, r.execs, Math.round(r.execs / Math.max(r.seconds, 1e-9)), r.accepted, r.rejected, r.crashes, r.hangs, r.escapes, r.regressions]));
  if (r.error) console.log(`  ${r.target}: ${r.error}`);
  if (r.findings.length) console.log(describeFindings(r.target, r.findings).replace(/^/gm, '  '));
}

const total = (k: 'execs' | 'crashes' | 'hangs' | 'escapes'): number => results.reduce((n, r) => n + r[k], 0);
const failed = results.filter((r) => r.crashes + r.hangs + r.escapes > 0 || r.error);
console.log(`total: ${total('execs')} executions, ${total('crashes')} crashes, ${total('hangs')} hangs, ${total('escapes')} escapes`);
writeFileSync(
  new URL('../../bench/results/fuzz.json', import.meta.url),
  `${JSON.stringify(
    {
      benchmark: 'fuzz',
      date: new Date().toISOString(),
      seconds_per_target: SECONDS,
      seed: SEED,
      cpus: String(os.cpus().length),
      sandboxed: sandboxAvailable(),
      totals: { execs: total('execs'), crashes: total('crashes'), hangs: total('hangs'), escapes: total('escapes') },
      targets: results.map((r) => ({
        target: r.target,
        description: targets.find((t) => t.name === r.target)?.description,
        seconds: Number(r.seconds.toFixed(2)),
        execs: r.execs,
        execs_per_s: Math.round(r.execs / Math.max(r.seconds, 1e-9)),
        regressions: r.regressions,
        accepted: r.accepted,
        rejected: r.rejected,
        crashes: r.crashes,
        hangs: r.hangs,
        escapes: r.escapes,
        corpus: r.corpus,
        reasons: r.reasons,
        findings: r.findings.map((f) => ({ kind: f.kind, file: f.file && path.relative(process.cwd(), f.file), message: f.message.split('\n')[0] })),
        ...(r.error ? { error: r.error } : {}),
      })),
    },
    null,
    2,
  )}\n`,
);
process.exit(failed.length > 0 ? 1 : 0);
