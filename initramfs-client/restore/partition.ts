/**
 * Write a LayoutPlan to the disk: wipe, one sfdisk script for the whole
 * table, wait for the kernel's partition nodes, then make every file system
 * with the UUID and label chosen in the plan (so the fstab rewrite can be
 * computed before anything is formatted), and a btrfs's subvolumes (btrfs.ts).
 * Kept partitions are not touched.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImgsrvError } from '../../core/errors.ts';
import { isFat, mappingFor, type LayoutPlan, type PartitionMapping, type PlannedPartition } from './layout.ts';
import { createVolumeGroups, deactivateVolumeGroups, partitionsOf } from './lvm.ts';
import { createArrays, stopArrays } from './md.ts';
import { makeSubvolumes } from './btrfs.ts';
import type { Runner } from './run.ts';

/** Options for applyLayout. */
export interface ApplyOptions {
  /** Device node of partition n; default: found through sysfs once the kernel has it. */
  partitionDevice?: (n: number) => Promise<string>;
  /** sysfs class/block directory (tests). */
  sysClassBlock?: string;
  /** Device directory (tests). */
  dev?: string;
  /** Where a new btrfs's top level is mounted while its subvolumes are made (default btrfs.ts BTRFS_TOP_MOUNT). */
  btrfsTop?: string;
}

/** The sfdisk script for a plan, in sectors of `sectorSize` bytes. Partition numbers come from the device names. */
export function sfdiskScript(plan: LayoutPlan, sectorSize = 512): string {
  const dev = basename(plan.diskPath);
  const sep = /\d$/.test(dev) ? 'p' : '';
  const lines = [`label: ${plan.table}`, 'unit: sectors', `sector-size: ${sectorSize}`];
  if (plan.table === 'gpt') lines.push(`first-lba: ${Math.min(2048, ...plan.partitions.map((p) => p.startBytes / sectorSize))}`);
  // BIOS firmware on MBR disks may only boot an "active" partition: mark the one holding /boot, else /.
  const lvmRoot = plan.lvm?.find((vg) => vg.lvs.some((l) => l.role === 'root'))?.name;
  const active = plan.table === 'dos' ? (plan.partitions.find((p) => p.mountpoint === '/boot') ?? plan.partitions.find((p) => p.role === 'root' || (lvmRoot !== undefined && p.vg === lvmRoot))) : undefined;
  for (const p of [...plan.partitions].sort((a, b) => a.number - b.number)) {
    if (p.startBytes % sectorSize !== 0 || p.sizeBytes % sectorSize !== 0) {
      throw new ImgsrvError('DISK', `partition ${p.number} is not aligned to the disk's ${sectorSize}-byte sectors`, { hint: 'the captured layout does not fit this disk' });
    }
    const fields = [`start=${p.startBytes / sectorSize}`, `size=${p.sizeBytes / sectorSize}`, `type=${p.type}`];
    if (plan.table === 'gpt' && p.name) fields.push(`name="${p.name.replace(/["\\]/g, '')}"`);
    if (p === active) fields.push('bootable');
    lines.push(`${dev}${sep}${p.number} : ${fields.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

async function isBlockDevice(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isBlockDevice();
  } catch {
    return false;
  }
}

/** Wait until the kernel shows partition n of the disk in sysfs and its /dev node exists. */
export async function waitForPartition(diskPath: string, n: number, opts: { sysClassBlock?: string; dev?: string; timeoutMs?: number } = {}): Promise<string> {
  const disk = basename(diskPath);
  const dir = join(opts.sysClassBlock ?? '/sys/class/block', disk);
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    for (const e of await readdir(dir).catch(() => [] as string[])) {
      if (!e.startsWith(disk)) continue;
      const num = await readFile(join(dir, e, 'partition'), 'utf8').catch(() => '');
      if (num.trim() === String(n)) {
        const node = join(opts.dev ?? '/dev', e);
        // devtmpfs creates the node itself, but a moment after sysfs shows the partition
        if (await isBlockDevice(node)) return node;
      }
    }
    if (Date.now() > deadline) {
      throw new ImgsrvError('DISK', `partition ${n} of ${diskPath} did not appear in ${dir}`, {
        hint: 'the kernel did not re-read the partition table; check the console for disk errors and restore again',
      });
    }
    await sleep(200);
  }
}

/** argv that makes the partition's (or logical volume's) file system or swap area with the plan's UUID and label, or undefined when it gets none. */
export function mkfsArgv(p: Pick<PlannedPartition, 'number' | 'mountpoint' | 'fs' | 'swap'>, device: string): string[][] | undefined {
  if (p.swap) return [['mkswap', '-U', p.swap.newUuid, ...(p.swap.label ? ['-L', p.swap.label] : []), device]];
  if (!p.fs) return undefined;
  const { type, label, newUuid, sizeBytes } = p.fs;
  const L = (flag: string): string[] => (label ? [flag, label] : []);
  // Short of the partition's end (a scratch area follows: scratch.ts), and no discard, which could reach past the file system.
  if (sizeBytes !== undefined && !/^ext[234]$/.test(type) && type !== 'xfs' && type !== 'btrfs') {
    throw new ImgsrvError('INTERNAL', `partition ${p.number}: a ${type} file system cannot be made short of its partition`);
  }
  if (/^ext[234]$/.test(type)) {
    const short = sizeBytes === undefined ? [] : ['-E', 'nodiscard'];
    return [[`mkfs.${type}`, '-F', '-q', ...short, '-U', newUuid, ...L('-L'), device, ...(sizeBytes === undefined ? [] : [`${Math.floor(sizeBytes / 1024)}k`])]];
  }
  if (type === 'xfs') return [['mkfs.xfs', '-f', '-q', ...(sizeBytes === undefined ? [] : ['-K', '-d', `size=${sizeBytes}`]), '-m', `uuid=${newUuid}`, ...L('-L'), device]];
  if (type === 'btrfs') return [['mkfs.btrfs', '-f', '-q', ...(sizeBytes === undefined ? [] : ['-K', '-b', String(sizeBytes)]), '-U', newUuid, ...L('-L'), device]];
  if (isFat(type)) {
    const id = newUuid.replace('-', '');
    // FAT32 needs ~65k clusters; a small ESP falls back to whatever FAT size mkfs.fat picks
    return [
      ['mkfs.vfat', '-F', '32', '-i', id, ...L('-n'), device],
      ['mkfs.vfat', '-i', id, ...L('-n'), device],
    ];
  }
  throw new ImgsrvError('DISK', `partition ${p.number}${p.mountpoint ? ` (${p.mountpoint})` : ''} has file system type ${type}, which the restore cannot make`, {
    hint: 'capture the sample with ext4, xfs, btrfs, vfat or swap file systems',
  });
}

/** Partition the disk per plan (unless plan.keepTable) and make the file systems; returns what was made or kept. */
export async function applyLayout(runner: Runner, plan: LayoutPlan, opts: ApplyOptions = {}): Promise<PartitionMapping[]> {
  const block = await isBlockDevice(plan.diskPath);
  const sectorSize = block ? Number((await runner.run('sector size', ['blockdev', '--getss', plan.diskPath])).trim()) : 512;
  // Check every file system type before the first destructive step.
  for (const p of plan.partitions) if (!p.keep) mkfsArgv(p, '/dev/null');
  for (const vg of plan.lvm ?? []) for (const lv of vg.lvs) mkfsArgv({ number: vg.pvs[0]!, ...lv }, '/dev/null');
  for (const md of plan.md ?? []) mkfsArgv({ number: md.partition, ...md }, '/dev/null');
  // A restore that starts over in the same boot finds its VGs still active: their partitions would be busy.
  if (plan.lvm && block) await deactivateVolumeGroups(runner, plan.lvm.map((v) => v.name), [partitionsOf(plan.diskPath)], { ignoreMissing: true });
  // ... and its arrays still running on the partitions of both disks
  if (plan.md && block) await stopArrays(runner, plan.md.map((m) => m.device), { ignoreMissing: true });
  if (!plan.keepTable) {
    // The mirror disk gets the same table (the same partitions, sectors and types), so each array's members match.
    for (const disk of [plan.diskPath, ...(plan.mirror ? [plan.mirror.diskPath] : [])]) {
      const script = sfdiskScript({ ...plan, diskPath: disk }, sectorSize);
      await runner.run(`wipe disk ${disk}`, ['wipefs', '-a', disk]);
      await runner.run(`write partition table on ${disk}`, ['sfdisk', '--wipe', 'always', '--wipe-partitions', 'always', '--no-reread', '--no-tell-kernel', disk], { input: script });
      if (block) {
        try {
          await runner.run('re-read partition table', ['blockdev', '--rereadpt', disk]);
        } catch {
          // busy disks refuse BLKRRPART; partx adds/updates partitions one by one instead
          await runner.run('update partitions', ['partx', '-u', disk]);
        }
      }
    }
  }
  const where = { ...(opts.sysClassBlock ? { sysClassBlock: opts.sysClassBlock } : {}), ...(opts.dev ? { dev: opts.dev } : {}) };
  const resolve = opts.partitionDevice ?? ((n: number) => waitForPartition(plan.diskPath, n, where));
  const devices = new Map<number, string>();
  const pvs = new Map<number, string>();
  for (const p of plan.partitions) {
    if (p.role === 'lvm' && p.vg) pvs.set(p.number, await resolve(p.number));
    if (!p.fs && !p.swap) continue;
    const device = await resolve(p.number);
    devices.set(p.number, device);
    if (p.keep) continue;
    await mkfs(runner, p, device, `partition ${p.number}`);
    if (p.fs?.btrfs) await makeSubvolumes(runner, device, p.fs.btrfs, ...(opts.btrfsTop ? [opts.btrfsTop] : []));
  }
  const mdMembers = new Map<string, string[]>();
  for (const md of plan.md ?? []) {
    if (!plan.mirror) throw new ImgsrvError('INTERNAL', `md array ${md.device} planned without a second disk`);
    mdMembers.set(md.device, [await resolve(md.partition), await waitForPartition(plan.mirror.diskPath, md.partition, where)]);
  }
  if (plan.md) await createArrays(runner, plan.md, mdMembers);
  for (const md of plan.md ?? []) await mkfs(runner, { number: md.partition, ...md }, md.device, `md array ${md.device}`);
  const lvDevices = plan.lvm ? await createVolumeGroups(runner, plan.lvm, pvs) : new Map<string, string>();
  for (const vg of plan.lvm ?? []) {
    for (const lv of vg.lvs) await mkfs(runner, { number: vg.pvs[0]!, ...lv }, lvDevices.get(`${vg.name}/${lv.name}`)!, `logical volume ${vg.name}/${lv.name}`);
  }
  return mappingFor(plan, devices, lvDevices, pvs, mdMembers);
}

/** Make one file system or swap area, trying mkfsArgv's variants in order. */
async function mkfs(runner: Runner, p: Pick<PlannedPartition, 'number' | 'mountpoint' | 'fs' | 'swap'>, device: string, what: string): Promise<void> {
  const variants = mkfsArgv(p, device) ?? [];
  for (const [i, argv] of variants.entries()) {
    try {
      await runner.run(`make ${p.fs?.type ?? 'swap'} on ${what}`, argv);
      break;
    } catch (err) {
      if (i === variants.length - 1) throw err;
    }
  }
}
