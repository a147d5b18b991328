// Layouts the restore can't recreate are refused at capture time: the probe
// of a UEFI Debian VM (testdata/probe-gpt-uefi.txt), changed the way lsblk
// and findmnt show the same host installed on LVM, md RAID, LUKS or btrfs
// subvolumes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { interpretProbe } from './probe.ts';
import { unrestorableLayout } from './layout-check.ts';
import { layoutError } from './errors.ts';
import { mdFacts } from '../../initramfs-client/restore/testdata/facts.ts';

const plain = readFileSync(join(import.meta.dirname, 'testdata', 'probe-gpt-uefi.txt'), 'utf8');
const ROOT_FS = '"fstype": "ext4",\n               "label": "rootfs"';
const ROOT_MOUNT = '{"target": "/", "source": "/dev/sda2", "fstype": "ext4", "options": "rw,relatime,errors=remount-ro"';

/** The probe output with the root partition's file system type and the root mount's source/type/options replaced. */
function variant(partFs: string, mount: { source: string; fstype?: string; options?: string }): string {
  expect(plain).toContain(ROOT_FS);
  expect(plain).toContain(ROOT_MOUNT);
  return plain
    .replace(ROOT_FS, `"fstype": "${partFs}",\n               "label": null`)
    .replace(ROOT_MOUNT, `{"target": "/", "source": "${mount.source}", "fstype": "${mount.fstype ?? 'ext4'}", "options": "${mount.options ?? 'rw,relatime'}"`);
}

const refusal = (stdout: string) => unrestorableLayout(interpretProbe(stdout).facts);

describe('layouts refused at capture time', () => {
  it('takes the plain GPT + ESP + ext4 root + swap host', () => {
    expect(refusal(plain)).toBeUndefined();
  });

  it.each([
    ['LVM that lvm did not report', 'LVM2_member', '/dev/mapper/vg0-root', /partition 2 of sda holds LVM \(LVM2_member\) but lvm reported no volume group on it/, /lvm2 installed/],
    ['md RAID that no array was reported for', 'linux_raid_member', '/dev/md0', /partition 2 of sda holds md RAID \(linux_raid_member\) but the probe found no running array with it/, /install mdadm on the sample/],
    ['LUKS', 'crypto_LUKS', '/dev/mapper/sda2_crypt', /partition 2 of sda holds LUKS encryption/, /does not capture encrypted volumes/],
  ])('%s', (_name, partFs, source, what, hint) => {
    const r = refusal(variant(partFs, { source }));
    expect(r?.what).toMatch(what);
    expect(r?.hint).toMatch(hint);
  });

  it('a root on device-mapper or md even when lsblk shows no member partition', () => {
    expect(refusal(variant('ext4', { source: '/dev/mapper/vg0-root' }))?.what).toBe('/ (/dev/mapper/vg0-root) is on a device-mapper volume that is no linear LVM volume (LUKS, multipath, dm-crypt or a stacked target)');
    expect(refusal(variant('ext4', { source: '/dev/md127' }))?.what).toBe('/ (/dev/md127) is on md RAID that the probe found no array for');
  });

  it('a btrfs subvolume the probe knows nothing of, but not a btrfs top level or a bind mount of a directory', () => {
    // As Debian's and Ubuntu's installers write it: fstab names the subvolume.
    const subvolRoot = variant('btrfs', { source: '/dev/sda2[/@]', fstype: 'btrfs', options: 'rw,relatime,ssd,space_cache=v2,subvolid=256,subvol=/@' }).replace(
      /^(UUID=3f6a1c2e-9b1d-4c55-8e2a-0d7c5b1e9f40 \/\s+)ext4(\s+)errors=remount-ro/m,
      '$1btrfs$2defaults,subvol=@',
    );
    expect(subvolRoot).toMatch(/subvol=@ 0/);
    expect(refusal(subvolRoot)).toEqual({ what: '/ is btrfs subvolume @, and the probe found no facts about its file system', hint: expect.stringMatching(/install btrfs-progs on the sample/) });
    expect(refusal(variant('btrfs', { source: '/dev/sda2[/srv/root]', fstype: 'btrfs', options: 'rw,relatime,subvolid=5,subvol=/' }))).toBeUndefined();
    expect(refusal(variant('btrfs', { source: '/dev/sda2', fstype: 'btrfs', options: 'rw,relatime,subvolid=5,subvol=/' }))).toBeUndefined();
  });

  it('says it in one line with what to do, and that nothing was captured', () => {
    const err = layoutError('root@198.18.0.5', refusal(variant('LVM2_member', { source: '/dev/mapper/vg0-root' }))!);
    expect(err.code).toBe('LAYOUT_UNSUPPORTED');
    expect(err.oneLine()).toMatch(/^cannot capture root@198\.18\.0\.5: partition 2 of sda holds LVM \(LVM2_member\) but lvm reported no volume group on it; nothing was captured: run the capture as root on a host with lvm2/);
  });
});

// The same Debian host installed on LVM (testdata/probe-lvm-bios.txt: /boot and the ESP on partitions, vg0 on
// sda4 with root ext4, home xfs, swap_1), changed the way lvm reports the layouts the restore can't recreate.
describe('LVM layouts at capture time', () => {
  const lvm = readFileSync(join(import.meta.dirname, 'testdata', 'probe-lvm-bios.txt'), 'utf8');
  const lvRow = (name: string) => new RegExp(`\\{"vg_name":"vg0", "lv_name":"${name}", [^}]*\\}`);
  /** The probe with one LV's report row changed. */
  const withLv = (name: string, change: Record<string, string>): string => {
    const row = lvRow(name).exec(lvm)![0];
    const obj = JSON.parse(row) as Record<string, string>;
    return lvm.replace(row, JSON.stringify({ ...obj, ...change }));
  };

  it('takes linear LVs in a VG on a partition of the root disk', () => {
    expect(refusal(lvm)).toBeUndefined();
  });

  it.each([
    ['a thin pool', 'home', { lv_layout: 'thin,pool', lv_role: 'private,thin,pool' }, /vg0\/home is a thin,pool volume/],
    ['a thin volume', 'home', { lv_layout: 'thin,sparse', lv_role: 'public,thin', pool_lv: 'pool' }, /vg0\/home is a thin,sparse volume/],
    ['RAID1', 'root', { lv_layout: 'raid,raid1', lv_role: 'public' }, /vg0\/root is a raid,raid1 volume/],
    ['a mirror', 'root', { lv_layout: 'mirror', lv_role: 'public' }, /vg0\/root is a mirror volume/],
    ['a cache', 'home', { lv_layout: 'cache', lv_role: 'public' }, /vg0\/home is a cache volume/],
    ['a snapshot', 'home', { lv_layout: 'linear', lv_role: 'public,snapshot,thicksnapshot', origin: 'root' }, /vg0\/home is a snapshot/],
    ['a snapshot origin', 'root', { lv_layout: 'linear', lv_role: 'public,origin,thickorigin' }, /vg0\/root is the origin of a snapshot/],
  ])('refuses %s', (_name, lv, change, what) => {
    const r = refusal(withLv(lv, change));
    expect(r?.what).toMatch(what);
    expect(r?.hint).toMatch(/thin pools, RAID, mirror, snapshot, cache and VDO volumes are not recreated/);
  });

  it('refuses a PV on a whole disk, on another disk, or on something that is no partition (LUKS underneath)', () => {
    expect(refusal(lvm.replace('"pv_name":"/dev/sda4"', '"pv_name":"/dev/sda"'))?.what).toBe('volume group vg0 has the whole disk sda as physical volume');
    const luks = refusal(lvm.replace('"pv_name":"/dev/sda4"', '"pv_name":"/dev/mapper/sda4_crypt"'));
    expect(luks?.what).toBe('volume group vg0 has physical volume /dev/mapper/sda4_crypt, which is no partition of a disk (LUKS, md RAID or a loop device underneath)');
    // a second PV on another disk
    const twoDisks = lvm
      .replace('{"pv_name":"/dev/sda4", "vg_name":"vg0", "pv_size":"20866662400"}', '{"pv_name":"/dev/sda4", "vg_name":"vg0", "pv_size":"20866662400"}, {"pv_name":"/dev/sdb1", "vg_name":"vg0", "pv_size":"1073741824"}')
      .replace('"blockdevices": [', '"blockdevices": [{"name": "sdb", "path": "/dev/sdb", "type": "disk", "size": 2147483648, "pttype": "gpt", "children": [{"name": "sdb1", "path": "/dev/sdb1", "type": "part", "size": 1073741824, "start": 2048, "parttype": "e6d6d379-f507-44c2-a23c-238f2a3df928", "fstype": "LVM2_member"}]},');
    const r = refusal(twoDisks);
    expect(r?.what).toBe('volume group vg0 has physical volume /dev/sdb1 on sdb, not on sda');
    expect(r?.hint).toMatch(/spanning several disks/);
    expect(layoutError('root@198.18.0.5', r!).oneLine()).toMatch(/^cannot capture root@198\.18\.0\.5: volume group vg0 has physical volume \/dev\/sdb1 on sdb, not on sda; nothing was captured: imgsrv recreates LVM/);
  });

  it('refuses LUKS inside an LV, and a dm root that is no LV (LUKS on a partition)', () => {
    expect(refusal(lvm.replace('/dev/mapper/vg0-home: UUID="8e2b5f7a-1d4c-4b8e-9f3a-6c7d8e9f0a22" BLOCK_SIZE="512" TYPE="xfs"', '/dev/mapper/vg0-home: UUID="x" TYPE="crypto_LUKS"').replace('"fstype": "xfs"', '"fstype": "crypto_LUKS"'))?.what).toBe('logical volume vg0/home holds LUKS encryption (crypto_LUKS)');
    expect(refusal(variant('ext4', { source: '/dev/mapper/sda2_crypt' }))?.what).toMatch(/is on a device-mapper volume that is no linear LVM volume/);
  });
});

// Debian on md RAID1 across two disks (initramfs-client/restore/testdata/facts.ts mdFacts: / ext4 on md0,
// swap on md1, both mirrored over partition 2 and 3 of sda and sdb), changed into what the restore can't recreate.
describe('md RAID at capture time', () => {
  type Facts = typeof mdFacts;
  const change = (fn: (f: Facts) => void): Facts => {
    const f = structuredClone(mdFacts);
    fn(f);
    return f;
  };
  const md0 = (f: Facts) => f.md!.arrays[0]!;

  it('takes RAID1 over the same partition of two identically partitioned disks holding ext4 and swap', () => {
    expect(unrestorableLayout(mdFacts)).toBeUndefined();
  });

  it.each([
    ['RAID0', (f: Facts) => { md0(f).level = 'raid0'; }, 'md array /dev/md0 (sample:0) is raid0, not RAID1', /RAID0, RAID5, RAID6, RAID10 and linear arrays are not recreated/],
    ['RAID5', (f: Facts) => { md0(f).level = 'raid5'; }, 'md array /dev/md0 (sample:0) is raid5, not RAID1', /not recreated/],
    ['RAID10', (f: Facts) => { md0(f).level = 'raid10'; }, 'md array /dev/md0 (sample:0) is raid10, not RAID1', /not recreated/],
    ['a degraded array', (f: Facts) => { md0(f).degraded = true; }, 'md array /dev/md0 (sample:0) is degraded', /repair the array on the sample \(mdadm --manage --add/],
    ['an inactive array', (f: Facts) => { md0(f).state = 'inactive'; }, 'md array /dev/md0 (sample:0) is not running (state "inactive")', /repair the array/],
    ['whole-disk members', (f: Facts) => { for (const m of md0(f).members) delete m.partition; }, 'md array /dev/md0 (sample:0) has the whole disk sda as a member', /no partition table to recreate/],
    ['a member on another array', (f: Facts) => { const m = md0(f).members[1]!; m.device = '/dev/md5'; delete m.disk; delete m.partition; }, 'md array /dev/md0 (sample:0) has member /dev/md5, which is no partition of a disk lsblk listed (another array, a loop device)', /RAID1 mirrors of two partitions/],
    ['a three-way mirror', (f: Facts) => { md0(f).raidDevices = 3; }, 'md array /dev/md0 (sample:0) has 3 active members (/dev/sda2, /dev/sdb2)', /three-way mirrors and spares are not recreated yet/],
    ['external metadata', (f: Facts) => { md0(f).metadata = 'imsm'; }, 'md array /dev/md0 (sample:0) has metadata "imsm"', /not external \(imsm, ddf\) metadata/],
    ['no UUID (no mdadm on the sample)', (f: Facts) => { md0(f).uuid = ''; }, 'md array /dev/md0 (sample:0): mdadm reported no UUID', /install mdadm/],
    ['LVM on md', (f: Facts) => { md0(f).fs = { type: 'LVM2_member' }; }, 'md array /dev/md0 (sample:0) is an LVM physical volume', /LVM on md is not recreated yet/],
    ['btrfs on md', (f: Facts) => { md0(f).fs = { type: 'btrfs' }; }, 'md array /dev/md0 (sample:0) holds btrfs', /ext2\/3\/4, XFS or swap on the array/],
    ['differently partitioned disks', (f: Facts) => { f.disks[1]!.partitions = f.disks[1]!.partitions.map((p) => (p.number === 3 ? { ...p, sizeBytes: p.sizeBytes + 1048576 } : p)); }, /^disks sda and sdb of the md mirror are partitioned differently/, /sfdisk -d \/dev\/sda \| sfdisk \/dev\/sdb/],
    ['mirrored partitions with different numbers', (f: Facts) => { md0(f).members[1]!.partition = 3; }, 'md array /dev/md0 (sample:0) mirrors partition 2 of sda with partition 3 of sdb', /the same partition number on each disk/],
    ['a member partition no array claims', (f: Facts) => { f.md!.arrays.pop(); }, 'partition 3 of sda holds md RAID (linux_raid_member) but the probe found no running array with it', /install mdadm on the sample, assemble its arrays/],
    ['a file system mounted from the second disk only', (f: Facts) => { f.disks[1]!.partitions[0] = { ...f.disks[1]!.partitions[0]!, mountpoint: '/srv', fs: { type: 'ext4' } }; }, 'partition 1 of sdb, the second disk of the md mirror, is mounted on /srv outside any array', /second disk only array members/],
    ['LVM beside md (a VG whose PVs lvm could not tie to the root disk)', (f: Facts) => { f.lvm = { vgs: [{ name: 'vg0', extentBytes: 4194304, sizeBytes: 0, pvs: [], lvs: [] }] }; }, /volume group vg0 has no physical volume lvm could report/, /imgsrv recreates LVM volume groups/],
  ])('refuses %s', (_name, fn, what, hint) => {
    const r = unrestorableLayout(change(fn));
    if (typeof what === 'string') expect(r?.what).toBe(what);
    else expect(r?.what).toMatch(what);
    expect(r?.hint).toMatch(hint);
    expect(`${r?.what} ${r?.hint}`).not.toContain('\n');
  });
});

// The same UEFI host with its root partition a btrfs holding @ (at /) and @home (at /home), as
// btrfsHost() grafts the probe's real btrfs section (testdata/btrfs-*.txt) onto it.
describe('btrfs layouts at capture time', () => {
  const clean = readFileSync(join(import.meta.dirname, 'testdata', 'btrfs-subvolumes.txt'), 'utf8');
  const messy = readFileSync(join(import.meta.dirname, 'testdata', 'btrfs-snapshot-nested.txt'), 'utf8');

  it('takes @ and @home of a one-device btrfs on a partition of the root disk', () => {
    const facts = interpretProbe(btrfsHost(clean)).facts;
    expect(facts.btrfs?.[0]).toMatchObject({ devices: ['sda2'], defaultId: 256, mounts: [{ mountpoint: '/', subvolume: '@' }, { mountpoint: '/home', subvolume: '@home' }] });
    expect(unrestorableLayout(facts)).toBeUndefined();
  });

  it('refuses a snapshot, an unmounted (nested) subvolume, two devices, a RAID profile and a missing btrfs-progs', () => {
    const snap = refusal(btrfsHost(messy));
    expect(snap?.what).toMatch(/^btrfs subvolume @\/var-lib-portables of the btrfs "rootfs" \(3f6a1c2e-[^)]+\) mounted at \/, \/home is mounted nowhere, so the capture would not copy its files$/);
    expect(snap?.hint).toMatch(/mount it from \/etc\/fstab, or make it a plain directory, or delete it/);
    const onlySnap = messy.split('\n').filter((l) => !l.includes('var-lib-portables')).join('\n');
    expect(refusal(btrfsHost(onlySnap))?.what).toMatch(/^btrfs subvolume @home-snap of .* is a snapshot \(of 411771b5-7c55-aa44-ab6c-5a466fb4fb3b\)$/);
    expect(refusal(btrfsHost(clean.replace('%%devices\nloop1', '%%devices\nloop1\nsdb1')))?.what).toMatch(/spans 2 devices \(sda2, sdb1\)$/);
    const raid = refusal(btrfsHost(clean.replace('%%data\n', '%%data\nraid1\n')));
    expect(raid?.what).toMatch(/uses the data profile raid1$/);
    expect(raid?.hint).toMatch(/RAID profiles are not recreated/);
    const noProgs = clean.replace(/%%list\n[^%]*/, '%%list\n').replace(/%%default\n.*/s, '%%default\n');
    expect(refusal(btrfsHost(noProgs))).toEqual({ what: expect.stringMatching(/mounts subvolumes, but btrfs-progs listed none$/), hint: expect.stringMatching(/apt-get install btrfs-progs/) });
  });

  it('refuses subvolumes of a btrfs on another disk', () => {
    const other = btrfsHost(clean).replace('"uuid": "3f6a1c2e-9b1d-4c55-8e2a-0d7c5b1e9f40"', '"uuid": "0e0e0e0e-0000-4000-8000-000000000000"');
    expect(refusal(other)?.what).toMatch(/has subvolumes and is not on a partition of sda$/);
  });
});

/**
 * The UEFI probe with sda2 a btrfs: / the subvolume @, /home the subvolume @home (findmnt, fstab and
 * blkid as Debian's installer leaves them), and `section` (the probe's btrfs section as it ran
 * on a loop device here) as its btrfs section, its loop device named sda2 and mounted at /.
 */
function btrfsHost(section: string): string {
  const uuid = '3f6a1c2e-9b1d-4c55-8e2a-0d7c5b1e9f40';
  const opts = (id: number, sv: string) => `rw,noatime,compress=zstd:3,space_cache=v2,subvolid=${id},subvol=/${sv}`;
  const mount = (target: string, id: number, sv: string) => `{"target": "${target}", "source": "/dev/sda2[/${sv}]", "fstype": "btrfs", "options": "${opts(id, sv)}", "size": 19560579072, "used": 2418593792, "label": "rootfs", "uuid": "${uuid}"}`;
  const s = variant('btrfs', { source: '/dev/sda2[/@]', fstype: 'btrfs', options: opts(256, '@') })
    .replace(/"label": null(,\s*"uuid": "3f6a1c2e)/, '"label": "rootfs"$1')
    .replace(/\{"target": "\/", [^}]*\}/, `${mount('/', 256, '@')},\n      ${mount('/home', 257, '@home')}`)
    .replace(/^\/dev\/sda2: .*$/m, `/dev/sda2: LABEL="rootfs" UUID="${uuid}" UUID_SUB="c0ffee00-1111-4222-8333-444455556666" BLOCK_SIZE="4096" TYPE="btrfs" PARTLABEL="root" PARTUUID="5d0b7e63-02"`)
    .replace(/^UUID=3f6a1c2e\S+ \/\s+ext4\s+errors=remount-ro\s+0\s+1$/m, `UUID=${uuid} / btrfs subvol=@,compress=zstd,noatime 0 0\nUUID=${uuid} /home btrfs subvol=@home,compress=zstd,noatime 0 0`)
    .replace('@@end', `@@btrfs\n${section.replace(/^%%fs .*$/m, `%%fs ${uuid} /`).replace(/%%devices\nloop\d+/, '%%devices\nsda2')}@@end`);
  expect(s).toContain('/home btrfs subvol=@home');
  expect(s).toContain('"target": "/home"');
  return s;
}
