/**
 * LVM facts from the probe: `lvm vgs|pvs|lvs --reportformat json --units b
 * --nosuffix` (lvm2 2.03, Debian 12: every value a string, sizes in bytes),
 * tied to the disks lsblk saw and to the mounts, fstab, swap and blkid of
 * the host. Pure functions over the tools' text; a missing or unreadable
 * report gives no LVM facts, never an exception (layout-check.ts then
 * refuses a host whose partitions say LVM2_member with nothing known).
 */
import { dmName, type HostFacts, type LvmVg } from '../../images/meta.ts';
import { partitionNumber } from './facts-parse.ts';

/** The columns the probe asks lvm for, in its own words. */
export const LVM_COLUMNS = {
  vgs: 'vg_name,vg_extent_size,vg_size',
  pvs: 'pv_name,vg_name,pv_size',
  lvs: 'vg_name,lv_name,lv_size,lv_layout,lv_role,lv_dm_path,lv_path,origin,pool_lv',
} as const;

type Row = Record<string, string>;

/** The rows of one `lvm <vgs|pvs|lvs> --reportformat json` report ("vg", "pv" or "lv"); [] when unreadable. */
export function parseLvmReport(text: string, kind: 'vg' | 'pv' | 'lv'): Row[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return [];
  }
  const reports = (doc as { report?: Array<Record<string, unknown>> } | null)?.report;
  if (!Array.isArray(reports)) return [];
  const rows: Row[] = [];
  for (const r of reports) {
    const list = r?.[kind];
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (item === null || typeof item !== 'object') continue;
      const row: Row = {};
      for (const [k, v] of Object.entries(item as Record<string, unknown>)) row[k] = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
      rows.push(row);
    }
  }
  return rows;
}

const bytes = (v: string | undefined): number => (v !== undefined && /^\d+$/.test(v) ? Number(v) : 0);


/** What the rest of the probe knows about one device (an LV or a partition): its file system and where it is mounted. */
export interface DeviceUse {
  fs?: { type: string; uuid?: string; label?: string };
  mountpoint?: string;
  mountOptions?: string;
  usedBytes?: number;
}

/** Everything the LVM facts are joined with. */
export interface LvmContext {
  disks: HostFacts['disks'];
  /** What a device path holds, by any of its names (/dev/mapper/vg-lv, /dev/vg/lv, /dev/dm-N). */
  use: (names: readonly string[]) => DeviceUse;
}

/** The host's volume groups from the three reports; undefined when lvm reported none. */
export function lvmFacts(reports: { vgs: string; pvs: string; lvs: string }, ctx: LvmContext): HostFacts['lvm'] {
  const vgRows = parseLvmReport(reports.vgs, 'vg');
  if (vgRows.length === 0) return undefined;
  const pvRows = parseLvmReport(reports.pvs, 'pv');
  const lvRows = parseLvmReport(reports.lvs, 'lv');
  const vgs: LvmVg[] = [];
  for (const v of vgRows) {
    const name = v.vg_name;
    if (!name) continue;
    const vg: LvmVg = { name, extentBytes: Math.max(1, bytes(v.vg_extent_size)), sizeBytes: bytes(v.vg_size), pvs: [], lvs: [] };
    for (const p of pvRows.filter((r) => r.vg_name === name && r.pv_name)) {
      const pv: LvmVg['pvs'][number] = { device: p.pv_name!, sizeBytes: bytes(p.pv_size) };
      const where = partitionOf(p.pv_name!, ctx.disks);
      if (where) {
        pv.disk = where.disk;
        if (where.partition !== undefined) pv.partition = where.partition;
      }
      vg.pvs.push(pv);
    }
    for (const l of lvRows.filter((r) => r.vg_name === name && r.lv_name)) {
      const lv: LvmVg['lvs'][number] = { name: l.lv_name!, sizeBytes: bytes(l.lv_size), layout: l.lv_layout ?? '', role: l.lv_role ?? '' };
      // lvm has no column for "is a snapshot's origin / has a pool"; keep it in the role words for layout-check.ts.
      if (l.origin) lv.role = `${lv.role},snapshot-of=${l.origin}`;
      if (l.pool_lv) lv.role = `${lv.role},in-pool=${l.pool_lv}`;
      const names = [l.lv_dm_path || `/dev/mapper/${dmName(name, lv.name)}`, l.lv_path || `/dev/${name}/${lv.name}`];
      const use = ctx.use(names);
      if (use.mountpoint) lv.mountpoint = use.mountpoint;
      if (use.fs) {
        lv.fs = { type: use.fs.type };
        if (use.fs.label) lv.fs.label = use.fs.label;
        if (use.fs.uuid) lv.fs.uuid = use.fs.uuid;
        if (use.mountOptions) lv.fs.mountOptions = use.mountOptions;
        if (use.usedBytes !== undefined) lv.fs.usedBytes = use.usedBytes;
      }
      vg.lvs.push(lv);
    }
    vgs.push(vg);
  }
  return vgs.length ? { vgs } : undefined;
}

/** Which disk (and partition, unless the PV is a whole disk) a PV device is, from lsblk's disks; undefined when none. */
function partitionOf(device: string, disks: HostFacts['disks']): { disk: string; partition?: number } | undefined {
  const name = device.replace(/^\/dev\//, '');
  for (const d of disks) {
    if (name === d.name) return { disk: d.name };
    if (!name.startsWith(d.name)) continue;
    const n = partitionNumber(name.slice(d.name.length));
    if (n !== undefined && d.partitions.some((p) => p.number === n) && /^p?\d+$/.test(name.slice(d.name.length))) return { disk: d.name, partition: n };
  }
  return undefined;
}
