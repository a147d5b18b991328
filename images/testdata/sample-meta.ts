/**
 * A complete meta.json, every optional part present (a second partition with
 * its file system, the torrent): the fixture images/meta.test.ts accepts
 * and the fuzz targets start from (test/fuzz/targets/image-files.ts).
 */
import type { ImageMeta } from '../meta.ts';

export const SAMPLE_META: ImageMeta = {
  format: 1, name: 'debian-web', version: 2, createdAt: '2025-01-02T03:04:05.000Z', sourceHost: '198.18.0.10',
  host: {
    partitionTable: 'gpt',
    disks: [{ name: 'vda', sizeBytes: 10 * 2 ** 30, partitions: [
      { number: 1, startBytes: 1 << 20, sizeBytes: 512 << 20, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', name: 'ESP', mountpoint: '/boot/efi', fs: { type: 'vfat', uuid: 'ABCD-1234' } },
      { number: 2, startBytes: 513 << 20, sizeBytes: 9 * 2 ** 30, type: '0fc63daf-8483-4772-8e79-3d69d8477de4', mountpoint: '/', fs: { type: 'ext4', label: 'root', uuid: 'u', mountOptions: 'errors=remount-ro', usedBytes: 123 } },
    ] }],
    filesystems: [{ mountpoint: '/', type: 'ext4', source: '/dev/vda2', options: 'rw,relatime', usedBytes: 1, sizeBytes: 2 }],
    swap: [{ kind: 'file', source: '/swapfile', sizeBytes: 1 << 30 }],
    bootMode: 'uefi', bootloader: 'grub', kernels: ['6.1.0-18-amd64'], interfaces: [{ name: 'ens3', mac: '52:54:00:12:34:56' }],
    os: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
  },
  artifact: { file: 'image.tar.zst', rawBytes: 100, compressedBytes: 50, sha256: 'f'.repeat(64), zstdLevel: 3, files: 10 },
  manifest: { file: 'manifest.jsonl', sha256: 'e'.repeat(64) },
  torrent: { file: 'info.bencode', infoHash: 'a'.repeat(40), pieceLength: 16384, pieces: 1 },
};
