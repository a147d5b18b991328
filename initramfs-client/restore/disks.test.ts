import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImgsrvError } from '../../core/errors.ts';
import { chooseTargetDisk, listDisks, type DiskInfo } from './disks.ts';

const GiB = 1024 ** 3;

interface FakeDisk {
  name: string;
  devPath: string; // under devices/, ending in block/<name>
  gib: number;
  removable?: boolean;
  ro?: boolean;
  rotational?: boolean;
  model?: string;
  serial?: string;
  wwid?: string;
  vpdSerial?: string;
  partitions?: string[];
}

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'imgsrv-sysfs-'));
  await mkdir(join(root, 'sys/block'), { recursive: true });
  await mkdir(join(root, 'dev'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Lay out a disk the way the kernel does: /sys/block/<name> → ../devices/…/block/<name>, device → its parent device. */
async function addDisk(d: FakeDisk): Promise<void> {
  const dir = join(root, 'sys/devices', d.devPath);
  await mkdir(join(dir, 'queue'), { recursive: true });
  const devDir = join(dir, '../..');
  await writeFile(join(dir, 'size'), `${d.gib * 2 * 1024 * 1024}\n`);
  await writeFile(join(dir, 'removable'), d.removable ? '1\n' : '0\n');
  await writeFile(join(dir, 'ro'), d.ro ? '1\n' : '0\n');
  await writeFile(join(dir, 'queue/rotational'), d.rotational ? '1\n' : '0\n');
  if (d.model) await writeFile(join(devDir, 'model'), `${d.model}  \n`);
  if (d.serial) await writeFile(join(devDir, 'serial'), `${d.serial}\n`);
  // libata disks: no serial file, the serial is in VPD page 0x80 (what QEMU's ide-hd and real SATA disks give).
  if (d.vpdSerial) {
    const sn = Buffer.from(d.vpdSerial.padStart(20, ' '), 'latin1');
    await writeFile(join(devDir, 'vpd_pg80'), Buffer.concat([Buffer.from([0, 0x80, 0, sn.length]), sn]));
  }
  if (d.wwid) await writeFile(join(dir, 'wwid'), `${d.wwid}\n`);
  await symlink(relative(dir, devDir), join(dir, 'device'));
  for (const [i, p] of (d.partitions ?? []).entries()) {
    await mkdir(join(dir, p));
    await writeFile(join(dir, p, 'partition'), `${i + 1}\n`);
  }
  await symlink(relative(join(root, 'sys/block'), dir), join(root, 'sys/block', d.name));
}

async function list(mounts = ''): Promise<DiskInfo[]> {
  await writeFile(join(root, 'mounts'), mounts);
  return listDisks({ sysBlock: join(root, 'sys/block'), procMounts: join(root, 'mounts'), dev: join(root, 'dev') });
}

const nvme: FakeDisk = { name: 'nvme0n1', devPath: 'pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1', gib: 512, model: 'Samsung SSD 980', serial: 'S64ANS0T1', wwid: 'eui.002538b111b2c3d4' };
const sata: FakeDisk = { name: 'sda', devPath: 'pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda', gib: 1000, rotational: true, model: 'WDC WD10EZEX', wwid: 'naa.50014ee2b5c0f0a1', vpdSerial: 'WD-WCC6Y1HJKL9X' };
const sas: FakeDisk = { name: 'sdc', devPath: 'pci0000:00/0000:00:02.0/0000:03:00.0/host2/port-2:0/end_device-2:0/target2:0:0/2:0:0:0/block/sdc', gib: 2000, model: 'ST2000NM' };
const virtio: FakeDisk = { name: 'vda', devPath: 'pci0000:00/0000:00:02.0/virtio1/block/vda', gib: 8, serial: 'node-disk' };
const usb: FakeDisk = { name: 'sdb', devPath: 'pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host1/target1:0:0/1:0:0:0/block/sdb', gib: 16, removable: true, model: 'Cruzer', partitions: ['sdb1'] };
const fixedUsb: FakeDisk = { ...usb, removable: false };

describe('listDisks', () => {
  it('reads size, flags, model, serial, wwid and transport from a sysfs tree', async () => {
    for (const d of [nvme, sata, sas, virtio, usb]) await addDisk(d);
    await mkdir(join(root, 'sys/block/loop0'));
    await writeFile(join(root, 'sys/block/loop0/size'), '2048\n');
    const disks = await list('/dev/sdb1 /run/boot vfat ro 0 0\n');
    const by = Object.fromEntries(disks.map((d) => [d.name, d]));
    expect(Object.keys(by).sort()).toEqual(['nvme0n1', 'sda', 'sdb', 'sdc', 'vda']);
    expect(by.nvme0n1).toMatchObject({ transport: 'nvme', sizeBytes: 512 * GiB, model: 'Samsung SSD 980', serial: 'S64ANS0T1', wwid: 'eui.002538b111b2c3d4', rotational: false, holdsMounts: false });
    expect(by.nvme0n1!.path).toBe(join(root, 'dev/nvme0n1'));
    expect(by.sda).toMatchObject({ transport: 'sata', rotational: true, model: 'WDC WD10EZEX' });
    expect(by.sdc).toMatchObject({ transport: 'sas' });
    expect(by.vda).toMatchObject({ transport: 'virtio', sizeBytes: 8 * GiB });
    expect(by.sdb).toMatchObject({ transport: 'usb', removable: true, holdsMounts: true });
  });
});

describe('chooseTargetDisk', () => {
  it('prefers nvme, then sata/sas, then virtio; skips removable and mounted disks', async () => {
    for (const d of [virtio, sata, nvme, usb]) await addDisk(d);
    expect(chooseTargetDisk(await list(), { minBytes: GiB }).name).toBe('nvme0n1');
    expect(chooseTargetDisk(await list(), { minBytes: 600 * GiB }).name).toBe('sda');
  });

  it('never picks the disk the initramfs runs from, even a fixed one', async () => {
    await addDisk(fixedUsb);
    await addDisk(virtio);
    expect(chooseTargetDisk(await list('/dev/sdb1 /boot vfat ro 0 0\n'), { minBytes: GiB }).name).toBe('vda');
    expect(chooseTargetDisk(await list(), { minBytes: GiB }).name).toBe('vda'); // virtio ranks before usb
  });

  it('never picks a USB disk, even a fixed one that is the only disk', async () => {
    await addDisk(fixedUsb);
    const disks = await list();
    expect(() => chooseTargetDisk(disks, { minBytes: GiB })).toThrow(/no disk to restore onto .*USB, removable/);
    expect(() => chooseTargetDisk(disks, { requested: 'model=Cruzer', minBytes: GiB })).toThrow(/is a USB disk: never a target/);
  });

  it('takes Ironic-style hints: every key must match; a hint matching nothing stops, never falls back', async () => {
    for (const d of [virtio, sata, nvme, sas]) await addDisk(d);
    const disks = await list();
    const pick = (requested: string) => chooseTargetDisk(disks, { requested, minBytes: 1 }).name;
    expect(pick('serial=S64ANS0T1')).toBe('nvme0n1');
    // A SATA disk's serial comes from VPD page 0x80.
    expect(pick('serial=WD-WCC6Y1HJKL9X')).toBe('sda');
    expect(pick('wwn=0x50014EE2B5C0F0A1')).toBe('sda');
    expect(pick('model=wdc*')).toBe('sda');
    expect(pick('size=>=1.5T')).toBe('sdc');
    expect(pick('size=500G-600G')).toBe('nvme0n1');
    expect(pick('size=8.59G')).toBe('vda');
    expect(pick('path=0000:00:17.0/ata1')).toBe('sda');
    expect(pick('rotational=0,model=ST*')).toBe('sdc');
    // Several match: the ranking decides (nvme before sata/sas).
    expect(pick('rotational=0')).toBe('nvme0n1');
    expect(() => pick('model=Samsung*,rotational=1')).toThrow(/no disk matches the target disk hint model=Samsung\*,rotational=1 \(disks: .*serial=S64ANS0T1/);
    expect(() => pick('colour=red')).toThrow(/key "colour" is unknown/);
  });

  it('finds a requested disk by name, path, serial or wwn', async () => {
    for (const d of [virtio, sata, nvme]) await addDisk(d);
    const disks = await list();
    expect(chooseTargetDisk(disks, { requested: 'sda', minBytes: 1 }).name).toBe('sda');
    expect(chooseTargetDisk(disks, { requested: join(root, 'dev/vda'), minBytes: 1 }).name).toBe('vda');
    expect(chooseTargetDisk(disks, { requested: 'node-disk', minBytes: 1 }).name).toBe('vda');
    expect(chooseTargetDisk(disks, { requested: 'wwn-0x50014ee2b5c0f0a1', minBytes: 1 }).name).toBe('sda');
    expect(chooseTargetDisk(disks, { requested: 'eui.002538b111b2c3d4', minBytes: 1 }).name).toBe('nvme0n1');
  });

  it('refuses with clear messages: not found, mounted, too small, none', async () => {
    await addDisk(virtio);
    await addDisk(usb);
    const disks = await list('/dev/sdb1 /boot vfat ro 0 0\n');
    const err = (f: () => unknown): ImgsrvError => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(ImgsrvError);
        return e as ImgsrvError;
      }
      throw new Error('did not throw');
    };
    expect(err(() => chooseTargetDisk(disks, { requested: 'sdz', minBytes: 1 })).message).toMatch(/no disk matches the target disk hint sdz/);
    expect(err(() => chooseTargetDisk(disks, { requested: 'sdb', minBytes: 1 })).message).toMatch(/names, .*sdb .*: never a target/);
    const small = err(() => chooseTargetDisk(disks, { minBytes: 20 * GiB }));
    expect(small.code).toBe('DISK');
    expect(small.message).toMatch(/vda is TOO SMALL.*8\.59 GB, needs at least 21\.5 GB/);
    expect(err(() => chooseTargetDisk(disks, { requested: 'vda', minBytes: 20 * GiB })).message).toMatch(/TOO SMALL/);
    expect(err(() => chooseTargetDisk([], { minBytes: 1 })).message).toMatch(/no disk to restore onto/);
  });

  it('reads the real host /sys without throwing', async () => {
    const disks = await listDisks();
    for (const d of disks) expect(d.sizeBytes).toBeGreaterThan(0);
    // the disk holding the host's / must be marked, so it is never offered as a target
    const rootSrc = (await readFile('/proc/mounts', 'utf8')).split('\n').map((l) => l.split(' ')).find((f) => f[1] === '/')?.[0] ?? '';
    const rootDisk = disks.find((d) => rootSrc === d.path || rootSrc.startsWith(d.path));
    if (rootDisk) expect(rootDisk.holdsMounts).toBe(true);
  });
});
