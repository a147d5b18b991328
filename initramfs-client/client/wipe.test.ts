import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import type { DiskInfo } from '../restore/disks.ts';
import type { Runner } from '../restore/run.ts';
import type { WipePlan } from '../../contract/plan.ts';
import type { ClientReport } from './api.ts';
import { runWipe } from './wipe.ts';

const GiB = 1024 ** 3;
const disk = (name: string, over: Partial<DiskInfo> = {}): DiskInfo => ({
  name,
  path: `/dev/${name}`,
  sizeBytes: 20 * GiB,
  removable: false,
  readOnly: false,
  rotational: false,
  model: '',
  serial: '',
  wwid: '',
  transport: 'virtio',
  sysPath: '',
  holdsMounts: false,
  ...over,
});
// The stick the node booted from (mounted), a USB disk, the real disk.
const DISKS = [disk('sda', { transport: 'usb', holdsMounts: true }), disk('sdb', { transport: 'usb', removable: true }), disk('vda'), disk('vdb', { serial: 'S64A' }), disk('vdc', { holdsMounts: true })];
const runner: Runner = { run: async () => '' };

function deps(plan: WipePlan, reportResults: boolean[] = [true]) {
  const wiped: string[] = [];
  const reports: ClientReport[] = [];
  const lines: string[] = [];
  return {
    wiped,
    reports,
    lines,
    d: {
      plan,
      runner,
      log: silentLogger,
      con: { line: (t: string) => void lines.push(t) },
      report: async (r: ClientReport) => (reports.push(r), reportResults.shift() ?? true),
      disks: async () => DISKS,
      wipe: async (_r: Runner, path: string) => (wiped.push(path), { disk: path, partitions: [`${path}1`], sizeBytes: 20 * GiB }),
      retryMs: 1,
    },
  };
}

describe('the wipe plan', () => {
  it('wipes the first suitable disk (never the mounted one), then reports retired', async () => {
    const t = deps({ action: 'wipe', reason: 'retired', targetDisk: null });
    expect(await runWipe(t.d)).toBe('/dev/vda');
    expect(t.wiped).toEqual(['/dev/vda']);
    expect(t.reports).toEqual([{ phase: 'retired', message: 'disk /dev/vda wiped' }]);
    expect(t.lines.join('\n')).toMatch(/erasing \/dev\/vda/);
  });

  it("takes the plan's target disk", async () => {
    const t = deps({ action: 'wipe', reason: 'retired', targetDisk: 'serial=S64A' });
    expect(await runWipe(t.d)).toBe('/dev/vdb');
  });

  it('refuses a mounted target disk before touching anything', async () => {
    const t = deps({ action: 'wipe', reason: 'retired', targetDisk: '/dev/vdc' });
    await expect(runWipe(t.d)).rejects.toThrow(/choosing the disk to wipe: requested disk \/dev\/vdc .* is in use/);
    // A USB stick is never wiped, named or not.
    await expect(runWipe(deps({ action: 'wipe', reason: 'retired', targetDisk: 'sdb' }).d)).rejects.toThrow(/USB disk: never a target/);
    expect(t.wiped).toEqual([]);
    expect(t.reports).toEqual([]);
  });

  it('tries the report again when the server does not answer', async () => {
    const t = deps({ action: 'wipe', reason: 'retired', targetDisk: null }, [false, false, true]);
    await runWipe(t.d);
    expect(t.reports).toHaveLength(3);
  });
});
