/**
 * Real partitioning of disk files with the real tools (sfdisk, mkfs.*, blkid
 * as oracles). Needs root: partitions are reached through offset loop
 * devices because the host's loop driver does no partition scanning.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { chooseTargetDisk, type DiskInfo } from './disks.ts';
import { applyKeep, parseBlkidExport, readExistingLayout } from './keep.ts';
import { GPT_TYPES, planLayout, requiredBytes, type LayoutPlan, type PartitionMapping } from './layout.ts';
import { mountTarget, mountsUnder, unmountTarget } from './mount.ts';
import { applyLayout, sfdiskScript, waitForPartition } from './partition.ts';
import { createRunner } from './run.ts';
import { BUSYBOX, NETBOOT_TREE, netbootRunner } from './testdata/netboot-runner.ts';
import { gptFacts, mbrFacts, metaFor, treeFacts } from './testdata/facts.ts';

const MiB = 1024 * 1024;
// What the node runs: busybox applets where the netboot environment links them.
const runner = netbootRunner(createRunner(silentLogger));
// The test's own fixtures (disk files, loop devices standing in for the kernel's partition nodes): the host's tools.
const host = createRunner(silentLogger);
let dir: string;
let loops: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imgsrv-part-'));
  loops = [];
});
afterEach(async () => {
  await unmountTarget(runner, join(dir, 'mnt')).catch(() => {});
  for (const l of loops) await host.run('detach', ['losetup', '-d', l]).catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

async function diskFile(mib: number): Promise<string> {
  const f = join(dir, 'disk.img');
  await writeFile(f, '');
  await host.run('size', ['truncate', '-s', `${mib}M`, f]);
  return f;
}

/** Partition devices as offset loops over the disk file (what the kernel's partition nodes would be). */
function loopResolver(plan: LayoutPlan): (n: number) => Promise<string> {
  return async (n) => {
    const p = plan.partitions.find((x) => x.number === n)!;
    const dev = (await host.run('loop', ['losetup', '-f', '--show', '-o', String(p.startBytes), '--sizelimit', String(p.sizeBytes), plan.diskPath])).trim();
    loops.push(dev);
    return dev;
  };
}

async function blkid(dev: string): Promise<Record<string, string>> {
  return parseBlkidExport(await runner.run('blkid', ['blkid', '-p', '-o', 'export', dev]));
}

interface SfdiskPart { node: string; start: number; size: number; type: string; name?: string; bootable?: boolean }
async function table(file: string): Promise<{ label: string; partitions: SfdiskPart[] }> {
  return (JSON.parse(await runner.run('json', ['sfdisk', '--json', file])) as { partitiontable: { label: string; partitions: SfdiskPart[] } }).partitiontable;
}

async function sha(file: string): Promise<string> {
  return (await runner.run('sha256', ['sha256sum', file])).split(' ')[0]!;
}

const ext4Only = (m: readonly PartitionMapping[]): PartitionMapping[] => m.filter((x) => x.fsType === 'ext4');

describe('applyLayout', () => {
  it('recreates a GPT layout: bios_grub, ESP, root, /data grown; UUIDs and labels as planned', async () => {
    const file = await diskFile(160);
    const plan = planLayout(gptFacts, { path: file, sizeBytes: 160 * MiB });
    const mapping = await applyLayout(runner, plan, { partitionDevice: loopResolver(plan) });
    const t = await table(file);
    expect(t.label).toBe('gpt');
    expect(t.partitions.map((p) => [p.start, p.size, p.type, p.name])).toEqual([
      [2048, 2048, GPT_TYPES.biosGrub, 'bios'],
      [4096, 32 * 2048, GPT_TYPES.esp, 'EFI System'],
      [34 * 2048, 64 * 2048, GPT_TYPES.linux, 'root'],
      [98 * 2048, (159 - 98) * 2048, GPT_TYPES.linux, 'data'],
    ]);
    expect(mapping.map((m) => [m.number, m.mountpoint, m.fsType, m.kept])).toEqual([
      [2, '/boot/efi', 'vfat', false],
      [3, '/', 'ext4', false],
      [4, '/data', 'ext4', false],
    ]);
    for (const m of mapping) {
      const found = await blkid(m.device);
      expect(found.TYPE).toBe(m.fsType);
      expect(found.UUID).toBe(m.newUuid);
      expect(found.LABEL).toBe(m.newLabel);
      expect(m.newUuid).not.toBe(m.oldUuid);
    }
    // the restored system must be mountable: / first, then /data inside it
    const root = join(dir, 'mnt');
    await mountTarget(runner, ext4Only(mapping), root);
    expect((await mountsUnder(root)).sort()).toEqual([root, join(root, 'data')]);
    await unmountTarget(runner, root);
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('recreates an MBR layout with an extended swap, root active and grown', async () => {
    const file = await diskFile(200);
    const facts = structuredClone(mbrFacts);
    const [, ext, swap] = facts.disks[0]!.partitions;
    ext!.sizeBytes = 65 * MiB;
    swap!.sizeBytes = 64 * MiB;
    const plan = planLayout(facts, { path: file, sizeBytes: 200 * MiB });
    const mapping = await applyLayout(runner, plan, { partitionDevice: loopResolver(plan) });
    const t = await table(file);
    expect(t.label).toBe('dos');
    expect(t.partitions.map((p) => [p.node.slice(-1), p.start / 2048, p.size / 2048, p.type, !!p.bootable])).toEqual([
      ['1', 1, 133, '83', true],
      ['2', 135, 65, '5', false],
      ['5', 136, 64, '82', false],
    ]);
    const sw = mapping.find((m) => m.fsType === 'swap')!;
    expect(await blkid(sw.device)).toMatchObject({ TYPE: 'swap', UUID: sw.newUuid, LABEL: 'swap0' });
    const root = mapping.find((m) => m.mountpoint === '/')!;
    expect(await blkid(root.device)).toMatchObject({ TYPE: 'ext4', UUID: root.newUuid });
    await runner.run('fsck', ['fsck.ext4', '-n', root.device]);
  });

  it('fails when the netboot environment lacks a tool it uses (here mkfs.vfat), as the node would', async () => {
    const file = await diskFile(160);
    const plan = planLayout(gptFacts, { path: file, sizeBytes: 160 * MiB });
    const lacking = netbootRunner(createRunner(silentLogger), BUSYBOX, { ...NETBOOT_TREE, tools: NETBOOT_TREE.tools.filter((t) => !t.endsWith('/mkfs.vfat')) });
    await expect(applyLayout(lacking, plan, { partitionDevice: loopResolver(plan) })).rejects.toThrow(/mkfs\.vfat: not in the netboot environment/);
  });

  it('uses the default layout for a plain-tree image', async () => {
    const file = await diskFile(100);
    const plan = planLayout(treeFacts, { path: file, sizeBytes: 100 * MiB });
    const mapping = await applyLayout(runner, plan, { partitionDevice: loopResolver(plan) });
    const t = await table(file);
    expect(t.partitions.map((p) => [p.start / 2048, p.size / 2048, p.type])).toEqual([
      [1, 1, GPT_TYPES.biosGrub],
      [2, 64, GPT_TYPES.esp],
      [66, 33, GPT_TYPES.linux],
    ]);
    const esp = mapping.find((m) => m.mountpoint === '/boot/efi')!;
    expect(await blkid(esp.device)).toMatchObject({ TYPE: 'vfat', LABEL: 'EFI', UUID: esp.newUuid });
    expect(await blkid(mapping.find((m) => m.mountpoint === '/')!.device)).toMatchObject({ TYPE: 'ext4', LABEL: 'root' });
  });
});

describe('keep data on re-image', () => {
  it('keeps /data (same UUID, files intact) while / is made new and empty', async () => {
    const file = await diskFile(160);
    const root = join(dir, 'mnt');
    // first deployment: a blank disk has no table, so there is nothing to keep yet
    expect(await readExistingLayout(runner, file)).toBeUndefined();
    const plan1 = applyKeep(planLayout(gptFacts, { path: file, sizeBytes: 160 * MiB }), undefined, ['/data']);
    const first = await applyLayout(runner, plan1, { partitionDevice: loopResolver(plan1) });
    await mountTarget(runner, ext4Only(first), root);
    await writeFile(join(root, 'data/precious'), 'do not lose me\n');
    await writeFile(join(root, 'old-os'), 'v1\n');
    await unmountTarget(runner, root);

    const existing = await readExistingLayout(runner, file);
    expect(existing?.partitions.find((p) => p.number === 4)).toMatchObject({ fsType: 'ext4', uuid: first.find((m) => m.mountpoint === '/data')!.newUuid, label: 'data' });
    const plan2 = applyKeep(planLayout(gptFacts, { path: file, sizeBytes: 160 * MiB }), existing, ['/data/']);
    expect(plan2.keepTable).toBe(true);
    const second = await applyLayout(runner, plan2, { partitionDevice: loopResolver(plan2) });
    const data1 = first.find((m) => m.mountpoint === '/data')!;
    const data2 = second.find((m) => m.mountpoint === '/data')!;
    const root1 = first.find((m) => m.mountpoint === '/')!;
    const root2 = second.find((m) => m.mountpoint === '/')!;
    expect(data2).toMatchObject({ kept: true, newUuid: data1.newUuid, newLabel: 'data', oldUuid: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' });
    expect(root2.kept).toBe(false);
    expect(root2.newUuid).not.toBe(root1.newUuid);
    expect((await blkid(data2.device)).UUID).toBe(data1.newUuid);
    expect((await blkid(root2.device)).UUID).toBe(root2.newUuid);

    await mountTarget(runner, ext4Only(second), root);
    expect(await readFile(join(root, 'data/precious'), 'utf8')).toBe('do not lose me\n');
    expect((await readdir(root)).sort()).toEqual(['data', 'lost+found']);
    await unmountTarget(runner, root);
  });

  it('refuses a disk whose layout does not match, writing nothing', async () => {
    const file = await diskFile(160);
    const plan1 = planLayout(gptFacts, { path: file, sizeBytes: 160 * MiB });
    await applyLayout(runner, plan1, { partitionDevice: loopResolver(plan1) });
    const before = await sha(file);
    // a newer image whose root is smaller: /data would start elsewhere and its data be lost
    const facts = structuredClone(gptFacts);
    const parts = facts.disks[1]!.partitions;
    parts[2]!.sizeBytes = 48 * MiB;
    parts[3]!.startBytes = 82 * MiB;
    const existing = await readExistingLayout(runner, file);
    expect(() => applyKeep(planLayout(facts, { path: file, sizeBytes: 160 * MiB }), existing, ['/data'])).toThrow(/partition 3 \(\/\) is at .*; nothing was written/);
    expect(() => applyKeep(planLayout(gptFacts, { path: file, sizeBytes: 160 * MiB }), existing, ['/var/lib/mysql'])).toThrow(/cannot keep \/var\/lib\/mysql: it is not a separate partition/);
    expect(await sha(file)).toBe(before);
  });
});

describe('too small', () => {
  it('is refused before anything is written', async () => {
    const file = await diskFile(64);
    const before = await sha(file);
    const meta = metaFor(gptFacts, 26 * MiB);
    const disk: DiskInfo = { name: 'disk.img', path: file, sizeBytes: 64 * MiB, removable: false, readOnly: false, rotational: false, model: '', serial: '', wwid: '', transport: 'unknown', sysPath: '', holdsMounts: false };
    expect(() => chooseTargetDisk([disk], { minBytes: requiredBytes(meta) })).toThrow(/disk\.img is TOO SMALL for this image: 67\.1 MB, needs at least \d\d\d MB/);
    expect(() => planLayout(gptFacts, { path: file, sizeBytes: 64 * MiB })).toThrow(/TOO SMALL/);
    expect(await sha(file)).toBe(before);
  });
});

describe('partition nodes', () => {
  it('names NVMe partitions with "p" in the sfdisk script', () => {
    const plan = planLayout(treeFacts, { path: '/dev/nvme0n1', sizeBytes: 100 * MiB });
    expect(sfdiskScript(plan)).toMatch(/^nvme0n1p3 : start=135168, size=\d+, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"$/m);
    expect(sfdiskScript({ ...plan, diskPath: '/dev/sda' })).toMatch(/^sda1 : start=2048, size=2048, type=21686148/m);
  });

  it('waits for the kernel to show partition n in sysfs and its /dev node', async () => {
    const sys = join(dir, 'class-block');
    const dev = join(dir, 'dev');
    await mkdir(join(sys, 'nvme0n1/nvme0n1p1'), { recursive: true });
    await mkdir(dev);
    await writeFile(join(sys, 'nvme0n1/nvme0n1p1/partition'), '1\n');
    const pending = waitForPartition('/dev/nvme0n1', 2, { sysClassBlock: sys, dev, timeoutMs: 5000 });
    // the partition appears late, as after a re-read of the table
    await mkdir(join(sys, 'nvme0n1/nvme0n1p2'));
    await writeFile(join(sys, 'nvme0n1/nvme0n1p2/partition'), '2\n');
    await runner.run('mknod', ['mknod', join(dev, 'nvme0n1p2'), 'b', '7', '200']);
    expect(await pending).toBe(join(dev, 'nvme0n1p2'));
    await expect(waitForPartition('/dev/nvme0n1', 3, { sysClassBlock: sys, dev, timeoutMs: 300 })).rejects.toThrow(/partition 3 of \/dev\/nvme0n1 did not appear/);
  });
});
