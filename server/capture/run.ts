/**
 * One capture, start to end: probe the host over ssh (root? rsync? facts),
 * rsync each mounted file system into the image's staging tree (kept for the
 * next, incremental capture), pack the tree into a hidden partial version
 * and publish it with one rename. Any failure or abort leaves no version.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { HostFacts, ImageMeta } from '../../images/meta.ts';
import { packImage, type PackResult } from '../../images/pack.ts';
import { ImgsrvError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ImageStore, MetaDraft } from '../images/store.ts';
import { planMounts, rsyncArgs, sshExec, type SshSettings } from './commands.ts';
import { classifyFailure, notRootError } from './errors.ts';
import { execArgv, runRsync } from './exec.ts';
import { interpretProbe, PROBE_SCRIPT, unknownFacts } from './probe.ts';
import type { CapturePhase } from './records.ts';
import { sumStats, type RsyncStats } from './rsync-output.ts';
import { describeSource, type CaptureSource } from './source.ts';

/** Capture settings from the config's `capture` section. */
export interface CaptureSettings {
  excludes: readonly string[];
  zstdLevel: number;
  /** zstd threads: N = the zstd binary with -TN, 0 = in-process on one thread. */
  threads: number;
  connectTimeoutSeconds: number;
}

/** Live progress of the running phase. */
export interface CaptureProgress {
  phase: CapturePhase;
  bytes: number;
  totalBytes?: number | undefined;
  bytesPerSecond: number;
  etaSeconds?: number | undefined;
  files?: number | undefined;
  /** The mount point rsync is on. */
  mount?: string | undefined;
}

/** Figures of a finished capture. */
export interface CaptureStats {
  incremental: boolean;
  probeSeconds: number;
  rsyncSeconds: number;
  packSeconds: number;
  rsync: RsyncStats | null;
  mounts: string[];
  rawBytes: number;
  compressedBytes: number;
  files: number;
  warnings: string[];
}

/** What a capture needs. */
export interface CaptureJob {
  name: string;
  source: CaptureSource;
  dataDir: string;
  images: ImageStore;
  settings: CaptureSettings;
  logger: Logger;
  signal: AbortSignal;
  onPhase: (phase: CapturePhase) => void;
  onProgress: (p: CaptureProgress) => void;
  /** Injected in tests; the real one from images/pack.ts otherwise. */
  pack?: typeof packImage;
}

/** Paths of the capture's working state in the data dir. */
export function capturePaths(dataDir: string, name: string) {
  return {
    staging: join(dataDir, 'staging', name),
    /** Written after a complete rsync: the next capture of this name is incremental. */
    stagedMarker: join(dataDir, 'staging', `.${name}.complete`),
    knownHosts: join(dataDir, 'ssh', 'known_hosts'),
  };
}

/** The error a cancelled capture ends with (the abort reason's message, if it has one). */
export function cancelledError(signal: AbortSignal): ImgsrvError {
  const r = signal.reason as unknown;
  if (r instanceof ImgsrvError) return r;
  return new ImgsrvError('CANCELLED', r instanceof Error ? r.message : 'capture cancelled', { hint: 'capture again when ready' });
}

const seconds = (t0: number) => Math.round((performance.now() - t0) / 10) / 100;

/** Run one capture; resolves with the published meta, rejects with a coded ImgsrvError. */
export async function runCapture(job: CaptureJob): Promise<{ meta: ImageMeta; stats: CaptureStats }> {
  const { source, signal, logger: log } = job;
  const target = describeSource(source);
  const paths = capturePaths(job.dataDir, job.name);
  mkdirSync(join(job.dataDir, 'ssh'), { recursive: true, mode: 0o700 });
  mkdirSync(paths.staging, { recursive: true, mode: 0o755 });
  const ssh: SshSettings = { knownHosts: paths.knownHosts, connectTimeoutSeconds: job.settings.connectTimeoutSeconds };
  const checkAbort = () => {
    if (signal.aborted) throw cancelledError(signal);
  };
  const warnings: string[] = [];

  // 1. Probe: one ssh session answers root?, rsync?, and the host facts.
  job.onPhase('probe');
  let t0 = performance.now();
  let facts = unknownFacts();
  let excludes = [...job.settings.excludes];
  let mounts: Array<{ mountpoint: string; type: string }> = [];
  if (source.kind === 'ssh') {
    const res = await execArgv(sshExec(source, ssh, PROBE_SCRIPT), { signal, logger: log });
    checkAbort();
    if (!res.stdout.includes('@@uid')) throw classifyFailure({ target, tool: 'ssh', exitCode: res.exitCode, signal: res.signal, stderr: res.stderr });
    const probe = interpretProbe(res.stdout);
    if (!probe.complete) throw classifyFailure({ target, tool: 'ssh', exitCode: res.exitCode ?? 255, signal: res.signal, stderr: res.stderr || 'Connection closed' });
    if (probe.uid !== '0') throw notRootError(target, probe.uid);
    if (!probe.hasRsync) throw classifyFailure({ target, tool: 'rsync', exitCode: 127, stderr: 'rsync: command not found' });
    facts = probe.facts;
    mounts = probe.mounts;
    // Active swap files would be copied as gigabytes of garbage.
    excludes = [...excludes, ...probe.swapFiles.filter((p) => p.startsWith('/'))];
  }
  const probeSeconds = seconds(t0);

  // 2. rsync, one run per mounted disk file system, into the kept staging tree.
  checkAbort();
  job.onPhase('rsync');
  const incremental = existsSync(paths.stagedMarker);
  const plans = planMounts(mounts, excludes);
  const runs: RsyncStats[] = [];
  t0 = performance.now();
  let doneBytes = 0;
  for (const plan of plans) {
    mkdirSync(join(paths.staging, plan.mount), { recursive: true });
    const argv = rsyncArgs({ source, ssh, plan, staging: paths.staging, excludes });
    const res = await runRsync(argv, {
      signal,
      logger: log,
      onProgress: (p) =>
        job.onProgress({
          phase: 'rsync',
          bytes: doneBytes + p.bytes,
          totalBytes: p.percent > 0 ? doneBytes + Math.round((p.bytes * 100) / p.percent) : undefined,
          bytesPerSecond: p.bytesPerSecond,
          etaSeconds: p.etaSeconds,
          files: p.totalFiles,
          mount: plan.mount,
        }),
    });
    checkAbort();
    // 24: files vanished while we copied them, normal on a live system.
    if (res.exitCode === 24) warnings.push(`some files on ${plan.mount} vanished during the copy`);
    else if (res.exitCode !== 0) {
      log.warn({ mount: plan.mount, exitCode: res.exitCode, signal: res.signal, stderr: res.stderr.slice(-4000) }, 'rsync failed');
      throw classifyFailure({ target, tool: 'rsync', exitCode: res.exitCode, signal: res.signal, stderr: res.stderr });
    }
    if (res.stats) {
      runs.push(res.stats);
      doneBytes += res.stats.totalFileSize;
    }
  }
  writeFileSync(paths.stagedMarker, `${new Date().toISOString()}\n`);
  const rsyncSeconds = seconds(t0);
  const rsync = runs.length ? sumStats(runs) : null;
  log.info({ target, rsync, seconds: rsyncSeconds, incremental }, 'rsync done');

  // 3. Pack into a hidden partial version, write meta.json, publish with one rename.
  checkAbort();
  job.onPhase('pack');
  t0 = performance.now();
  const pack = job.pack ?? packImage;
  const started = performance.now();
  const meta = await job.images
    .build(job.name, async (dir) => {
      let packed;
      try {
        packed = await pack({
          root: paths.staging,
          outDir: dir,
          level: job.settings.zstdLevel,
          threads: job.settings.threads,
          signal,
          logger: log,
          onProgress: (p) => {
            const elapsed = (performance.now() - started) / 1000;
            const rate = elapsed > 0 ? p.bytes / elapsed : 0;
            const total = rsync?.totalFileSize;
            job.onProgress({
              phase: 'pack',
              bytes: p.bytes,
              totalBytes: total,
              bytesPerSecond: Math.round(rate),
              etaSeconds: total && rate > 0 ? Math.max(0, Math.round((total - p.bytes) / rate)) : undefined,
              files: p.files,
            });
          },
        });
      } catch (err) {
        checkAbort();
        throw packError(err);
      }
      checkAbort();
      job.onPhase('publish');
      return metaDraft(packed, { sourceHost: target, host: facts });
    })
    .catch((err: unknown) => {
      throw packError(err);
    });
  const packSeconds = seconds(t0);
  job.onPhase('done');
  return {
    meta,
    stats: {
      incremental,
      probeSeconds,
      rsyncSeconds,
      packSeconds,
      rsync,
      mounts: plans.map((p) => p.mount),
      rawBytes: meta.artifact.rawBytes,
      compressedBytes: meta.artifact.compressedBytes,
      files: meta.artifact.files,
      warnings,
    },
  };
}

/** ENOSPC while packing is "disk full", said plainly; other errors pass through. */
function packError(err: unknown): unknown {
  const text = `${(err as NodeJS.ErrnoException)?.code ?? ''} ${(err as Error)?.message ?? ''} ${String((err as { cause?: { code?: string } })?.cause?.code ?? '')}`;
  if (/ENOSPC|No space left/.test(text)) {
    return new ImgsrvError('DISK_FULL', "the server's disk filled up while packing the image", {
      hint: 'free space in the data dir (imgsrv images rm NAME@VERSION) or move --data to a bigger disk, then capture again',
      cause: err,
    });
  }
  return err;
}

/** The meta.json draft for a packed artifact (the store adds name and version). */
export async function metaDraft(packed: PackResult, o: { sourceHost: string; host: HostFacts; createdAt?: Date }): Promise<MetaDraft> {
  return {
    format: 1,
    createdAt: (o.createdAt ?? new Date()).toISOString(),
    sourceHost: o.sourceHost,
    host: o.host,
    artifact: {
      file: 'image.tar.zst',
      rawBytes: packed.rawBytes,
      compressedBytes: packed.compressedBytes,
      sha256: packed.sha256,
      zstdLevel: packed.zstdLevel,
      files: packed.files,
    },
    manifest: { file: basename(packed.manifest), sha256: await sha256File(packed.manifest) },
  };
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}
