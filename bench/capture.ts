/**
 * Capture benchmark, pack/unpack part: on a copy of part of this machine's
 * /usr (binaries, man pages, Python: big and small files, ~450 MB), times
 *   - packImage            vs  GNU tar -c (posix, xattrs, ACLs, sparse) | zstd -T0, same level
 *   - unpackImage          vs  zstd -dc | tar -x (same options), each on its own artifact
 * alternating ours and the baseline, median of N runs, printing ratios; and
 * a table of compression ratio and speed for zstd levels 1/3/9/19 on a
 * sample of the tar stream (Node's zstd on one thread; the zstd command with
 * -T<cpus>, as packImage uses for threads > 0), from
 * which DEFAULT_ZSTD_LEVEL in images/pack.ts is chosen.
 * Writes bench/results/capture.json. Needs root (restoring owners) and the
 * zstd and tar commands.
 * Usage: node bench/capture.ts [--runs N] [--sample-mib N] [--fresh]
 *
 * The rsync part (`imgsrv capture` over ssh vs rsync + tar|zstd) is
 * bench/capture-ssh.ts, run as the first section.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { createCompressor, zstdParams } from '../images/compressor.ts';
import { DEFAULT_ZSTD_LEVEL, packImage } from '../images/pack.ts';
import { unpackImage } from '../images/unpack.ts';
import { walkTree } from '../images/walk.ts';
import { benchRsyncCapture } from './capture-ssh.ts';
import { median, round } from './stats.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, 'sample-mib': { type: 'string', default: '64' }, fresh: { type: 'boolean', default: false } } });
const RUNS = Number(values.runs);
const SAMPLE = Number(values['sample-mib']) << 20;
const SOURCES = ['/usr/bin', '/usr/sbin', '/usr/share/man', '/usr/share/perl', '/usr/lib/python3.11'];
const LEVELS = [1, 3, 9, 19];
const THREADS = Math.min(os.availableParallelism(), 4);
const GNU_TAR_OPTS = ['--format=posix', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--sparse'];

/** What every section gets. */
export interface BenchContext {
  work: string;
  tree: string;
  treeBytes: number;
  treeFiles: number;
  runs: number;
}

const mb = (bytes: number): number => bytes / 1e6;

/** Run a command (no shell); resolves on exit 0. */
function run(cmd: string, args: string[], opts: { stdin?: NodeJS.ReadableStream; stdout?: string } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = opts.stdout ? fs.openSync(opts.stdout, 'w') : 'ignore';
    const child = spawn(cmd, args, { stdio: [opts.stdin ? 'pipe' : 'ignore', out, 'pipe'] });
    if (opts.stdin) opts.stdin.pipe(child.stdin!);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (typeof out === 'number') fs.closeSync(out);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} exited ${code}: ${err.trim().slice(0, 300)}`));
    });
  });
}

/** cmdA | cmdB, both without a shell. */
function pipe2(a: [string, string[]], b: [string, string[]], stdout?: string): Promise<void> {
  const first = spawn(a[0], a[1], { stdio: ['ignore', 'pipe', 'inherit'] });
  const firstDone = new Promise<void>((resolve, reject) => first.on('close', (c) => (c === 0 ? resolve() : reject(new Error(`${a[0]} exited ${c}`)))));
  return Promise.all([firstDone, run(b[0], b[1], { stdin: first.stdout!, stdout })]).then(() => undefined);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function prepareTree(work: string): Promise<BenchContext> {
  const tree = path.join(work, 'tree');
  if (values.fresh || !fs.existsSync(path.join(work, 'tree.ok'))) {
    fs.rmSync(tree, { recursive: true, force: true });
    fs.mkdirSync(tree, { recursive: true });
    for (const s of SOURCES) {
      if (!fs.existsSync(s)) continue;
      const dst = path.join(tree, s);
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      await run('cp', ['-a', s, dst]);
    }
    fs.writeFileSync(path.join(work, 'tree.ok'), '');
  }
  let bytes = 0;
  let files = 0;
  for await (const { entry } of walkTree(tree)) {
    files++;
    bytes += entry.size ?? 0;
  }
  return { work, tree, treeBytes: bytes, treeFiles: files, runs: RUNS };
}

/** Pack and unpack, ours vs GNU tar + zstd, alternating, median of ctx.runs. */
async function benchPackUnpack(ctx: BenchContext, level: number, threads: number): Promise<Record<string, unknown>> {
  const ours = path.join(ctx.work, 'ours');
  const base = path.join(ctx.work, 'base.tar.zst');
  const times = { pack: [] as number[], tarZstd: [] as number[], unpack: [] as number[], zstdTar: [] as number[] };
  let packed = { rawBytes: 0, compressedBytes: 0 };
  for (let i = 0; i < ctx.runs; i++) {
    fs.rmSync(ours, { recursive: true, force: true });
    fs.mkdirSync(ours);
    times.pack.push(await timed(async () => (packed = await packImage({ root: ctx.tree, outDir: ours, level, threads }))));
    times.tarZstd.push(await timed(() => pipe2(['tar', [...GNU_TAR_OPTS, '-C', ctx.tree, '-cf', '-', '.']], ['zstd', ['-q', `-${level}`, '-T0', '-c']], base)));
    for (const [key, fn] of [
      ['unpack', (dst: string) => unpackImage({ input: fs.createReadStream(path.join(ours, 'image.tar.zst')), target: dst })],
      ['zstdTar', (dst: string) => pipe2(['zstd', ['-dc', base]], ['tar', [...GNU_TAR_OPTS, '-xpf', '-', '-C', dst]])],
    ] as const) {
      const dst = path.join(ctx.work, `dst-${key}`);
      fs.rmSync(dst, { recursive: true, force: true });
      fs.mkdirSync(dst);
      times[key].push(await timed(() => fn(dst)));
      fs.rmSync(dst, { recursive: true, force: true });
    }
  }
  const baseBytes = fs.statSync(base).size;
  const m = { pack: median(times.pack), tarZstd: median(times.tarZstd), unpack: median(times.unpack), zstdTar: median(times.zstdTar) };
  return {
    level, threads,
    rawBytes: packed.rawBytes, compressedBytes: packed.compressedBytes, baselineCompressedBytes: baseBytes,
    seconds: m, runs: times,
    packMBps: round(mb(packed.rawBytes) / m.pack), baselinePackMBps: round(mb(packed.rawBytes) / m.tarZstd),
    unpackMBps: round(mb(packed.rawBytes) / m.unpack), baselineUnpackMBps: round(mb(packed.rawBytes) / m.zstdTar),
    packTimeRatio: round(m.pack / m.tarZstd), unpackTimeRatio: round(m.unpack / m.zstdTar),
  };
}

/** Compression ratio and speed per level on a sample of the uncompressed tar stream. */
async function benchLevels(ctx: BenchContext): Promise<Array<Record<string, number>>> {
  // The sample: 8 evenly spaced slices of the whole tar stream, so binaries, man pages and Python all count.
  const full = path.join(ctx.work, 'full.tar');
  await run('tar', [...GNU_TAR_OPTS, '-C', ctx.tree, '-cf', full, '.']);
  const fullSize = fs.statSync(full).size;
  const slice = Math.floor(Math.min(SAMPLE, fullSize) / 8);
  const sample = Buffer.alloc(slice * 8);
  const fd = fs.openSync(full, 'r');
  for (let i = 0; i < 8; i++) fs.readSync(fd, sample, i * slice, slice, Math.floor((fullSize - slice) * (i / 7)));
  fs.closeSync(fd);
  fs.rmSync(full);
  const sampleFile = path.join(ctx.work, 'sample.tar');
  fs.writeFileSync(sampleFile, sample);
  const rows: Array<Record<string, number>> = [];
  for (const level of LEVELS) {
    const row: Record<string, number> = { level, sampleMB: round(mb(sample.length)) };
    for (const threads of [0, THREADS]) {
      let out = 0;
      const secs = await timed(() => pipeline(fs.createReadStream(sampleFile), createCompressor(level, threads), async (src: AsyncIterable<Buffer>) => {
        for await (const c of src) out += c.length;
      }));
      row.ratio = round(sample.length / out, 3);
      row[threads ? `mbpsThreads${threads}` : 'mbps1Thread'] = round(mb(sample.length) / secs, 1);
    }
    const z = zlib.zstdCompressSync(sample, { params: zstdParams(level, 0) });
    row.decompressMBps = round(mb(sample.length) / (await timed(async () => zlib.zstdDecompressSync(z))), 0);
    rows.push(row);
    console.log(`  level ${String(level).padStart(2)}: ratio ${row.ratio!.toFixed(3)}, ${row.mbps1Thread} MB/s 1 thread, ${row[`mbpsThreads${THREADS}`]} MB/s ${THREADS} threads, decompress ${row.decompressMBps} MB/s`);
  }
  return rows;
}

/** Sections of the benchmark. */
const SECTIONS: Record<string, (ctx: BenchContext) => Promise<unknown>> = {
  rsyncCapture: (ctx) => benchRsyncCapture(ctx.runs),
  levels: benchLevels,
  packUnpack: async (ctx) => {
    const rows = [];
    for (const threads of [0, THREADS]) {
      const r = await benchPackUnpack(ctx, DEFAULT_ZSTD_LEVEL, threads);
      console.log(`  level ${DEFAULT_ZSTD_LEVEL}, ${threads} zstd workers: pack ${r.packMBps} MB/s vs tar|zstd -T0 ${r.baselinePackMBps} MB/s (time ratio ${r.packTimeRatio}); ` +
        `unpack ${r.unpackMBps} MB/s vs zstd -dc|tar -x ${r.baselineUnpackMBps} MB/s (time ratio ${r.unpackTimeRatio}); ` +
        `sizes ${round(mb(r.compressedBytes as number))} MB vs ${round(mb(r.baselineCompressedBytes as number))} MB`);
      rows.push(r);
    }
    return rows;
  },
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the capture benchmark needs root (unpack restores owners)');
  const work = path.join(os.tmpdir(), 'imgsrv-bench-capture');
  fs.mkdirSync(work, { recursive: true });
  const ctx = await prepareTree(work);
  console.log(`tree: ${ctx.treeFiles} entries, ${round(mb(ctx.treeBytes))} MB of file data (${SOURCES.join(' ')}); ${os.availableParallelism()} CPUs; runs ${RUNS}`);
  const results: Record<string, unknown> = {
    benchmark: 'capture: imgsrv capture vs rsync + tar|zstd; pack/unpack vs GNU tar + zstd CLI; zstd level table',
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.availableParallelism(),
    tree: { sources: SOURCES, entries: ctx.treeFiles, fileBytes: ctx.treeBytes },
    baseline: { pack: `tar ${GNU_TAR_OPTS.join(' ')} -cf - . | zstd -<level> -T0`, unpack: `zstd -dc | tar ${GNU_TAR_OPTS.join(' ')} -xpf -` },
    defaultLevel: DEFAULT_ZSTD_LEVEL,
    defaultLevelReason: 'level 3: ~3x the speed of level 9 for ~9% more bytes, ~60x level 19 for ~20% more; all levels decompress faster than a 1 Gb/s link',
  };
  for (const [name, section] of Object.entries(SECTIONS)) {
    console.log(`${name}:`);
    results[name] = await section(ctx);
  }
  const out = path.join(import.meta.dirname, 'results', 'capture.json');
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${out}`);
  for (const f of ['ours', 'base.tar.zst', 'sample.tar']) fs.rmSync(path.join(work, f), { recursive: true, force: true });
}

await main();
