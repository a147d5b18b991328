// md facts from real output: the probe's own md section (MD_PROBE: sysfs state plus
// `mdadm --detail --export`, mdadm 4.2) and /proc/mdstat, as they came out of the netboot
// environment's kernel and mdadm with two RAID1 arrays over vda/vdc (written by
// initramfs-client/restore/md.lab.test.ts with UPDATE_TESTDATA=1): md0 (metadata 1.2) over
// partition 4 of each disk, md1 (1.0) over partition 3; and /proc/mdstat once md0 and md1 ran
// from vdc alone. Taken while md0's first resync ran: the restore does not wait for it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostFactsSchema, type HostFacts } from '../../images/meta.ts';
import { mdFacts, parseMdExport, parseMdstat } from './md-facts.ts';
import { unrestorableLayout } from './layout-check.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'testdata', name), 'utf8');
const probeMd = fixture('md-probe-netboot.txt');
const mdstat = fixture('mdstat-netboot.txt');
const degraded = fixture('mdstat-degraded-netboot.txt');

const MiB = 1024 * 1024;
const RAID = 'A19D880F-05FC-4D3B-A006-743F0F84911E';
const parts = [
  { number: 1, startBytes: MiB, sizeBytes: MiB, type: '21686148-6449-6E6F-744E-656564454649' },
  { number: 2, startBytes: 2 * MiB, sizeBytes: 64 * MiB, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' },
  { number: 3, startBytes: 66 * MiB, sizeBytes: 256 * MiB, type: RAID, fs: { type: 'linux_raid_member' } },
  { number: 4, startBytes: 322 * MiB, sizeBytes: 1725 * MiB, type: RAID, fs: { type: 'linux_raid_member' } },
];
/** The two disks as lsblk would list them (the VM's vdb is a decoy the restore passed over). */
const disks: HostFacts['disks'] = ['vda', 'vdc'].map((name) => ({ name, sizeBytes: 2048 * MiB, partitions: structuredClone(parts) }));
const use = (names: readonly string[]) =>
  names.includes('/dev/md0') ? { fs: { type: 'ext4', uuid: 'f0e1d2c3-b4a5-4697-8899-aabbccddeeff' }, mountpoint: '/', mountOptions: 'errors=remount-ro', usedBytes: 9 * MiB }
  : names.includes('/dev/md1') ? { fs: { type: 'ext4', uuid: '0f1e2d3c-4b5a-4697-8899-aabbccddeeff', label: 'boot' }, mountpoint: '/boot' }
  : {};

describe('md facts from real mdadm and /proc/mdstat output', () => {
  it('reads /proc/mdstat: level, members with their slots, superblock format, [2/2] [UU]', () => {
    const arrays = parseMdstat(mdstat);
    // md1 waits for md0's resync (resync=DELAYED); md0 is 31 % through its own: both [UU]
    expect(arrays.map((a) => [a.name, a.active, a.level, a.metadata, a.wanted, a.working, a.map])).toEqual([
      ['md1', true, 'raid1', '1.0', 2, 2, 'UU'],
      ['md0', true, 'raid1', '1.2', 2, 2, 'UU'],
    ]);
    expect(arrays.find((a) => a.name === 'md0')!.members.map((m) => [m.name, m.slot]).sort()).toEqual([['vda4', 0], ['vdc4', 1]]);
    const one = parseMdstat(degraded).find((a) => a.name === 'md0')!;
    expect([one.wanted, one.working, one.map, one.members.map((m) => m.name)]).toEqual([2, 1, '_U', ['vdc4']]);
  });

  it("reads the probe's md section: one block per array, mdadm's keys as printed", () => {
    const blocks = parseMdExport(probeMd);
    expect(blocks.map((b) => b.get('IMGSRV_MD'))).toEqual(['/dev/md0', '/dev/md1']);
    expect(blocks[0]!.get('MD_LEVEL')).toBe('raid1');
    expect(blocks[0]!.get('MD_DEVICES')).toBe('2');
    expect(blocks[0]!.get('MD_UUID')).toMatch(/^[0-9a-f]{8}(:[0-9a-f]{8}){3}$/);
  });

  it('joins them into facts the schema takes and the capture check accepts, tied to the disks', () => {
    const md = mdFacts({ md: probeMd, mdstat }, { disks, use })!;
    expect(md.arrays.map((a) => ({ device: a.device, level: a.level, metadata: a.metadata, name: a.name, raidDevices: a.raidDevices, degraded: a.degraded, members: a.members, mountpoint: a.mountpoint, fs: a.fs?.type }))).toEqual([
      { device: '/dev/md0', level: 'raid1', metadata: '1.2', name: 'sample:0', raidDevices: 2, degraded: false, members: [{ device: '/dev/vda4', role: 0, disk: 'vda', partition: 4 }, { device: '/dev/vdc4', role: 1, disk: 'vdc', partition: 4 }], mountpoint: '/', fs: 'ext4' },
      { device: '/dev/md1', level: 'raid1', metadata: '1.0', name: 'sample:1', raidDevices: 2, degraded: false, members: [{ device: '/dev/vda3', role: 0, disk: 'vda', partition: 3 }, { device: '/dev/vdc3', role: 1, disk: 'vdc', partition: 3 }], mountpoint: '/boot', fs: 'ext4' },
    ]);
    expect(md.arrays[0]!.uuid).toBe(parseMdExport(probeMd)[0]!.get('MD_UUID'));
    const facts: HostFacts = {
      partitionTable: 'gpt', disks, swap: [], bootMode: 'bios', bootloader: 'grub', kernels: [], interfaces: [], md,
      filesystems: [{ mountpoint: '/', type: 'ext4', source: '/dev/md0', uuid: 'f0e1d2c3-b4a5-4697-8899-aabbccddeeff', options: 'errors=remount-ro', usedBytes: 9 * MiB, sizeBytes: 1600 * MiB }],
    };
    expect(hostFactsSchema.parse(facts)).toEqual(facts);
    expect(unrestorableLayout(facts)).toBeUndefined();
  });

  it('sees a degraded array from /proc/mdstat alone (no mdadm on the host): refused', () => {
    const md = mdFacts({ md: '', mdstat: degraded }, { disks, use })!;
    const md0 = md.arrays.find((a) => a.device === '/dev/md0')!;
    expect([md0.degraded, md0.uuid, md0.members.map((m) => m.device)]).toEqual([true, '', ['/dev/vdc4']]);
    const facts = (m: HostFacts['md']): HostFacts => ({ partitionTable: 'gpt', disks, swap: [], bootMode: 'bios', bootloader: 'grub', kernels: [], interfaces: [], md: m, filesystems: [] });
    expect(unrestorableLayout(facts(md))?.what).toBe('md array /dev/md0: mdadm reported no UUID');
    // with mdadm's view too, the kernel's "[2/1] [_U]" is what says degraded (mdadm's export has no state)
    const both = mdFacts({ md: probeMd, mdstat: degraded }, { disks, use })!;
    expect(both.arrays.map((a) => a.degraded)).toEqual([true, true]);
    expect(unrestorableLayout(facts(both))?.what).toBe('md array /dev/md0 (sample:0) is degraded');
  });

  it('gives no facts on a host without md', () => {
    expect(mdFacts({ md: '', mdstat: 'Personalities : \nunused devices: <none>\n' }, { disks, use })).toBeUndefined();
    expect(mdFacts({ md: '', mdstat: '' }, { disks, use })).toBeUndefined();
  });
});
