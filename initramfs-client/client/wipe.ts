/**
 * The `wipe` plan: the operator retired this node and asked for its disk to
 * be erased. Choose the disk as a restore would (the plan's targetDisk, else
 * the first suitable one, never one with something mounted), erase it,
 * and tell the server; main then powers the node off.
 */
import { withContext } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { WipePlan } from '../../contract/plan.ts';
import { formatBytes } from '../../core/format.ts';
import { chooseTargetDisk, listDisks, type DiskInfo } from '../restore/disks.ts';
import type { Runner } from '../restore/run.ts';
import { wipeDisk, type WipeOptions, type WipeResult } from '../restore/wipe.ts';
import type { ClientReport } from './api.ts';
import type { NodeConsole } from './console.ts';

/** What a wipe needs from main; `disks` and `wipe` are the real ones unless a test stands in. */
export interface WipeDeps {
  plan: WipePlan;
  runner: Runner;
  con: Pick<NodeConsole, 'line'>;
  report: (r: ClientReport) => Promise<boolean>;
  log: Logger;
  disks?: () => Promise<DiskInfo[]>;
  wipe?: (runner: Runner, diskPath: string, opts?: WipeOptions) => Promise<WipeResult>;
  /** Pause between report attempts (ms). */
  retryMs?: number;
}

/** Reports tried before powering off anyway: the server learns the outcome, or the node wipes again at its next boot. */
const REPORT_ATTEMPTS = 5;

/** Erase the chosen disk and report `retired`; resolves with the disk's path. */
export async function runWipe(d: WipeDeps): Promise<string> {
  const { plan, con } = d;
  let disk: DiskInfo;
  try {
    // minBytes 0: any disk is wiped, whatever its size.
    disk = chooseTargetDisk(await (d.disks ?? listDisks)(), { ...(plan.targetDisk ? { requested: plan.targetDisk } : {}), minBytes: 0 });
  } catch (err) {
    throw withContext(err, 'choosing the disk to wipe');
  }
  con.line(`${plan.reason}: erasing ${disk.path} (${formatBytes(disk.sizeBytes)}${disk.model ? ` ${disk.model}` : ''})`);
  const result = await (d.wipe ?? wipeDisk)(d.runner, disk.path);
  const message = `disk ${disk.path} wiped`;
  con.line(`${message}${result.partitions.length ? ` (partitions ${result.partitions.join(', ')} and the partition table)` : ''}; nothing boots from it now`);
  for (let i = 1; i <= REPORT_ATTEMPTS; i++) {
    if (await d.report({ phase: 'retired', message })) break;
    if (i === REPORT_ATTEMPTS) d.log.warn({ disk: disk.path }, 'could not tell the server the disk is wiped; powering off anyway');
    else await new Promise((r) => setTimeout(r, d.retryMs ?? 2000));
  }
  return disk.path;
}
