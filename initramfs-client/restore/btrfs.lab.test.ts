// btrfs subvolumes made by the restore's own code with the netboot
// environment's own binaries (busybox mount, its mkfs.btrfs and btrfs) and
// its own kernel and btrfs module: the test boots the real netboot build
// (cached, lab/netboot-env.ts) in QEMU with a blank virtio disk and an extra
// cpio holding a driver (testdata/btrfs-vm-driver.ts, bundled like the
// client) that it runs instead of /init (rdinit=). The driver plans the
// layout of a Debian on btrfs (@ at /, @home at /home, @ the default) with a
// scratch area, applies it twice (a restore that starts over), mounts each
// subvolume at its place and writes files as the unpack does, looks at the
// top level with the shipped btrfs, and gives the scratch area back.
// Needs root, network namespaces (the VM's tap), qemu-system-x86.
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, sweepStaleLabs } from '../../lab/netns.ts';
import { initrdWithDriver, labBuild, logDir } from '../../lab/netboot-env.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';

const MiB = 1024 * 1024;
const DISK = 1024 * MiB;
const DRIVER = new URL('./testdata/btrfs-vm-driver.ts', import.meta.url).pathname;
const available = await labAvailable();

// The netboot environment's shell, PATH and modules, then the driver instead of the client.
const INIT = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/bin HOME=/root
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mkdir -p /run /mnt /tmp
while read -r m; do insmod "/lib/modules/$(uname -r)/$m" 2>/dev/null; done < /etc/imgsrv/modules
echo "BTRFSTEST-MODULES $(cut -d' ' -f1 /proc/modules | tr '\\n' ' ')"
node /btrfstest/driver.mjs /dev/vda
sync
poweroff -f
`;

interface Result {
  disk: string;
  error?: string;
  output?: string;
  applyMs: number;
  partition: { startBytes: number; sizeBytes: number };
  scratch: { offsetBytes: number; fsBytes: number; sizeBytes: number; fsType: string };
  mapping: Array<{ device: string; mountpoint?: string; fsType: string; newUuid: string; subvolume?: { path: string; options: string } }>;
  mounts: string[];
  markerKept: boolean;
  sizeShort: number;
  sizeGrown: number;
  list: string;
  getDefault: string;
  inHome: string | null;
  inRoot: string | null;
  homeInRoot: boolean;
  plainMount: boolean;
  blkid: string;
}

describe.skipIf(!available)('btrfs subvolumes in the netboot environment (VM)', () => {
  let tmp: string;
  let lab: Lab;
  let vm: Vm | undefined;
  let result: Result | undefined;
  let modules = '';

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = await mkdtemp(join(tmpdir(), 'imgsrv-btrfs-lab-'));
    const build = await labBuild();
    const initrd = await initrdWithDriver(build, join(tmp, 'initrd'), 'btrfstest', INIT, DRIVER);
    const disk = join(tmp, 'vda.img');
    await writeFile(disk, '');
    await truncate(disk, DISK);
    lab = await Lab.create();
    const t0 = Date.now();
    vm = await startVm(lab, {
      name: 'btrfslab', firmware: 'bios', mac: '52:54:00:18:00:62', kernel: build.kernel, initrd,
      append: 'console=ttyS0 rdinit=/btrfstest/init quiet', disk, diskBus: 'virtio',
      memoryMiB: 1024, serialLog: join(logDir(tmp), 'btrfs-vm.log'),
    });
    await vm.waitFor(/BTRFSTEST-END/, 600_000);
    console.log(`btrfs VM: ${Math.round((Date.now() - t0) / 1000)} s from power-on to the driver's end`);
    modules = /BTRFSTEST-MODULES (.*)/.exec(vm.serial)?.[1] ?? '';
    const line = /^BTRFSTEST (\{.*\})\r?$/m.exec(vm.serial)?.[1];
    if (line) result = JSON.parse(line) as Result;
    await vm.waitExit(60_000);
  }, 900_000);

  afterAll(async () => {
    await vm?.stop().catch(() => undefined);
    await lab?.destroy();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('loads the btrfs module and runs the driver without an error', () => {
    expect(modules).toMatch(/\bbtrfs\b/);
    expect([result?.error ?? 'ok', result?.output ?? '']).toEqual(['ok', '']);
  });

  it('makes @ and @home (@ the default), mounts each at its place with its options, files land in their subvolume', () => {
    const r = result!;
    console.log(`btrfs: layout applied twice in ${r.applyMs} ms; size short ${r.sizeShort}, grown ${r.sizeGrown}`);
    const dev = r.mapping.find((m) => m.mountpoint === '/')!.device;
    expect(r.mapping.filter((m) => m.fsType === 'btrfs').map((m) => [m.device, m.mountpoint, m.subvolume?.path])).toEqual([[dev, '/', '@'], [dev, '/home', '@home']]);
    expect(r.mounts.filter((l) => l.includes(' btrfs ')).map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([`${dev} /mnt/target`, `${dev} /mnt/target/home`]);
    expect(r.mounts.find((l) => l.startsWith(`${dev} /mnt/target `))).toMatch(/compress=zstd.*subvol=\/@ /);
    expect(r.mounts.find((l) => l.startsWith(`${dev} /mnt/target/home `))).toMatch(/compress=zstd.*subvol=\/@home /);
    expect(r.list.trim().split('\n').map((l) => l.replace(/^ID \d+ gen \d+ top level (\d+) path /, '$1 '))).toEqual(['5 @', '5 @home']);
    expect(r.getDefault).toMatch(/ path @\n?$/);
    expect(r.plainMount).toBe(true);
    expect(r.inHome).toBe('kept in @home\n');
    expect(r.inRoot).toBe('in @\n');
    expect(r.homeInRoot).toBe(false);
    expect(r.blkid).toBe(r.mapping.find((m) => m.mountpoint === '/')!.newUuid);
  });

  it('keeps the scratch area through mkfs, subvolumes and writes, then grows the btrfs over it', () => {
    const r = result!;
    expect(r.scratch.fsType).toBe('btrfs');
    expect(r.markerKept).toBe(true);
    expect(r.sizeShort).toBe(r.scratch.fsBytes);
    expect(r.sizeGrown).toBe(r.partition.sizeBytes);
  });
});
