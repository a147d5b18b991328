/**
 * Make the plan's volume groups on the node: pvcreate on the PV partitions
 * (the one before a scratch area made short), vgcreate with the sample's VG
 * name and extent size, lvcreate of every LV at its captured size in the
 * sample's order, then the growing LV over the rest; deactivate them all
 * before the reboot. Later, give the scratch area back: pvresize, then
 * lvextend of the growing LV (scratch.ts grows its file system).
 *
 * The netboot environment has no udev, no lvm.conf and no lvmetad/lvmpolld:
 * every call carries its configuration (LVM_CONFIG): no udev
 * synchronisation or rules (libdevmapper then makes /dev/mapper/<vg>-<lv>
 * and lvm the /dev/<vg>/<lv> links itself), no device list from udev, no
 * devices file, no dmeventd monitoring, no metadata backups in the RAM
 * root, and a filter that shows lvm only the PVs it works on: a VG of the
 * same name on another disk of the node is never seen, let alone changed.
 */
import { rm } from 'node:fs/promises';
import { ImgsrvError } from '../../core/errors.ts';
import { dmName } from '../../images/meta.ts';
import type { PlannedVg } from './lvm-plan.ts';
import { regularFileInRoot } from './root-path.ts';
import type { Runner } from './run.ts';

/** A regular expression matching exactly `s`, for lvm's filter (delimited by |). */
function exact(s: string): string {
  return `^${s.replace(/[.*+?^${}()[\]\\|]/g, '\\$&')}$`;
}

/** lvm's --config for the netboot environment, showing it only `devices` (paths or regular expressions with `re:`). */
export function lvmConfig(devices: readonly string[]): string {
  const accept = devices.map((d) => `"a|${d.startsWith('re:') ? d.slice(3) : exact(d)}|"`);
  return [
    'activation{udev_sync=0 udev_rules=0 monitoring=0 verify_udev_operations=0}',
    `devices{obtain_device_list_from_udev=0 use_devicesfile=0 filter=[${[...accept, '"r|.*|"'].join(',')}]}`,
    'backup{backup=0 archive=0}',
    'global{use_lvmpolld=0}',
  ].join(' ');
}

/** argv of one lvm command that sees only `devices`. */
export function lvmArgv(command: string, devices: readonly string[], args: readonly string[]): string[] {
  return ['lvm', command, '--config', lvmConfig(devices), ...args];
}

/** The device node the netboot environment has for an LV. */
export function lvDevice(vg: string, lv: string): string {
  return `/dev/mapper/${dmName(vg, lv)}`;
}

/** lvm size argument in KiB (sizes are whole extents, extents whole KiB). */
function kib(bytes: number): string {
  if (bytes % 1024 !== 0) throw new ImgsrvError('INTERNAL', `LVM size ${bytes} is not a whole number of KiB`);
  return `${bytes / 1024}k`;
}

/** The commands that make one VG on `pvs` (partition number → device), in order; the growing LV last. */
export function vgCommands(vg: PlannedVg, pvs: ReadonlyMap<number, string>): Array<{ step: string; argv: string[] }> {
  const devices = vg.pvs.map((n) => {
    const d = pvs.get(n);
    if (!d) throw new ImgsrvError('INTERNAL', `volume group ${vg.name}: no device for partition ${n}`);
    return d;
  });
  const out: Array<{ step: string; argv: string[] }> = [];
  for (const [i, dev] of devices.entries()) {
    const short = vg.shortPv && vg.shortPv.partition === vg.pvs[i] ? ['--setphysicalvolumesize', kib(vg.shortPv.sizeBytes)] : [];
    // -ff -y: the partition was just made; whatever an earlier install left there goes
    out.push({ step: `make LVM physical volume on partition ${vg.pvs[i]}`, argv: lvmArgv('pvcreate', devices, ['-ff', '-y', ...short, dev]) });
  }
  out.push({ step: `make volume group ${vg.name}`, argv: lvmArgv('vgcreate', devices, ['-y', '-s', kib(vg.extentBytes), vg.name, ...devices]) });
  const ordered = [...vg.lvs.filter((l) => !l.grows), ...vg.lvs.filter((l) => l.grows)];
  for (const lv of ordered) {
    const size = lv.grows ? ['-l', '100%FREE'] : ['-L', kib(lv.sizeBytes)];
    // -Wy -Zy: no stale signature or first block from an earlier install under the new file system
    out.push({ step: `make logical volume ${vg.name}/${lv.name}`, argv: lvmArgv('lvcreate', devices, ['-y', '-Wy', '-Zy', '-n', lv.name, ...size, vg.name]) });
  }
  return out;
}

/** Make the VGs and their (active) LVs; returns each LV's device by "vg/lv". */
export async function createVolumeGroups(runner: Runner, vgs: readonly PlannedVg[], pvs: ReadonlyMap<number, string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const vg of vgs) {
    for (const c of vgCommands(vg, pvs)) await runner.run(c.step, c.argv);
    for (const lv of vg.lvs) out.set(`${vg.name}/${lv.name}`, lvDevice(vg.name, lv.name));
  }
  return out;
}

/**
 * Deactivate the named VGs as lvm finds them on `devices` (the target disk's
 * partitions): before the reboot, and before the disk is partitioned again
 * by a restore that starts over in the same boot. `ignoreMissing`: a VG that
 * is not there is fine.
 */
export async function deactivateVolumeGroups(runner: Runner, names: readonly string[], devices: readonly string[], opts: { ignoreMissing?: boolean } = {}): Promise<void> {
  for (const name of names) {
    const run = runner.run(`deactivate volume group ${name}`, lvmArgv('vgchange', devices, ['-an', name]));
    if (opts.ignoreMissing) await run.catch(() => undefined);
    else await run;
  }
}

/** A filter entry matching every partition of `diskPath` ("/dev/sda" → sda1, sda2 …; "/dev/nvme0n1" → nvme0n1p1 …). */
export function partitionsOf(diskPath: string): string {
  const base = diskPath.replace(/[.*+?^${}()[\]\\|]/g, '\\$&');
  return `re:^${base}${/\d$/.test(diskPath) ? 'p' : ''}[0-9]+$`;
}

/** Give the short PV `pv` its whole partition and the VG's new extents to the growing LV (its file system is the caller's); `pvs`: every PV of the VG. */
export async function growAfterScratch(runner: Runner, pvs: readonly string[], pv: string, vg: string, lv: string): Promise<void> {
  await runner.run(`grow LVM physical volume ${pv} over the scratch area`, lvmArgv('pvresize', pvs, ['-y', pv]));
  await runner.run(`grow logical volume ${vg}/${lv}`, lvmArgv('lvextend', pvs, ['-y', '-l', '+100%FREE', `${vg}/${lv}`]));
}

/**
 * lvm's devices file (/etc/lvm/devices/system.devices, lvm2 >= 2.03.12 with
 * use_devicesfile=1, RHEL 9's default) names the sample's PVs by disk serial
 * or WWID: a clone's new PV is not in it and its VGs would not activate. It
 * is removed (lvm then uses every device); returns whether there was one.
 * Debian 12 has none.
 */
export async function dropLvmDevicesFile(root: string): Promise<boolean> {
  const file = await regularFileInRoot(root, 'etc/lvm/devices/system.devices');
  if (!file) return false;
  await rm(file);
  return true;
}
