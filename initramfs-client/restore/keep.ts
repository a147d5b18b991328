/**
 * Keep data on re-image: read the disk's existing partitions and decide
 * whether the partitions to keep (by mount point) are there, exactly where the
 * image's layout puts them. Then the table is left alone, kept partitions are
 * not formatted and keep their UUIDs; anything else is refused before writing.
 */
import { ImgsrvError } from '../../core/errors.ts';
import { isFat, type LayoutPlan } from './layout.ts';
import { StepError, type Runner } from './run.ts';

/** A partition found on the node's disk. */
export interface ExistingPartition {
  number: number;
  startBytes: number;
  sizeBytes: number;
  type: string;
  name?: string;
  fsType?: string;
  uuid?: string;
  label?: string;
}

/** The node disk's current partition table. */
export interface ExistingLayout {
  table: 'gpt' | 'dos';
  sectorSize: number;
  partitions: ExistingPartition[];
}

interface SfdiskJson {
  partitiontable: { label: string; sectorsize?: number; partitions?: { node: string; start: number; size: number; type: string; name?: string }[] };
}

/** Parse `blkid -o export` output into its keys. */
export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).replace(/\\(.)/g, '$1');
  }
  return out;
}

/** The disk's partition table with each partition's file system, or undefined when it has no table (first deployment). */
export async function readExistingLayout(runner: Runner, diskPath: string, opts: { partitionDevice?: (n: number) => Promise<string> } = {}): Promise<ExistingLayout | undefined> {
  let json: string;
  try {
    json = await runner.run('read partition table', ['sfdisk', '--json', diskPath]);
  } catch (err) {
    if (err instanceof StepError && /does not contain a recognized partition table/.test(err.output)) return undefined;
    throw err;
  }
  const pt = (JSON.parse(json) as SfdiskJson).partitiontable;
  if (pt.label !== 'gpt' && pt.label !== 'dos') return undefined;
  const ss = pt.sectorsize ?? 512;
  const partitions: ExistingPartition[] = [];
  for (const p of pt.partitions ?? []) {
    const number = Number(/(\d+)$/.exec(p.node)?.[1]);
    const e: ExistingPartition = { number, startBytes: p.start * ss, sizeBytes: p.size * ss, type: p.type.toUpperCase() };
    if (p.name) e.name = p.name;
    // Low-level probe (-p: no cache, which may remember the previous image's file systems);
    // without a device node the probe reads the partition's range of the disk itself.
    const argv = opts.partitionDevice
      ? ['blkid', '-p', '-o', 'export', await opts.partitionDevice(number)]
      : ['blkid', '-p', '-o', 'export', '-O', String(e.startBytes), '-S', String(e.sizeBytes), diskPath];
    // blkid exits 2 when it finds no signature: an empty partition, not a failure
    const found = parseBlkidExport(await runner.run(`probe partition ${number}`, argv).catch(() => ''));
    if (found.TYPE) e.fsType = found.TYPE;
    if (found.UUID) e.uuid = found.UUID;
    if (found.LABEL) e.label = found.LABEL;
    partitions.push(e);
  }
  return { table: pt.label, sectorSize: ss, partitions };
}

function sameFs(a: string, b: string | undefined): boolean {
  if (!b) return false;
  return a === b || (isFat(a) && isFat(b));
}

const keepHint = 'clear the keep list of the node or group to re-image it from scratch (the data on those partitions is lost), or wipe the node\'s disk';

/** Mark the keep mount points' partitions as kept (existing UUID/label, no mkfs, table untouched); refuses when the disk does not match. */
export function applyKeep(plan: LayoutPlan, existing: ExistingLayout | undefined, keep: readonly string[]): LayoutPlan {
  const wanted = [...new Set(keep.map((k) => (k.length > 1 ? k.replace(/\/+$/, '') : k)))];
  if (wanted.length === 0) return plan;
  for (const k of wanted) {
    if (!plan.partitions.some((p) => p.mountpoint === k)) {
      const sep = plan.partitions.filter((p) => p.mountpoint).map((p) => p.mountpoint).join(', ');
      throw new ImgsrvError('KEEP_DATA', `cannot keep ${k}: it is not a separate partition in the image's layout (partitions: ${sep})`, {
        hint: 'list only mount points that are partitions of their own in the image, or capture the sample with a separate partition for it',
      });
    }
  }
  // A blank disk: nothing to keep yet, this is the first deployment.
  if (!existing || existing.partitions.length === 0) return plan;
  const problems: string[] = [];
  if (existing.table !== plan.table) problems.push(`the disk has a ${existing.table} table, the image a ${plan.table} one`);
  // The table is not rewritten, so every partition (not only the kept ones) must already be where the plan puts it.
  for (const p of plan.partitions) {
    const e = existing.partitions.find((x) => x.number === p.number);
    const what = `partition ${p.number}${p.mountpoint ? ` (${p.mountpoint})` : ''}`;
    if (!e) problems.push(`${what} does not exist on the disk`);
    else if (e.startBytes !== p.startBytes || e.sizeBytes !== p.sizeBytes) {
      problems.push(`${what} is at ${e.startBytes}+${e.sizeBytes} bytes on the disk, the image wants ${p.startBytes}+${p.sizeBytes}`);
    } else if (p.mountpoint && wanted.includes(p.mountpoint) && p.fs && !sameFs(p.fs.type, e.fsType)) {
      problems.push(`${what} holds ${e.fsType ?? 'no file system'}, the image wants ${p.fs.type}`);
    }
  }
  if (existing.partitions.length !== plan.partitions.length) problems.push(`the disk has ${existing.partitions.length} partitions, the image ${plan.partitions.length}`);
  if (problems.length > 0) {
    throw new ImgsrvError('KEEP_DATA', `refusing to re-image ${plan.diskPath} keeping ${wanted.join(', ')}: the disk's layout does not match the image's (${problems.join('; ')}); nothing was written`, {
      hint: keepHint,
    });
  }
  const partitions = plan.partitions.map((p) => {
    if (!p.mountpoint || !wanted.includes(p.mountpoint) || !p.fs) return p;
    const e = existing.partitions.find((x) => x.number === p.number)!;
    const fs = { ...p.fs, newUuid: e.uuid ?? p.fs.newUuid };
    if (e.label) fs.label = e.label;
    else delete fs.label;
    return { ...p, fs, keep: true };
  });
  return { ...plan, partitions, keepTable: true };
}
