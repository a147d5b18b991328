/**
 * The probe: one ssh session running one fixed script that prints each
 * tool's output under a `@@name` marker. It answers "are we root?", "is
 * there rsync?" and everything the restore needs (HostFacts). The script is
 * a constant: nothing the user typed is in it.
 */
import type { HostFacts } from '../../images/meta.ts';
import {
  detectBootloader,
  parseBlkid,
  parseDf,
  parseFindmnt,
  parseFstab,
  parseIpLink,
  parseKernels,
  parseLsblk,
  parseLsblkDevices,
  parseOsRelease,
  parseSwaps,
  type MountInfo,
} from './facts-parse.ts';
import { LVM_COLUMNS, lvmFacts, type DeviceUse } from './lvm-facts.ts';
import { MD_PROBE, mdFacts } from './md-facts.ts';
import { BTRFS_PROBE, btrfsFacts } from './btrfs-facts.ts';

/** Sections the probe prints, in order. Each command's failure is tolerated (`2>/dev/null`, `|| true`). */
export const PROBE_SCRIPT = [
  'export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'echo @@uid; id -u',
  'echo @@rsync; command -v rsync || echo none',
  'echo @@lsblk; lsblk -J -b -o NAME,PATH,TYPE,SIZE,START,PTTYPE,PARTTYPE,PARTTYPENAME,PARTLABEL,FSTYPE,LABEL,UUID,MOUNTPOINT 2>/dev/null || lsblk -J -b -o NAME,TYPE,SIZE,FSTYPE,LABEL,UUID,MOUNTPOINT 2>/dev/null',
  'echo @@findmnt; findmnt -J -l -b -o TARGET,SOURCE,FSTYPE,OPTIONS,SIZE,USED,LABEL,UUID 2>/dev/null',
  'echo @@blkid; blkid 2>/dev/null',
  'echo @@fstab; cat /etc/fstab 2>/dev/null',
  'echo @@swaps; cat /proc/swaps 2>/dev/null',
  'echo @@efi; if test -d /sys/firmware/efi; then echo uefi; elif test -d /sys/firmware; then echo bios; else echo unknown; fi',
  'echo @@boot; ls -1a /boot /boot/grub /boot/grub2 /boot/efi/EFI /boot/efi/loader /efi/loader /boot/loader /boot/extlinux 2>/dev/null',
  'echo @@modules; ls -1 /lib/modules 2>/dev/null',
  'echo @@iplink; ip -j link 2>/dev/null',
  'echo @@osrelease; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null',
  'echo @@df; df -B1 -P 2>/dev/null',
  // lvm's JSON report (lvm2 >= 2.02.158); nothing at all on a host without lvm2. LVM_SUPPRESS_FD_WARNINGS: no "leaked fd" noise.
  `echo @@lvmvgs; LVM_SUPPRESS_FD_WARNINGS=1 lvm vgs --reportformat json --units b --nosuffix -o ${LVM_COLUMNS.vgs} 2>/dev/null`,
  `echo @@lvmpvs; LVM_SUPPRESS_FD_WARNINGS=1 lvm pvs --reportformat json --units b --nosuffix -o ${LVM_COLUMNS.pvs} 2>/dev/null`,
  `echo @@lvmlvs; LVM_SUPPRESS_FD_WARNINGS=1 lvm lvs --reportformat json --units b --nosuffix -o ${LVM_COLUMNS.lvs} 2>/dev/null`,
  // md arrays: sysfs state and mdadm's export per array (nothing on a host without md), and the kernel's own summary.
  `echo @@md; ${MD_PROBE}`,
  'echo @@mdstat; cat /proc/mdstat 2>/dev/null',
  // per btrfs: devices, profiles, subvolumes, default subvolume (btrfs-facts.ts); nothing on a host without btrfs
  `echo @@btrfs; ${BTRFS_PROBE}`,
  'echo @@end',
].join('\n');

/** Split the probe's stdout into its sections. */
export function splitSections(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  let cur: string | undefined;
  let buf: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^@@([a-z]+)$/.exec(line);
    if (m) {
      if (cur) out.set(cur, buf.join('\n'));
      cur = m[1];
      buf = [];
    } else if (cur) buf.push(line);
  }
  if (cur && cur !== 'end') out.set(cur, buf.join('\n'));
  return out;
}

/** What the probe found. */
export interface ProbeResult {
  uid: string;
  hasRsync: boolean;
  /** Whether the script ran to its end (a cut connection leaves it short). */
  complete: boolean;
  mounts: MountInfo[];
  facts: HostFacts;
  /** Swap files (not partitions): excluded from the copy. */
  swapFiles: string[];
}

/** Turn the probe's sections into facts; whatever is missing degrades to 'unknown' or empty. */
export function interpretProbe(stdout: string): ProbeResult {
  const s = splitSections(stdout);
  const get = (k: string) => s.get(k) ?? '';
  const { disks, partitionTable } = parseLsblk(get('lsblk'));
  const mounts = parseFindmnt(get('findmnt'));
  const blkid = parseBlkid(get('blkid'));
  const fstab = parseFstab(get('fstab'));
  const swaps = parseSwaps(get('swaps'));
  const df = parseDf(get('df'));
  const efi = get('efi').trim();

  const fstabByFile = new Map(fstab.map((e) => [e.file, e]));
  const filesystems: HostFacts['filesystems'] = [];
  for (const m of mounts) {
    // Only file systems a restore recreates: those backed by a block device or listed in fstab.
    const tab = fstabByFile.get(m.mountpoint);
    if (!m.source.startsWith('/dev/') && !tab) continue;
    if (['proc', 'sysfs', 'devtmpfs', 'devpts', 'tmpfs', 'cgroup', 'cgroup2', 'securityfs', 'debugfs', 'tracefs', 'bpf', 'mqueue', 'hugetlbfs', 'pstore', 'efivarfs', 'autofs', 'configfs', 'fusectl', 'binfmt_misc'].includes(m.type)) continue;
    const tags = blkid.get(m.source.replace(/\[.*\]$/, '')) ?? {};
    const usage = df.get(m.mountpoint);
    const fs: HostFacts['filesystems'][number] = {
      mountpoint: m.mountpoint,
      type: m.type,
      source: m.source,
      options: tab?.options ?? m.options,
      usedBytes: usage?.usedBytes ?? m.usedBytes,
      sizeBytes: usage?.sizeBytes ?? m.sizeBytes,
    };
    const label = m.label ?? tags.LABEL;
    const uuid = m.uuid ?? tags.UUID;
    if (label) fs.label = label;
    if (uuid) fs.uuid = uuid;
    filesystems.push(fs);
  }
  // Mount options and usage onto the partitions too, where the partition is mounted.
  for (const d of disks) {
    for (const p of d.partitions) {
      if (!p.mountpoint || !p.fs) continue;
      const tab = fstabByFile.get(p.mountpoint);
      if (tab) p.fs.mountOptions = tab.options;
      const usage = df.get(p.mountpoint);
      if (usage) p.fs.usedBytes = usage.usedBytes;
    }
  }

  const swapFiles = swaps.filter((w) => w.type === 'file').map((w) => w.path);
  const swap: HostFacts['swap'] = swaps.map((w) => {
    const tags = blkid.get(w.path) ?? {};
    const area: HostFacts['swap'][number] = { kind: w.type === 'file' ? 'file' : 'partition', source: w.path, sizeBytes: w.sizeBytes };
    if (tags.UUID) area.uuid = tags.UUID;
    if (tags.LABEL) area.label = tags.LABEL;
    return area;
  });
  // Swap listed in fstab but not active now (e.g. off on the sample): still part of the layout to restore.
  for (const e of fstab.filter((x) => x.type === 'swap')) {
    if (swap.some((a) => a.source === e.spec || (a.uuid && e.spec === `UUID=${a.uuid}`))) continue;
    const area: HostFacts['swap'][number] = { kind: e.spec.startsWith('/') && !e.spec.startsWith('/dev/') ? 'file' : 'partition', source: e.spec, sizeBytes: 0 };
    const m = /^UUID=(.+)$/.exec(e.spec);
    if (m) area.uuid = m[1]!;
    swap.push(area);
  }

  const facts: HostFacts = {
    partitionTable,
    disks,
    filesystems,
    swap,
    bootMode: efi === 'uefi' ? 'uefi' : efi === 'bios' ? 'bios' : 'unknown',
    bootloader: detectBootloader(get('boot')),
    kernels: parseKernels(get('boot'), get('modules')),
    interfaces: parseIpLink(get('iplink')),
  };
  const os = parseOsRelease(get('osrelease'));
  if (os) facts.os = os;
  const devices = parseLsblkDevices(get('lsblk'));
  const use = (names: readonly string[]): DeviceUse => {
    const out: DeviceUse = {};
    const node = devices.find((d) => (d.path !== undefined && names.includes(d.path)) || names.includes(`/dev/mapper/${d.name}`));
    const tags = names.map((n) => blkid.get(n)).find((t) => t) ?? {};
    const type = node?.fstype ?? tags.TYPE;
    if (type) {
      out.fs = { type };
      const uuid = node?.uuid ?? tags.UUID;
      const label = node?.label ?? tags.LABEL;
      if (uuid) out.fs.uuid = uuid;
      if (label) out.fs.label = label;
    }
    const m = mounts.find((x) => names.includes(x.source)) ?? (node?.mountpoint?.startsWith('/') ? mounts.find((x) => x.mountpoint === node.mountpoint) : undefined);
    if (m) {
      out.mountpoint = m.mountpoint;
      out.mountOptions = fstabByFile.get(m.mountpoint)?.options ?? m.options;
      out.usedBytes = df.get(m.mountpoint)?.usedBytes ?? m.usedBytes;
    }
    return out;
  };
  const lvm = lvmFacts({ vgs: get('lvmvgs'), pvs: get('lvmpvs'), lvs: get('lvmlvs') }, { disks, use });
  if (lvm) facts.lvm = lvm;
  const md = mdFacts({ md: get('md'), mdstat: get('mdstat') }, { disks, use });
  if (md) facts.md = md;
  const btrfs = btrfsFacts(get('btrfs'), mounts, fstab);
  if (btrfs) facts.btrfs = btrfs;
  return {
    uid: get('uid').trim() || 'unknown',
    hasRsync: s.has('rsync') && get('rsync').trim() !== 'none' && get('rsync').trim() !== '',
    complete: stdout.includes('\n@@end') || stdout.startsWith('@@end'),
    mounts,
    facts,
    swapFiles,
  };
}

/** Facts for a source we cannot probe (an rsync daemon): everything unknown. */
export function unknownFacts(): HostFacts {
  return { partitionTable: 'unknown', disks: [], filesystems: [], swap: [], bootMode: 'unknown', bootloader: 'unknown', kernels: [], interfaces: [] };
}
