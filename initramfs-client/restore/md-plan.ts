/**
 * The md RAID part of a layout plan (pure): the sample's RAID1 arrays made
 * again on the same partition numbers of the node's two disks, with the
 * sample's device (/dev/mdN), name and superblock format, a NEW array UUID
 * (chosen here, so mdadm.conf can be written before mdadm runs) and a new
 * file system UUID (fstab is rewritten from the old one, as for plain
 * partitions). layout-check.ts (server side) refused every other md layout.
 */
import { randomBytes } from 'node:crypto';
import type { HostFacts, MdArray } from '../../images/meta.ts';
import { freshUuid, type PlannedPartition } from './layout.ts';

/** One array to make. */
export interface PlannedMd {
  /** /dev/mdN, as on the sample. */
  device: string;
  /** The superblock name ("sample:0"); absent for metadata 0.90. */
  name?: string;
  metadata: string;
  /** Partition number of the member on each disk (the same on both). */
  partition: number;
  /** New array UUID in mdadm's form (8:8:8:8 hex), and the sample's. */
  newUuid: string;
  oldUuid: string;
  role: 'root' | 'swap' | 'data';
  mountpoint?: string;
  fs?: NonNullable<PlannedPartition['fs']>;
  swap?: NonNullable<PlannedPartition['swap']>;
}

/** Bytes md keeps for itself on each member (superblock, bitmap, data offset: mdadm 4.x reserves up to 128 MiB on large members). */
export const MD_RESERVE = 130 * 1024 * 1024;

/** A fresh md array UUID in mdadm's notation. */
export function freshMdUuid(): string {
  const h = randomBytes(16).toString('hex');
  return [0, 8, 16, 24].map((i) => h.slice(i, i + 8)).join(':');
}

/** The captured array holding `/`, if any. */
export function rootArray(facts: HostFacts): MdArray | undefined {
  return facts.md?.arrays.find((a) => a.mountpoint === '/');
}

/** The captured array whose member is partition `number` of sample disk `disk`. */
export function arrayOfPartition(facts: HostFacts, disk: string, number: number): MdArray | undefined {
  return facts.md?.arrays.find((a) => a.members.some((m) => m.disk === disk && m.partition === number));
}

/** The sample's second disk of the mirror (the first is the one planLayout lays out), if the sample has md arrays. */
export function mirrorDisk(facts: HostFacts, first: string): string | undefined {
  for (const a of facts.md?.arrays ?? []) for (const m of a.members) if (m.disk && m.disk !== first) return m.disk;
  return undefined;
}

/** The arrays on the plan's member partitions. */
export function planArrays(facts: HostFacts, disk: string, partitions: readonly PlannedPartition[]): PlannedMd[] | undefined {
  const out: PlannedMd[] = [];
  for (const a of facts.md?.arrays ?? []) {
    const part = partitions.find((p) => p.md === a.device && a.members.some((m) => m.disk === disk && m.partition === p.number));
    if (!part) continue;
    const md: PlannedMd = { device: a.device, metadata: a.metadata, partition: part.number, newUuid: freshMdUuid(), oldUuid: a.uuid, role: 'data' };
    if (a.name && a.metadata !== '0.90') md.name = a.name;
    const fs = a.fs;
    if (fs?.type === 'swap') {
      md.role = 'swap';
      md.swap = { newUuid: freshUuid('swap') };
      if (fs.label) md.swap = { ...md.swap, label: fs.label, oldLabel: fs.label };
      if (fs.uuid) md.swap.oldUuid = fs.uuid;
    } else if (fs) {
      md.role = a.mountpoint === '/' ? 'root' : 'data';
      if (a.mountpoint) md.mountpoint = a.mountpoint;
      md.fs = { type: fs.type, newUuid: freshUuid(fs.type) };
      if (fs.label) md.fs = { ...md.fs, label: fs.label, oldLabel: fs.label };
      if (fs.uuid) md.fs.oldUuid = fs.uuid;
      if (fs.mountOptions) md.fs.mountOptions = fs.mountOptions;
    }
    out.push(md);
  }
  return out.length ? out : undefined;
}

/**
 * mdadm --create for one array over its two members. No --assume-clean:
 * the kernel resyncs in the background (throttled while the restore
 * writes, resumed after the reboot from its checkpoint), so the members
 * are identical block for block and a later `check` finds no mismatch;
 * the restore does not wait for it. --run: no question about old
 * signatures; MDADM_NO_UDEV (the caller's env): mdadm makes /dev/mdN itself.
 */
export function mdCreateArgv(md: PlannedMd, members: readonly [string, string]): string[] {
  return [
    'mdadm', '--create', md.device, '--run', '--level=1', '--raid-devices=2', `--metadata=${md.metadata}`, `--uuid=${md.newUuid}`,
    ...(md.name ? [`--name=${md.name}`] : []),
    ...members,
  ];
}

/**
 * The restored system's mdadm.conf: its own lines kept, except ARRAY lines
 * of the sample's arrays, which are replaced by lines naming the new UUIDs
 * (an initramfs that looks for the sample's UUID would find nothing and
 * drop to a shell). Arrays the file did not list are added.
 */
export function mdadmConf(existing: string | undefined, arrays: readonly PlannedMd[]): string {
  const lines = (existing ?? '').split('\n');
  const oldUuids = new Set(arrays.map((a) => a.oldUuid.toLowerCase()));
  const devices = new Set(arrays.flatMap((a) => [a.device, ...(a.name ? [`/dev/md/${a.name.replace(/^.*:/, '')}`] : [])]));
  const kept: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^ARRAY\s/.test(line)) {
      // an ARRAY entry continues on lines that start with whitespace
      let entry = line;
      while (i + 1 < lines.length && /^\s+\S/.test(lines[i + 1]!)) entry += ` ${lines[++i]!.trim()}`;
      const uuid = /\bUUID=([0-9a-fA-F:]+)/.exec(entry)?.[1]?.toLowerCase();
      const dev = entry.split(/\s+/)[1];
      if ((uuid && oldUuids.has(uuid)) || (dev && devices.has(dev))) continue;
      kept.push(entry);
      continue;
    }
    kept.push(line);
  }
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  const added = arrays.map((a) => `ARRAY ${a.device} metadata=${a.metadata} UUID=${a.newUuid}${a.name ? ` name=${a.name}` : ''}`);
  return `${[...kept, ...(kept.length ? [''] : []), '# arrays made by imgsrv on this node', ...added].join('\n')}\n`;
}
