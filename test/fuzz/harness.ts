/**
 * A small fuzz harness: seeded inputs from a corpus, generic and
 * target-specific mutations, a time budget, a per-input time limit (an
 * input that takes longer is a hang), and crash capture. A target's oracle
 * lives in its `exec`: it returns a verdict for inputs handled as designed
 * (accepted, or refused with the module's typed error) and throws for
 * anything else; `FuzzEscape` marks a write outside where it was allowed.
 * Findings are written to test/fuzz/crashes/<target>/<sha1>.bin; once fixed,
 * a finding moves to test/fuzz/regressions/<target>/ and is replayed by CI.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mutateBytes, Rng } from './mutators.ts';

export { Rng } from './mutators.ts';

/** Where fuzz findings and committed regression inputs live. */
export const FUZZ_DIR = path.dirname(fileURLToPath(import.meta.url));
export const CRASHES_DIR = path.join(FUZZ_DIR, 'crashes');
export const REGRESSIONS_DIR = path.join(FUZZ_DIR, 'regressions');

/** How a target handled one input as designed: accepted it, or refused it (reason: a short label for the stats). */
export type Verdict = { ok: true } | { ok: false; reason: string };
export const ACCEPTED: Verdict = { ok: true };
/** A refusal with a short reason label. */
export const rejected = (reason: string): Verdict => ({ ok: false, reason });

/** Thrown by an oracle when the code under test wrote where it must not. */
export class FuzzEscape extends Error {
  override name = 'FuzzEscape';
}

/** What the harness hands each execution. */
export interface ExecContext {
  /** Aborted when the input overruns the per-input time limit. */
  signal: AbortSignal;
}

/** A fuzz target: where inputs come from, how they mutate, and the oracle. */
export interface FuzzTarget {
  name: string;
  /** One line: what is fuzzed and what counts as a failure. */
  description: string;
  /** Run in an unprivileged sandbox (own user and mount namespace, private /tmp): the target writes files. */
  sandbox?: boolean;
  /** An input slower than this is a hang (default 2000 ms). */
  timeoutMs?: number;
  /** Inputs larger than this are cut (keeps executions fast; default 64 KiB). */
  maxInputBytes?: number;
  /** Prepare what exec needs (a workspace, fixtures); runs before seeds() and before a replay. */
  setup?(): void | Promise<void>;
  /** The starting corpus (may build it: real archives, real packets). */
  seeds(): Buffer[] | Promise<Buffer[]>;
  /** A fresh input from nothing. */
  generate?(rng: Rng): Buffer;
  /** A format-aware mutation of one input. */
  mutate?(input: Buffer, rng: Rng, corpus: readonly Buffer[]): Buffer;
  /** Shares of generate and mutate among inputs (the rest: generic byte mutations). */
  mix?: { generate?: number; mutate?: number };
  /** Run one input through the code under test and check the oracle. */
  exec(input: Buffer, ctx: ExecContext): Verdict | Promise<Verdict>;
  /** Release what setup() and seeds() made. */
  close?(): void | Promise<void>;
}

/** The kinds of failure a fuzz run reports. */
export type FindingKind = 'crash' | 'hang' | 'escape';

/** One failing input. */
export interface Finding {
  kind: FindingKind;
  message: string;
  input: Buffer;
  sha1: string;
  /** Where the input was saved (set by saveFinding). */
  file?: string;
}

/** Figures of one run of one target. */
export interface FuzzResult {
  target: string;
  seed: number;
  seconds: number;
  execs: number;
  /** Committed regression inputs replayed first (part of execs). */
  regressions: number;
  accepted: number;
  rejected: number;
  crashes: number;
  hangs: number;
  escapes: number;
  corpus: number;
  /** Refusal reasons and how often each was seen (the 12 most frequent). */
  reasons: Record<string, number>;
  /** Distinct findings (by kind and message), at most 20. */
  findings: Finding[];
  /** Inputs a format-aware mutator failed on (replaced by a generic mutation). */
  mutatorErrors?: number;
  /** Set when the run itself could not complete (sandbox failed, process killed). */
  error?: string;
}

/** Per-target time budget in seconds: FUZZ_SECONDS, else `dflt`. */
export function budgetSeconds(dflt: number): number {
  const v = Number(process.env['FUZZ_SECONDS']);
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

/** Options of one fuzz run. */
export interface FuzzOptions {
  seconds: number;
  seed?: number;
  /** Called before each execution (the sandbox records the input, so a process-killing hang still names it). */
  onInput?: (input: Buffer, exec: number) => void;
}

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
const MAX_FINDINGS = 20;
const MAX_CORPUS = 512;

/** Run one input with the time limit; returns a verdict or a finding. */
export async function runOne(target: FuzzTarget, input: Buffer): Promise<Verdict | Finding> {
  const limit = target.timeoutMs ?? 2000;
  const ac = new AbortController();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const finding = (kind: FindingKind, message: string): Finding => ({ kind, message, input, sha1: sha1(input) });
  try {
    const pending = Promise.resolve().then(() => target.exec(input, { signal: ac.signal }));
    const overrun = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), limit)));
    const v = await Promise.race([pending, overrun]);
    if (v === 'hang') {
      ac.abort(new Error('fuzz: input overran its time limit'));
      // Give the aborted run a moment to stop, so it does not race the next input in a shared workspace.
      await Promise.race([pending.catch(() => undefined), new Promise((r) => setTimeout(r, limit).unref())]);
      return finding('hang', `no answer after ${limit} ms`);
    }
    // A synchronous target can't be interrupted: a slow one is reported after the fact.
    const ms = performance.now() - started;
    if (ms > limit) return finding('hang', `took ${Math.round(ms)} ms (limit ${limit} ms)`);
    return v;
  } catch (err) {
    const e = err as Error;
    const kind = err instanceof FuzzEscape ? 'escape' : 'crash';
    return finding(kind, `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}${e?.stack ? `\n${e.stack.split('\n').slice(1, 6).join('\n')}` : ''}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Fuzz one target for a time budget (in this process). */
export async function fuzz(target: FuzzTarget, opts: FuzzOptions): Promise<FuzzResult> {
  const seed = opts.seed ?? (Number(process.env['FUZZ_SEED']) || 1);
  const rng = new Rng(seed);
  const max = target.maxInputBytes ?? 64 * 1024;
  let corpus: Buffer[];
  let regressions = 0;
  try {
    await target.setup?.();
    // Committed regression inputs run first (they must pass now) and then seed the mutations like the rest.
    regressions = regressionInputs(target.name).length;
    corpus = [...regressionInputs(target.name), ...(await target.seeds()).map((b) => b.subarray(0, max))];
  } catch (err) {
    await target.close?.();
    throw err;
  }
  const nSeeds = corpus.length;
  const res: FuzzResult = { target: target.name, seed, seconds: 0, execs: 0, regressions, accepted: 0, rejected: 0, crashes: 0, hangs: 0, escapes: 0, corpus: 0, reasons: {}, findings: [] };
  const seen = new Set<string>();
  const reasons = new Map<string, number>();
  const mixGen = target.generate ? (target.mix?.generate ?? 0.1) : 0;
  const mixMut = target.mutate ? (target.mix?.mutate ?? 0.5) : 0;
  const started = performance.now();
  const end = started + opts.seconds * 1000;
  let lastYield = started;
  try {
    // Regressions and seeds first, unmutated: one that fails is the clearest finding of all.
    for (let i = 0; performance.now() < end || i < nSeeds; i++) {
      let input: Buffer;
      if (i < nSeeds) input = corpus[i]!;
      else {
        const r = rng.float();
        const base = corpus.length ? rng.pick(corpus) : Buffer.alloc(0);
        try {
          if (r < mixGen || corpus.length === 0) input = target.generate ? target.generate(rng) : rng.bytes(rng.size(256));
          else if (r < mixGen + mixMut) input = target.mutate!(base, rng, corpus);
          else input = mutateBytes(base, rng, corpus);
        } catch (err) {
          // A format-aware mutator choking on a strange input is the fuzzer's problem, not a finding.
          res.mutatorErrors = (res.mutatorErrors ?? 0) + 1;
          if (res.mutatorErrors === 1) console.error(`fuzz ${target.name}: mutator failed: ${String(err)}`);
          input = mutateBytes(base, rng, corpus);
        }
        if (input.length > max) input = input.subarray(0, max);
      }
      opts.onInput?.(input, res.execs);
      const v = await runOne(target, input);
      res.execs++;
      if ('kind' in v) {
        res[v.kind === 'crash' ? 'crashes' : v.kind === 'hang' ? 'hangs' : 'escapes']++;
        const key = `${v.kind}:${v.message.split('\n')[0]!.replace(/\d+/g, 'N')}`;
        if (!seen.has(key) && res.findings.length < MAX_FINDINGS) {
          seen.add(key);
          res.findings.push(v);
        }
        continue;
      }
      const label = v.ok ? 'accepted' : v.reason;
      if (v.ok) res.accepted++;
      else res.rejected++;
      // Cheap feedback without coverage: keep inputs that reach an outcome not seen before, and some accepted ones.
      const isNew = !reasons.has(label);
      reasons.set(label, (reasons.get(label) ?? 0) + 1);
      if (i >= nSeeds && (isNew || (v.ok && rng.chance(0.05)))) {
        if (corpus.length < MAX_CORPUS) corpus.push(input);
        else corpus[rng.below(corpus.length)] = input;
      }
      // Synchronous targets would starve timers and I/O: let the event loop breathe now and then.
      if (performance.now() - lastYield > 50) {
        await new Promise((r) => setImmediate(r));
        lastYield = performance.now();
      }
    }
  } finally {
    await target.close?.();
  }
  res.seconds = (performance.now() - started) / 1000;
  res.corpus = corpus.length;
  res.reasons = Object.fromEntries([...reasons].filter(([k]) => k !== 'accepted').sort((a, b) => b[1] - a[1]).slice(0, 12));
  return res;
}

/** The committed regression inputs of a target (test/fuzz/regressions/<target>/*), sorted by name. */
export function regressionInputs(targetName: string, dir = path.join(REGRESSIONS_DIR, targetName)): Buffer[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => !f.startsWith('.')).sort().map((f) => fs.readFileSync(path.join(dir, f)));
}

/** Replay every committed regression input of a target; returns the ones that fail again. */
export async function replay(target: FuzzTarget, dir = path.join(REGRESSIONS_DIR, target.name), onInput?: (input: Buffer, n: number) => void): Promise<{ replayed: number; findings: Finding[] }> {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('.')).sort() : [];
  const findings: Finding[] = [];
  if (files.length > 0) await target.setup?.();
  try {
    for (const [n, f] of files.entries()) {
      const input = fs.readFileSync(path.join(dir, f));
      onInput?.(input, n);
      const v = await runOne(target, input);
      if ('kind' in v) findings.push({ ...v, file: path.join(dir, f) });
    }
  } finally {
    if (files.length > 0) await target.close?.();
  }
  return { replayed: files.length, findings };
}

/** Write a finding's input as test/fuzz/crashes/<target>/<sha1>.bin; returns the path. */
export function saveFinding(targetName: string, f: Finding, dir = CRASHES_DIR): string {
  const d = path.join(dir, targetName);
  fs.mkdirSync(d, { recursive: true });
  const file = path.join(d, `${f.sha1}.bin`);
  fs.writeFileSync(file, f.input);
  f.file = file;
  return file;
}

/** One line per finding, for test failures and the bench report. */
export function describeFindings(target: string, findings: readonly Finding[]): string {
  return findings.map((f) => `${target}: ${f.kind} ${f.file ? path.relative(process.cwd(), f.file) : f.sha1}\n  ${f.message.split('\n').join('\n  ')}`).join('\n');
}
