/**
 * Run a fuzz target in a child process, watched: if the child overruns its
 * budget (an input looping synchronously, which no in-process timer can
 * interrupt) it is killed and the input it was on (./current.bin, written
 * before each execution) is reported as a hang.
 * Targets that write files (the unpacker) run, when we are root, inside a
 * new user namespace whose root is host uid 100000 (so an escape can touch
 * nothing the host's root owns) and a new mount namespace with its own
 * /tmp (so the workspace path is fixed and every stray write is seen); a
 * checkout that itself lives under /tmp is bound into that new /tmp at its
 * own path, so the runtime and the targets stay where they were.
 * util-linux's unshare maps the ids through newuidmap, which Debian ships
 * separately (uidmap); as root we write the maps ourselves, so two
 * three-line stand-ins are put first in unshare's PATH.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Finding, FuzzResult } from './harness.ts';

/** Host uid/gid the sandbox's root maps to (65536 ids from there). */
const SANDBOX_ID = 100_000;
const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const RESULT_TAG = 'FUZZ-RESULT ';
/** The checkout: the child and its imports must stay visible in the sandbox. */
const REPO = path.resolve(import.meta.dirname, '..', '..');

/** The paths of `dirs` that the sandbox's own /tmp would hide (those under /tmp), without one inside another. */
export function keptUnderTmp(dirs: readonly string[]): string[] {
  const under = [...new Set(dirs.map((d) => path.resolve(d)))].filter((d) => d.startsWith('/tmp/'));
  // fds 3-9 hold them (a shell's single-digit redirections): more than 7 is a mistake of ours.
  return under.filter((d) => !under.some((o) => o !== d && d.startsWith(o + '/'))).slice(0, 7);
}

const MAP_SCRIPT = (file: string): string => `#!/bin/sh\n# Stand-in for ${path.basename(file)}: PID then inner/outer/count triples.\npid=$1; shift\nprintf '%s %s %s\\n' "$@" > /proc/$pid/${file}\n`;

/** Whether targets marked `sandbox` can run in the namespace sandbox (we are root on Linux). */
export function sandboxAvailable(): boolean {
  return process.getuid?.() === 0 && process.platform === 'linux';
}

/** What the child prints: a FuzzResult with inputs in base64. */
type WireFinding = Omit<Finding, 'input'> & { input: string };
type WireResult = Omit<FuzzResult, 'findings'> & { findings: WireFinding[] };

/** Serialise a result for the parent. */
export function toWire(r: FuzzResult): string {
  return RESULT_TAG + JSON.stringify({ ...r, findings: r.findings.map((f) => ({ ...f, input: f.input.toString('base64') })) });
}

function fromWire(line: string): FuzzResult {
  const w = JSON.parse(line.slice(RESULT_TAG.length)) as WireResult;
  return { ...w, findings: w.findings.map((f) => ({ ...f, input: Buffer.from(f.input, 'base64') })) };
}

/** Run `child.ts` for a target with these arguments, in the namespace sandbox when `sandbox`; `limitMs` is the watchdog. */
export async function runInChild(target: string, args: string[], limitMs: number, sandbox: boolean): Promise<FuzzResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgsrv-fuzz-child-'));
  const bin = path.join(dir, 'bin');
  const work = path.join(dir, 'work');
  try {
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(bin, { mode: 0o755 });
    for (const f of ['uid_map', 'gid_map']) fs.writeFileSync(path.join(bin, f === 'uid_map' ? 'newuidmap' : 'newgidmap'), MAP_SCRIPT(f), { mode: 0o755 });
    fs.mkdirSync(work);
    if (sandbox) fs.chownSync(work, SANDBOX_ID, SANDBOX_ID); // the sandbox's root is this uid on the host
    const ids = `${SANDBOX_ID},0,65536`;
    // cd first: the work dir (on the host's /tmp) stays reachable as the cwd once /tmp is covered.
    // A checkout or runtime under /tmp (a clone in /tmp) is held open (fds 3…) before /tmp is
    // covered, then bound back at its own path from that fd, so the child still finds both.
    const script = [
      'cd "$1" && shift && n=$1 && shift',
      'i=0; while [ "$i" -lt "$n" ]; do eval "exec $((i + 3))<\\"\\$$((i + 1))\\"" || exit 1; i=$((i + 1)); done',
      'mount -t tmpfs -o mode=1777 tmpfs /tmp || exit 1',
      'i=0; while [ "$i" -lt "$n" ]; do mkdir -p "$1" && mount --no-canonicalize --rbind "/proc/self/fd/$((i + 3))" "$1" || exit 1; eval "exec $((i + 3))<&-"; shift; i=$((i + 1)); done',
      'exec "$@"',
    ].join('\n');
    const keep = keptUnderTmp([REPO, path.dirname(process.execPath)]);
    const env: NodeJS.ProcessEnv = { PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, HOME: os.tmpdir() };
    for (const k of ['FUZZ_SEED', 'FUZZ_SECONDS', 'TMPDIR']) if (process.env[k]) env[k] = process.env[k];
    const node = [process.execPath, '--disable-warning=ExperimentalWarning', CHILD, '--target', target, ...args];
    const child = sandbox
      ? spawn(
        'unshare',
        ['--user', '--mount', `--map-users=${ids}`, `--map-groups=${ids}`, '--setuid', '0', '--setgid', '0', '--', 'sh', '-c', script, 'sh', work, String(keep.length), ...keep, ...node],
        { env: { ...env, IMGSRV_FUZZ_SANDBOX: '1', IMGSRV_FUZZ_BOUND: keep.join('\n'), HOME: '/tmp', TMPDIR: '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      : spawn(node[0]!, node.slice(1), { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    let killed = false;
    const watchdog = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, limitMs);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(watchdog);
    const line = out.split('\n').find((l) => l.startsWith(RESULT_TAG));
    if (line) return fromWire(line);
    const empty: FuzzResult = { target, seed: 0, seconds: limitMs / 1000, execs: 0, regressions: 0, accepted: 0, rejected: 0, crashes: 0, hangs: 0, escapes: 0, corpus: 0, reasons: {}, findings: [] };
    const current = path.join(work, 'current.bin');
    if (killed && fs.existsSync(current)) {
      const input = fs.readFileSync(current);
      const sha1 = createHash('sha1').update(input).digest('hex');
      return { ...empty, hangs: 1, findings: [{ kind: 'hang', message: `the fuzzing process stopped answering (killed after ${limitMs} ms)`, input, sha1 }], error: 'killed by the watchdog' };
    }
    return { ...empty, error: `fuzz child exited with ${code}${killed ? ' (killed by the watchdog)' : ''}: ${err.trim().split('\n').slice(-8).join(' | ')}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
