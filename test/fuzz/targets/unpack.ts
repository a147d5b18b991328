/**
 * Fuzz the restore of an image stream (images/unpack.ts and what it drives:
 * frame check, zstd, tar-stream, tar-entry, sparse bodies, restore-fs).
 * Two targets: `unpack-tar` takes a tar stream (compressed here, so the
 * damage reaches the tar layer) and `unpack-zst` a compressed artifact as a
 * node receives it. Seeds are real archives made by packImage plus crafted
 * hostile ones. Oracle: the unpack resolves or fails with an ImgsrvError
 * whose cause is not a programming error (TypeError, RangeError…); never a
 * hang; and nothing outside the target changes — sentinels beside it are
 * compared (type, mode, owner, size, links, times, content) before and after
 * every input, and in the sandbox the whole private /tmp is.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { packImage } from '../../../images/pack.ts';
import { unpackImage } from '../../../images/unpack.ts';
import { ImgsrvError } from '../../../core/errors.ts';
import { ACCEPTED, FuzzEscape, rejected, Rng, type FuzzTarget, type Verdict } from '../harness.ts';
import { generateTar, mutateTar, tarBytes, WORK } from './tar-craft.ts';

const zstd = (b: Buffer): Buffer => zlib.zstdCompressSync(b, { params: { [zlib.constants.ZSTD_c_checksumFlag]: 1 } });

/** The workspace: `a/root` is the restore target; `a/outside`, `a/secret` and `top` are sentinels. */
class Workspace {
  readonly base: string;
  readonly root: string;
  /** What the snapshot covers: the private /tmp in the sandbox, else the workspace. */
  private readonly scan: string;
  private before = new Map<string, string>();
  /**
   * The checkout and runtime the sandbox bound into its /tmp (a clone under /tmp): not scanned. They
   * belong to the host's root, which the sandbox does not map, so its root cannot write there anyway.
   */
  private readonly bound = new Set((process.env['IMGSRV_FUZZ_BOUND'] ?? '').split('\n').filter(Boolean));

  constructor() {
    const sandboxed = process.env['IMGSRV_FUZZ_SANDBOX'] === '1';
    this.base = sandboxed ? WORK : fs.mkdtempSync(path.join(os.tmpdir(), 'imgsrv-fuzz-unpack-'));
    this.scan = sandboxed ? path.dirname(WORK) : this.base;
    this.root = path.join(this.base, 'a', 'root');
    this.reset();
  }

  /** Fresh sentinels and an empty target. */
  reset(): void {
    removeTree(Buffer.from(this.base));
    fs.mkdirSync(path.join(this.base, 'a', 'outside'), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(this.base, 'a', 'outside', 'secret'), 'outside\n', { mode: 0o600 });
    fs.writeFileSync(path.join(this.base, 'a', 'secret'), 'secret\n', { mode: 0o600 });
    fs.writeFileSync(path.join(this.base, 'top'), 'top\n', { mode: 0o644 });
    fs.mkdirSync(this.root);
    this.before = this.snapshot();
  }

  /** Empty the target, keeping the directory itself (removing it would touch its parent's times). Names as bytes: they need not be UTF-8. */
  clearRoot(): void {
    const root = Buffer.from(this.root);
    fs.chmodSync(this.root, 0o755);
    for (const name of fs.readdirSync(root, { encoding: 'buffer' })) removeTree(Buffer.concat([root, Buffer.from('/'), name]));
  }

  /** Take the "before" picture again (after setup work elsewhere in the scanned tree). */
  rebase(): void {
    this.before = this.snapshot();
  }

  /** Everything under the scanned tree but the target: path → what an escape could change. */
  snapshot(): Map<string, string> {
    const out = new Map<string, string>();
    const root = Buffer.from(this.root);
    const walk = (dir: Buffer): void => {
      for (const name of fs.readdirSync(dir, { encoding: 'buffer' })) {
        const p = Buffer.concat([dir, Buffer.from('/'), name]);
        if (p.equals(root) || this.bound.has(p.toString())) continue;
        const st = fs.lstatSync(p, { bigint: true });
        let what = `${st.mode}:${st.uid}:${st.gid}:${st.size}:${st.nlink}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}`;
        if (st.isFile()) what += `:${createHash('sha1').update(fs.readFileSync(p)).digest('hex')}`;
        if (st.isSymbolicLink()) what += `:${fs.readlinkSync(p, { encoding: 'buffer' }).toString('hex')}`;
        out.set(p.subarray(this.scan.length + 1).toString('latin1'), what);
        if (st.isDirectory()) walk(p);
      }
    };
    const st = fs.lstatSync(this.scan, { bigint: true });
    out.set('.', `${st.mode}:${st.uid}:${st.gid}`);
    walk(Buffer.from(this.scan));
    return out;
  }

  /** Throw FuzzEscape naming what changed outside the target; reset the sentinels if anything did. */
  checkOutside(): void {
    const after = this.snapshot();
    const changed: string[] = [];
    for (const [p, v] of after) if (this.before.get(p) !== v) changed.push(this.before.has(p) ? `changed ${p}` : `created ${p}`);
    for (const p of this.before.keys()) if (!after.has(p)) changed.push(`removed ${p}`);
    if (changed.length === 0) return;
    this.reset();
    throw new FuzzEscape(`wrote outside the target: ${changed.slice(0, 5).join(', ')}`);
  }

  close(): void {
    removeTree(Buffer.from(this.base));
  }
}

/** rm -rf that also works without root: an archive may leave directories of mode 0000 behind. */
function removeTree(p: Buffer): void {
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (!st) return;
  if (st.isDirectory()) {
    fs.chmodSync(p, 0o700);
    for (const name of fs.readdirSync(p, { encoding: 'buffer' })) removeTree(Buffer.concat([p, Buffer.from('/'), name]));
    fs.rmdirSync(p);
  } else fs.unlinkSync(p);
}

const PROGRAMMING_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError];

/** The oracle on an unpack failure: a reason label, or a throw when it is not a designed refusal. */
export function classifyUnpackError(err: unknown): string {
  if (!(err instanceof ImgsrvError)) throw new Error(`unpack threw a non-ImgsrvError: ${String(err)}`, { cause: err });
  for (let e: unknown = err, depth = 0; e && depth < 10; e = (e as Error).cause, depth++) {
    if (PROGRAMMING_ERRORS.some((c) => e instanceof c)) throw new Error(`unpack failed with a programming error: ${(e as Error).name}: ${(e as Error).message}`, { cause: e });
    if ((e as { code?: unknown }).code === 'ERR_INTERNAL_ASSERTION') throw new Error(`unpack hit an internal assertion: ${(e as Error).message}`, { cause: e });
  }
  const root = rootCause(err);
  const errno = (root as { code?: unknown }).code;
  if (err.code === 'INTERNAL' && !(typeof errno === 'string' && /^E[A-Z]+$/.test(errno))) {
    throw new Error(`unpack failed with an unclassified error: ${err.message}`, { cause: err });
  }
  if (typeof errno === 'string' && /^E[A-Z]+$/.test(errno)) return `errno ${errno}`;
  return err.message.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').replace(/\(.*\)/, '(…)').slice(0, 70);
}

function rootCause(err: unknown): unknown {
  let e = err;
  for (let i = 0; i < 10 && e instanceof Error && e.cause !== undefined; i++) e = e.cause;
  return e;
}

/** Split the compressed bytes the way a network would, decided by the input itself (so a replay feeds it identically). */
function chunked(buf: Buffer, input: Buffer): Buffer[] {
  const h = createHash('sha1').update(input).digest();
  const mode = h[0]! % 5;
  if (mode === 0 || (mode === 1 && buf.length > 4096)) return [buf];
  const rng = new Rng(h.readUInt32BE(1));
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; ) {
    const n = mode === 1 ? 1 : mode === 2 ? 7 : mode === 3 ? 512 : 1 + rng.below(2000);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** Small real trees packed by packImage: the archives the project itself writes. */
async function packedSeeds(scratch: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const trees: Array<(d: string) => void> = [
    (d) => {
      fs.mkdirSync(path.join(d, 'etc/ssh'), { recursive: true });
      fs.writeFileSync(path.join(d, 'etc/hostname'), 'sample\n');
      fs.writeFileSync(path.join(d, 'etc/ssh/sshd_config'), 'PermitRootLogin no\n'.repeat(20), { mode: 0o600 });
      fs.writeFileSync(path.join(d, 'empty'), '');
      fs.symlinkSync('etc/hostname', path.join(d, 'rel-link'));
      fs.symlinkSync('/nonexistent/abs', path.join(d, 'abs-link'));
      fs.linkSync(path.join(d, 'etc/hostname'), path.join(d, 'hard'));
      fs.chmodSync(path.join(d, 'etc'), 0o750);
    },
    (d) => {
      fs.mkdirSync(path.join(d, `${'deep/'.repeat(12)}`), { recursive: true });
      fs.writeFileSync(path.join(d, `${'deep/'.repeat(12)}${'long-name-'.repeat(20)}`), 'x');
      fs.writeFileSync(Buffer.from(`${d}/latin1-\xe9\xff`, 'latin1'), 'non-UTF-8 name');
      fs.writeFileSync(path.join(d, 'setuid'), '#!/bin/sh\n', { mode: 0o4755 });
      fs.chmodSync(path.join(d, 'setuid'), 0o4755);
    },
    (d) => {
      const fd = fs.openSync(path.join(d, 'sparse'), 'w');
      fs.writeSync(fd, Buffer.from('head'), 0, 4, 0);
      fs.writeSync(fd, Buffer.from('tail'), 0, 4, 1 << 20);
      fs.closeSync(fd);
      fs.writeFileSync(path.join(d, 'data'), Buffer.alloc(3000, 'ab'));
    },
  ];
  for (const [i, make] of trees.entries()) {
    const src = path.join(scratch, `src${i}`);
    const dst = path.join(scratch, `out${i}`);
    fs.mkdirSync(src, { recursive: true });
    fs.mkdirSync(dst, { recursive: true });
    make(src);
    const r = await packImage({ root: src, outDir: dst });
    out.push(fs.readFileSync(r.artifact));
  }
  return out;
}

/** Hand-made hostile archives, one per classic attack. */
function craftedSeeds(): Buffer[] {
  const f = (name: string, body = 'x'): { name: string; type: string; body: Buffer } => ({ name, type: '0', body: Buffer.from(body) });
  return [
    tarBytes([f('ok'), f('../x')]),
    tarBytes([f('/tmp/w/a/outside/abs')]),
    tarBytes([{ name: 'evil', type: '2', linkname: '../outside' }, f('evil/secret', 'pwned')]),
    tarBytes([{ name: 'pw', type: '1', linkname: '../secret' }]),
    tarBytes([{ name: 'd', type: '5', mode: 0o777 }, { name: 'd', type: '2', linkname: '../outside' }]),
    tarBytes([{ name: 'big', type: '0', pax: { 'IMGSRV.junk': 'z'.repeat(8000) } }]),
    tarBytes([f('a', 'x'.repeat(2000)), f('b')]).subarray(0, 1500),
  ];
}

function unpackTarget(name: 'unpack-tar' | 'unpack-zst'): FuzzTarget {
  let ws: Workspace | undefined;
  const compressed = name === 'unpack-zst';
  return {
    name,
    description: compressed
      ? 'image.tar.zst bytes → unpackImage: typed errors only, no hang, nothing written outside the target'
      : 'tar bytes (zstd-compressed here) → unpackImage: typed errors only, no hang, nothing written outside the target',
    sandbox: true,
    timeoutMs: 2000,
    maxInputBytes: 32 * 1024,
    mix: compressed ? { generate: 0.05, mutate: 0.3 } : { generate: 0.25, mutate: 0.45 },
    setup() {
      ws = new Workspace();
    },
    async seeds() {
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'imgsrv-fuzz-seeds-'));
      try {
        const packed = await packedSeeds(scratch);
        const crafted = craftedSeeds();
        if (compressed) return [...packed, ...crafted.map(zstd)];
        return [...packed.map((b) => zlib.zstdDecompressSync(b)), ...crafted];
      } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
        ws?.rebase();
      }
    },
    generate: (rng) => (compressed ? zstd(generateTar(rng)) : generateTar(rng)),
    mutate(input, rng) {
      if (!compressed) return mutateTar(input, rng);
      // Compressed input: mutate the tar inside and compress again, or cut the stream at a random byte.
      let plain: Buffer;
      try {
        plain = zlib.zstdDecompressSync(input);
      } catch {
        return input.subarray(0, rng.below(input.length + 1));
      }
      return rng.chance(0.2) ? input.subarray(0, rng.below(input.length + 1)) : zstd(mutateTar(plain, rng));
    },
    async exec(input, ctx): Promise<Verdict> {
      const w = ws!;
      let verdict: Verdict;
      try {
        const bytes = compressed ? input : zstd(input);
        await unpackImage({ input: Readable.from(chunked(bytes, input)), target: w.root, signal: ctx.signal });
        verdict = ACCEPTED;
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        verdict = rejected(classifyUnpackError(err));
      }
      w.checkOutside();
      try {
        w.clearRoot();
      } catch (err) {
        w.reset(); // start the next input clean whatever happened
        throw new Error(`fuzz harness: could not empty the target: ${String(err)}`, { cause: err });
      }
      return verdict;
    },
    close() {
      ws?.close();
      ws = undefined;
    },
  };
}

/** Tar streams through the whole restore. */
export const unpackTarTarget = unpackTarget('unpack-tar');
/** Compressed artifacts through the whole restore. */
export const unpackZstTarget = unpackTarget('unpack-zst');
