/**
 * One capture, start to end: probe the host over ssh (root? rsync? facts),
 * rsync each mounted file system into the image's staging tree (kept for the
 * next, incremental capture), pack the tree into a hidden partial version
 * and publish it with one rename. Any failure or abort leaves no version.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ImageMeta } from '../../images/meta.ts';
import { packImage } from '../../images/pack.ts';
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { ImageStore } from '../images/store.ts';
import { planMounts, rsyncArgs, sshExec, type SshSettings } from './commands.ts';
import { classifyFailure, layoutError, notRootError } from './errors.ts';
import { unrestorableLayout } from './layout-check.ts';
import { execArgv, runRsync } from './exec.ts';
import type { HostKeyInfo, HostKeyPin } from './host-key.ts';
import { prepareHostTrust, type HostTrust } from './host-trust.ts';
import { interpretProbe, PROBE_SCRIPT, unknownFacts } from './probe.ts';
import type { CapturePhase } from './records.ts';
import { metaDraft, reusedDraft } from './meta-draft.ts';
import { sumStats, type RsyncStats } from './rsync-output.ts';
import { secureBootFacts } from './secure-boot-facts.ts';
import { describeSource, type CaptureSource } from './source.ts';

export { metaDraft } from './meta-draft.ts';

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
  /** Set when the host had not changed at all: the new version shares this version's artifact. */
  reusedVersion?: number;
  /** The ssh host key the capture connected with (ssh sources). */
  hostKey?: HostKeyInfo;
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
  /** A pinned host key (ssh sources): a host that does not present it is refused. */
  hostKeyPin?: HostKeyPin | undefined;
  /** Called once the ssh host key is verified: which key, and how it was trusted. */
  onHostKey?: (k: HostKeyInfo) => void;
  /** Injected in tests; the real one from images/pack.ts otherwise. */
  pack?: typeof packImage;
}

/** Paths of the capture's working state in the data dir. */
export function capturePaths(dataDir: string, name: string) {
  return {
    staging: join(dataDir, 'staging', name),
    /** Written after a complete rsync: the next capture of this name is incremental. */
    stagedMarker: join(dataDir, 'staging', `.${name}.complete`),
    /** The version last packed from the staging tree, removed while rsync may change the tree. */
    packedMarker: join(dataDir, 'staging', `.${name}.packed`),
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
  const paths = capturePaths(job.dataDir, job.name);
  mkdirSync(dirname(paths.knownHosts), { recursive: true, mode: 0o700 });
  // 1. Probe, first which host key ssh may accept (a pin the host does not offer ends it here).
  job.onPhase('probe');
  let trust: HostTrust | undefined;
  if (job.source.kind === 'ssh') {
    trust = await prepareHostTrust({
      source: job.source,
      pin: job.hostKeyPin,
      knownHosts: paths.knownHosts,
      workDir: dirname(paths.knownHosts),
      connectTimeoutSeconds: job.settings.connectTimeoutSeconds,
      target: describeSource(job.source),
      signal: job.signal,
      logger: job.logger,
    });
  }
  try {
    return await captureWith(job, trust);
  } finally {
    trust?.close();
  }
}

/** The capture itself, with the host key policy decided. */
async function captureWith(job: CaptureJob, trust: HostTrust | undefined): Promise<{ meta: ImageMeta; stats: CaptureStats }> {
  const { source, signal, logger: log } = job;
  const target = describeSource(source);
  const paths = capturePaths(job.dataDir, job.name);
  mkdirSync(paths.staging, { recursive: true, mode: 0o755 });
  let ssh: SshSettings = trust?.ssh ?? { knownHosts: paths.knownHosts, strictHostKeyChecking: 'accept-new', connectTimeoutSeconds: job.settings.connectTimeoutSeconds };
  const pinned = trust?.pinned ?? false;
  let hostKey: HostKeyInfo | undefined;
  const checkAbort = () => {
    if (signal.aborted) throw cancelledError(signal);
  };
  const warnings: string[] = [];

  // 1. Probe: one ssh session answers root?, rsync?, and the host facts.
  let t0 = performance.now();
  let facts = unknownFacts();
  let excludes = [...job.settings.excludes];
  let mounts: Array<{ mountpoint: string; type: string }> = [];
  if (source.kind === 'ssh') {
    const res = await execArgv(sshExec(source, ssh, PROBE_SCRIPT), { signal, logger: log });
    checkAbort();
    if (!res.stdout.includes('@@uid')) throw classifyFailure({ target, tool: 'ssh', exitCode: res.exitCode, signal: res.signal, stderr: res.stderr, pinned });
    // ssh authenticated the host: report the key it used (and, without a pin, hold the rsync runs to it).
    if (trust) {
      const confirmed = await trust.confirm();
      ssh = confirmed.ssh;
      hostKey = confirmed.hostKey;
      if (hostKey) job.onHostKey?.(hostKey);
    }
    const probe = interpretProbe(res.stdout);
    if (!probe.complete) throw classifyFailure({ target, tool: 'ssh', exitCode: res.exitCode ?? 255, signal: res.signal, stderr: res.stderr || 'Connection closed', pinned });
    if (probe.uid !== '0') throw notRootError(target, probe.uid);
    if (!probe.hasRsync) throw classifyFailure({ target, tool: 'rsync', exitCode: 127, stderr: 'rsync: command not found' });
    facts = probe.facts;
    // A layout the restore can't recreate would boot every clone into emergency mode: refuse it now, not on the nodes.
    const refusal = unrestorableLayout(facts);
    if (refusal) throw layoutError(target, refusal);
    mounts = probe.mounts;
    // Active swap files would be copied as gigabytes of garbage.
    excludes = [...excludes, ...probe.swapFiles.filter((p) => p.startsWith('/'))];
  }
  const probeSeconds = seconds(t0);

  // 2. rsync, one run per mounted disk file system, into the kept staging tree.
  checkAbort();
  job.onPhase('rsync');
  const incremental = existsSync(paths.stagedMarker);
  // The version packed from this staging tree as it stands; from here on rsync may change the tree.
  const packedFrom = readPackedMarker(paths.packedMarker);
  rmSync(paths.packedMarker, { force: true });
  let changes = 0;
  const plans = planMounts(mounts, excludes);
  const runs: RsyncStats[] = [];
  t0 = performance.now();
  let doneBytes = 0;
  /** One rsync of one mount; returns its stats and how many items it changed. */
  const syncMount = async (plan: (typeof plans)[number]): Promise<{ stats?: RsyncStats; changes: number }> => {
    mkdirSync(join(paths.staging, plan.mount), { recursive: true });
    const argv = rsyncArgs({ source, ssh, plan, staging: paths.staging, excludes });
    const res = await runRsync(argv, {
      signal,
      logger: log,
      onProgress: (p) => {
        const total = p.percent > 0 ? doneBytes + Math.round((p.bytes * 100) / p.percent) : undefined;
        job.onProgress({
          phase: 'rsync',
          bytes: doneBytes + p.bytes,
          totalBytes: total,
          bytesPerSecond: p.bytesPerSecond,
          // Ours, from the rate: rsync's progress2 time column counts up on some versions rather than down.
          etaSeconds: total !== undefined && p.bytesPerSecond > 0 ? Math.max(0, Math.round((total - doneBytes - p.bytes) / p.bytesPerSecond)) : undefined,
          files: p.totalFiles,
          mount: plan.mount,
        });
      },
    });
    checkAbort();
    // 24: files vanished while we copied them, normal on a live system.
    if (res.exitCode === 24) warnings.push(`some files on ${plan.mount} vanished during the copy`);
    else if (res.exitCode !== 0) {
      log.warn({ mount: plan.mount, exitCode: res.exitCode, signal: res.signal, stderr: res.stderr.slice(-4000) }, 'rsync failed');
      throw classifyFailure({ target, tool: 'rsync', exitCode: res.exitCode, signal: res.signal, stderr: res.stderr, pinned });
    }
    return { ...(res.stats ? { stats: res.stats } : {}), changes: res.changes };
  };
  for (const plan of plans) {
    const r = await syncMount(plan);
    changes += r.changes;
    if (r.stats) {
      runs.push(r.stats);
      doneBytes += r.stats.totalFileSize;
    }
  }
  writeFileSync(paths.stagedMarker, `${new Date().toISOString()}\n`);
  const rsyncSeconds = seconds(t0);
  const rsync = runs.length ? sumStats(runs) : null;
  // Read from the copy, not the host: rsync:// captures get it too.
  facts.secureBoot = await secureBootFacts(paths.staging);
  log.info({ target, rsync, seconds: rsyncSeconds, incremental, changes }, 'rsync done');

  // 3. Pack into a hidden partial version, write meta.json, publish with one rename.
  //    An unchanged host (rsync changed nothing since that version was packed) packs to the
  //    same bytes: the new version links that artifact instead of packing again.
  checkAbort();
  const reuse = changes === 0 && packedFrom !== undefined && job.images.versions(job.name).includes(packedFrom) ? packedFrom : undefined;
  job.onPhase('pack');
  t0 = performance.now();
  const pack = job.pack ?? packImage;
  const started = performance.now();
  const meta = await job.images
    .build(job.name, async (dir, planned) => {
      if (reuse !== undefined) {
        job.onPhase('publish');
        return reusedDraft(job.images, job.name, reuse, dir, { sourceHost: target, host: facts, version: planned, ...(hostKey ? { hostKey } : {}) });
      }
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
      return metaDraft(packed, { sourceHost: target, host: facts, torrent: { image: job.name, version: planned }, ...(hostKey ? { hostKey } : {}) });
    })
    .catch((err: unknown) => {
      throw packError(err);
    });
  const packSeconds = seconds(t0);
  writeFileSync(paths.packedMarker, `${meta.version}\n`);
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
      ...(reuse !== undefined ? { reusedVersion: reuse } : {}),
      ...(hostKey ? { hostKey } : {}),
    },
  };
}

/** The version number in a packed marker, or undefined when there is none (or it is unreadable). */
function readPackedMarker(file: string): number | undefined {
  try {
    const v = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(v) && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
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
