// Planning an LVM layout (pure): the PV partition planned like any partition and grown, the VG and LV
// names and extent size kept, every LV at its captured size but the root LV, which takes the rest;
// the disk-size refusal counts the LVs; the scratch area shortens the PV, not a file system.
import { describe, expect, it } from 'vitest';
import { imageMetaSchema } from '../../images/meta.ts';
import { GPT_TYPES, mappingFor, planLayout, requiredBytes } from './layout.ts';
import { lvmArgv, lvmConfig, partitionsOf, vgCommands } from './lvm.ts';
import { PE_START } from './lvm-plan.ts';
import { layoutWithScratch, placeScratch, scratchPossible } from './scratch.ts';
import { lvmFacts, metaFor } from './testdata/facts.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('LVM layout plan', () => {
  it('the fixture is valid image metadata', () => {
    expect(imageMetaSchema.safeParse(metaFor(lvmFacts, MiB)).success).toBe(true);
  });

  it('plans the PV partition like any partition and grows it; vg0 keeps its name and extent size, root takes the rest', () => {
    const plan = planLayout(lvmFacts, { path: '/dev/vda', sizeBytes: 40 * GiB });
    const by = Object.fromEntries(plan.partitions.map((p) => [p.number, p]));
    expect(by[4]).toMatchObject({ role: 'lvm', vg: 'vg0', type: GPT_TYPES.lvm, grows: true, startBytes: 578 * MiB });
    expect(by[4]!.fs).toBeUndefined();
    expect(by[4]!.startBytes + by[4]!.sizeBytes).toBe(40 * GiB - MiB);
    expect(by[3]).toMatchObject({ role: 'data', mountpoint: '/boot', grows: false });
    expect(plan.lvm).toHaveLength(1);
    const vg = plan.lvm![0]!;
    expect(vg).toMatchObject({ name: 'vg0', extentBytes: 4 * MiB, pvs: [4] });
    const lv = Object.fromEntries(vg.lvs.map((l) => [l.name, l]));
    expect(lv.home).toMatchObject({ sizeBytes: 2 * GiB, grows: false, role: 'data', mountpoint: '/home', fs: { type: 'xfs', oldUuid: '8e2b5f7a-1d4c-4b8e-9f3a-6c7d8e9f0a22', mountOptions: 'defaults,noatime' } });
    expect(lv.swap_1).toMatchObject({ sizeBytes: 512 * MiB, grows: false, role: 'swap', swap: { oldUuid: '0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c33' } });
    const capacity = Math.floor((by[4]!.sizeBytes - PE_START) / (4 * MiB)) * 4 * MiB;
    expect(lv.root).toMatchObject({ grows: true, role: 'root', mountpoint: '/', sizeBytes: capacity - 2 * GiB - 512 * MiB });
    expect(lv.root!.fs!.newUuid).not.toBe('5c1d0c7e-3b0f-4f39-9a57-2f9f6a0b1c11');
  });

  it('maps LVs by device with their VG/LV names and no old device (their names stay valid)', () => {
    const plan = planLayout(lvmFacts, { path: '/dev/vda', sizeBytes: 40 * GiB });
    const mapping = mappingFor(plan, new Map([[2, '/dev/vda2'], [3, '/dev/vda3']]), new Map([['vg0/root', '/dev/mapper/vg0-root'], ['vg0/home', '/dev/mapper/vg0-home'], ['vg0/swap_1', '/dev/mapper/vg0-swap_1']]), new Map([[4, '/dev/vda4']]));
    const root = mapping.find((m) => m.mountpoint === '/')!;
    expect(root).toMatchObject({ device: '/dev/mapper/vg0-root', number: 4, role: 'root', fsType: 'ext4', oldUuid: '5c1d0c7e-3b0f-4f39-9a57-2f9f6a0b1c11', lv: { vg: 'vg0', name: 'root', pvs: [{ number: 4, device: '/dev/vda4' }] } });
    expect(root.oldDevice).toBeUndefined();
    expect(mapping.find((m) => m.fsType === 'swap')).toMatchObject({ device: '/dev/mapper/vg0-swap_1', lv: { name: 'swap_1' } });
    expect(mapping.map((m) => m.mountpoint ?? m.fsType)).toEqual(['/boot/efi', '/boot', '/home', '/', 'swap']);
  });

  it('counts the fixed LVs in the smallest disk and refuses a disk too small for them before anything is written', () => {
    const meta = metaFor(lvmFacts, 700 * MiB);
    const need = requiredBytes(meta);
    // before the PV: 578 MiB; the PV: metadata, home + swap (2.5 GiB), one extent, the root's share ×1.1, 256 MiB slack
    expect(need).toBeGreaterThan(578 * MiB + 2.5 * GiB + 256 * MiB);
    expect(need).toBeLessThan(578 * MiB + 2.5 * GiB + 256 * MiB + 800 * MiB);
    expect(() => planLayout(lvmFacts, { path: '/dev/vda', sizeBytes: 2 * GiB })).toThrow(/TOO SMALL.*volume group vg0 needs/);
    expect(() => planLayout(lvmFacts, { path: '/dev/vda', sizeBytes: need })).not.toThrow();
  });

  it('puts the scratch area after a PV made short, the root LV short with it, home and swap at their size', () => {
    const plan = planLayout(lvmFacts, { path: '/dev/vda', sizeBytes: 40 * GiB });
    expect(scratchPossible(plan, [])).toEqual({ ok: true });
    expect(scratchPossible(plan, ['/'])).toMatchObject({ ok: false, reason: 'logical volume vg0/root (/) is kept' });
    const area = placeScratch(plan, 1 * GiB);
    const pv = plan.partitions.find((p) => p.number === 4)!;
    expect(area).toMatchObject({ partition: 4, fsType: 'ext4', lvm: { vg: 'vg0', lv: 'root' }, offsetBytes: pv.startBytes + pv.sizeBytes - GiB, fsBytes: pv.sizeBytes - GiB });
    const short = layoutWithScratch(plan, area);
    const vg = short.lvm![0]!;
    expect(vg.shortPv).toEqual({ partition: 4, sizeBytes: pv.sizeBytes - GiB });
    const root = vg.lvs.find((l) => l.name === 'root')!;
    expect(root.sizeBytes).toBe(Math.floor((pv.sizeBytes - GiB - PE_START) / (4 * MiB)) * 4 * MiB - 2.5 * GiB);
    // the partition and the file system sizes are untouched: the LV is short, mkfs fills it
    expect(short.partitions).toEqual(plan.partitions);
    expect(root.fs!.sizeBytes).toBeUndefined();
    expect(() => placeScratch(planLayout(lvmFacts, { path: '/dev/vda', sizeBytes: 4 * GiB }), 1 * GiB)).toThrow(/TOO SMALL for the image and its scratch area/);
  });

  it('an xfs or btrfs root LV can have a scratch area too, a vfat one cannot', () => {
    const rootAs = (type: string) => ({ ...lvmFacts, lvm: { vgs: lvmFacts.lvm!.vgs.map((vg) => ({ ...vg, lvs: vg.lvs.map((l) => (l.name === 'root' ? { ...l, fs: { ...l.fs!, type } } : l)) })) } });
    expect(scratchPossible(planLayout(rootAs('xfs'), { path: '/dev/vda', sizeBytes: 40 * GiB }), [])).toEqual({ ok: true });
    expect(scratchPossible(planLayout(rootAs('btrfs'), { path: '/dev/vda', sizeBytes: 40 * GiB }), [])).toEqual({ ok: true });
    expect(scratchPossible(planLayout(rootAs('vfat'), { path: '/dev/vda', sizeBytes: 40 * GiB }), [])).toMatchObject({ ok: false, reason: /logical volume vg0\/root \(\/\) has vfat/ });
  });

  it('without a root LV in the VG, the largest mounted LV grows', () => {
    const noRoot = { ...lvmFacts, lvm: { vgs: lvmFacts.lvm!.vgs.map((vg) => ({ ...vg, lvs: vg.lvs.filter((l) => l.name !== 'root') })) }, disks: lvmFacts.disks.map((d) => ({ ...d, partitions: [...d.partitions.slice(0, 3).map((p) => (p.number === 3 ? { ...p, mountpoint: '/' } : p)), d.partitions[3]!] })) };
    noRoot.filesystems = [...lvmFacts.filesystems.filter((f) => f.mountpoint !== '/' && f.mountpoint !== '/boot'), { ...lvmFacts.filesystems[1]!, mountpoint: '/' }];
    const plan = planLayout(noRoot, { path: '/dev/vda', sizeBytes: 40 * GiB });
    // the PV is last: it grows, and home (the only mounted LV) takes the rest
    expect(plan.partitions.find((p) => p.number === 4)!.grows).toBe(true);
    expect(plan.lvm![0]!.lvs.find((l) => l.grows)?.name).toBe('home');
  });
});

describe('lvm commands', () => {
  it('make the VG with the same name and extent size, the fixed LVs first at their size, the growing LV over the rest', () => {
    const plan = planLayout(lvmFacts, { path: '/dev/vda', sizeBytes: 40 * GiB });
    const area = placeScratch(plan, GiB);
    const vg = layoutWithScratch(plan, area).lvm![0]!;
    const cmds = vgCommands(vg, new Map([[4, '/dev/vda4']]));
    const tail = (a: string[]) => [a[1], ...a.slice(4)];
    expect(cmds.map((c) => tail(c.argv))).toEqual([
      ['pvcreate', '-ff', '-y', '--setphysicalvolumesize', `${area.fsBytes / 1024}k`, '/dev/vda4'],
      ['vgcreate', '-y', '-s', '4096k', 'vg0', '/dev/vda4'],
      ['lvcreate', '-y', '-Wy', '-Zy', '-n', 'home', '-L', `${2 * 1024 * 1024}k`, 'vg0'],
      ['lvcreate', '-y', '-Wy', '-Zy', '-n', 'swap_1', '-L', `${512 * 1024}k`, 'vg0'],
      ['lvcreate', '-y', '-Wy', '-Zy', '-n', 'root', '-l', '100%FREE', 'vg0'],
    ]);
    expect(cmds[0]!.argv.slice(0, 3)).toEqual(['lvm', 'pvcreate', '--config']);
  });

  it('run without udev, devices file or backups, seeing only the devices named', () => {
    const cfg = lvmConfig(['/dev/vda4', partitionsOf('/dev/nvme0n1')]);
    expect(cfg).toContain('activation{udev_sync=0 udev_rules=0 monitoring=0 verify_udev_operations=0}');
    expect(cfg).toContain('devices{obtain_device_list_from_udev=0 use_devicesfile=0 filter=["a|^/dev/vda4$|","a|^/dev/nvme0n1p[0-9]+$|","r|.*|"]}');
    expect(cfg).toContain('backup{backup=0 archive=0}');
    expect(lvmArgv('vgchange', ['/dev/sda3'], ['-an', 'vg0'])).toEqual(['lvm', 'vgchange', '--config', lvmConfig(['/dev/sda3']), '-an', 'vg0']);
  });
});

describe('LVM on MBR (Debian\'s guided LVM on a BIOS disk)', () => {
  it('grows the PV in a logical partition with its extended partition; the PV type is 8e', () => {
    const facts = {
      ...lvmFacts,
      partitionTable: 'mbr' as const,
      disks: [{
        name: 'sda', sizeBytes: 10 * GiB, partitions: [
          { number: 1, startBytes: MiB, sizeBytes: 487 * MiB, type: '83', mountpoint: '/boot', fs: { type: 'ext4', uuid: '2d3e4f50-6172-4839-a4b5-c6d7e8f90a44' } },
          { number: 2, startBytes: 489 * MiB, sizeBytes: 10 * GiB - 489 * MiB, type: '5' },
          { number: 5, startBytes: 490 * MiB, sizeBytes: 10 * GiB - 490 * MiB, type: '8e', fs: { type: 'LVM2_member' } },
        ],
      }],
      filesystems: lvmFacts.filesystems.filter((f) => f.mountpoint !== '/boot/efi').map((f) => (f.mountpoint === '/boot' ? { ...f, source: '/dev/sda1' } : f)),
      lvm: { vgs: lvmFacts.lvm!.vgs.map((vg) => ({ ...vg, pvs: [{ device: '/dev/sda5', sizeBytes: 9 * GiB, disk: 'sda', partition: 5 }] })) },
    };
    const plan = planLayout(facts, { path: '/dev/sda', sizeBytes: 20 * GiB });
    const by = Object.fromEntries(plan.partitions.map((p) => [p.number, p]));
    expect(plan.table).toBe('dos');
    expect(by[5]).toMatchObject({ role: 'lvm', vg: 'vg0', type: '8e', grows: true });
    expect(by[5]!.startBytes + by[5]!.sizeBytes).toBe(20 * GiB);
    expect(by[2]!.startBytes + by[2]!.sizeBytes).toBe(20 * GiB);
    expect(plan.lvm![0]!.pvs).toEqual([5]);
    expect(plan.lvm![0]!.lvs.find((l) => l.grows)?.name).toBe('root');
  });
});
