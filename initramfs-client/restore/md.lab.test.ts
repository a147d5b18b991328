// md RAID1 layouts made by the restore's own code with the netboot
// environment's own binaries and kernel. This host's kernel has no md, so
// the test boots the real netboot build (cached, lab/netboot-env.ts) in
// QEMU with three blank virtio disks (2 GiB, a 512 MiB decoy, 2 GiB) and an
// extra cpio holding a driver (testdata/md-vm-driver.ts, bundled like the
// client) that it runs instead of /init (rdinit=). The driver picks the two
// disks with the restore's own choice, lays out bios_grub + ESP + /boot on
// md1 (metadata 1.0) + / on md0 (1.2) on both, twice (the second time with
// the arrays running), writes files, copies the ESP to the second disk, then
// assembles each array from the second disk alone and reads them back; it
// installs grub on both disks, and the test then boots a second VM from the
// SECOND disk alone (SeaBIOS): its grub must find /boot on the degraded md1. Its md probe output and /proc/mdstat are
// saved as the capture parser's fixtures (server/capture/testdata) with
// UPDATE_TESTDATA=1. Needs root, network namespaces (the VM's tap), qemu-system-x86.
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, sweepStaleLabs } from '../../lab/netns.ts';
import { initrdWithDriver, labBuild, logDir } from '../../lab/netboot-env.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';

const MiB = 1024 * 1024;
const DRIVER = new URL('./testdata/md-vm-driver.ts', import.meta.url).pathname;
const FIXTURES = new URL('../../server/capture/testdata/', import.meta.url).pathname;
const available = await labAvailable();

// The netboot environment's shell, PATH and modules, then the driver instead of the client.
const INIT = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/bin HOME=/root
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mkdir -p /run /mnt /tmp
while read -r m; do insmod "/lib/modules/$(uname -r)/$m" 2>/dev/null; done < /etc/imgsrv/modules
echo "MDTEST-MODULES $(cut -d' ' -f1 /proc/modules | tr '\\n' ' ')"
node /mdtest/driver.mjs
sync
poweroff -f
`;

interface Result {
  error?: string;
  output?: string;
  disks: Array<{ path: string; sizeBytes: number }>;
  chosen: string[];
  anyHasMd: string[];
  applyMs: number;
  plan: Array<{ number: number; startBytes: number; sizeBytes: number; role: string; md?: string; grows: boolean }>;
  arrays: Array<{ device: string; metadata: string; newUuid: string; name?: string }>;
  mapping: Array<{ device: string; mountpoint?: string; fsType: string; newUuid: string; md?: { uuid: string; members: string[] } }>;
  probeMd: string;
  mdstat: string;
  examine: string;
  stopped: string;
  degraded: string;
  end: string;
  df: string;
  blkid: Record<string, string>;
  espCopy?: string;
  espLoader: string;
  bootMethod: string;
  fileKept: boolean;
  kernelKept: boolean;
}

describe.skipIf(!available)('md RAID1 layouts in the netboot environment (VM)', () => {
  let tmp: string;
  let lab: Lab;
  let vm: Vm | undefined;
  let r: Result | undefined;
  let modules = '';
  let grub = '';

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = await mkdtemp(join(tmpdir(), 'imgsrv-md-lab-'));
    const build = await labBuild();
    const initrd = await initrdWithDriver(build, join(tmp, 'initrd'), 'mdtest', INIT, DRIVER);
    const disks = [['vda.img', 2048], ['vdb.img', 512], ['vdc.img', 2048]] as const;
    for (const [n, size] of disks) {
      await writeFile(join(tmp, n), '');
      await truncate(join(tmp, n), size * MiB);
    }
    lab = await Lab.create();
    const t0 = Date.now();
    vm = await startVm(lab, {
      name: 'mdlab', firmware: 'bios', mac: '52:54:00:18:00:62', kernel: build.kernel, initrd,
      append: 'console=ttyS0 rdinit=/mdtest/init quiet', disk: join(tmp, 'vda.img'), diskBus: 'virtio',
      extraDisks: [{ file: join(tmp, 'vdb.img'), bus: 'virtio' }, { file: join(tmp, 'vdc.img'), bus: 'virtio' }],
      memoryMiB: 1024, serialLog: join(logDir(tmp), 'md-vm.log'),
    });
    await vm.waitFor(/MDTEST-END/, 900_000);
    console.log(`md VM: ${Math.round((Date.now() - t0) / 1000)} s from power-on to the driver's end`);
    modules = /MDTEST-MODULES (.*)/.exec(vm.serial)?.[1] ?? '';
    const line = /^MDTEST (\{.*\})\r?$/m.exec(vm.serial)?.[1];
    r = line ? (JSON.parse(line) as Result) : undefined;
    await vm.waitExit(60_000);
    vm = undefined;
    if (r && !r.error) {
      // the first disk gone: SeaBIOS boots the second one, whose grub reads its config from /boot on md1
      const t1 = Date.now();
      vm = await startVm(lab, { name: 'mdboot', firmware: 'bios', mac: '52:54:00:18:00:63', disk: join(tmp, 'vdc.img'), diskBus: 'virtio', memoryMiB: 256, serialLog: join(logDir(tmp), 'md-boot-second.log') });
      // Up to the line's end: the serial console arrives in chunks, and \S* alone would match half a UUID.
      grub = (await vm.waitFor(/MDTEST-GRUB root=([^\s\x1b]*)[\s\x1b]/, 300_000))[1] ?? '';
      console.log(`second disk alone: grub up ${Math.round((Date.now() - t1) / 1000)} s after power-on, /boot on (${grub})`);
      await vm.waitExit(60_000).catch(() => undefined);
    }
    if (r && !r.error && process.env.UPDATE_TESTDATA) {
      await writeFile(join(FIXTURES, 'md-probe-netboot.txt'), r.probeMd);
      await writeFile(join(FIXTURES, 'mdstat-netboot.txt'), r.mdstat);
      await writeFile(join(FIXTURES, 'mdstat-degraded-netboot.txt'), r.degraded);
    }
  }, 1_200_000);

  afterAll(async () => {
    await vm?.stop().catch(() => undefined);
    await lab?.destroy();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('loads md_mod and raid1 and runs the driver without an error', () => {
    expect(modules).toMatch(/\bmd_mod\b/);
    expect(modules).toMatch(/\braid1\b/);
    expect(r?.error ?? 'ok', r?.output).toBe('ok');
  });

  it('picks the two 2 GiB disks, never the 512 MiB decoy, and partitions both alike', () => {
    expect(r!.chosen).toEqual(['/dev/vda', '/dev/vdc']);
    expect(r!.anyHasMd).toEqual(['/dev/md0', '/dev/md1']);
    expect(r!.plan.map((p) => [p.number, p.role, p.md ?? null, p.grows])).toEqual([[1, 'bios_grub', null, false], [2, 'esp', null, false], [3, 'raid', '/dev/md1', false], [4, 'raid', '/dev/md0', true]]);
    console.log(`layout applied twice in ${r!.applyMs} ms; df: ${r!.df.split('\n')[1]}`);
  });

  it('makes each array with the planned UUID, metadata and name over partition N of both disks', () => {
    const md0 = r!.mapping.find((m) => m.device === '/dev/md0')!;
    const md1 = r!.mapping.find((m) => m.device === '/dev/md1')!;
    expect(md0).toMatchObject({ mountpoint: '/', fsType: 'ext4', md: { members: ['/dev/vda4', '/dev/vdc4'] } });
    expect(md1).toMatchObject({ mountpoint: '/boot', fsType: 'ext4', md: { members: ['/dev/vda3', '/dev/vdc3'] } });
    for (const m of r!.mapping) expect(r!.blkid[m.device]?.toLowerCase()).toBe(m.newUuid.toLowerCase());
    // mdadm's own view, in the probe's words (the capture's parser reads the same text)
    const probe = r!.probeMd;
    expect(probe).toMatch(/^IMGSRV_MD=\/dev\/md0$/m);
    expect(probe).toMatch(/^MD_LEVEL=raid1$/m);
    for (const a of r!.arrays) {
      expect(probe).toContain(`MD_UUID=${a.newUuid}`);
      expect(probe).toContain(`MD_METADATA=${a.metadata}`);
      expect(probe).toContain(`MD_NAME=${a.name}`);
    }
    expect(r!.mdstat).toMatch(/^md0 : active raid1 vdc4\[1\] vda4\[0\]/m);
    expect(r!.mdstat).toMatch(/\[2\/2\] \[UU\]/);
    expect(r!.examine).toMatch(/^MD_UUID=/m);
  });

  it('copies the ESP to the second disk: its own FAT, the same loader', () => {
    expect(r!.espCopy).toBe('/dev/vdc2');
    expect(r!.espLoader).toBe('loader\n');
  });

  it('BIOS: grub on both disks; the second disk alone boots and its grub finds /boot on the degraded md1', () => {
    expect(r!.bootMethod).toBe('grub-netboot');
    // grub names an md array by its UUID: the NEW one md1 was made with
    const md1 = r!.arrays.find((a) => a.device === '/dev/md1')!;
    expect(grub).toBe(`mduuid/${md1.newUuid.replaceAll(':', '')}`);
  });

  it('the second disk alone holds the file systems: each array assembles from it, degraded, with the files', () => {
    expect(r!.stopped).not.toMatch(/^md\d/m);
    expect(r!.degraded).toMatch(/^md0 : active raid1 vdc4\[1\]/m);
    expect(r!.degraded).toMatch(/\[2\/1\] \[_U\]/);
    expect(r!.fileKept).toBe(true);
    expect(r!.kernelKept).toBe(true);
    expect(r!.end).not.toMatch(/^md\d/m);
  });
});
