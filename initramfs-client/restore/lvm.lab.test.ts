// LVM layouts made by the restore's own code with the netboot environment's
// own binaries and kernel. This host's kernel has no device-mapper, so a
// host-side loop-device test could not activate a single LV: the test boots
// the real netboot build (cached, lab/netboot-env.ts) in QEMU with two
// blank virtio disks and an extra cpio holding a driver
// (testdata/lvm-vm-driver.ts, bundled like the client) that it runs instead
// of /init (rdinit=). On each disk the driver plans a GPT + /boot + PV
// layout of VG "vg-lab" (root, home, swap-1: hyphens double in
// /dev/mapper names) with a scratch area after a short PV, applies it twice
// (the second time with the VG still active, as a restore that starts over),
// keeps bytes in the scratch area, mounts, writes, gives the area back
// (pvresize, lvextend, resize2fs on ext4 / xfs_growfs on xfs) and
// deactivates. Needs root, network namespaces (the VM's tap), qemu-system-x86.
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, sweepStaleLabs } from '../../lab/netns.ts';
import { initrdWithDriver, labBuild, logDir } from '../../lab/netboot-env.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';

const MiB = 1024 * 1024;
const DISK = 2048 * MiB;
const DRIVER = new URL('./testdata/lvm-vm-driver.ts', import.meta.url).pathname;
const available = await labAvailable();

// The netboot environment's shell, PATH and modules, then the driver instead of the client.
const INIT = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/bin HOME=/root
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mkdir -p /run /mnt /tmp
while read -r m; do insmod "/lib/modules/$(uname -r)/$m" 2>/dev/null; done < /etc/imgsrv/modules
echo "LVMTEST-MODULES $(cut -d' ' -f1 /proc/modules | tr '\\n' ' ')"
node /lvmtest/driver.mjs /dev/vda /dev/vdb
sync
poweroff -f
`;

interface Result {
  disk: string;
  rootFs: string;
  error?: string;
  output?: string;
  sizeBytes: number;
  applyMs: number;
  partition: { startBytes: number; sizeBytes: number };
  scratch: { offsetBytes: number; fsBytes: number; sizeBytes: number; lvm: { vg: string; lv: string } };
  mapping: Array<{ device: string; mountpoint?: string; fsType: string; newUuid: string; lv?: { vg: string; name: string } }>;
  markerKept: boolean;
  fileKept: boolean;
  dfShort: string;
  dfGrown: string;
  before: { lvs: Array<Record<string, string>>; pvs: Array<Record<string, string>> };
  after: { lvs: Array<Record<string, string>>; pvs: Array<Record<string, string>> };
  links: { mapper: boolean; vgLink: string | null; same: boolean };
  blkid: Record<string, string>;
  swapType: string;
  goneAfterDeactivate: boolean;
}

describe.skipIf(!available)('LVM layouts in the netboot environment (VM)', () => {
  let tmp: string;
  let lab: Lab;
  let vm: Vm | undefined;
  let results: Result[] = [];
  let modules = '';

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = await mkdtemp(join(tmpdir(), 'imgsrv-lvm-lab-'));
    const build = await labBuild();
    const initrd = await initrdWithDriver(build, join(tmp, 'initrd'), 'lvmtest', INIT, DRIVER);
    const disks = ['vda.img', 'vdb.img'].map((n) => join(tmp, n));
    for (const d of disks) {
      await writeFile(d, '');
      await truncate(d, DISK);
    }
    lab = await Lab.create();
    const t0 = Date.now();
    vm = await startVm(lab, {
      name: 'lvmlab', firmware: 'bios', mac: '52:54:00:18:00:61', kernel: build.kernel, initrd,
      append: 'console=ttyS0 rdinit=/lvmtest/init quiet', disk: disks[0]!, diskBus: 'virtio', extraDisks: [{ file: disks[1]!, bus: 'virtio' }],
      memoryMiB: 1024, serialLog: join(logDir(tmp), 'lvm-vm.log'),
    });
    await vm.waitFor(/LVMTEST-END/, 900_000);
    console.log(`lvm VM: ${Math.round((Date.now() - t0) / 1000)} s from power-on to the driver's end`);
    modules = /LVMTEST-MODULES (.*)/.exec(vm.serial)?.[1] ?? '';
    results = [...vm.serial.matchAll(/^LVMTEST (\{.*\})\r?$/gm)].map((m) => JSON.parse(m[1]!) as Result);
    await vm.waitExit(60_000);
  }, 1_200_000);

  afterAll(async () => {
    await vm?.stop().catch(() => undefined);
    await lab?.destroy();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('loads dm_mod and runs the driver on both disks without an error', () => {
    expect(modules).toMatch(/\bdm_mod\b/);
    expect(results.map((r) => [r.disk, r.error ?? 'ok', r.output ?? ''])).toEqual([['/dev/vda', 'ok', ''], ['/dev/vdb', 'ok', '']]);
  });

  for (const [i, rootFs] of (['ext4', 'xfs'] as const).entries()) {
    it(`vg-lab with a growing ${rootFs} root: names, sizes and UUIDs as planned, the scratch area kept then given back`, () => {
      const r = results[i]!;
      expect(r.rootFs).toBe(rootFs);
      console.log(`${rootFs}: layout applied twice in ${r.applyMs} ms; df short: ${r.dfShort.split('\n')[1]}; grown: ${r.dfGrown.split('\n')[1]}`);
      // the same VG and LV names, under the kernel's dm names (hyphens doubled) and lvm's /dev/<vg>/<lv> link
      const lv = (name: string) => r.mapping.find((m) => m.lv?.name === name)!;
      expect(lv('root')).toMatchObject({ device: '/dev/mapper/vg--lab-root', mountpoint: '/', fsType: rootFs, lv: { vg: 'vg-lab' } });
      expect(lv('home')).toMatchObject({ device: '/dev/mapper/vg--lab-home', mountpoint: '/home', fsType: 'ext4' });
      expect(lv('swap-1')).toMatchObject({ device: '/dev/mapper/vg--lab-swap--1', fsType: 'swap' });
      expect(r.links).toMatchObject({ mapper: true, same: true });
      expect(r.swapType).toBe('swap');
      // every file system and swap area carries the UUID the plan chose (what the fstab rewrite maps to)
      for (const m of r.mapping) expect(r.blkid[m.device]?.toLowerCase()).toBe(m.newUuid.toLowerCase());
      // before: the PV short by the scratch area, the root LV its extents left after home and swap
      const size = (list: Array<Record<string, string>>, name: string) => Number(list.find((l) => l.lv_name === name)!.lv_size);
      const pvBefore = Number(r.before.pvs[0]!.pv_size);
      expect(pvBefore).toBeLessThanOrEqual(r.scratch.fsBytes);
      expect(pvBefore).toBeGreaterThan(r.scratch.fsBytes - 2 * MiB);
      expect(r.scratch.offsetBytes).toBe(r.partition.startBytes + r.scratch.fsBytes);
      expect(size(r.before.lvs, 'home')).toBe(64 * MiB);
      expect(size(r.before.lvs, 'swap-1')).toBe(32 * MiB);
      expect(size(r.before.lvs, 'root')).toBe(pvBefore - 96 * MiB - Number(r.before.pvs[0]!.pv_free));
      expect(Number(r.before.pvs[0]!.pv_free)).toBe(0);
      // the bytes in the scratch area survived partitioning twice, mkfs, mounts and writes
      expect(r.markerKept).toBe(true);
      // after: the PV fills its partition, root has every extent, home and swap unchanged, the file intact
      const pvAfter = Number(r.after.pvs[0]!.pv_size);
      expect(pvAfter).toBeGreaterThan(r.partition.sizeBytes - 5 * MiB);
      expect(pvAfter).toBeLessThanOrEqual(r.partition.sizeBytes);
      expect(Number(r.after.pvs[0]!.pv_free)).toBe(0);
      expect(size(r.after.lvs, 'root')).toBe(pvAfter - 96 * MiB);
      expect(size(r.after.lvs, 'home')).toBe(64 * MiB);
      expect(r.fileKept).toBe(true);
      const dfBlocks = (df: string) => Number(df.split('\n')[1]!.trim().split(/\s+/)[1]) * 1024;
      // the file system grew with its LV (df shows the size less the file system's own metadata)
      expect(dfBlocks(r.dfGrown) - dfBlocks(r.dfShort)).toBeGreaterThan(size(r.after.lvs, 'root') - size(r.before.lvs, 'root') - 16 * MiB);
      expect(r.goneAfterDeactivate).toBe(true);
    });
  }
});
