/**
 * Layouts the restore cannot recreate are refused at capture time, with what
 * to do, never discovered on a node. The restore lays an image out as plain
 * partitions (GPT or MBR; ext2/3/4, XFS, btrfs, FAT, swap), as LVM volume
 * groups of linear LVs whose PVs are partitions of the disk that holds `/`,
 * as md RAID1 mirrors over the same partition of two identically
 * partitioned disks (md-check.ts), and as btrfs subvolumes of a one-device
 * btrfs on such a partition, each mounted on the sample (the capture copies
 * files as mounted). Anything else (thin pools, RAID/mirror, snapshot or
 * cache LVs, PVs on other or whole disks, other md layouts, LUKS, ZFS,
 * multi-device or RAID btrfs, btrfs snapshots and unmounted subvolumes)
 * would be flattened or lost while the fstab still named /dev/mapper/… or
 * subvol=…: every clone would boot into emergency mode while the server
 * showed it installed.
 */
import { BTRFS_TOP_LEVEL, dmName, type BtrfsFs, type HostFacts, type LvmVg } from '../../images/meta.ts';
import { unrestorableMd } from './md-check.ts';

/** Why a host's layout can't be restored, and what the operator can do. */
export interface LayoutRefusal {
  what: string;
  hint: string;
}

const LVM_HINT = 'imgsrv recreates LVM volume groups of linear logical volumes on partitions of the disk that holds /: capture a sample laid out that way (or on plain partitions)';

const STACKED: Record<string, { name: string; hint: string }> = {
  linux_raid_member: { name: 'md RAID', hint: 'imgsrv recreates md RAID1 mirrors of partitions of two identically partitioned disks: capture a sample laid out that way (or on one disk without md RAID)' },
  crypto_LUKS: { name: 'LUKS encryption', hint: 'imgsrv does not capture encrypted volumes: capture an unencrypted sample and encrypt on first boot if you need to' },
  zfs_member: { name: 'ZFS', hint: 'imgsrv restores plain partitions and LVM only: capture a sample without ZFS' },
};

/** The first reason `facts` can't be restored as captured, or undefined when it can. */
export function unrestorableLayout(facts: HostFacts): LayoutRefusal | undefined {
  const vgs = facts.lvm?.vgs ?? [];
  const lvmRefusal = unrestorableLvm(facts, vgs);
  if (lvmRefusal) return lvmRefusal;
  const mdRefusal = unrestorableMd(facts);
  if (mdRefusal) return mdRefusal;
  const arrays = facts.md?.arrays ?? [];
  for (const disk of facts.disks) {
    for (const p of disk.partitions) {
      const type = p.fs?.type;
      if (type === 'LVM2_member') {
        if (!vgs.some((vg) => vg.pvs.some((pv) => pv.disk === disk.name && pv.partition === p.number))) {
          return { what: `partition ${p.number} of ${disk.name} holds LVM (LVM2_member) but lvm reported no volume group on it`, hint: 'run the capture as root on a host with lvm2 installed and its volume groups active (vgchange -ay)' };
        }
        continue;
      }
      // members of known arrays were checked by unrestorableMd
      if (type === 'linux_raid_member' && arrays.some((a) => a.members.some((m) => m.disk === disk.name && m.partition === p.number))) continue;
      const stacked = type ? STACKED[type] : undefined;
      if (stacked) return { what: `partition ${p.number} of ${disk.name} holds ${stacked.name} (${type})`, hint: stacked.hint };
    }
  }
  const lvDevices = new Set(vgs.flatMap((vg) => vg.lvs.flatMap((lv) => [`/dev/mapper/${dmName(vg.name, lv.name)}`, `/dev/${vg.name}/${lv.name}`])));
  for (const f of facts.filesystems) {
    const where = `${f.mountpoint} (${f.source})`;
    if (/^\/dev\/(mapper\/|dm-)/.test(f.source) && !lvDevices.has(f.source) && !vgs.some((vg) => vg.lvs.some((lv) => lv.mountpoint === f.mountpoint))) {
      return { what: `${where} is on a device-mapper volume that is no linear LVM volume (LUKS, multipath, dm-crypt or a stacked target)`, hint: 'imgsrv restores plain partitions and linear LVM volumes only: capture a sample without encryption or other device-mapper layers' };
    }
    if (/^\/dev\/md/.test(f.source) && !arrays.some((a) => a.device === f.source || (a.mountpoint !== undefined && a.mountpoint === f.mountpoint))) {
      return { what: `${where} is on md RAID that the probe found no array for`, hint: 'install mdadm on the sample and capture as root, so that mdadm --detail reports its arrays' };
    }
    if (f.type === 'btrfs') {
      // The kernel always shows subvol= for btrfs; a "[/dir]" source alone is just a bind mount of a directory.
      const subvol = /(?:^|,)subvol=([^,]*)/.exec(f.options)?.[1];
      const known = facts.btrfs?.some((b) => f.uuid !== undefined && b.uuid.toLowerCase() === f.uuid.toLowerCase());
      if (subvol && subvol !== '/' && !known) return { what: `${f.mountpoint} is btrfs subvolume ${subvol}, and the probe found no facts about its file system`, hint: BTRFS_PROGS_HINT };
    }
  }
  for (const b of facts.btrfs ?? []) {
    const refusal = unrestorableBtrfs(facts, b, vgs);
    if (refusal) return refusal;
  }
  return undefined;
}

const BTRFS_HINT = 'imgsrv recreates a btrfs on one partition of the disk that holds / with the subvolumes the sample mounts';
const BTRFS_PROGS_HINT = 'install btrfs-progs on the sample (apt-get install btrfs-progs) so the capture can list its subvolumes, and capture again';

/** Refusals for one btrfs: one device, no RAID profile; with subvolumes, on a partition of the root disk, every subvolume mounted and none a snapshot. */
function unrestorableBtrfs(facts: HostFacts, b: BtrfsFs, vgs: readonly LvmVg[]): LayoutRefusal | undefined {
  const where = `the btrfs ${b.label ? `"${b.label}" ` : ''}(${b.uuid}) mounted at ${b.mounts.map((m) => m.mountpoint).join(', ') || '(nowhere)'}`;
  if (b.devices.length > 1) return { what: `${where} spans ${b.devices.length} devices (${b.devices.join(', ')})`, hint: `${BTRFS_HINT}: multi-device btrfs is not recreated; capture a sample whose btrfs is on one partition` };
  const raid = b.profiles.find((p) => /:raid/.test(p));
  if (raid) return { what: `${where} uses the ${raid.replace(':', ' profile ')}`, hint: `${BTRFS_HINT}: RAID profiles are not recreated; capture a sample whose btrfs is single or dup` };
  const subvolumesUsed = b.subvolumes.length > 0 || b.mounts.some((m) => m.subvolume !== '') || b.defaultId !== BTRFS_TOP_LEVEL;
  if (!subvolumesUsed) return undefined;
  if (b.subvolumes.length === 0) return { what: `${where} mounts subvolumes, but btrfs-progs listed none`, hint: BTRFS_PROGS_HINT };
  const root = rootDisk(facts, vgs);
  const onRootDisk = facts.disks.some((d) => d.name === root && d.partitions.some((p) => p.fs?.uuid?.toLowerCase() === b.uuid.toLowerCase()));
  if (!onRootDisk) return { what: `${where} has subvolumes and is not on a partition of ${root ?? 'the disk that holds /'}`, hint: `${BTRFS_HINT}: capture a sample whose btrfs with subvolumes is a partition of that disk (not an LVM volume or another disk)` };
  for (const sv of b.subvolumes) {
    if (sv.snapshotOf) return { what: `btrfs subvolume ${sv.path} of ${where} is a snapshot (of ${sv.snapshotOf})`, hint: `${BTRFS_HINT}; snapshots are not copied: delete them (btrfs subvolume delete) before capturing` };
    if (!b.mounts.some((m) => m.subvolume === sv.path)) {
      return { what: `btrfs subvolume ${sv.path} of ${where} is mounted nowhere, so the capture would not copy its files`, hint: `${BTRFS_HINT}: mount it from /etc/fstab, or make it a plain directory, or delete it, then capture again` };
    }
  }
  return undefined;
}

/** The disk holding `/`: a partition mounted there, or a PV of the VG whose LV is mounted there. */
function rootDisk(facts: HostFacts, vgs: readonly LvmVg[]): string | undefined {
  const rootFs = facts.filesystems.find((f) => f.mountpoint === '/');
  for (const d of facts.disks) {
    for (const p of d.partitions) {
      if (p.mountpoint === '/' || (rootFs?.uuid && p.fs?.uuid === rootFs.uuid)) return d.name;
    }
  }
  const vg = vgs.find((v) => v.lvs.some((lv) => lv.mountpoint === '/'));
  return vg?.pvs.find((pv) => pv.disk)?.disk;
}

/** Refusals for the LVM part: every VG restorable, every LV linear. */
function unrestorableLvm(facts: HostFacts, vgs: readonly LvmVg[]): LayoutRefusal | undefined {
  if (vgs.length === 0) return undefined;
  const root = rootDisk(facts, vgs);
  for (const vg of vgs) {
    if (vg.pvs.length === 0) return { what: `volume group ${vg.name} has no physical volume lvm could report`, hint: LVM_HINT };
    for (const pv of vg.pvs) {
      if (!pv.disk) return { what: `volume group ${vg.name} has physical volume ${pv.device}, which is no partition of a disk (LUKS, md RAID or a loop device underneath)`, hint: LVM_HINT };
      if (pv.partition === undefined) return { what: `volume group ${vg.name} has the whole disk ${pv.disk} as physical volume`, hint: `${LVM_HINT}; a PV on a whole disk has no partition table to recreate` };
      if (pv.disk !== root) return { what: `volume group ${vg.name} has physical volume ${pv.device} on ${pv.disk}, not on ${root ?? 'the disk that holds /'}`, hint: `${LVM_HINT}; volume groups spanning several disks are not recreated` };
    }
    for (const lv of vg.lvs) {
      const words = lv.role.split(',');
      const kind =
        words.some((w) => w.startsWith('snapshot-of=') || w === 'snapshot' || w === 'thicksnapshot') ? 'a snapshot'
        : words.includes('origin') || words.includes('thickorigin') ? 'the origin of a snapshot'
        : lv.layout !== 'linear' ? `a ${lv.layout || 'non-linear'} volume`
        : words.some((w) => w.startsWith('in-pool=')) ? 'a volume in a pool'
        : undefined;
      if (kind) {
        return { what: `logical volume ${vg.name}/${lv.name} is ${kind} (lvm layout "${lv.layout}", role "${lv.role}")`, hint: `${LVM_HINT}; thin pools, RAID, mirror, snapshot, cache and VDO volumes are not recreated (remove snapshots before capturing)` };
      }
      if (lv.fs && STACKED[lv.fs.type]) return { what: `logical volume ${vg.name}/${lv.name} holds ${STACKED[lv.fs.type]!.name} (${lv.fs.type})`, hint: STACKED[lv.fs.type]!.hint };
      if (lv.fs?.type === 'LVM2_member') return { what: `logical volume ${vg.name}/${lv.name} is itself an LVM physical volume`, hint: LVM_HINT };
    }
  }
  return undefined;
}
