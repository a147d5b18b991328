/**
 * The md RAID part of the capture-time layout check. The restore recreates
 * RAID1 mirrors of two members, each a partition of one of two disks that
 * are partitioned identically (the same partition on each: Debian's
 * installer layout, and the only one where "both disks bootable" means
 * something), holding a file system or swap. Everything else is refused
 * here with what to do, never flattened on a node: other levels, members
 * on whole disks or on other arrays, degraded or inactive arrays, three-way
 * mirrors, LVM on md, arrays mdadm could not describe.
 */
import type { HostFacts, MdArray } from '../../images/meta.ts';
import type { LayoutRefusal } from './layout-check.ts';

const HINT = 'imgsrv recreates md RAID1 mirrors of two partitions, one on each of two identically partitioned disks, holding a file system or swap';

/** Superblock formats mdadm --create can make again as they were. */
const METADATA = ['0.90', '1.0', '1.1', '1.2'];

/** The sample disks that hold the md members (at most two for a restorable layout), in member-role order. */
export function mdDisks(facts: HostFacts): string[] {
  const out: string[] = [];
  for (const a of facts.md?.arrays ?? []) for (const m of a.members) if (m.disk && !out.includes(m.disk)) out.push(m.disk);
  return out;
}

/** The first reason the host's md arrays can't be restored, or undefined. */
export function unrestorableMd(facts: HostFacts): LayoutRefusal | undefined {
  const arrays = facts.md?.arrays ?? [];
  if (arrays.length === 0) return orphanMember(facts);
  if (facts.lvm?.vgs.length) return { what: `the host has both md RAID (${arrays.map((a) => a.device).join(', ')}) and LVM volume groups`, hint: `${HINT}; LVM on or beside md RAID is not recreated yet: capture a sample with one or the other` };
  for (const a of arrays) {
    const refusal = arrayRefusal(a);
    if (refusal) return refusal;
  }
  const orphan = orphanMember(facts);
  if (orphan) return orphan;
  const disks = mdDisks(facts);
  if (disks.length !== 2) return { what: `the md arrays span ${disks.length} disks (${disks.join(', ')})`, hint: `${HINT}: all arrays on the same two disks` };
  const [a, b] = disks.map((n) => facts.disks.find((d) => d.name === n));
  if (!a || !b) return { what: `lsblk showed no disk ${disks.join(' or ')} holding md members`, hint: 'capture as root on a host whose lsblk lists its disks' };
  const shape = (d: typeof a) => d.partitions.map((p) => `${p.number}:${p.startBytes}:${p.sizeBytes}:${p.type.toUpperCase()}`).join(' ');
  if (shape(a) !== shape(b)) return { what: `disks ${a.name} and ${b.name} of the md mirror are partitioned differently (${shape(a)} against ${shape(b)})`, hint: `${HINT}: partition the second disk as the first (sfdisk -d /dev/${a.name} | sfdisk /dev/${b.name}) and add its partitions to the arrays` };
  // The restore mounts the first disk's partitions and the arrays; a file system only on the second disk would be lost.
  for (const p of b.partitions) {
    if (p.fs?.type === 'linux_raid_member' || !p.mountpoint) continue;
    return { what: `partition ${p.number} of ${b.name}, the second disk of the md mirror, is mounted on ${p.mountpoint} outside any array`, hint: `${HINT}: on the second disk only array members and unmounted boot partitions (bios_grub, a spare ESP)` };
  }
  const root = facts.filesystems.find((f) => f.mountpoint === '/');
  if (root && !arrays.some((x) => x.mountpoint === '/') && !a.partitions.some((p) => p.mountpoint === '/' || (root.uuid && p.fs?.uuid === root.uuid))) {
    return { what: `/ is on neither an md array nor a partition of ${a.name}, the first disk of the mirror`, hint: HINT };
  }
  return undefined;
}

/** A partition that says linux_raid_member but belongs to no array the probe saw. */
function orphanMember(facts: HostFacts): LayoutRefusal | undefined {
  const arrays = facts.md?.arrays ?? [];
  for (const disk of facts.disks) {
    for (const p of disk.partitions) {
      if (p.fs?.type !== 'linux_raid_member') continue;
      if (!arrays.some((a) => a.members.some((m) => m.disk === disk.name && m.partition === p.number))) {
        return { what: `partition ${p.number} of ${disk.name} holds md RAID (linux_raid_member) but the probe found no running array with it`, hint: 'install mdadm on the sample, assemble its arrays (mdadm --assemble --scan) and capture as root' };
      }
    }
  }
  return undefined;
}

function arrayRefusal(a: MdArray): LayoutRefusal | undefined {
  const what = `md array ${a.device}${a.name ? ` (${a.name})` : ''}`;
  if (a.level !== 'raid1') return { what: `${what} is ${a.level || 'of an unknown level'}, not RAID1`, hint: `${HINT}; RAID0, RAID5, RAID6, RAID10 and linear arrays are not recreated` };
  if (!a.uuid) return { what: `${what}: mdadm reported no UUID`, hint: 'install mdadm on the sample and capture as root' };
  if (!METADATA.includes(a.metadata)) return { what: `${what} has metadata "${a.metadata}"`, hint: `${HINT}; with md's own superblock (0.90, 1.0, 1.1 or 1.2), not external (imsm, ddf) metadata` };
  if (a.degraded || !/^(clean|active|write-pending|active-idle|read-auto|readonly)/.test(a.state)) {
    return { what: `${what} is ${a.degraded ? 'degraded' : `not running (state "${a.state}")`}`, hint: 'repair the array on the sample (mdadm --manage --add, wait for the resync in /proc/mdstat) and capture again' };
  }
  if (a.raidDevices !== 2 || a.members.filter((m) => m.role !== undefined).length !== 2) {
    return { what: `${what} has ${a.raidDevices} active members (${a.members.map((m) => m.device).join(', ')})`, hint: `${HINT}; three-way mirrors and spares are not recreated yet` };
  }
  for (const m of a.members) {
    if (!m.disk) return { what: `${what} has member ${m.device}, which is no partition of a disk lsblk listed (another array, a loop device)`, hint: HINT };
    if (m.partition === undefined) return { what: `${what} has the whole disk ${m.disk} as a member`, hint: `${HINT}; a whole-disk member has no partition table to recreate and no room for a boot loader` };
  }
  const [x, y] = a.members;
  if (x!.disk === y!.disk) return { what: `${what} mirrors two partitions of the same disk ${x!.disk}`, hint: HINT };
  if (x!.partition !== y!.partition) return { what: `${what} mirrors partition ${x!.partition} of ${x!.disk} with partition ${y!.partition} of ${y!.disk}`, hint: `${HINT}: the same partition number on each disk` };
  if (!a.fs) return { what: `${what} holds no file system the probe could see`, hint: `${HINT}; LVM on md is not recreated yet` };
  if (a.fs.type === 'LVM2_member') return { what: `${what} is an LVM physical volume`, hint: `${HINT}; LVM on md is not recreated yet: capture a sample with a file system on the array` };
  if (!['ext2', 'ext3', 'ext4', 'xfs', 'swap'].includes(a.fs.type)) return { what: `${what} holds ${a.fs.type}`, hint: `${HINT}: ext2/3/4, XFS or swap on the array` };
  return undefined;
}
