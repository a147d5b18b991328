/**
 * Decide the node's partition layout: the sample's layout of the disk that
 * held `/` (same table type, types, names and order, the last partition grown
 * to the end of the node's disk), or the default layout for images captured
 * from a plain tree. Pure: no I/O, so every decision is unit-testable.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ImgsrvError } from '../../core/errors.ts';
import type { HostFacts, ImageMeta } from '../../images/meta.ts';
import { PE_START, planVgs, pvCapacity, rootVg, vgOfPartition, type PlannedVg } from './lvm-plan.ts';
import { arrayOfPartition, MD_RESERVE, planArrays, rootArray, type PlannedMd } from './md-plan.ts';
import { planBtrfs, type PlannedBtrfs } from './btrfs.ts';

const MiB = 1024 * 1024;

/** GPT type GUIDs the restore recognises by role. */
export const GPT_TYPES = {
  biosGrub: '21686148-6449-6E6F-744E-656564454649',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
  lvm: 'E6D6D379-F507-44C2-A23C-238F2A3DF928',
  raid: 'A19D880F-05FC-4D3B-A006-743F0F84911E',
} as const;

/** What a partition is for; decides mkfs and bootloader handling. */
export type PartitionRole = 'bios_grub' | 'esp' | 'root' | 'swap' | 'data' | 'lvm' | 'raid' | 'other';

/** One partition to make (or keep). Byte offsets; `type` is a GPT GUID or an MBR hex id ("83"). */
export interface PlannedPartition {
  number: number;
  startBytes: number;
  sizeBytes: number;
  type: string;
  name?: string;
  role: PartitionRole;
  mountpoint?: string;
  /** `sizeBytes`: the file system is made this size, short of the partition's end (a scratch area follows it: scratch.ts). */
  fs?: { type: string; label?: string; newUuid: string; oldUuid?: string; oldLabel?: string; mountOptions?: string; sizeBytes?: number; btrfs?: PlannedBtrfs };
  swap?: { newUuid: string; label?: string; oldUuid?: string; oldLabel?: string };
  /** This is the partition grown to fill the disk. */
  grows: boolean;
  /** Existing partition left as it is (keep data on re-image): no mkfs, its UUID and label are reused. */
  keep: boolean;
  /** The sample's device for this partition ("/dev/sda2"), for configs that name devices. */
  oldDevice?: string;
  /** An LVM physical volume of this volume group (role 'lvm'; the VG is in LayoutPlan.lvm). */
  vg?: string;
  /** A member of this md array (role 'raid'; the array is in LayoutPlan.md), the same partition on the mirror disk being the other. */
  md?: string;
}

/** The whole layout for one disk. */
export interface LayoutPlan {
  table: 'gpt' | 'dos';
  diskPath: string;
  diskBytes: number;
  partitions: PlannedPartition[];
  /** True when the table is left as it is (keep mode) and only non-kept partitions get new file systems. */
  keepTable: boolean;
  /** Volume groups made on the partitions with `vg` set (lvm-plan.ts); absent without LVM. */
  lvm?: PlannedVg[];
  /** md RAID1 arrays made on the partitions with `md` set (md-plan.ts); absent without md. */
  md?: PlannedMd[];
  /** The second disk of the mirror, partitioned as `diskPath` (set with `md`). */
  mirror?: { diskPath: string; diskBytes: number };
}

/** One partition or logical volume made or kept by the restore, as the system side (fstab rewrite, bootloader) needs it. */
export interface PartitionMapping {
  device: string;
  /** The partition; for a logical volume, the partition of its (first) PV. */
  number: number;
  /** Set for a logical volume: its VG and LV names (the same as the sample's) and the devices of the VG's PVs. */
  lv?: { vg: string; name: string; pvs: Array<{ number: number; device: string }> };
  /** Set for an md array: its new UUID and its members (partition `number` of each disk). */
  md?: { uuid: string; oldUuid: string; metadata: string; name?: string; members: string[] };
  role: PartitionRole;
  mountpoint?: string;
  /** File system type, "swap" for swap areas. */
  fsType: string;
  oldUuid?: string;
  oldLabel?: string;
  oldDevice?: string;
  newUuid: string;
  newLabel?: string;
  kept: boolean;
  /** A btrfs subvolume mounted at `mountpoint` (one mapping per mount of the same file system): its path ("" the top level) and the options to mount it with. */
  subvolume?: { path: string; options: string };
}

/** Options for planLayout. */
export interface PlanOptions {
  /** Root file system type for the default layout (default: the sample's `/` type if ext4/xfs, else ext4). */
  rootFsType?: string;
}

/** A fresh identifier for a new file system: v4 UUID, or for FAT the 32-bit volume id shown as "XXXX-XXXX". */
export function freshUuid(fsType: string): string {
  if (isFat(fsType)) {
    const h = randomBytes(4).toString('hex').toUpperCase();
    return `${h.slice(0, 4)}-${h.slice(4)}`;
  }
  return randomUUID();
}

/** FAT file system type names as captured (blkid says "vfat"). */
export function isFat(fsType: string): boolean {
  return ['vfat', 'fat', 'fat12', 'fat16', 'fat32', 'msdos'].includes(fsType.toLowerCase());
}

function normType(t: string): string {
  const s = t.trim();
  return /^0x[0-9a-f]+$/i.test(s) ? s.slice(2).toLowerCase() : /^[0-9a-f]{1,2}$/i.test(s) ? s.toLowerCase() : s.toUpperCase();
}

function roleOf(type: string, mountpoint: string | undefined, fsType: string | undefined): PartitionRole {
  const t = normType(type);
  if (t === GPT_TYPES.lvm || t === '8e' || fsType === 'LVM2_member') return 'lvm';
  if (t === GPT_TYPES.raid || t === 'fd' || fsType === 'linux_raid_member') return 'raid';
  if (t === GPT_TYPES.biosGrub) return 'bios_grub';
  if (t === GPT_TYPES.esp || t === 'ef') return 'esp';
  if (mountpoint === '/') return 'root';
  if (t === GPT_TYPES.swap || t === '82' || fsType === 'swap') return 'swap';
  if (mountpoint || fsType) return 'data';
  return 'other';
}

/** The sample's device name for partition n of disk `name` ("sda" → "sda2", "nvme0n1" → "nvme0n1p2"). */
export function partitionName(disk: string, n: number): string {
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}

type SampleDisk = HostFacts['disks'][number];
type SamplePartition = SampleDisk['partitions'][number];

/** Where the sample mounted a partition: by fs UUID, then label, then device, then what capture recorded on the partition. */
function sampleMount(facts: HostFacts, disk: SampleDisk, p: SamplePartition): HostFacts['filesystems'][number] | undefined {
  const dev = `/dev/${partitionName(disk.name, p.number)}`;
  const uuid = p.fs?.uuid?.toLowerCase();
  return (
    (uuid ? facts.filesystems.find((f) => f.uuid?.toLowerCase() === uuid) : undefined) ??
    (p.fs?.label ? facts.filesystems.find((f) => f.label === p.fs?.label) : undefined) ??
    facts.filesystems.find((f) => f.source === dev) ??
    (p.mountpoint ? facts.filesystems.find((f) => f.mountpoint === p.mountpoint) : undefined)
  );
}

function defaultPlan(facts: HostFacts, disk: { path: string; sizeBytes: number }, opts: PlanOptions): LayoutPlan {
  const sampleRoot = facts.filesystems.find((f) => f.mountpoint === '/')?.type;
  const rootFs = opts.rootFsType ?? (sampleRoot === 'xfs' || sampleRoot === 'ext4' ? sampleRoot : 'ext4');
  const parts: PlannedPartition[] = [
    { number: 1, startBytes: MiB, sizeBytes: MiB, type: GPT_TYPES.biosGrub, name: 'bios', role: 'bios_grub', grows: false, keep: false },
    {
      number: 2, startBytes: 2 * MiB, sizeBytes: 64 * MiB, type: GPT_TYPES.esp, name: 'EFI', role: 'esp', mountpoint: '/boot/efi',
      fs: { type: 'vfat', label: 'EFI', newUuid: freshUuid('vfat') }, grows: false, keep: false,
    },
    {
      number: 3, startBytes: 66 * MiB, sizeBytes: 0, type: GPT_TYPES.linux, name: 'root', role: 'root', mountpoint: '/',
      fs: { type: rootFs, label: 'root', newUuid: freshUuid(rootFs) }, grows: true, keep: false,
    },
  ];
  return fit({ table: 'gpt', diskPath: disk.path, diskBytes: disk.sizeBytes, partitions: parts, keepTable: false });
}

/** The sample disk holding `/`, with each partition's mount, or undefined when the facts have none. */
function sampleRootDisk(facts: HostFacts): { disk: SampleDisk; mounts: (HostFacts['filesystems'][number] | undefined)[] } | undefined {
  if (facts.partitionTable !== 'gpt' && facts.partitionTable !== 'mbr') return undefined;
  const lvmRoot = rootVg(facts);
  // a root on md: the disk of its first member (role 0); the other member's disk is the mirror
  const mdRoot = rootArray(facts)?.members[0]?.disk;
  for (const disk of facts.disks) {
    const mounts = disk.partitions.map((p) => sampleMount(facts, disk, p));
    if (mdRoot === disk.name) return { disk, mounts };
    if (mdRoot === undefined && disk.partitions.some((p, i) => (mounts[i]?.mountpoint ?? p.mountpoint) === '/')) return { disk, mounts };
    if (lvmRoot?.pvs.some((pv) => pv.disk === disk.name)) return { disk, mounts };
  }
  return undefined;
}

/** Plan the node's layout from the sample's facts for a disk of the given size. */
export function planLayout(facts: HostFacts, disk: { path: string; sizeBytes: number }, opts: PlanOptions = {}): LayoutPlan {
  const found = sampleRootDisk(facts);
  if (!found) return defaultPlan(facts, disk, opts);
  const { disk: sd, mounts } = found;
  const parts: PlannedPartition[] = sd.partitions.map((p, i) => {
    const vg = vgOfPartition(facts, sd.name, p.number);
    const array = arrayOfPartition(facts, sd.name, p.number);
    // a PV or md member is mounted nowhere: a mount found for it by device or UUID would be an LV's or the array's
    const m = vg || array ? undefined : mounts[i];
    const fsType = p.fs?.type ?? m?.type;
    // a btrfs with subvolumes is mounted once per subvolume: the partition stands at the shallowest
    const btrfs = !vg && !array && fsType === 'btrfs' ? planBtrfs(facts, p.fs?.uuid ?? m?.uuid) : undefined;
    const mountpoint = btrfs?.mounts[0]?.mountpoint ?? m?.mountpoint ?? p.mountpoint;
    const role = vg ? 'lvm' : array ? 'raid' : roleOf(p.type, mountpoint, fsType);
    const oldUuid = p.fs?.uuid ?? m?.uuid;
    const label = p.fs?.label ?? m?.label;
    const oldDevice = m?.source.startsWith('/dev/') && !m.source.startsWith('/dev/disk/') ? m.source : `/dev/${partitionName(sd.name, p.number)}`;
    const out: PlannedPartition = {
      number: p.number, startBytes: p.startBytes, sizeBytes: p.sizeBytes, type: normType(p.type), role, grows: false, keep: false, oldDevice,
    };
    if (p.name !== undefined) out.name = p.name;
    if (role === 'lvm') {
      if (vg) out.vg = vg.name;
    } else if (role === 'raid') {
      if (array) out.md = array.device;
    } else if (role === 'swap') {
      const sw = facts.swap.find((s) => (oldUuid && s.uuid === oldUuid) || s.source === oldDevice);
      out.swap = { newUuid: freshUuid('swap') };
      const swLabel = label ?? sw?.label;
      if (swLabel) {
        out.swap.label = swLabel;
        out.swap.oldLabel = swLabel;
      }
      const swUuid = oldUuid ?? sw?.uuid;
      if (swUuid) out.swap.oldUuid = swUuid;
    } else if (fsType && role !== 'bios_grub' && role !== 'other') {
      if (mountpoint) out.mountpoint = mountpoint;
      out.fs = { type: fsType, newUuid: freshUuid(fsType) };
      if (label) {
        out.fs.label = label;
        out.fs.oldLabel = label;
      }
      if (oldUuid) out.fs.oldUuid = oldUuid;
      const opts = p.fs?.mountOptions ?? m?.options;
      if (opts) out.fs.mountOptions = opts;
      if (btrfs) out.fs.btrfs = btrfs;
    }
    return out;
  });
  parts.sort((a, b) => a.startBytes - b.startBytes);
  if (parts.length === 0) return defaultPlan(facts, disk, opts);
  // Growing a partition in the middle would move every later one. The root grows when only swap
  // (or an MBR extended partition holding swap, Debian's default) follows it: those move to the
  // end of the disk. Otherwise the last partition grows.
  const lvmRoot = rootVg(facts)?.name;
  const mdRoot = rootArray(facts)?.device;
  const rootAt = parts.findIndex((p) => p.role === 'root' || (lvmRoot !== undefined && p.vg === lvmRoot) || (mdRoot !== undefined && p.md === mdRoot));
  const swapMd = new Set((facts.md?.arrays ?? []).filter((a) => a.fs?.type === 'swap').map((a) => a.device));
  const tailIsSwap = rootAt >= 0 && parts.slice(rootAt + 1).every((p) => p.role === 'swap' || (p.md !== undefined && swapMd.has(p.md)) || (facts.partitionTable === 'mbr' && EXTENDED.includes(p.type)));
  parts[tailIsSwap ? rootAt : parts.length - 1]!.grows = true;
  parts.sort((a, b) => a.number - b.number);
  const plan = fit({ table: facts.partitionTable === 'gpt' ? 'gpt' : 'dos', diskPath: disk.path, diskBytes: disk.sizeBytes, partitions: parts, keepTable: false });
  const vgs = planVgs(facts, sd.name, plan.partitions, (what) => tooSmall(plan, what));
  if (vgs) plan.lvm = vgs;
  const arrays = planArrays(facts, sd.name, plan.partitions);
  if (arrays) {
    plan.md = arrays;
    for (const md of arrays) {
      const member = plan.partitions.find((p) => p.number === md.partition)!;
      if (member.sizeBytes < MD_RESERVE + 64 * MiB && member.grows) throw tooSmall(plan, `partition ${member.number} (a member of ${md.device}) gets ${member.sizeBytes} bytes, md needs ${MD_RESERVE} of it for itself`);
    }
  }
  return plan;
}

/** End of the space partitions may use: GPT keeps 33 sectors of backup table + header at the end. */
function usableEnd(table: 'gpt' | 'dos', diskBytes: number): number {
  return table === 'gpt' ? diskBytes - 34 * 512 : diskBytes;
}

/** MBR partition ids of extended partitions (containers of logical partitions). */
const EXTENDED = ['5', 'f', '85'];

function tooSmall(plan: LayoutPlan, what: string): ImgsrvError {
  return new ImgsrvError('DISK', `disk ${plan.diskPath} is TOO SMALL for the image's layout: ${what}`, {
    hint: 'give the node a larger disk or choose a smaller image; nothing was written',
  });
}

/** Size the growing partition to the 1 MiB-aligned end of the disk, moving any partitions after it (swap) to the end. */
function fit(plan: LayoutPlan): LayoutPlan {
  const end = Math.floor(usableEnd(plan.table, plan.diskBytes) / MiB) * MiB;
  const grow = plan.partitions.find((p) => p.grows);
  if (!grow) return plan;
  const origEnd = grow.startBytes + grow.sizeBytes;
  const tail = plan.partitions.filter((p) => p.startBytes > grow.startBytes);
  let growEnd = end;
  if (tail.length > 0) {
    const tailStart = Math.min(...tail.map((p) => p.startBytes));
    const tailEnd = Math.max(...tail.map((p) => p.startBytes + p.sizeBytes));
    // keep the tail's internal layout (EBRs of logical partitions) and shift it whole, by whole MiB
    const shift = Math.floor((end - tailEnd) / MiB) * MiB;
    for (const p of tail) p.startBytes += shift;
    growEnd = tailStart + shift - Math.max(0, tailStart - Math.max(origEnd, grow.startBytes));
  }
  for (const p of plan.partitions) {
    if (p === grow) continue;
    // an MBR extended partition that contains the growing one grows with it
    if (plan.table === 'dos' && EXTENDED.includes(p.type) && grow.startBytes > p.startBytes && p.startBytes + p.sizeBytes >= origEnd) {
      p.sizeBytes = end - p.startBytes;
      continue;
    }
    if (p.startBytes + p.sizeBytes > end) throw tooSmall(plan, `partition ${p.number} ends at ${p.startBytes + p.sizeBytes} bytes, the disk has ${plan.diskBytes}`);
  }
  if (growEnd - grow.startBytes < MiB) throw tooSmall(plan, `no room left for partition ${grow.number}`);
  if (tail.some((p) => p.startBytes < growEnd && !EXTENDED.includes(p.type))) throw tooSmall(plan, `partition ${grow.number} would overlap the partitions after it`);
  grow.sizeBytes = growEnd - grow.startBytes;
  return plan;
}

/**
 * Smallest disk the image fits on. Rule: everything up to the growing
 * partition's start (fixed partitions as captured), plus what the growing
 * partition must hold — the image's raw bytes minus the bytes used on fixed
 * partitions and fixed LVs (or the used bytes the sample reported for it, if
 * larger) — times 1.1 for file system overhead, plus 256 MiB slack and
 * 1 MiB for the GPT backup. A growing LVM PV holds besides: the fixed LVs of
 * its VG (less what its other PVs hold), lvm's metadata area and one extent
 * of rounding.
 */
export function requiredBytes(meta: ImageMeta, plan?: LayoutPlan): number {
  const p = plan ?? planLayout(meta.host, { path: '(any)', sizeBytes: 2 ** 50 });
  const grow = p.partitions.find((x) => x.grows);
  if (!grow) return Math.max(0, ...p.partitions.map((x) => x.startBytes + x.sizeBytes)) + MiB;
  // bytes the plan puts after the growing partition (moved swap, alignment, GPT backup): the same on any disk
  const tailBytes = p.diskBytes - (grow.startBytes + grow.sizeBytes);
  const used = (mp: string | undefined): number => (mp ? meta.host.filesystems.filter((f) => f.mountpoint === mp).reduce((s, f) => s + f.usedBytes, 0) : 0);
  const lvs = (p.lvm ?? []).flatMap((vg) => vg.lvs);
  const growLv = lvs.find((l) => l.grows);
  const growMd = grow.md ? p.md?.find((m) => m.device === grow.md) : undefined;
  const usedFixed = [...p.partitions.filter((x) => !x.grows), ...lvs.filter((l) => !l.grows)].reduce((s, x) => s + used(x.mountpoint), 0);
  const usedFixedMd = (p.md ?? []).filter((m) => m !== growMd).reduce((s, m) => s + used(m.mountpoint), 0);
  const need = Math.max(meta.artifact.rawBytes - usedFixed - usedFixedMd, used(growLv?.mountpoint ?? growMd?.mountpoint ?? grow.mountpoint), 0);
  const vg = grow.vg ? p.lvm?.find((v) => v.name === grow.vg) : undefined;
  let lvmBytes = 0;
  if (vg) {
    const fixedLvs = vg.lvs.filter((l) => !l.grows).reduce((s, l) => s + l.sizeBytes, 0);
    const otherPvs = p.partitions.filter((x) => x !== grow && vg.pvs.includes(x.number)).reduce((s, x) => s + pvCapacity(x.sizeBytes, vg.extentBytes), 0);
    lvmBytes = PE_START + Math.max(0, fixedLvs - otherPvs) + vg.extentBytes;
  }
  const mdBytes = growMd ? MD_RESERVE : 0;
  return grow.startBytes + lvmBytes + mdBytes + Math.ceil(need * 1.1) + 256 * MiB + tailBytes;
}

/** The mapping the system side needs, for a plan whose partitions (by number) and logical volumes (by "vg/lv") now have device paths. */
export function mappingFor(plan: LayoutPlan, devices: ReadonlyMap<number, string>, lvDevices: ReadonlyMap<string, string> = new Map(), pvDevices: ReadonlyMap<number, string> = new Map(), mdMembers: ReadonlyMap<string, string[]> = new Map()): PartitionMapping[] {
  const out: PartitionMapping[] = [];
  for (const p of plan.partitions) {
    const device = devices.get(p.number);
    if (!device) continue;
    const id = p.fs ?? p.swap;
    if (!id) continue;
    const m: PartitionMapping = { device, number: p.number, role: p.role, fsType: p.fs?.type ?? 'swap', newUuid: id.newUuid, kept: p.keep };
    if (p.mountpoint) m.mountpoint = p.mountpoint;
    if (id.oldUuid) m.oldUuid = id.oldUuid;
    if (id.label) m.newLabel = id.label;
    if (id.oldLabel) m.oldLabel = id.oldLabel;
    if (p.oldDevice) m.oldDevice = p.oldDevice;
    const subvolumeMounts = p.fs?.btrfs?.mounts ?? [];
    if (subvolumeMounts.length === 0) out.push(m);
    for (const sv of subvolumeMounts) {
      const role: PartitionRole = sv.mountpoint === '/' ? 'root' : p.role === 'esp' || p.role === 'bios_grub' ? p.role : 'data';
      out.push({ ...m, role, mountpoint: sv.mountpoint, subvolume: { path: sv.subvolume, options: sv.options } });
    }
  }
  for (const vg of plan.lvm ?? []) {
    for (const lv of vg.lvs) {
      const device = lvDevices.get(`${vg.name}/${lv.name}`);
      const id = lv.fs ?? lv.swap;
      if (!device || !id) continue;
      // No oldDevice: the LV keeps its name, so configs naming /dev/mapper/vg-lv or /dev/vg/lv stay right as they are.
      const m: PartitionMapping = { device, number: vg.pvs[0]!, lv: { vg: vg.name, name: lv.name, pvs: vg.pvs.flatMap((n) => { const d = pvDevices.get(n); return d ? [{ number: n, device: d }] : []; }) }, role: lv.role === 'other' ? 'data' : lv.role, fsType: lv.fs?.type ?? 'swap', newUuid: id.newUuid, kept: false };
      if (lv.mountpoint) m.mountpoint = lv.mountpoint;
      if (id.oldUuid) m.oldUuid = id.oldUuid;
      if (id.label) m.newLabel = id.label;
      if (id.oldLabel) m.oldLabel = id.oldLabel;
      out.push(m);
    }
  }
  for (const md of plan.md ?? []) {
    const members = mdMembers.get(md.device);
    const id = md.fs ?? md.swap;
    if (!members || !id) continue;
    // No oldDevice: the array keeps its /dev/mdN, so configs naming it stay right as they are.
    const m: PartitionMapping = { device: md.device, number: md.partition, md: { uuid: md.newUuid, oldUuid: md.oldUuid, metadata: md.metadata, members }, role: md.role, fsType: md.fs?.type ?? 'swap', newUuid: id.newUuid, kept: false };
    if (md.name) m.md!.name = md.name;
    if (md.mountpoint) m.mountpoint = md.mountpoint;
    if (id.oldUuid) m.oldUuid = id.oldUuid;
    if (id.label) m.newLabel = id.label;
    if (id.oldLabel) m.oldLabel = id.oldLabel;
    out.push(m);
  }
  return out;
}
