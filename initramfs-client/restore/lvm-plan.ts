/**
 * The LVM part of a layout plan (pure): the sample's volume groups with the
 * SAME VG names, extent sizes and LV names (so /dev/mapper/vg-lv and
 * /dev/vg/lv in fstab, grub.cfg and the image's own initramfs stay valid),
 * every LV at its captured size except one that takes the rest of the VG.
 *
 * Which LV grows: in the VG whose PV is the partition that grows, the LV
 * holding `/`; in a VG without `/`, the largest LV with a mounted file
 * system. The root rule matches the plain-partition layouts (the root
 * partition grows when only swap follows it) and the "root LV grown
 * to the disk"; a sample that wants /home to take the disk shows it by
 * having no LV for `/` in that VG.
 */
import type { HostFacts, LvmVg } from '../../images/meta.ts';
import { freshUuid, type PlannedPartition } from './layout.ts';

const MiB = 1024 * 1024;

/** Where lvm puts the first extent on a new PV (pvcreate's default data alignment). */
export const PE_START = MiB;

/** One logical volume to make. */
export interface PlannedLv {
  name: string;
  /** The captured size; for the LV that grows, what it gets on this disk (the rest of the VG). */
  sizeBytes: number;
  grows: boolean;
  role: 'root' | 'swap' | 'data' | 'other';
  mountpoint?: string;
  fs?: NonNullable<PlannedPartition['fs']>;
  swap?: NonNullable<PlannedPartition['swap']>;
}

/** One volume group to make on partitions of the plan. */
export interface PlannedVg {
  name: string;
  extentBytes: number;
  /** Partition numbers of its PVs. */
  pvs: number[];
  lvs: PlannedLv[];
  /** The PV on the growing partition is made this short while a scratch area follows it (scratch.ts). */
  shortPv?: { partition: number; sizeBytes: number };
}

/** The VG that holds `/`, if any. */
export function rootVg(facts: HostFacts): LvmVg | undefined {
  return facts.lvm?.vgs.find((vg) => vg.lvs.some((lv) => lv.mountpoint === '/'));
}

/** The captured VG whose PV is partition `number` of sample disk `disk`. */
export function vgOfPartition(facts: HostFacts, disk: string, number: number): LvmVg | undefined {
  return facts.lvm?.vgs.find((vg) => vg.pvs.some((pv) => pv.disk === disk && pv.partition === number));
}

/** Bytes of extents a PV of `partitionBytes` holds. */
export function pvCapacity(partitionBytes: number, extentBytes: number): number {
  return Math.max(0, Math.floor((partitionBytes - PE_START) / extentBytes) * extentBytes);
}

function planLv(lv: LvmVg['lvs'][number]): PlannedLv {
  const out: PlannedLv = { name: lv.name, sizeBytes: lv.sizeBytes, grows: false, role: 'other' };
  const fs = lv.fs;
  if (fs?.type === 'swap') {
    out.role = 'swap';
    out.swap = { newUuid: freshUuid('swap') };
    if (fs.label) out.swap = { ...out.swap, label: fs.label, oldLabel: fs.label };
    if (fs.uuid) out.swap.oldUuid = fs.uuid;
    return out;
  }
  if (!fs) return out;
  out.role = lv.mountpoint === '/' ? 'root' : 'data';
  if (lv.mountpoint) out.mountpoint = lv.mountpoint;
  out.fs = { type: fs.type, newUuid: freshUuid(fs.type) };
  if (fs.label) {
    out.fs.label = fs.label;
    out.fs.oldLabel = fs.label;
  }
  if (fs.uuid) out.fs.oldUuid = fs.uuid;
  if (fs.mountOptions) out.fs.mountOptions = fs.mountOptions;
  return out;
}

/** The LV that takes the rest of its VG: the root LV, else the largest mounted one, else the largest. */
export function growingLv(lvs: readonly PlannedLv[]): PlannedLv | undefined {
  const bySize = (list: readonly PlannedLv[]) => [...list].sort((a, b) => b.sizeBytes - a.sizeBytes)[0];
  return lvs.find((l) => l.role === 'root') ?? bySize(lvs.filter((l) => l.mountpoint && l.fs)) ?? bySize(lvs);
}

/** The VGs of the sample disk `disk` on the plan's partitions (those with `vg` set), sized for them; throws via `tooSmall` when one does not fit. */
export function planVgs(facts: HostFacts, disk: string, partitions: readonly PlannedPartition[], tooSmall: (what: string) => Error): PlannedVg[] | undefined {
  const out: PlannedVg[] = [];
  for (const vg of facts.lvm?.vgs ?? []) {
    const pvParts = partitions.filter((p) => p.vg === vg.name && vg.pvs.some((pv) => pv.disk === disk && pv.partition === p.number));
    if (pvParts.length === 0) continue;
    const lvs = vg.lvs.map(planLv);
    const grows = pvParts.some((p) => p.grows);
    const grow = grows ? growingLv(lvs) : undefined;
    if (grow) grow.grows = true;
    const capacity = pvParts.reduce((s, p) => s + pvCapacity(p.sizeBytes, vg.extentBytes), 0);
    const fixed = lvs.filter((l) => !l.grows).reduce((s, l) => s + l.sizeBytes, 0);
    const need = fixed + (grow ? 64 * MiB : 0);
    if (need > capacity) throw tooSmall(`volume group ${vg.name} needs ${need} bytes of extents, its physical volumes hold ${capacity}`);
    if (grow) grow.sizeBytes = capacity - fixed;
    out.push({ name: vg.name, extentBytes: vg.extentBytes, pvs: pvParts.map((p) => p.number), lvs });
  }
  return out.length ? out : undefined;
}
