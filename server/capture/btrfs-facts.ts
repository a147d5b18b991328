/**
 * btrfs facts from the probe: for each btrfs the host has mounted, its
 * devices and block-group profiles (/sys/fs/btrfs/<uuid>), its subvolumes
 * (`btrfs subvolume list -a -p -q`), its default subvolume (`btrfs
 * subvolume get-default`, btrfs-progs 6.2 wording) and where each subvolume
 * is mounted with which options (findmnt + fstab). Pure functions over the
 * tools' text; anything missing or unreadable is left out, never an
 * exception (layout-check.ts then refuses subvolumes it knows nothing of).
 */
import { BTRFS_TOP_LEVEL, type BtrfsFs } from '../../images/meta.ts';
import type { FstabEntry, MountInfo } from './facts-parse.ts';

/**
 * The probe's loop over the host's btrfs file systems, one mount point each
 * (findmnt -l escapes blanks in targets, so a target with a space is not
 * listed and its subvolumes stay unknown). Sub-sections start with "%%".
 */
export const BTRFS_PROBE = [
  'findmnt -n -l -t btrfs -o UUID,TARGET 2>/dev/null | sort -u -k1,1 | while read -r uuid target; do',
  ' echo "%%fs $uuid $target"',
  ' echo "%%devices"; ls -1 "/sys/fs/btrfs/$uuid/devices" 2>/dev/null',
  ' for k in data metadata system; do echo "%%$k"; ls -1 "/sys/fs/btrfs/$uuid/allocation/$k" 2>/dev/null; done',
  // -a: paths from the top level, those outside the mounted subvolume prefixed "<FS_TREE>/" (stripped below)
  ' echo "%%list"; btrfs subvolume list -a -p -q "$target" </dev/null 2>/dev/null',
  ' echo "%%default"; btrfs subvolume get-default "$target" </dev/null 2>/dev/null',
  'done',
].join('\n');

/** Block-group profile names as /sys/fs/btrfs/<uuid>/allocation/<kind>/ shows them (one directory per profile in use). */
const PROFILES = new Set(['single', 'dup', 'raid0', 'raid1', 'raid10', 'raid5', 'raid6', 'raid1c3', 'raid1c4']);

/** One file system's part of the probe's btrfs section, as printed. */
interface RawFs {
  uuid: string;
  target: string;
  parts: Map<string, string[]>;
}

function splitFs(text: string): RawFs[] {
  const out: RawFs[] = [];
  let cur: RawFs | undefined;
  let part: string[] | undefined;
  for (const line of text.split('\n')) {
    const fs = /^%%fs (\S+) (.+)$/.exec(line);
    if (fs) {
      cur = { uuid: fs[1]!, target: fs[2]!, parts: new Map() };
      out.push(cur);
      part = undefined;
      continue;
    }
    const sub = /^%%([a-z]+)$/.exec(line);
    if (sub && cur) {
      part = [];
      cur.parts.set(sub[1]!, part);
      continue;
    }
    if (part && line.trim() !== '') part.push(line);
  }
  return out;
}

/** Rows of `btrfs subvolume list -a -p -q`: "ID 258 gen 7 parent 256 top level 256 parent_uuid - path @/x"; unreadable lines are skipped. */
export function parseSubvolumeList(text: string): BtrfsFs['subvolumes'] {
  const out: BtrfsFs['subvolumes'] = [];
  for (const line of text.split('\n')) {
    const m = /^ID (\d+) gen \d+ parent (\d+) top level \d+ parent_uuid (\S+)\s+path (.+)$/.exec(line.trim());
    if (!m) continue;
    const path = m[4]!.replace(/^<FS_TREE>\//, '');
    const sv: BtrfsFs['subvolumes'][number] = { id: Number(m[1]), parentId: Number(m[2]), path };
    if (m[3] !== '-') sv.snapshotOf = m[3]!;
    out.push(sv);
  }
  return out;
}

/** The default subvolume's id from `btrfs subvolume get-default` ("ID 5 (FS_TREE)" or "ID 256 gen 7 top level 5 path @"); undefined when unreadable. */
export function parseGetDefault(text: string): number | undefined {
  const m = /^ID (\d+)\b/m.exec(text.trim());
  return m ? Number(m[1]) : undefined;
}

/** The subvolume a btrfs mount shows, from the kernel's options (subvol=/@home → "@home"; the top level → ""); undefined when the kernel did not say. */
export function mountedSubvolume(kernelOptions: string): string | undefined {
  const m = /(?:^|,)subvol=([^,]*)/.exec(kernelOptions);
  if (m) return m[1]!.replace(/^\/+/, '');
  if (/(?:^|,)subvolid=5(?:,|$)/.test(kernelOptions)) return '';
  return undefined;
}

/** The host's btrfs file systems from the probe's btrfs section and its mounts; undefined when it has none mounted. */
export function btrfsFacts(section: string, mounts: readonly MountInfo[], fstab: readonly FstabEntry[]): BtrfsFs[] | undefined {
  const out: BtrfsFs[] = [];
  const fstabByFile = new Map(fstab.map((e) => [e.file, e]));
  for (const raw of splitFs(section)) {
    const uuid = raw.uuid.toLowerCase();
    const mine = mounts.filter((m) => m.type === 'btrfs' && m.uuid?.toLowerCase() === uuid);
    const fs: BtrfsFs = {
      uuid: raw.uuid,
      devices: raw.parts.get('devices') ?? [],
      profiles: ['data', 'metadata', 'system'].flatMap((k) => (raw.parts.get(k) ?? []).filter((p) => PROFILES.has(p.trim())).map((p) => `${k}:${p.trim()}`)),
      subvolumes: parseSubvolumeList((raw.parts.get('list') ?? []).join('\n')),
      defaultId: parseGetDefault((raw.parts.get('default') ?? []).join('\n')) ?? BTRFS_TOP_LEVEL,
      mounts: [],
    };
    const label = mine.find((m) => m.label)?.label;
    if (label) fs.label = label;
    for (const m of mine) {
      const subvolume = mountedSubvolume(m.options);
      if (subvolume === undefined) continue;
      fs.mounts.push({ mountpoint: m.mountpoint, subvolume, options: fstabByFile.get(m.mountpoint)?.options ?? m.options });
    }
    out.push(fs);
  }
  return out.length ? out : undefined;
}
