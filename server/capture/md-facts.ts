/**
 * md RAID facts from the probe: for each array the kernel shows in
 * /sys/block/md*, the probe prints `IMGSRV_MD=/dev/mdN`, the array's
 * sysfs state and degraded count, then `mdadm --detail --export` (mdadm
 * 4.x: KEY=value lines, MD_DEVICE_<dev>_ROLE/_DEV per member); and
 * /proc/mdstat as a second witness (level, members, "[2/2] [UU]") that
 * also works on a host without mdadm. Tied to the disks lsblk saw and to
 * what the rest of the probe knows of the array's device (file system,
 * mount). Pure functions over the tools' text: unreadable output gives no
 * facts, never an exception (layout-check.ts then refuses what it can't
 * vouch for).
 */
import type { HostFacts, MdArray } from '../../images/meta.ts';
import type { DeviceUse } from './lvm-facts.ts';
import { partitionNumber } from './facts-parse.ts';

/** The probe's md section: one block per array (constant text, nothing of the user's in it). */
export const MD_PROBE = 'for d in /sys/block/md*; do test -d "$d/md" || continue; n=${d##*/}; echo "IMGSRV_MD=/dev/$n"; echo "IMGSRV_ARRAY_STATE=$(cat "$d/md/array_state" 2>/dev/null)"; echo "IMGSRV_DEGRADED=$(cat "$d/md/degraded" 2>/dev/null)"; mdadm --detail --export "/dev/$n" 2>/dev/null; done';

/** One array of /proc/mdstat. */
export interface MdstatArray {
  name: string;
  active: boolean;
  level?: string;
  /** Members with their slot numbers as the kernel lists them; flags such as (F) faulty, (S) spare. */
  members: Array<{ name: string; slot: number; flags: string }>;
  metadata?: string;
  /** "[2/2] [UU]": wanted and working members, and the per-slot map. */
  wanted?: number;
  working?: number;
  map?: string;
}

/** Parse /proc/mdstat (md's own format: "md0 : active raid1 vdb2[1] vda2[0]" then "N blocks super 1.2 [2/2] [UU]"). */
export function parseMdstat(text: string): MdstatArray[] {
  const out: MdstatArray[] = [];
  let cur: MdstatArray | undefined;
  for (const line of text.split('\n')) {
    const head = /^(md\S*)\s*:\s*(\S+)\s*(.*)$/.exec(line);
    if (head) {
      const words = head[3]!.split(/\s+/).filter(Boolean);
      // "(read-only)" / "(auto-read-only)" follow "active"
      while (words[0]?.startsWith('(')) words.shift();
      cur = { name: head[1]!, active: head[2] === 'active', members: [] };
      if (words[0] && !/\[\d+\]/.test(words[0])) cur.level = words.shift()!;
      for (const w of words) {
        const m = /^(\S+?)\[(\d+)\](\S*)$/.exec(w);
        if (m) cur.members.push({ name: m[1]!, slot: Number(m[2]), flags: m[3]! });
      }
      out.push(cur);
      continue;
    }
    if (!cur || !/^\s+\d+ blocks/.test(line)) continue;
    const sup = /super (\S+)/.exec(line);
    if (sup) cur.metadata = sup[1]!;
    else if (/\d+ blocks\s+\[/.test(line)) cur.metadata = '0.90';
    const counts = /\[(\d+)\/(\d+)\]\s+\[([U_]+)\]/.exec(line);
    if (counts) {
      cur.wanted = Number(counts[1]);
      cur.working = Number(counts[2]);
      cur.map = counts[3]!;
    }
  }
  return out;
}

/** Parse the probe's md section into KEY=value maps, one per array (`IMGSRV_MD` starts each). */
export function parseMdExport(text: string): Array<Map<string, string>> {
  const out: Array<Map<string, string>> = [];
  let cur: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === 'IMGSRV_MD') {
      cur = new Map();
      out.push(cur);
    }
    cur?.set(m[1]!, m[2]!);
  }
  return out;
}

/** Everything the md facts are joined with. */
export interface MdContext {
  disks: HostFacts['disks'];
  /** What a device path holds, by any of its names (/dev/md0, /dev/md/NAME). */
  use: (names: readonly string[]) => DeviceUse;
}

/** The host's md arrays from the probe's md and mdstat sections; undefined when there are none. */
export function mdFacts(sections: { md: string; mdstat: string }, ctx: MdContext): HostFacts['md'] {
  const stat = parseMdstat(sections.mdstat);
  const exported = parseMdExport(sections.md);
  const devices = new Set([...exported.map((e) => e.get('IMGSRV_MD')!), ...stat.filter((s) => /^md\d+$/.test(s.name)).map((s) => `/dev/${s.name}`)]);
  const arrays: MdArray[] = [];
  for (const device of [...devices].sort()) {
    if (!/^\/dev\/md\d+$/.test(device)) continue;
    const e = exported.find((x) => x.get('IMGSRV_MD') === device) ?? new Map<string, string>();
    const s = stat.find((x) => `/dev/${x.name}` === device);
    const members: MdArray['members'] = [];
    const memberDevs = [...e.entries()].filter(([k]) => /^MD_DEVICE_.+_DEV$/.test(k)).map(([k, v]) => ({ dev: v, role: e.get(k.replace(/_DEV$/, '_ROLE')) }));
    if (memberDevs.length > 0) {
      for (const m of memberDevs) members.push(member(m.dev, m.role !== undefined && /^\d+$/.test(m.role) ? Number(m.role) : undefined, ctx.disks));
    } else {
      for (const m of s?.members ?? []) members.push(member(`/dev/${m.name}`, m.flags ? undefined : m.slot, ctx.disks));
    }
    members.sort((a, b) => (a.role ?? 1e9) - (b.role ?? 1e9) || (a.device < b.device ? -1 : 1));
    const state = e.get('IMGSRV_ARRAY_STATE') ?? (s ? (s.active ? 'active' : 'inactive') : '');
    const degradedCount = Number(e.get('IMGSRV_DEGRADED') ?? '0');
    const array: MdArray = {
      device,
      level: e.get('MD_LEVEL') ?? s?.level ?? '',
      metadata: e.get('MD_METADATA') ?? s?.metadata ?? '',
      uuid: e.get('MD_UUID') ?? '',
      raidDevices: Number(e.get('MD_DEVICES') ?? s?.wanted ?? members.length),
      state,
      members,
      degraded: (Number.isFinite(degradedCount) && degradedCount > 0) || (s?.map?.includes('_') ?? false) || (s !== undefined && !s.active),
    };
    const name = e.get('MD_NAME');
    if (name) array.name = name;
    const names = [device, ...(e.get('MD_DEVNAME') ? [`/dev/md/${e.get('MD_DEVNAME')}`] : [])];
    const use = ctx.use(names);
    if (use.mountpoint) array.mountpoint = use.mountpoint;
    if (use.fs) {
      array.fs = { type: use.fs.type };
      if (use.fs.label) array.fs.label = use.fs.label;
      if (use.fs.uuid) array.fs.uuid = use.fs.uuid;
      if (use.mountOptions) array.fs.mountOptions = use.mountOptions;
      if (use.usedBytes !== undefined) array.fs.usedBytes = use.usedBytes;
    }
    arrays.push(array);
  }
  return arrays.length ? { arrays } : undefined;
}

/** A member device tied to lsblk's disks: which partition of which disk (or the whole disk). */
function member(device: string, role: number | undefined, disks: HostFacts['disks']): MdArray['members'][number] {
  const out: MdArray['members'][number] = { device };
  if (role !== undefined) out.role = role;
  const name = device.replace(/^\/dev\//, '');
  for (const d of disks) {
    if (name === d.name) {
      out.disk = d.name;
      return out;
    }
    const rest = name.slice(d.name.length);
    if (!name.startsWith(d.name) || !/^p?\d+$/.test(rest)) continue;
    const n = partitionNumber(rest);
    if (n !== undefined && d.partitions.some((p) => p.number === n)) {
      out.disk = d.name;
      out.partition = n;
      return out;
    }
  }
  return out;
}
