/**
 * The node's scratch area: where the downloaded image's pieces live while
 * the node restores and then seeds, so that the image never has to fit in
 * RAM. It is the tail of the partition that grows (the one planLayout
 * stretches to the end of the disk): that partition is made as the image's
 * layout says, but its file system is made short by the scratch area, whose
 * pieces follow it inside the same partition; once the node has seeded, the
 * area's header is erased and the file system grown over it, online, to the
 * partition's end. The disk is then exactly what a restore without a scratch
 * area leaves.
 *
 * Why there and not elsewhere:
 * - not a file on the new root file system: the restore may start over (a
 *   reboot mid-download), and that makes the file system again; the download
 *   must not start over with it;
 * - not a partition of its own at the disk's end: the partition table stays
 *   the image's from the first write (an MBR has room for only 4 primary
 *   partitions; removing one means rewriting the table of a disk whose
 *   partitions are in use);
 * - the tail of the growing partition is written by no step of the restore:
 *   wipefs and sfdisk touch the tables and the partitions' first sectors, and
 *   mkfs (told not to discard) only the file system's own range. So a node
 *   that reboots finds its pieces where it left them, makes the same layout
 *   (same disk, same image) and resumes (torrent/piece-area.ts).
 *
 * On an LVM PV (the growing partition holds a VG) the PV is made short
 * instead (pvcreate --setphysicalvolumesize), so the growing LV and its file
 * system end before the area; giving it back is pvresize, lvextend -l
 * +100%FREE of that LV, then its file system's grow as below.
 *
 * Growable file systems: ext2/3/4 (e2fsck, then resize2fs, unmounted: an
 * online resize needs CAP_SYS_RESOURCE, which a container's root may lack,
 * and the partition is not in use anyway), xfs (xfs_growfs) and btrfs
 * (`btrfs filesystem resize max`), which only grow mounted (btrfs mounts its
 * default subvolume; the resize is the whole file system's). Anything else
 * (vfat, a kept partition that grows) gets no scratch area: the pieces stay
 * in RAM as before, if they fit.
 */
import { join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import { formatBytes } from '../../core/format.ts';
import type { Logger } from '../../core/log.ts';
import type { ImageMeta } from '../../images/meta.ts';
import { pieceAreaBytes } from '../../torrent/piece-journal.ts';
import type { LayoutPlan } from './layout.ts';
import { growAfterScratch } from './lvm.ts';
import { pvCapacity } from './lvm-plan.ts';
import type { Runner } from './run.ts';

const MiB = 1 << 20;

/** Room left between the area's end and the partition's end: probes for signatures at a partition's end never land on a piece. */
const TAIL_GAP = MiB;

/** File systems the scratch area can be given back to: grown unmounted (ext) or mounted (xfs). */
const GROWERS: Record<string, 'offline' | 'mounted'> = { ext2: 'offline', ext3: 'offline', ext4: 'offline', xfs: 'mounted', btrfs: 'mounted' };

/** How a mounted file system is grown to its device's end. */
const GROW_MOUNTED: Record<string, (mnt: string) => string[]> = {
  xfs: (mnt) => ['xfs_growfs', mnt],
  // one device (layout-check.ts refuses more): devid 1
  btrfs: (mnt) => ['btrfs', 'filesystem', 'resize', 'max', mnt],
};

/** A scratch area on the target disk. */
export interface DiskScratch {
  kind: 'disk';
  diskPath: string;
  /** The growing partition, whose file system is short by the area until the end. */
  partition: number;
  fsType: string;
  /** Byte offset of the area on the disk, and its size. */
  offsetBytes: number;
  sizeBytes: number;
  /** Size of the partition's file system while the area is there; for an LVM PV, the size the PV is made (pvcreate --setphysicalvolumesize). */
  fsBytes: number;
  /** The growing partition is an LVM PV: the area follows the short PV, and `fsType` is the growing LV's file system. */
  lvm?: { vg: string; lv: string };
}

/** Where the pieces go: the target disk, or RAM with the reason why not the disk. */
export type ScratchChoice = DiskScratch | { kind: 'ram'; reason: string };

/** Bytes of the scratch area an image needs (its pieces, header and bitfield, MiB-aligned) plus the gap before the partition's end. */
export function scratchBytes(meta: ImageMeta): number {
  const pieceLength = meta.torrent?.pieceLength ?? MiB;
  return Math.ceil(pieceAreaBytes({ pieceLength, length: meta.artifact.compressedBytes }) / MiB) * MiB + TAIL_GAP;
}

/**
 * Whether an image's layout can have a scratch area, and why not (pure; the
 * same answer for every disk size): the partition that grows must get a
 * file system we make and can grow back.
 */
export function scratchPossible(layout: LayoutPlan, keep: readonly string[]): { ok: true } | { ok: false; reason: string } {
  const grow = layout.partitions.find((p) => p.grows);
  if (!grow) return { ok: false, reason: 'no partition of the layout grows to the end of the disk' };
  const lv = growingLvOf(layout);
  const fs = lv ? lv.fs?.type : grow.fs?.type;
  const what = lv ? `logical volume ${grow.vg}/${lv.name} (${lv.mountpoint ?? lv.role})` : `partition ${grow.number} (${grow.mountpoint ?? grow.role})`;
  // md: the pieces would sit under the array's data on one member only, and growing an array over them is mdadm --grow work the restore does not do
  if (grow.md) return { ok: false, reason: `partition ${grow.number} is a member of md RAID1 ${grow.md}, which gets no scratch area` };
  if (grow.vg && !lv) return { ok: false, reason: `partition ${grow.number} is a physical volume of ${grow.vg}, in which no logical volume grows` };
  if (!fs || !GROWERS[fs]) return { ok: false, reason: `${what} has ${fs ?? 'no file system'}, which the node cannot grow over a scratch area` };
  const mp = lv ? lv.mountpoint : grow.mountpoint;
  if (mp && keep.some((k) => k.replace(/(.)\/+$/, '$1') === mp)) {
    return { ok: false, reason: `${what} is kept` };
  }
  return { ok: true };
}

/** The growing LV of the VG on the growing partition, if that partition is a PV. */
function growingLvOf(layout: LayoutPlan) {
  const grow = layout.partitions.find((p) => p.grows);
  const vg = grow?.vg ? layout.lvm?.find((v) => v.name === grow.vg) : undefined;
  return vg?.lvs.find((l) => l.grows);
}

/** Bytes the growing partition's VG needs for its fixed LVs on the growing PV (less what its other PVs hold), and the VG. */
function fixedOnGrowingPv(layout: LayoutPlan) {
  const grow = layout.partitions.find((p) => p.grows)!;
  const vg = layout.lvm?.find((v) => v.name === grow.vg);
  if (!vg) return { vg: undefined, bytes: 0 };
  const fixed = vg.lvs.filter((l) => !l.grows).reduce((s, l) => s + l.sizeBytes, 0);
  const others = layout.partitions.filter((p) => p !== grow && vg.pvs.includes(p.number)).reduce((s, p) => s + pvCapacity(p.sizeBytes, vg.extentBytes), 0);
  return { vg, bytes: Math.max(0, fixed - others) };
}

/** The scratch area at the end of the growing partition of `layout` (planned for the real disk), `bytes` long. */
export function placeScratch(layout: LayoutPlan, bytes: number): DiskScratch {
  const grow = layout.partitions.find((p) => p.grows);
  const lv = growingLvOf(layout);
  const fsType = lv ? lv.fs?.type : grow?.fs?.type;
  if (!grow || !fsType) throw new ImgsrvError('INTERNAL', 'placeScratch: the layout has no growing file system (check scratchPossible first)');
  const end = grow.startBytes + grow.sizeBytes;
  const offsetBytes = Math.floor((end - bytes) / MiB) * MiB;
  const fsBytes = offsetBytes - grow.startBytes;
  // what the growing file system gets while the area is there: the partition's start up to the area, or the short PV's extents left by the fixed LVs
  const { vg, bytes: fixed } = fixedOnGrowingPv(layout);
  const room = vg ? pvCapacity(fsBytes, vg.extentBytes) - fixed : fsBytes;
  if (room < 64 * MiB) {
    throw new ImgsrvError('DISK', `disk ${layout.diskPath} is TOO SMALL for the image and its scratch area (${formatBytes(bytes)})`, { hint: 'give the node a larger disk or choose a smaller image; nothing was written' });
  }
  const area: DiskScratch = { kind: 'disk', diskPath: layout.diskPath, partition: grow.number, fsType, offsetBytes, sizeBytes: bytes - TAIL_GAP, fsBytes };
  if (vg && lv) area.lvm = { vg: vg.name, lv: lv.name };
  return area;
}

/** The layout with the growing partition's file system (or PV, and so its growing LV) made short by the scratch area (the partition itself unchanged). */
export function layoutWithScratch(layout: LayoutPlan, scratch: ScratchChoice): LayoutPlan {
  if (scratch.kind !== 'disk') return layout;
  if (scratch.lvm) {
    const { vg: name, lv: lvName } = scratch.lvm;
    const { bytes: fixed } = fixedOnGrowingPv(layout);
    return {
      ...layout,
      lvm: layout.lvm?.map((vg) =>
        vg.name !== name ? vg : {
          ...vg,
          shortPv: { partition: scratch.partition, sizeBytes: scratch.fsBytes },
          lvs: vg.lvs.map((l) => (l.name === lvName ? { ...l, sizeBytes: pvCapacity(scratch.fsBytes, vg.extentBytes) - fixed } : l)),
        },
      ),
    };
  }
  return {
    ...layout,
    partitions: layout.partitions.map((p) => (p.number === scratch.partition && p.fs ? { ...p, fs: { ...p.fs, sizeBytes: scratch.fsBytes } } : p)),
  };
}

/**
 * Give the scratch area back: erase its header (nothing resumes from it
 * again; `erase` is torrent/piece-area.ts's), then grow the partition's file
 * system to the partition's end (xfs mounted at `mnt`). On an LVM PV
 * (`pvs`: the VG's PVs by partition), the PV first takes its whole partition
 * and the growing LV every free extent; `device` is that LV.
 */
export async function releaseScratch(
  runner: Runner,
  scratch: DiskScratch,
  device: string,
  opts: { mnt: string; erase: (path: string, offset: number) => Promise<void>; log: Logger; pvs?: ReadonlyArray<{ number: number; device: string }> },
): Promise<void> {
  await opts.erase(scratch.diskPath, scratch.offsetBytes);
  if (scratch.lvm) {
    const pv = opts.pvs?.find((p) => p.number === scratch.partition)?.device;
    if (!pv) throw new ImgsrvError('INTERNAL', `releaseScratch: no device for the physical volume on partition ${scratch.partition}`);
    await growAfterScratch(runner, opts.pvs!.map((p) => p.device), pv, scratch.lvm.vg, scratch.lvm.lv);
  }
  const step = `grow the ${scratch.fsType} file system over the scratch area`;
  if (GROWERS[scratch.fsType] === 'offline') {
    // resize2fs wants a file system checked since its last mount. e2fsck -p exits 1 when it fixed
    // something; a second run then finds it clean (0) or fails for real.
    const check = ['e2fsck', '-f', '-p', device];
    await runner.run(`check partition ${scratch.partition}`, check).catch(() => runner.run(`check partition ${scratch.partition} again`, check));
    await runner.run(step, ['resize2fs', device]);
  } else {
    await runner.run('make the mount point', ['mkdir', '-p', opts.mnt]);
    await runner.run(`mount partition ${scratch.partition}`, ['mount', '-t', scratch.fsType, device, opts.mnt]);
    try {
      await runner.run(step, GROW_MOUNTED[scratch.fsType]!(opts.mnt));
    } finally {
      await runner.run(`unmount partition ${scratch.partition}`, ['umount', opts.mnt]);
    }
  }
  opts.log.info({ device, fsType: scratch.fsType, freed: scratch.sizeBytes }, 'scratch area given back to the file system');
}

/** Where releaseScratch mounts the partition by default. */
export const SCRATCH_MOUNT = join('/run', 'imgsrv', 'grow');
