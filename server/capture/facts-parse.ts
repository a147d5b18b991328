/**
 * Parsers for the host facts a restore needs, one per tool the probe runs
 * (lsblk, findmnt, blkid, fstab, /proc/swaps, df, ip, os-release, ls /boot).
 * Pure functions over the tools' text; a missing tool or a value we cannot
 * read becomes 'unknown' / absent, never an exception.
 */
import type { HostFacts } from '../../images/meta.ts';

type Disk = HostFacts['disks'][number];
type Partition = Disk['partitions'][number];
type Filesystem = HostFacts['filesystems'][number];

/** lsblk -J -b node (only the columns we ask for; any may be null). */
interface LsblkNode {
  name?: string;
  path?: string | null;
  type?: string | null;
  size?: number | string | null;
  start?: number | string | null;
  pttype?: string | null;
  parttype?: string | null;
  parttypename?: string | null;
  partlabel?: string | null;
  fstype?: string | null;
  label?: string | null;
  uuid?: string | null;
  mountpoint?: string | null;
  mountpoints?: Array<string | null> | null;
  children?: LsblkNode[];
}

function json<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

const int = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
};
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Partition table type as lsblk names it ('gpt', 'dos') → ours. */
export function tableType(pttype: string | null | undefined): HostFacts['partitionTable'] {
  if (pttype === 'gpt') return 'gpt';
  if (pttype === 'dos' || pttype === 'mbr') return 'mbr';
  return pttype ? 'unknown' : 'none';
}

/** Partition number from its kernel name: sda3 → 3, nvme0n1p2 → 2, mmcblk0p1 → 1. */
export function partitionNumber(name: string): number | undefined {
  const m = /(?:p)?(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Parse `lsblk -J -b -o NAME,PATH,TYPE,SIZE,START,PTTYPE,PARTTYPE,PARTTYPENAME,PARTLABEL,FSTYPE,LABEL,UUID,MOUNTPOINT` into disks. */
export function parseLsblk(text: string): { disks: Disk[]; partitionTable: HostFacts['partitionTable'] } {
  const doc = json<{ blockdevices?: LsblkNode[] }>(text);
  if (!doc?.blockdevices) return { disks: [], partitionTable: 'unknown' };
  const disks: Disk[] = [];
  const tables = new Set<HostFacts['partitionTable']>();
  for (const d of doc.blockdevices) {
    // Only real disks: loop, zram, rom (cdrom) and friends carry no restorable layout.
    if (d.type !== 'disk' || !d.name || /^(zram|loop|ram|sr|fd|nbd)\d/.test(d.name)) continue;
    const size = int(d.size) ?? 0;
    if (size === 0) continue;
    const partitions: Partition[] = [];
    let pt = d.pttype;
    for (const c of d.children ?? []) {
      if (c.type !== 'part' || !c.name) continue;
      pt = pt ?? c.pttype;
      const p: Partition = {
        number: partitionNumber(c.name) ?? partitions.length + 1,
        // START is in 512-byte sectors even with -b (lsblk reports the sysfs value).
        startBytes: (int(c.start) ?? 0) * 512,
        sizeBytes: int(c.size) ?? 0,
        type: str(c.parttype) ?? 'unknown',
      };
      const name = str(c.partlabel) ?? str(c.parttypename);
      if (name) p.name = name;
      const mp = str(c.mountpoint) ?? str(c.mountpoints?.find((m) => m));
      if (mp) p.mountpoint = mp;
      if (str(c.fstype)) {
        p.fs = { type: c.fstype! };
        if (str(c.label)) p.fs.label = c.label!;
        if (str(c.uuid)) p.fs.uuid = c.uuid!;
      }
      partitions.push(p);
    }
    tables.add(partitions.length ? tableType(pt) : tableType(d.pttype));
    disks.push({ name: d.name, sizeBytes: size, partitions });
  }
  const partitionTable = tables.size === 1 ? [...tables][0]! : tables.size === 0 ? 'unknown' : tables.has('gpt') ? 'gpt' : 'unknown';
  return { disks, partitionTable };
}

/** Every node of lsblk's tree (disks, partitions, LVs, crypt and md devices), flattened: path, type, file system and mount point. */
export function parseLsblkDevices(text: string): Array<{ name: string; path?: string; type: string; fstype?: string; label?: string; uuid?: string; mountpoint?: string }> {
  const doc = json<{ blockdevices?: LsblkNode[] }>(text);
  const out: ReturnType<typeof parseLsblkDevices> = [];
  const walk = (list: LsblkNode[]): void => {
    for (const n of list) {
      if (!n.name) continue;
      const d: (typeof out)[number] = { name: n.name, type: str(n.type) ?? 'unknown' };
      const path = str(n.path);
      if (path) d.path = path;
      if (str(n.fstype)) d.fstype = n.fstype!;
      if (str(n.label)) d.label = n.label!;
      if (str(n.uuid)) d.uuid = n.uuid!;
      const mp = str(n.mountpoint) ?? str(n.mountpoints?.find((m) => m));
      if (mp) d.mountpoint = mp;
      out.push(d);
      walk(n.children ?? []);
    }
  };
  walk(doc?.blockdevices ?? []);
  return out;
}

/** One mount from findmnt. */
export interface MountInfo {
  mountpoint: string;
  type: string;
  source: string;
  options: string;
  sizeBytes: number;
  usedBytes: number;
  label?: string;
  uuid?: string;
}

/** Parse `findmnt -J -l -b -o TARGET,SOURCE,FSTYPE,OPTIONS,SIZE,USED,LABEL,UUID`. */
export function parseFindmnt(text: string): MountInfo[] {
  const doc = json<{ filesystems?: Array<Record<string, unknown>> }>(text);
  const out: MountInfo[] = [];
  const walk = (list: Array<Record<string, unknown>>) => {
    for (const f of list) {
      const target = str(f.target);
      if (target) {
        const m: MountInfo = {
          mountpoint: target,
          type: str(f.fstype) ?? 'unknown',
          source: str(f.source) ?? 'unknown',
          options: str(f.options) ?? '',
          sizeBytes: int(f.size) ?? 0,
          usedBytes: int(f.used) ?? 0,
        };
        if (str(f.label)) m.label = f.label as string;
        if (str(f.uuid)) m.uuid = f.uuid as string;
        out.push(m);
      }
      // Without -l findmnt nests children; accept both shapes.
      if (Array.isArray(f.children)) walk(f.children as Array<Record<string, unknown>>);
    }
  };
  walk(doc?.filesystems ?? []);
  return out;
}

/** Parse `blkid` lines: `/dev/sda1: UUID="…" TYPE="ext4" LABEL="…"` → device → tags. */
export function parseBlkid(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const line of text.split('\n')) {
    const m = /^([^:\s]+):\s*(.*)$/.exec(line.trim());
    if (!m) continue;
    const tags: Record<string, string> = {};
    for (const t of m[2]!.matchAll(/([A-Z_]+)="((?:[^"\\]|\\.)*)"/g)) tags[t[1]!] = t[2]!.replace(/\\(.)/g, '$1');
    out.set(m[1]!, tags);
  }
  return out;
}

/** One /etc/fstab line (fs_spec, fs_file, fs_vfstype, fs_mntops; fstab(5)). */
export interface FstabEntry {
  spec: string;
  file: string;
  type: string;
  options: string;
}

/** Parse /etc/fstab, decoding the octal escapes fstab(5) uses for spaces (\040). */
export function parseFstab(text: string): FstabEntry[] {
  const out: FstabEntry[] = [];
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [spec, file, type, options] = line.split(/\s+/);
    if (!spec || !file || !type) continue;
    out.push({ spec: unescape(spec), file: unescape(file), type, options: options ?? 'defaults' });
  }
  return out;
}

/** Parse /proc/swaps: `Filename Type Size Used Priority` (sizes in KiB). */
export function parseSwaps(text: string): Array<{ path: string; type: string; sizeBytes: number }> {
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3 && f[0]!.startsWith('/'))
    .map((f) => ({ path: f[0]!.replace(/\\040/g, ' '), type: f[1]!, sizeBytes: (int(f[2]) ?? 0) * 1024 }));
}

/** Parse `df -B1 -P` → mount point → used/size bytes. */
export function parseDf(text: string): Map<string, { sizeBytes: number; usedBytes: number }> {
  const out = new Map<string, { sizeBytes: number; usedBytes: number }>();
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const size = int(f[1]);
    const used = int(f[2]);
    if (size === undefined || used === undefined) continue;
    out.set(f.slice(5).join(' '), { sizeBytes: size, usedBytes: used });
  }
  return out;
}

/** Parse `ip -j link` → interfaces with a MAC (loopback and MAC-less links dropped). */
export function parseIpLink(text: string): HostFacts['interfaces'] {
  const doc = json<Array<{ ifname?: string; address?: string; link_type?: string }>>(text);
  if (!Array.isArray(doc)) return [];
  return doc
    .filter((l) => l.ifname && l.link_type === 'ether' && l.address && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(l.address))
    .map((l) => ({ name: l.ifname!.replace(/@.*/, ''), mac: l.address! }));
}

/** Parse os-release(5) → id, version and pretty name. */
export function parseOsRelease(text: string): HostFacts['os'] | undefined {
  const kv: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) kv[m[1]!] = m[2]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  if (!kv.ID) return undefined;
  return { id: kv.ID, versionId: kv.VERSION_ID ?? 'unknown', prettyName: kv.PRETTY_NAME ?? kv.ID };
}

/** Kernel versions from /boot's listing (vmlinuz-<ver>) and /lib/modules; sorted, unique. */
export function parseKernels(bootListing: string, modulesListing = ''): string[] {
  const out = new Set<string>();
  for (const name of bootListing.split('\n').map((l) => l.trim())) {
    const m = /^vmlinu[xz]-(.+)$/.exec(name);
    if (m) out.add(m[1]!);
  }
  // A kernel without its /boot image (containers, chroots) still leaves its modules.
  if (out.size === 0) for (const name of modulesListing.split('\n').map((l) => l.trim())) if (/^\d+\.\d+/.test(name)) out.add(name);
  return [...out].sort();
}

/**
 * Which bootloader is installed, from `ls -1a` of /boot, /boot/grub,
 * /boot/efi/EFI, /boot/efi/loader, /efi/loader, /boot/extlinux, with
 * ls's "dir:" headers. systemd-boot keeps loader/ on the ESP; GRUB keeps
 * grub.cfg in /boot/grub; extlinux its extlinux.conf.
 */
export function detectBootloader(listing: string): HostFacts['bootloader'] {
  const dirs = new Map<string, Set<string>>();
  let cur = '';
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    const h = /^(\/.*):$/.exec(line);
    if (h) {
      cur = h[1]!;
      dirs.set(cur, new Set());
    } else if (line && cur) dirs.get(cur)!.add(line);
  }
  const has = (d: string, f: string) => dirs.get(d)?.has(f) ?? false;
  if (has('/boot/grub', 'grub.cfg') || has('/boot/grub2', 'grub.cfg')) return 'grub';
  if (has('/boot/efi/loader', 'loader.conf') || has('/efi/loader', 'loader.conf') || has('/boot/loader', 'loader.conf')) return 'systemd-boot';
  if (has('/boot/extlinux', 'extlinux.conf')) return 'extlinux';
  if (dirs.size === 0) return 'unknown';
  return 'none';
}
