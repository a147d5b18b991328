/**
 * Layouts the restore cannot recreate are refused at capture time, with what
 * to do, never discovered on a node. The restore lays an image out as plain
 * partitions (GPT or MBR; ext2/3/4, XFS, btrfs without subvolumes, FAT,
 * swap), as LVM volume groups of linear LVs whose PVs are partitions of
 * the disk that holds `/`, and as md RAID1 mirrors over the same partition
 * of two identically partitioned disks (md-check.ts). Anything else (thin
 * pools, RAID/mirror, snapshot or cache LVs, PVs on other or whole disks,
 * other md layouts, LUKS, ZFS, btrfs subvolumes) would be flattened onto plain partitions while the fstab still
 * named /dev/mapper/… or subvol=@: every clone would boot into emergency
 * mode while the server showed it installed.
 */
import { dmName, type HostFacts, type LvmVg } from '../../images/meta.ts';
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
      if (subvol && subvol !== '/') {
        return { what: `${f.mountpoint} is btrfs subvolume ${subvol}`, hint: 'imgsrv recreates btrfs without subvolumes: capture a sample whose btrfs file systems are mounted at their top level (subvolumes are not recreated yet)' };
      }
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
