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
