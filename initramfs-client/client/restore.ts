/**
 * One restore, start to finish, on the node: pick the disk (refusing one
 * too small before anything is written), lay out partitions and file
 * systems (keeping data partitions on re-image), stream the image from the
 * swarm straight into the mounted target while it downloads, give the
 * system its identity, install the boot loader for this machine's
 * firmware, and unmount. The swarm download is the caller's (it keeps
 * seeding afterwards).
 */
import { existsSync } from 'node:fs';
import { freemem } from 'node:os';
import { ImgsrvError } from '../../core/errors.ts';
import { layoutWithScratch, placeScratch, scratchBytes, scratchPossible, type ScratchChoice } from '../restore/scratch.ts';
import type { Readable } from 'node:stream';
import type { ImageMeta } from '../../images/meta.ts';
import { unpackImage } from '../../images/unpack.ts';
import { checkArtifact } from '../restore/artifact-check.ts';
import type { Logger } from '../../core/log.ts';
import { formatBytes } from '../../core/format.ts';
import { chooseMirrorDisks, chooseTargetDisk, listDisks, type DiskInfo } from '../restore/disks.ts';
import { planLayout, requiredBytes, type LayoutPlan, type PartitionMapping } from '../restore/layout.ts';
import { applyKeep, readExistingLayout } from '../restore/keep.ts';
import { applyLayout } from '../restore/partition.ts';
import { dropLvmDevicesFile } from '../restore/lvm.ts';
import { mirrorEsp, rebuildInitramfs, writeMdadmConf } from '../restore/md.ts';
import { mountTarget, unmountTarget } from '../restore/mount.ts';
import { rewriteIdentifiers } from '../restore/rewrite.ts';
import { personalise } from '../restore/personalise.ts';
import { regenerateSshHostKeys } from '../restore/ssh-keys.ts';
import { installBootloader } from '../restore/bootloader.ts';
import { openWriteCheck, type WriteCheck } from '../restore/write-check.ts';
import type { Runner } from '../restore/run.ts';
import { installUpReporter, type UpReporterHook, type UpReporterTarget } from '../restore/up-reporter.ts';
import { writeNodeAddress } from '../restore/node-address.ts';
import type { NodeAddress } from '../../contract/plan.ts';

/** Where the target's file systems are mounted while they are written. */
export const TARGET_ROOT = '/mnt/target';

/** What a restore needs. */
export interface RestoreJob {
  meta: ImageMeta;
  keep: readonly string[];
  /** The disk and its planned layout, from pickDisk (chosen before the download starts). */
  target: { disk: DiskInfo; layout: LayoutPlan; scratch?: ScratchChoice; mirror?: DiskInfo };
  firmware: 'bios' | 'uefi';
  /** The firmware booted with Secure Boot on: the image's grub-install puts its signed chain on the ESP. */
  secureBoot?: boolean;
  /** Kernel arguments carried into the restored boot entry (console=…). */
  kernelArgs: string[];
  /** The image bytes, in order, as they arrive. */
  input: () => Readable;
  /** Resolves with the hostname once the operator answered (or the prompt timed out). */
  hostname: Promise<string>;
  runner: Runner;
  log: Logger;
  /** Phase changes and progress, for the console and the server. */
  onPhase: (phase: 'restoring' | 'personalising', text: string) => void;
  /** What the operator must know about the restored system (a static address replaced by DHCP …): the console and the server's events. */
  onNote?: (text: string) => void;
  onProgress: (written: number, total: number) => void;
  /** The image is unpacked and checked: the restore's end as far as the download is concerned (the lag's end point). */
  onUnpacked?: () => void;
  signal: AbortSignal;
  root?: string;
  /** Leave a first-boot reporter in the restored system (up-reporter.ts) that tells the server it came up. */
  reportUp?: UpReporterTarget;
  /** This node's own static address and the MAC it goes on (node-address.ts); absent or null = DHCP. */
  network?: { mac: string; address: NodeAddress } | null;
}

/** Facts about the finished restore, for the console and the server. */
export interface RestoreResult {
  disk: DiskInfo;
  layout: LayoutPlan;
  mapping: PartitionMapping[];
  files: number;
  bytes: number;
  hostname: string;
  /** How the restored system will say it is up; 'none': it can't, the node says done before its reboot. */
  upReporter: UpReporterHook;
}

/** The chosen disk, its layout (the growing file system short by the scratch area, if any) and where the image's pieces go. */
export interface RestoreTarget {
  disk: DiskInfo;
  layout: LayoutPlan;
  scratch: ScratchChoice;
  /** The second disk of an md RAID1 image, partitioned as `disk` (layout.mirror). */
  mirror?: DiskInfo;
}

/** Headroom the netboot environment needs beside the image when the pieces stay in RAM. */
const RAM_HEADROOM = 192 * 2 ** 20;

/** Choose the disk without touching it; throws a clear error when none fits. */
export async function pickDisk(meta: ImageMeta, requested: string | null | undefined, opts: { keep?: readonly string[] } = {}): Promise<RestoreTarget> {
  return chooseTarget(await listDisks(), meta, requested, { keep: opts.keep ?? [], freeRam: freemem() });
}

/**
 * Pick the disk for `meta` (pure): big enough for the image and, when its
 * layout can have one, its scratch area (restore/scratch.ts); without one
 * the pieces stay in RAM, and an image that does not fit there is refused,
 * as a disk too small is, before anything is written.
 */
export function chooseTarget(disks: readonly DiskInfo[], meta: ImageMeta, requested: string | null | undefined, opts: { keep: readonly string[]; freeRam: number }): RestoreTarget {
  const any = planLayout(meta.host, { path: '(any)', sizeBytes: 2 ** 50 });
  const possible = scratchPossible(any, opts.keep);
  const scratch = possible.ok ? scratchBytes(meta) : 0;
  const minBytes = requiredBytes(meta) + scratch;
  const needFor = possible.ok ? `the image and its ${formatBytes(scratch)} scratch area` : undefined;
  const want = { ...(requested ? { requested } : {}), minBytes, ...(needFor ? { needFor } : {}) };
  let disk: DiskInfo;
  let mirror: DiskInfo | undefined;
  let layout: LayoutPlan;
  if (any.md) {
    // md RAID1: both disks get the layout planned for the smaller one
    [disk, mirror] = chooseMirrorDisks(disks, want);
    layout = planLayout(meta.host, { path: disk.path, sizeBytes: Math.min(disk.sizeBytes, mirror.sizeBytes) });
    layout.mirror = { diskPath: mirror.path, diskBytes: mirror.sizeBytes };
  } else {
    disk = chooseTargetDisk(disks, want);
    layout = planLayout(meta.host, { path: disk.path, sizeBytes: disk.sizeBytes });
  }
  if (possible.ok) {
    const area = placeScratch(layout, scratch);
    return { disk, layout: layoutWithScratch(layout, area), scratch: area, ...(mirror ? { mirror } : {}) };
  }
  const image = meta.artifact.compressedBytes;
  if (opts.freeRam < image + RAM_HEADROOM) {
    throw new ImgsrvError('DISK', `the image (${formatBytes(image)} compressed) does not fit in this node's memory (${formatBytes(opts.freeRam)} free), and it can have no scratch area on the disk: ${possible.reason}`, {
      hint: 'capture the sample with an ext4, xfs or btrfs file system on the partition that grows, or give the node more memory; nothing was written',
    });
  }
  return { disk, layout, scratch: { kind: 'ram', reason: possible.reason }, ...(mirror ? { mirror } : {}) };
}

/**
 * Run the restore; on failure the target is unmounted and the error (a
 * StepError where a command failed, DISK when the disk lost writes) propagates.
 */
export async function restore(job: RestoreJob): Promise<RestoreResult> {
  const root = job.root ?? TARGET_ROOT;
  const { runner, log } = job;
  const { disk, layout: planned } = job.target;
  const parts = planned.partitions.map((p) => `${p.number}:${p.mountpoint ?? p.role}`).join(' ');
  const mirror = planned.mirror ? ` and ${planned.mirror.diskPath} (md RAID1 ${planned.md?.map((m) => m.device).join(', ')})` : '';
  job.onPhase('restoring', `partitioning ${disk.path}${mirror} (${planned.table}: ${parts}; ${formatBytes(disk.sizeBytes)})`);
  const existing = await readExistingLayout(runner, disk.path);
  const layout = applyKeep(planned, existing, [...job.keep]);
  if (layout.keepTable) job.onPhase('restoring', `keeping ${layout.partitions.filter((p) => p.keep).map((p) => p.mountpoint).join(', ')} (same layout on disk)`);
  const mapping = await applyLayout(runner, layout);
  let mounted = false;
  let writes: WriteCheck | undefined;
  try {
    const dirs = await mountTarget(runner, mapping, root);
    mounted = true;
    // Before the first byte goes to disk, so a writeback error at any point is reported at a check below.
    writes = openWriteCheck(disk.path, dirs);
    const total = job.meta.artifact.rawBytes;
    const artifact = checkArtifact(job.input(), job.meta.artifact);
    // Kept partitions are mounted under the target: the image's own files there (a capture of a host with a
    // mounted /data holds some) must never replace the node's.
    const keptDirs = layout.partitions.flatMap((p) => (p.keep && p.mountpoint ? [p.mountpoint] : []));
    const { files, bytes, kept } = await unpackImage({
      input: artifact.stream,
      target: root,
      signal: job.signal,
      logger: log,
      skip: keptDirs,
      onProgress: (p) => job.onProgress(p.bytes, total),
    });
    job.onProgress(bytes, total);
    await artifact.verify();
    job.onUnpacked?.();
    writes.check('after the image was written');
    if (kept > 0) job.onNote?.(`${kept} image entries under kept ${keptDirs.join(', ')} left alone: the node's own data there is unchanged`);
    job.onPhase('personalising', `${files} files restored; waiting for the hostname`);
    const hostname = await job.hostname;
    job.onPhase('personalising', `hostname ${hostname}`);
    // The mapping carries each partition's sample device (oldDevice) for configs that name devices.
    await rewriteIdentifiers(root, mapping, { log });
    if (layout.lvm && (await dropLvmDevicesFile(root))) job.onNote?.('lvm devices file /etc/lvm/devices/system.devices removed: it named the sample\'s disks, so the new volume groups would not activate');
    if (layout.md) {
      const conf = await writeMdadmConf(root, layout.md);
      job.onPhase('personalising', `${conf.slice(root.length)} names the new arrays; rebuilding the image's initramfs`);
      const tool = await rebuildInitramfs(runner, root, log);
      if (!tool) job.onNote?.('the image has neither update-initramfs nor dracut: its initramfs still names the sample\'s md arrays (they assemble by superblock scan only)');
    }
    const identity = await personalise(root, { hostname, sampleMacs: job.meta.host.interfaces.map((i) => i.mac), log });
    for (const note of identity.notes) job.onNote?.(note);
    if (job.network) for (const note of (await writeNodeAddress(root, job.network.mac, job.network.address)).notes) job.onNote?.(note);
    await regenerateSshHostKeys(runner, root, log);
    const upReporter = job.reportUp ? await installUpReporter(root, job.reportUp, log) : 'none';
    await installBootloader(runner, {
      root,
      diskPath: disk.path,
      ...(layout.mirror ? { mirrorDiskPath: layout.mirror.diskPath } : {}),
      firmware: job.firmware,
      ...(job.secureBoot ? { secureBoot: true } : {}),
      mapping,
      bootloader: job.meta.host.bootloader,
      table: layout.table,
      kernelArgs: job.kernelArgs,
      log,
    });
    if (job.firmware === 'uefi' && layout.mirror) {
      const copy = await mirrorEsp(runner, { root, mapping, mirrorDiskPath: layout.mirror.diskPath, mnt: '/run/imgsrv/esp2' });
      if (copy) job.onPhase('personalising', `boot loader copied to the second disk's ESP ${copy}`);
    }
    await runner.run('sync', ['sync']);
    writes.check('after the boot loader was installed');
    return { disk, layout, mapping, files, bytes, hostname, upReporter };
  } finally {
    writes?.close();
    if (mounted || existsSync(root)) await unmountTarget(runner, root).catch((err: unknown) => log.error({ err }, 'unmount failed'));
  }
}
