/**
 * btrfs subvolumes on the node: the sample's subvolumes made again on the
 * new file system (same paths from the top level, parents first), the
 * sample's default subvolume set again, and each subvolume mounted at its
 * mount point under the target with the options that decide how files are
 * written (compression, no copy-on-write), so the image's entries, which
 * are the files as mounted on the sample, land in the subvolume they came
 * from: /home/... in @home. The subvolume ids are new (btrfs numbers them in
 * creation order): everything is by path, as the sample's fstab
 * (`subvol=@home`) and grub (`rootflags=subvol=@`) name them.
 *
 * layout-check.ts refused at capture what this cannot make (snapshots,
 * subvolumes mounted nowhere, more than one device, RAID profiles).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import { BTRFS_TOP_LEVEL, type HostFacts } from '../../images/meta.ts';
import type { Runner } from './run.ts';

/** The subvolumes to make on one btrfs, and where each is mounted. */
export interface PlannedBtrfs {
  /** Subvolume paths from the top level, each after its parent ("@", "@/var/lib/machines"). */
  subvolumes: string[];
  /** The sample's default subvolume (`btrfs subvolume set-default`), absent when it was the top level. */
  defaultSubvolume?: string;
  /** Mounts, shallowest mount point first: the subvolume ("" for the top level) and the options the restore mounts it with. */
  mounts: Array<{ mountpoint: string; subvolume: string; options: string }>;
}

/** Mount options that decide how files are written, kept for the unpack (the others, such as noatime, matter to the running system only). */
const WRITE_OPTIONS = /^(compress|compress-force)(=.*)?$|^(nodatacow|nodatasum)$/;

/** The options the restore mounts a subvolume with: subvol= by path and the sample's write options (compress=zstd:3 …). */
export function restoreMountOptions(subvolume: string, sampleOptions: string): string {
  const keep = sampleOptions.split(',').filter((o) => WRITE_OPTIONS.test(o));
  return [`subvol=/${subvolume}`, ...keep].join(',');
}

const depth = (p: string): number => (p === '/' ? 0 : p.split('/').length - 1);

/** The subvolume plan for the sample's btrfs `uuid` (pure); undefined when it had no subvolumes to make or mount. */
export function planBtrfs(facts: HostFacts, uuid: string | undefined): PlannedBtrfs | undefined {
  const fs = uuid ? facts.btrfs?.find((b) => b.uuid.toLowerCase() === uuid.toLowerCase()) : undefined;
  if (!fs || fs.subvolumes.length === 0) return undefined;
  const subvolumes = fs.subvolumes.map((s) => s.path).sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  const mounts = fs.mounts
    .filter((m) => m.mountpoint.startsWith('/'))
    .map((m) => ({ mountpoint: m.mountpoint, subvolume: m.subvolume, options: restoreMountOptions(m.subvolume, m.options) }))
    .sort((a, b) => depth(a.mountpoint) - depth(b.mountpoint) || a.mountpoint.localeCompare(b.mountpoint));
  const plan: PlannedBtrfs = { subvolumes, mounts };
  if (fs.defaultId !== BTRFS_TOP_LEVEL) {
    const def = fs.subvolumes.find((s) => s.id === fs.defaultId);
    if (!def) throw new ImgsrvError('IO', `the image's btrfs ${fs.uuid} has default subvolume id ${fs.defaultId}, which its subvolume list lacks`, { hint: 'the image metadata is incomplete: capture the image again' });
    plan.defaultSubvolume = def.path;
  }
  return plan;
}

/** The commands that make the subvolumes in the top level mounted at `top`, then set the default (pure). */
export function subvolumeCommands(plan: PlannedBtrfs, top: string): Array<{ step: string; argv: string[] }> {
  const out = plan.subvolumes.map((p) => ({ step: `make btrfs subvolume ${p}`, argv: ['btrfs', 'subvolume', 'create', join(top, p)] }));
  if (plan.defaultSubvolume !== undefined) out.push({ step: `make ${plan.defaultSubvolume} the default btrfs subvolume`, argv: ['btrfs', 'subvolume', 'set-default', join(top, plan.defaultSubvolume)] });
  return out;
}

/** Where makeSubvolumes mounts the top level by default. */
export const BTRFS_TOP_MOUNT = join('/run', 'imgsrv', 'btrfs-top');

/** Make the plan's subvolumes on the new btrfs `device` (its top level mounted at `top` meanwhile), and set its default subvolume. */
export async function makeSubvolumes(runner: Runner, device: string, plan: PlannedBtrfs, top = BTRFS_TOP_MOUNT): Promise<void> {
  await mkdir(top, { recursive: true });
  await runner.run('mount the btrfs top level', ['mount', '-t', 'btrfs', '-o', 'subvolid=5', device, top]);
  try {
    for (const c of subvolumeCommands(plan, top)) {
      // a nested subvolume's parent directories inside its parent subvolume (parents are made first)
      await mkdir(join(top, c.argv.at(-1)!, '..'), { recursive: true });
      await runner.run(c.step, c.argv);
    }
  } finally {
    await runner.run('unmount the btrfs top level', ['umount', top]);
  }
}
