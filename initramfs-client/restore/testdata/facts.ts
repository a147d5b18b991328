/** Hand-written sample-host facts for the storage tests (shaped like capture's output). */
import type { HostFacts, ImageMeta } from '../../../images/meta.ts';
import { GPT_TYPES } from '../layout.ts';

const MiB = 1024 * 1024;

const base: Omit<HostFacts, 'partitionTable' | 'disks' | 'filesystems' | 'swap'> = {
  bootMode: 'uefi', bootloader: 'grub', kernels: ['6.1.0-13-amd64'], interfaces: [{ name: 'ens3', mac: '52:54:00:12:34:56' }],
};

/** GPT: bios_grub, ESP, root, then /data last (so /data grows). The fs UUIDs tie partitions to mounts. */
export const gptFacts: HostFacts = {
  ...base,
  partitionTable: 'gpt',
  disks: [
    { name: 'sdb', sizeBytes: 8 * 1024 * MiB, partitions: [] },
    {
      name: 'nvme0n1', sizeBytes: 20 * 1024 * MiB, partitions: [
        { number: 1, startBytes: MiB, sizeBytes: MiB, type: GPT_TYPES.biosGrub, name: 'bios' },
        { number: 2, startBytes: 2 * MiB, sizeBytes: 32 * MiB, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', name: 'EFI System', fs: { type: 'vfat', uuid: '1A2B-3C4D', label: 'ESP' } },
        { number: 3, startBytes: 34 * MiB, sizeBytes: 64 * MiB, type: GPT_TYPES.linux, name: 'root', fs: { type: 'ext4', uuid: '11111111-2222-4333-8444-555555555555', label: 'rootfs' } },
        { number: 4, startBytes: 98 * MiB, sizeBytes: 19 * 1024 * MiB, type: GPT_TYPES.linux, name: 'data', fs: { type: 'ext4', uuid: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', label: 'data' } },
      ],
    },
  ],
  filesystems: [
    { mountpoint: '/', type: 'ext4', source: '/dev/nvme0n1p3', uuid: '11111111-2222-4333-8444-555555555555', label: 'rootfs', options: 'rw,relatime', usedBytes: 20 * MiB, sizeBytes: 60 * MiB },
    { mountpoint: '/boot/efi', type: 'vfat', source: '/dev/nvme0n1p2', uuid: '1A2B-3C4D', options: 'rw', usedBytes: MiB, sizeBytes: 32 * MiB },
    { mountpoint: '/data', type: 'ext4', source: '/dev/disk/by-uuid/aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', uuid: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', label: 'data', options: 'rw', usedBytes: 5 * MiB, sizeBytes: 19 * 1024 * MiB },
  ],
  swap: [],
};

/** MBR (Debian's default): root p1, extended p2 holding swap p5. Root grows; the swap moves to the end. */
export const mbrFacts: HostFacts = {
  ...base,
  bootMode: 'bios',
  partitionTable: 'mbr',
  disks: [
    {
      name: 'sda', sizeBytes: 4 * 1024 * MiB, partitions: [
        { number: 1, startBytes: MiB, sizeBytes: 3 * 1024 * MiB, type: '83', fs: { type: 'ext4', uuid: '33333333-2222-4333-8444-555555555555' } },
        { number: 2, startBytes: 3 * 1024 * MiB + 2 * MiB, sizeBytes: 1000 * MiB, type: '5' },
        { number: 5, startBytes: 3 * 1024 * MiB + 3 * MiB, sizeBytes: 999 * MiB, type: '0x82', fs: { type: 'swap', uuid: '55555555-2222-4333-8444-555555555555' } },
      ],
    },
  ],
  filesystems: [{ mountpoint: '/', type: 'ext4', source: '/dev/sda1', uuid: '33333333-2222-4333-8444-555555555555', options: 'rw', usedBytes: 30 * MiB, sizeBytes: 3 * 1024 * MiB }],
  swap: [{ kind: 'partition', source: '/dev/sda5', sizeBytes: 999 * MiB, uuid: '55555555-2222-4333-8444-555555555555', label: 'swap0' }],
};

/** A plain tree (rsync daemon module): no partitions known. */
export const treeFacts: HostFacts = {
  ...base,
  bootMode: 'unknown',
  partitionTable: 'unknown',
  disks: [],
  filesystems: [{ mountpoint: '/', type: 'ext4', source: 'rsync', options: '', usedBytes: 0, sizeBytes: 0 }],
  swap: [],
};

/** An ImageMeta around some facts. */
export function metaFor(host: HostFacts, rawBytes: number): ImageMeta {
  return {
    format: 1, name: 'sample', version: 1, createdAt: '2026-01-01T00:00:00Z', sourceHost: 'sample', host,
    artifact: { file: 'image.tar.zst', rawBytes, compressedBytes: rawBytes, sha256: '0'.repeat(64), zstdLevel: 3, files: 1 },
    manifest: { file: 'manifest.json', sha256: '0'.repeat(64) },
  };
}

/**
 * Debian on LVM (shaped like server/capture/testdata/probe-lvm-bios.txt): GPT with bios_grub, ESP,
 * /boot ext4, then sda4 the PV of vg0 (4 MiB extents) holding root ext4 (6 GiB), home xfs (2 GiB)
 * and swap_1 (512 MiB). fstab names the LVs by /dev/mapper and /dev/vg0 paths.
 */
export const lvmFacts: HostFacts = {
  ...base,
  bootMode: 'bios',
  partitionTable: 'gpt',
  disks: [
    {
      name: 'sda', sizeBytes: 20 * 1024 * MiB, partitions: [
        { number: 1, startBytes: MiB, sizeBytes: MiB, type: '21686148-6449-6e6f-744e-656564454649', name: 'BIOS boot' },
        { number: 2, startBytes: 2 * MiB, sizeBytes: 64 * MiB, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', name: 'EFI System', mountpoint: '/boot/efi', fs: { type: 'vfat', uuid: '7E4A-1B2C' } },
        { number: 3, startBytes: 66 * MiB, sizeBytes: 512 * MiB, type: '0fc63daf-8483-4772-8e79-3d69d8477de4', name: 'Linux filesystem', mountpoint: '/boot', fs: { type: 'ext4', label: 'boot', uuid: '2d3e4f50-6172-4839-a4b5-c6d7e8f90a44' } },
        { number: 4, startBytes: 578 * MiB, sizeBytes: 19901 * MiB, type: 'e6d6d379-f507-44c2-a23c-238f2a3df928', name: 'Linux LVM', fs: { type: 'LVM2_member', uuid: 'Xy3kQp-1a2B-3c4D-5e6F-7g8H-9i0J-KlMnOp' } },
      ],
    },
  ],
  filesystems: [
    { mountpoint: '/', type: 'ext4', source: '/dev/mapper/vg0-root', uuid: '5c1d0c7e-3b0f-4f39-9a57-2f9f6a0b1c11', options: 'errors=remount-ro', usedBytes: 600 * MiB, sizeBytes: 6 * 1024 * MiB },
    { mountpoint: '/boot', type: 'ext4', source: '/dev/sda3', uuid: '2d3e4f50-6172-4839-a4b5-c6d7e8f90a44', label: 'boot', options: 'defaults', usedBytes: 56 * MiB, sizeBytes: 470 * MiB },
    { mountpoint: '/boot/efi', type: 'vfat', source: '/dev/sda2', uuid: '7E4A-1B2C', options: 'umask=0077', usedBytes: 4 * MiB, sizeBytes: 63 * MiB },
    { mountpoint: '/home', type: 'xfs', source: '/dev/mapper/vg0-home', uuid: '8e2b5f7a-1d4c-4b8e-9f3a-6c7d8e9f0a22', options: 'defaults,noatime', usedBytes: 46 * MiB, sizeBytes: 2 * 1024 * MiB },
  ],
  swap: [{ kind: 'partition', source: '/dev/dm-2', sizeBytes: 512 * MiB, uuid: '0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c33' }],
  lvm: {
    vgs: [
      {
        name: 'vg0', extentBytes: 4 * MiB, sizeBytes: 19900 * MiB,
        pvs: [{ device: '/dev/sda4', sizeBytes: 19900 * MiB, disk: 'sda', partition: 4 }],
        lvs: [
          { name: 'home', sizeBytes: 2 * 1024 * MiB, layout: 'linear', role: 'public', mountpoint: '/home', fs: { type: 'xfs', uuid: '8e2b5f7a-1d4c-4b8e-9f3a-6c7d8e9f0a22', mountOptions: 'defaults,noatime', usedBytes: 46 * MiB } },
          { name: 'root', sizeBytes: 6 * 1024 * MiB, layout: 'linear', role: 'public', mountpoint: '/', fs: { type: 'ext4', uuid: '5c1d0c7e-3b0f-4f39-9a57-2f9f6a0b1c11', mountOptions: 'errors=remount-ro', usedBytes: 600 * MiB } },
          { name: 'swap_1', sizeBytes: 512 * MiB, layout: 'linear', role: 'public', fs: { type: 'swap', uuid: '0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c33' } },
        ],
      },
    ],
  },
};

/**
 * Debian on md RAID1 across two disks, as its installer lays it out: sda and sdb
 * partitioned alike (GPT: bios_grub, a RAID member for md0 = / ext4 with metadata
 * 1.2, a RAID member for md1 = swap). fstab names / and swap by UUID.
 */
export const mdFacts: HostFacts = (() => {
  const RAID = 'a19d880f-05fc-4d3b-a006-743f0f84911e';
  const parts = [
    { number: 1, startBytes: MiB, sizeBytes: MiB, type: '21686148-6449-6e6f-744e-656564454649' },
    { number: 2, startBytes: 2 * MiB, sizeBytes: 7 * 1024 * MiB, type: RAID, fs: { type: 'linux_raid_member', uuid: '5c1e0d6a-0b8f-4e2a-9d3c-1f2e3d4c5b6a' } },
    { number: 3, startBytes: 7170 * MiB, sizeBytes: 1000 * MiB, type: RAID, fs: { type: 'linux_raid_member', uuid: '6d2f1e7b-1c90-4f3b-8e4d-2a3b4c5d6e7f' } },
  ];
  const member = (disk: string, n: number, role: number) => ({ device: `/dev/${disk}${n}`, role, disk, partition: n });
  return {
    ...base,
    bootMode: 'bios',
    partitionTable: 'gpt',
    disks: ['sda', 'sdb'].map((name) => ({ name, sizeBytes: 8 * 1024 * MiB, partitions: structuredClone(parts) })),
    filesystems: [{ mountpoint: '/', type: 'ext4', source: '/dev/md0', uuid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', options: 'errors=remount-ro', usedBytes: 1200 * MiB, sizeBytes: 7000 * MiB }],
    swap: [{ kind: 'partition', source: '/dev/md1', sizeBytes: 990 * MiB, uuid: '1b2c3d4e-5f60-4b7c-9d8e-0f1a2b3c4d5e' }],
    md: {
      arrays: [
        { device: '/dev/md0', name: 'sample:0', level: 'raid1', metadata: '1.2', uuid: '5c1e0d6a:0b8f4e2a:9d3c1f2e:3d4c5b6a', raidDevices: 2, state: 'clean', degraded: false, members: [member('sda', 2, 0), member('sdb', 2, 1)], mountpoint: '/', fs: { type: 'ext4', uuid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', mountOptions: 'errors=remount-ro' } },
        { device: '/dev/md1', name: 'sample:1', level: 'raid1', metadata: '1.2', uuid: '6d2f1e7b:1c904f3b:8e4d2a3b:4c5d6e7f', raidDevices: 2, state: 'clean', degraded: false, members: [member('sda', 3, 0), member('sdb', 3, 1)], fs: { type: 'swap', uuid: '1b2c3d4e-5f60-4b7c-9d8e-0f1a2b3c4d5e' } },
      ],
    },
  };
})();

/**
 * Debian on btrfs (shaped like what server/capture/btrfs-facts.ts makes of the probe): GPT with
 * bios_grub, ESP, then sda3 a btrfs holding @ (mounted at /, the default subvolume) and @home (at
 * /home), both compress=zstd,noatime as fstab says.
 */
export const btrfsFacts: HostFacts = {
  ...base,
  bootMode: 'bios',
  partitionTable: 'gpt',
  disks: [
    {
      name: 'sda', sizeBytes: 4 * 1024 * MiB, partitions: [
        { number: 1, startBytes: MiB, sizeBytes: MiB, type: '21686148-6449-6e6f-744e-656564454649', name: 'BIOS boot' },
        { number: 2, startBytes: 2 * MiB, sizeBytes: 64 * MiB, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', name: 'EFI System', mountpoint: '/boot/efi', fs: { type: 'vfat', uuid: '7E4A-1B2D' } },
        { number: 3, startBytes: 66 * MiB, sizeBytes: 4030 * MiB, type: '0fc63daf-8483-4772-8e79-3d69d8477de4', name: 'root', mountpoint: '/', fs: { type: 'btrfs', label: 'sysroot', uuid: '6b1d2f3e-4a5b-4c6d-8e7f-901a2b3c4d5e', mountOptions: 'subvol=@,compress=zstd,noatime' } },
      ],
    },
  ],
  filesystems: [
    { mountpoint: '/', type: 'btrfs', source: '/dev/sda3[/@]', uuid: '6b1d2f3e-4a5b-4c6d-8e7f-901a2b3c4d5e', label: 'sysroot', options: 'subvol=@,compress=zstd,noatime', usedBytes: 700 * MiB, sizeBytes: 4030 * MiB },
    { mountpoint: '/boot/efi', type: 'vfat', source: '/dev/sda2', uuid: '7E4A-1B2D', options: 'umask=0077', usedBytes: 4 * MiB, sizeBytes: 63 * MiB },
    { mountpoint: '/home', type: 'btrfs', source: '/dev/sda3[/@home]', uuid: '6b1d2f3e-4a5b-4c6d-8e7f-901a2b3c4d5e', label: 'sysroot', options: 'subvol=@home,compress=zstd,noatime', usedBytes: 700 * MiB, sizeBytes: 4030 * MiB },
  ],
  swap: [],
  btrfs: [
    {
      uuid: '6b1d2f3e-4a5b-4c6d-8e7f-901a2b3c4d5e', label: 'sysroot', devices: ['sda3'], profiles: ['data:single', 'metadata:dup', 'system:dup'],
      subvolumes: [{ id: 256, parentId: 5, path: '@' }, { id: 257, parentId: 5, path: '@home' }],
      defaultId: 256,
      mounts: [
        { mountpoint: '/', subvolume: '@', options: 'subvol=@,compress=zstd,noatime' },
        { mountpoint: '/home', subvolume: '@home', options: 'subvol=@home,compress=zstd,noatime' },
      ],
    },
  ],
};
