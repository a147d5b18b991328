// The probe's btrfs section as it ran on this host (btrfs-progs 6.2, kernel 6.18) over two loop
// devices: testdata/btrfs-subvolumes.txt is @ and @home with @ the default subvolume, mounted
// with compress=zstd,noatime; testdata/btrfs-snapshot-nested.txt has @, @home, a subvolume nested
// in @ and a read-only snapshot of @home; testdata/btrfs-findmnt.json is findmnt's view of both.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { btrfsFsSchema } from '../../images/meta.ts';
import { btrfsFacts, mountedSubvolume, parseGetDefault, parseSubvolumeList } from './btrfs-facts.ts';
import { parseFindmnt, parseFstab } from './facts-parse.ts';

const fixture = (n: string) => readFileSync(join(import.meta.dirname, 'testdata', n), 'utf8');
const mounts = parseFindmnt(fixture('btrfs-findmnt.json'));

describe('btrfs facts', () => {
  it('reads subvolume lists with and without the <FS_TREE>/ prefix, snapshots by their parent UUID', () => {
    expect(parseSubvolumeList(fixture('btrfs-snapshot-nested.txt'))).toEqual([
      { id: 256, parentId: 5, path: '@' },
      { id: 257, parentId: 5, path: '@home' },
      { id: 258, parentId: 256, path: '@/var-lib-portables' },
      { id: 259, parentId: 5, path: '@home-snap', snapshotOf: '411771b5-7c55-aa44-ab6c-5a466fb4fb3b' },
    ]);
    expect(parseSubvolumeList('ERROR: not a btrfs filesystem: /x\n')).toEqual([]);
  });

  it('reads the default subvolume, the top level included', () => {
    expect(parseGetDefault('ID 256 gen 7 top level 5 path @\n')).toBe(256);
    expect(parseGetDefault('ID 5 (FS_TREE)\n')).toBe(5);
    expect(parseGetDefault('')).toBeUndefined();
  });

  it('tells the mounted subvolume from the kernel options', () => {
    expect(mountedSubvolume('rw,noatime,compress=zstd:3,space_cache=v2,subvolid=257,subvol=/@home')).toBe('@home');
    expect(mountedSubvolume('rw,relatime,subvolid=5,subvol=/')).toBe('');
    expect(mountedSubvolume('rw,relatime,subvolid=5')).toBe('');
    expect(mountedSubvolume('rw,relatime')).toBeUndefined();
  });

  it('makes schema-valid facts of a real section: devices, profiles, subvolumes, default and mounts with fstab options', () => {
    const fstab = parseFstab('UUID=3f6a1c2e-9b1d-4c55-8e2a-0d7c5b1e9f40 /tmp/btrfs-fx/r2 btrfs subvol=@,compress=zstd,noatime 0 0\n');
    const facts = btrfsFacts(fixture('btrfs-subvolumes.txt'), mounts, fstab)!;
    expect(facts).toHaveLength(1);
    expect(btrfsFsSchema.parse(facts[0])).toEqual({
      uuid: '3f6a1c2e-9b1d-4c55-8e2a-0d7c5b1e9f40',
      label: 'rootfs',
      devices: ['loop1'],
      profiles: ['data:single', 'metadata:dup', 'system:dup'],
      subvolumes: [{ id: 256, parentId: 5, path: '@' }, { id: 257, parentId: 5, path: '@home' }],
      defaultId: 256,
      mounts: [
        { mountpoint: '/tmp/btrfs-fx/r2', subvolume: '@', options: 'subvol=@,compress=zstd,noatime' },
        { mountpoint: '/tmp/btrfs-fx/r2/home', subvolume: '@home', options: expect.stringMatching(/^rw,noatime,compress=zstd:3,.*subvolid=257,subvol=\/@home$/) },
      ],
    });
  });

  it('gives nothing for a host without btrfs, and bare facts where btrfs-progs printed nothing', () => {
    expect(btrfsFacts('', mounts, [])).toBeUndefined();
    const bare = btrfsFacts('%%fs 3f6a1c2e-9b1d-4c55-8e2a-0d7c5b1e9f40 /x\n%%devices\nsda2\n%%list\n%%default\n', mounts, [])!;
    expect(bare[0]).toMatchObject({ devices: ['sda2'], profiles: [], subvolumes: [], defaultId: 5 });
    expect(bare[0]!.mounts.map((m) => m.subvolume)).toEqual(['@', '@home']);
  });
});
