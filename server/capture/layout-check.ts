/**
 * Layouts the restore cannot recreate are refused at capture time, with what
 * to do, never discovered on a node. Today the restore lays an image out as
 * plain partitions (GPT or MBR; ext2/3/4, XFS, btrfs without subvolumes,
 * FAT, swap). A sample on LVM, md RAID or LUKS, or with btrfs subvolumes,
 * would be flattened onto plain partitions while its fstab still names
 * /dev/mapper/… or subvol=@: every clone would boot into emergency mode
 * while the server showed it installed.
 */
import type { HostFacts } from '../../images/meta.ts';

/** Why a host's layout can't be restored, and what the operator can do. */
export interface LayoutRefusal {
  what: string;
  hint: string;
}

const STACKED: Record<string, { name: string; hint: string }> = {
  LVM2_member: { name: 'LVM', hint: 'imgsrv restores plain partitions only: capture a sample installed on plain partitions (LVM volumes are not recreated yet)' },
  linux_raid_member: { name: 'md RAID', hint: 'imgsrv restores plain partitions only: capture a sample installed on one disk without md RAID (RAID arrays are not recreated yet)' },
  crypto_LUKS: { name: 'LUKS encryption', hint: 'imgsrv does not capture encrypted volumes: capture an unencrypted sample and encrypt on first boot if you need to' },
  zfs_member: { name: 'ZFS', hint: 'imgsrv restores plain partitions only: capture a sample without ZFS' },
};

/** The first reason `facts` can't be restored as captured, or undefined when it can. */
export function unrestorableLayout(facts: HostFacts): LayoutRefusal | undefined {
  for (const disk of facts.disks) {
    for (const p of disk.partitions) {
      const stacked = p.fs && STACKED[p.fs.type];
      if (stacked) return { what: `partition ${p.number} of ${disk.name} holds ${stacked.name} (${p.fs!.type})`, hint: stacked.hint };
    }
  }
  for (const f of facts.filesystems) {
    const where = `${f.mountpoint} (${f.source})`;
    if (/^\/dev\/(mapper\/|dm-)/.test(f.source)) {
      return { what: `${where} is on a device-mapper volume (LVM or LUKS)`, hint: 'imgsrv restores plain partitions only: capture a sample installed on plain partitions' };
    }
    if (/^\/dev\/md/.test(f.source)) return { what: `${where} is on md RAID`, hint: STACKED.linux_raid_member!.hint };
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
