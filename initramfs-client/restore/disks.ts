/**
 * Find the node's disks from sysfs (never from device names the sample had)
 * and choose the one to restore onto: the one asked for, else the first
 * fixed disk large enough, never the device the initramfs itself runs from.
 */
import { matchesDiskHint, parseDiskHint } from '../../contract/disk-hint.ts';
import { readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import { formatBytes } from '../../core/format.ts';

/** How a disk is attached, inferred from its sysfs device path. */
export type DiskTransport = 'nvme' | 'sata' | 'sas' | 'scsi' | 'virtio' | 'usb' | 'mmc' | 'unknown';

/** One whole disk as the kernel sees it. */
export interface DiskInfo {
  name: string;
  path: string;
  sizeBytes: number;
  removable: boolean;
  readOnly: boolean;
  rotational: boolean;
  model: string;
  serial: string;
  /** World-wide id (`wwid`, e.g. "eui.…" or "naa.…"), '' when the disk has none. */
  wwid: string;
  transport: DiskTransport;
  /** The resolved sysfs device path(s): the bus position a `path=` hint matches. */
  sysPath: string;
  /** The disk or one of its partitions is mounted: the initramfs runs from it, so it is never a target. */
  holdsMounts: boolean;
}

/** Where to read; tests point these at fake trees. */
export interface ListDisksOptions {
  sysBlock?: string;
  procMounts?: string;
  dev?: string;
}

// Not disks one installs onto: loop, RAM, zram, optical, floppy, network block, device-mapper, md RAID, flash MTD.
const VIRTUAL = /^(loop|ram|zram|sr|fd|nbd|dm-|md|mtd)/;

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/**
 * The serial of a SCSI or SATA disk from its VPD page 0x80 (Unit Serial
 * Number), as udev's scsi_id reads it: libata disks have no `serial` file.
 * Bytes 2-3 are the page length; the serial follows, space-padded.
 */
async function vpdSerial(dir: string): Promise<string> {
  let page: Buffer;
  try {
    page = await readFile(join(dir, 'device/vpd_pg80'));
  } catch {
    return '';
  }
  if (page.length < 4 || page[1] !== 0x80) return '';
  const len = page.readUInt16BE(2);
  return page.subarray(4, 4 + len).toString('latin1').replace(/[^\x20-\x7e]/g, '').trim();
}

async function firstText(dir: string, names: string[]): Promise<string> {
  for (const n of names) {
    const v = await readText(join(dir, n));
    if (v) return v;
  }
  return '';
}

/** Infer the transport from the resolved sysfs path (e.g. ".../0000:00:1f.2/ata1/host0/..."). */
export function transportFromSysPath(p: string): DiskTransport {
  if (/\/nvme\d*\//.test(p) || /\/nvme-subsystem\//.test(p)) return 'nvme';
  if (/\/usb\d+\//.test(p)) return 'usb';
  if (/\/virtio\d+\//.test(p)) return 'virtio';
  if (/\/ata\d+\//.test(p)) return 'sata';
  if (/\/mmc\d*\/|\/mmc_host\//.test(p)) return 'mmc';
  // SAS HBAs (mpt3sas, megaraid with JBOD) put expander/end_device/port nodes in the path
  if (/\/(end_device-|expander-|port-)\d/.test(p)) return 'sas';
  if (/\/host\d+\/target\d+:/.test(p)) return 'scsi';
  return 'unknown';
}

async function mountedDevices(procMounts: string, dev: string): Promise<Set<string>> {
  const names = new Set<string>();
  const text = (await readText(procMounts)) ?? '';
  for (const line of text.split('\n')) {
    const src = line.split(' ')[0];
    if (!src?.startsWith('/dev/')) continue;
    names.add(src.slice('/dev/'.length));
    // /dev/disk/by-uuid/… and friends are symlinks to the real node
    try {
      const real = await realpath(join(dev, src.slice('/dev/'.length)));
      names.add(real.split('/').pop() ?? '');
    } catch {
      /* a source that no longer exists can't be one of our disks */
    }
  }
  return names;
}

/** Every whole disk that could be an install target, with its facts. */
export async function listDisks(opts: ListDisksOptions = {}): Promise<DiskInfo[]> {
  const sysBlock = opts.sysBlock ?? '/sys/block';
  const dev = opts.dev ?? '/dev';
  const mounted = await mountedDevices(opts.procMounts ?? '/proc/mounts', dev);
  const disks: DiskInfo[] = [];
  for (const name of (await readdir(sysBlock)).sort()) {
    if (VIRTUAL.test(name)) continue;
    const dir = join(sysBlock, name);
    const sectors = Number(await readText(join(dir, 'size')));
    if (!Number.isFinite(sectors) || sectors <= 0) continue; // empty card reader slots
    // The /sys/block entry and its `device` link both resolve into the bus path that tells the transport.
    let sysPath = '';
    for (const p of [dir, join(dir, 'device')]) {
      try {
        sysPath += `${await realpath(p)}/ `;
      } catch {
        /* no device link on some virtual disks */
      }
    }
    const entries = await readdir(dir).catch(() => [] as string[]);
    const partitions: string[] = [];
    for (const e of entries) {
      if (e.startsWith(name) && (await readText(join(dir, e, 'partition'))) !== undefined) partitions.push(e);
    }
    disks.push({
      name,
      path: join(dev, name),
      // sysfs `size` counts 512-byte units whatever the logical sector size
      sizeBytes: sectors * 512,
      removable: (await readText(join(dir, 'removable'))) === '1',
      readOnly: (await readText(join(dir, 'ro'))) === '1',
      rotational: (await readText(join(dir, 'queue/rotational'))) === '1',
      model: await firstText(dir, ['device/model', 'device/name']),
      serial: (await firstText(dir, ['serial', 'device/serial'])) || (await vpdSerial(dir)),
      wwid: await firstText(dir, ['wwid', 'device/wwid']),
      transport: transportFromSysPath(sysPath),
      sysPath: sysPath.trim(),
      holdsMounts: mounted.has(name) || partitions.some((p) => mounted.has(p)),
    });
  }
  return disks;
}

const TRANSPORT_RANK: Record<DiskTransport, number> = { nvme: 0, sata: 1, sas: 1, scsi: 1, virtio: 2, mmc: 3, usb: 4, unknown: 3 };

/** A disk with the facts a hint can name, for "no disk matches". */
function describeFull(d: DiskInfo): string {
  const facts = [d.serial && `serial=${d.serial}`, d.wwid && `wwn=${d.wwid}`, d.model && `model=${d.model}`, `rotational=${d.rotational ? 1 : 0}`].filter(Boolean);
  return `${d.path} ${formatBytes(d.sizeBytes)} ${d.transport} ${facts.join(' ')}`;
}

function describe(d: DiskInfo): string {
  return `${d.path} (${formatBytes(d.sizeBytes)}${d.model ? `, ${d.model}` : ''}${d.transport !== 'unknown' ? `, ${d.transport}` : ''})`;
}

/** USB and removable disks (sticks, card readers, the install medium) are never targets, hinted or not. */
const neverTarget = (d: DiskInfo): boolean => d.removable || d.transport === 'usb';

function byRank(a: DiskInfo, b: DiskInfo): number {
  return TRANSPORT_RANK[a.transport] - TRANSPORT_RANK[b.transport] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/**
 * Pick the target disk: the one the hint (contract/disk-hint.ts) names, else
 * the first fixed, writable, unmounted, non-USB disk of at least minBytes.
 * A hint that matches no disk, or only one that can't be used, stops here:
 * the node never falls back to another disk.
 */
export function chooseTargetDisk(disks: readonly DiskInfo[], opts: { requested?: string; minBytes: number; needFor?: string }): DiskInfo {
  const need = `${formatBytes(opts.minBytes)}${opts.needFor ? ` (${opts.needFor})` : ''}`;
  if (opts.requested) {
    let hint;
    try {
      hint = parseDiskHint(opts.requested);
    } catch (err) {
      throw new ImgsrvError('DISK', `target disk hint ${JSON.stringify(opts.requested)}: ${(err as Error).message}`, { hint: 'fix the target disk of the node, group or deployment; nothing was written' });
    }
    const matching = disks.filter((x) => matchesDiskHint(x, hint)).sort(byRank);
    const d = matching.find((x) => !neverTarget(x) && !x.holdsMounts) ?? matching[0];
    if (!d) {
      throw new ImgsrvError('DISK', `no disk matches the target disk hint ${opts.requested} (disks: ${disks.map(describeFull).join('; ') || 'none'})`, {
        hint: 'set the target disk of the node, group or deployment to a hint this node\'s disks match (serial=, wwn=, model=, size=, path=), or clear it; nothing was written',
      });
    }
    if (neverTarget(d)) throw new ImgsrvError('DISK', `the disk the hint ${opts.requested} names, ${describe(d)}, is ${d.transport === 'usb' ? 'a USB disk' : 'removable'}: never a target`, { hint: 'name a fixed disk; nothing was written' });
    if (d.holdsMounts) throw new ImgsrvError('DISK', `requested disk ${describe(d)} is in use (mounted): the node booted from it`, { hint: 'choose another target disk' });
    if (d.readOnly) throw new ImgsrvError('DISK', `requested disk ${describe(d)} is read-only`, { hint: 'choose another target disk or remove its write protection' });
    if (d.sizeBytes < opts.minBytes) {
      throw new ImgsrvError('DISK', `disk ${d.path} is TOO SMALL for this image: ${formatBytes(d.sizeBytes)}, needs at least ${need}`, {
        hint: 'give the node a larger disk or choose a smaller image',
      });
    }
    return d;
  }
  const candidates = disks.filter((d) => !neverTarget(d) && !d.readOnly && !d.holdsMounts).sort(byRank);
  const fit = candidates.find((d) => d.sizeBytes >= opts.minBytes);
  if (fit) return fit;
  if (candidates.length > 0) {
    const biggest = candidates.reduce((a, b) => (b.sizeBytes > a.sizeBytes ? b : a));
    throw new ImgsrvError('DISK', `disk ${biggest.path} is TOO SMALL for this image: ${formatBytes(biggest.sizeBytes)}, needs at least ${need}`, {
      hint: 'give the node a larger disk or choose a smaller image; nothing was written',
    });
  }
  throw new ImgsrvError('DISK', `no disk to restore onto (found: ${disks.map(describe).join(', ') || 'none'}; USB, removable, read-only and mounted disks are never used)`, {
    hint: 'check that the node has a local disk and that its storage driver is in the netboot initramfs',
  });
}

/**
 * Pick the two disks of an md RAID1 image (md-plan.ts), as carefully as
 * chooseTargetDisk picks one: with a hint, two disks it matches (a hint
 * for a mirror names what both share: model=, size=, rotational=, path= of
 * the controller); without one, the first two fixed, writable, unmounted,
 * non-USB disks of at least minBytes, in the same order. Fewer than two
 * stops here, before anything is written: the node never restores half a
 * mirror.
 */
export function chooseMirrorDisks(disks: readonly DiskInfo[], opts: { requested?: string; minBytes: number; needFor?: string }): [DiskInfo, DiskInfo] {
  const need = `${formatBytes(opts.minBytes)}${opts.needFor ? ` (${opts.needFor})` : ''}`;
  const usable = (d: DiskInfo): boolean => !neverTarget(d) && !d.readOnly && !d.holdsMounts;
  let pool: DiskInfo[];
  let whose: string;
  if (opts.requested) {
    let hint;
    try {
      hint = parseDiskHint(opts.requested);
    } catch (err) {
      throw new ImgsrvError('DISK', `target disk hint ${JSON.stringify(opts.requested)}: ${(err as Error).message}`, { hint: 'fix the target disk of the node, group or deployment; nothing was written' });
    }
    pool = disks.filter((x) => matchesDiskHint(x, hint)).sort(byRank);
    whose = `the target disk hint ${opts.requested} matches`;
  } else {
    pool = [...disks].sort(byRank);
    whose = 'this node has';
  }
  const fit = pool.filter((d) => usable(d) && d.sizeBytes >= opts.minBytes);
  if (fit.length >= 2) return [fit[0]!, fit[1]!];
  const why = pool.map((d) => `${describe(d)}: ${!usable(d) ? (neverTarget(d) ? (d.transport === 'usb' ? 'USB' : 'removable') : d.readOnly ? 'read-only' : 'mounted') : d.sizeBytes < opts.minBytes ? 'TOO SMALL' : 'fits'}`);
  throw new ImgsrvError('DISK', `the image is an md RAID1 mirror and needs two disks of at least ${need} each; ${whose} ${fit.length === 0 ? 'none' : 'only one'} (${why.join('; ') || 'no disks'})`, {
    hint: `${opts.requested ? 'set a target disk hint both disks match (model=, size=, path= of the controller), or clear it' : 'give the node a second disk as large as the first'}; nothing was written`,
  });
}
