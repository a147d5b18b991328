import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostFactsSchema } from '../../images/meta.ts';
import { detectBootloader, parseFstab, parseKernels, partitionNumber } from './facts-parse.ts';
import { interpretProbe, PROBE_SCRIPT, splitSections } from './probe.ts';

const fixture = (n: string) => readFileSync(join(import.meta.dirname, 'testdata', n), 'utf8');

describe('host facts from the probe', () => {
  it('reads a UEFI Debian VM with GPT, ESP, ext4 root and swap', () => {
    const p = interpretProbe(fixture('probe-gpt-uefi.txt'));
    expect(p).toMatchObject({ uid: '0', hasRsync: true, complete: true, swapFiles: ['/swapfile'] });
    const f = hostFactsSchema.parse(p.facts);
    expect(f.partitionTable).toBe('gpt');
    expect(f.bootMode).toBe('uefi');
    expect(f.bootloader).toBe('grub');
    expect(f.kernels).toEqual(['6.1.0-21-amd64', '6.1.0-25-amd64']);
    expect(f.interfaces).toEqual([{ name: 'enp1s0', mac: '52:54:00:12:34:56' }]);
    expect(f.os).toEqual({ id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
    expect(f.disks).toHaveLength(1); // sr0 (a CD-ROM) is not a disk to restore
    const [esp, root, swap] = f.disks[0]!.partitions;
    expect(esp).toMatchObject({ number: 1, startBytes: 1048576, sizeBytes: 536870912, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', name: 'EFI System', mountpoint: '/boot/efi', fs: { type: 'vfat', uuid: '8A1B-2C3D', mountOptions: 'umask=0077', usedBytes: 6119424 } });
    expect(root).toMatchObject({ number: 2, name: 'root', fs: { type: 'ext4', label: 'rootfs', mountOptions: 'errors=remount-ro', usedBytes: 2418597888 } });
    expect(swap).toMatchObject({ number: 3, fs: { type: 'swap' } });
    expect(f.filesystems.map((x) => [x.mountpoint, x.type, x.options])).toEqual([
      ['/', 'ext4', 'errors=remount-ro'],
      ['/boot/efi', 'vfat', 'umask=0077'],
    ]);
    expect(f.swap).toEqual([
      { kind: 'partition', source: '/dev/sda3', sizeBytes: 999420 * 1024, uuid: 'b1c2d3e4-0000-4000-8000-123456789abc' },
      { kind: 'file', source: '/swapfile', sizeBytes: 524284 * 1024 },
    ]);
    expect(p.mounts.map((m) => m.mountpoint)).toContain('/boot/efi');
  });

  it('reads this machine (no partitions, container mounts) without failing, as schema-valid facts', () => {
    const p = interpretProbe(fixture('probe-this-machine.txt'));
    expect(p.complete).toBe(true);
    expect(() => hostFactsSchema.parse(p.facts)).not.toThrow();
    expect(p.facts.os?.id).toBe('debian');
  });

  it('degrades to unknown when tools are missing or the session was cut', () => {
    const p = interpretProbe('@@uid\n0\n@@rsync\nnone\n@@lsblk\n@@findmnt\n@@efi\n');
    expect(p).toMatchObject({ uid: '0', hasRsync: false, complete: false });
    expect(hostFactsSchema.parse(p.facts)).toMatchObject({ partitionTable: 'unknown', bootMode: 'unknown', bootloader: 'unknown', disks: [], kernels: [] });
    expect(interpretProbe('').uid).toBe('unknown');
  });

  it('the probe script is constant and prints every section', () => {
    const names = [...PROBE_SCRIPT.matchAll(/echo @@([a-z]+)/g)].map((m) => m[1]);
    expect(names).toEqual(['uid', 'rsync', 'lsblk', 'findmnt', 'blkid', 'fstab', 'swaps', 'efi', 'boot', 'modules', 'iplink', 'osrelease', 'df', 'lvmvgs', 'lvmpvs', 'lvmlvs', 'md', 'mdstat', 'btrfs', 'end']);
    expect([...splitSections('@@a\n1\n2\n@@b\n@@end\n').entries()]).toEqual([['a', '1\n2'], ['b', '']]);
  });

  it('small parsers', () => {
    expect([partitionNumber('sda3'), partitionNumber('nvme0n1p2'), partitionNumber('mmcblk0p1')]).toEqual([3, 2, 1]);
    expect(parseFstab('/dev/sdb1 /mnt/my\\040data ext4 defaults 0 2\n')[0]).toEqual({ spec: '/dev/sdb1', file: '/mnt/my data', type: 'ext4', options: 'defaults' });
    expect(detectBootloader('/boot/efi/loader:\n.\nloader.conf\n')).toBe('systemd-boot');
    expect(detectBootloader('/boot/extlinux:\nextlinux.conf\n')).toBe('extlinux');
    expect(detectBootloader('/boot:\n.\n..\n')).toBe('none');
    expect(detectBootloader('')).toBe('unknown');
    expect(parseKernels('', '6.1.0-25-amd64\n')).toEqual(['6.1.0-25-amd64']);
  });
});

describe('LVM facts from the probe', () => {
  it('reads a Debian host on LVM: vg0 on sda4 with root ext4, home xfs, swap_1 (lvm2 2.03 JSON reports)', () => {
    const p = interpretProbe(fixture('probe-lvm-bios.txt'));
    const f = hostFactsSchema.parse(p.facts);
    expect(f.lvm).toEqual({
      vgs: [
        {
          name: 'vg0', extentBytes: 4194304, sizeBytes: 19900 * 1048576,
          pvs: [{ device: '/dev/sda4', sizeBytes: 19900 * 1048576, disk: 'sda', partition: 4 }],
          lvs: [
            { name: 'home', sizeBytes: 2 * 2 ** 30, layout: 'linear', role: 'public', mountpoint: '/home', fs: { type: 'xfs', uuid: '8e2b5f7a-1d4c-4b8e-9f3a-6c7d8e9f0a22', mountOptions: 'defaults,noatime', usedBytes: 48234496 } },
            { name: 'root', sizeBytes: 6 * 2 ** 30, layout: 'linear', role: 'public', mountpoint: '/', fs: { type: 'ext4', uuid: '5c1d0c7e-3b0f-4f39-9a57-2f9f6a0b1c11', mountOptions: 'errors=remount-ro', usedBytes: 612802560 } },
            { name: 'swap_1', sizeBytes: 512 * 1048576, layout: 'linear', role: 'public', fs: { type: 'swap', uuid: '0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c33' } },
          ],
        },
      ],
    });
    // the PV partition is a partition like any other; its LVs are no partitions
    expect(f.disks[0]!.partitions.map((x) => [x.number, x.fs?.type])).toEqual([[1, undefined], [2, 'vfat'], [3, 'ext4'], [4, 'LVM2_member']]);
    expect(f.filesystems.map((x) => [x.mountpoint, x.source])).toEqual([['/', '/dev/mapper/vg0-root'], ['/boot', '/dev/sda3'], ['/boot/efi', '/dev/sda2'], ['/home', '/dev/mapper/vg0-home']]);
  });

  it('has no LVM facts on a host without lvm (old images parse unchanged)', () => {
    const p = interpretProbe(fixture('probe-gpt-uefi.txt'));
    expect(p.facts.lvm).toBeUndefined();
    expect(PROBE_SCRIPT).toContain('lvm lvs --reportformat json --units b --nosuffix');
  });
});
