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
    ['LVM', 'LVM2_member', '/dev/mapper/vg0-root', /partition 2 of sda holds LVM \(LVM2_member\)/, /LVM volumes are not recreated yet/],
    ['md RAID1', 'linux_raid_member', '/dev/md0', /partition 2 of sda holds md RAID/, /RAID arrays are not recreated yet/],
    ['LUKS', 'crypto_LUKS', '/dev/mapper/sda2_crypt', /partition 2 of sda holds LUKS encryption/, /does not capture encrypted volumes/],
  ])('%s', (_name, partFs, source, what, hint) => {
    const r = refusal(variant(partFs, { source }));
    expect(r?.what).toMatch(what);
    expect(r?.hint).toMatch(hint);
  });

  it('a root on device-mapper or md even when lsblk shows no member partition', () => {
    expect(refusal(variant('ext4', { source: '/dev/mapper/vg0-root' }))?.what).toBe('/ (/dev/mapper/vg0-root) is on a device-mapper volume (LVM or LUKS)');
    expect(refusal(variant('ext4', { source: '/dev/md127' }))?.what).toBe('/ (/dev/md127) is on md RAID');
  });

  it('btrfs subvolumes (the kernel shows subvol= on every btrfs mount), but not a btrfs top level or a bind mount of a directory', () => {
    // As Debian's and Ubuntu's installers write it: fstab names the subvolume.
    const subvolRoot = variant('btrfs', { source: '/dev/sda2[/@]', fstype: 'btrfs', options: 'rw,relatime,ssd,space_cache=v2,subvolid=256,subvol=/@' }).replace(
      /^(UUID=3f6a1c2e-9b1d-4c55-8e2a-0d7c5b1e9f40 \/\s+)ext4(\s+)errors=remount-ro/m,
      '$1btrfs$2defaults,subvol=@',
    );
    expect(subvolRoot).toMatch(/subvol=@ 0/);
    expect(refusal(subvolRoot)?.what).toBe('/ is btrfs subvolume @');
    expect(refusal(variant('btrfs', { source: '/dev/sda2[/srv/root]', fstype: 'btrfs', options: 'rw,relatime,subvolid=5,subvol=/' }))).toBeUndefined();
    expect(refusal(variant('btrfs', { source: '/dev/sda2', fstype: 'btrfs', options: 'rw,relatime,subvolid=5,subvol=/' }))).toBeUndefined();
  });

  it('says it in one line with what to do, and that nothing was captured', () => {
    const err = layoutError('root@198.18.0.5', refusal(variant('LVM2_member', { source: '/dev/mapper/vg0-root' }))!);
    expect(err.code).toBe('LAYOUT_UNSUPPORTED');
    expect(err.oneLine()).toMatch(/^cannot capture root@198\.18\.0\.5: partition 2 of sda holds LVM \(LVM2_member\); nothing was captured: imgsrv restores plain partitions only/);
  });
});
