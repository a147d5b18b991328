/**
 * A real OS on LVM end to end (issue 23). The Debian sample of
 * debian.lab.test.ts laid out as Debian's "guided, LVM" installer does
 * (lab/debian-sample.ts SAMPLE_LVM: bios_grub, ESP, ext4 /boot partitions,
 * then a PV holding vg0 with root ext4, home XFS and swap_1, fstab naming
 * them /dev/mapper/vg0-root, /dev/vg0/home, /dev/mapper/vg0-swap_1) boots
 * from the root LV through its own grub and initramfs, is captured over
 * ssh with its LVM facts, and is restored onto ONE blank SeaBIOS+iPXE VM on
 * SATA: vg0 and its LVs recreated under the same names, home and swap_1 at
 * their captured sizes, root grown over the rest of a larger disk once the
 * scratch area after the short PV is given back; the node boots to
 * multi-user, answers ssh with its application, mounts every file system by
 * its LV name with a new UUID, swaps on swap_1, and reports done itself.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debianSsh, DEBIAN_IMAGE, DEBIAN_LOGIN, startDebianDeployLab, waitForDone, type DebianDeployLab } from '../../lab/debian-lab.ts';
import { SAMPLE_LVM } from '../../lab/debian-sample.ts';
import { labAvailable } from '../../lab/netns.ts';
import type { Vm } from '../../lab/qemu.ts';
import { sampleAppResponse } from '../../lab/sample-os.ts';

const run = (await labAvailable()) && existsSync('/usr/bin/qemu-system-x86_64') && existsSync('/usr/sbin/debootstrap') ? describe : describe.skip;

const MAC = '52:54:00:de:b1:31';
const NODE_TIMEOUT = 1_500_000;
const MiB = 1024 * 1024;

interface LvmHost {
  lvm?: { vgs: Array<{ name: string; extentBytes: number; pvs: Array<{ disk?: string; partition?: number }>; lvs: Array<{ name: string; sizeBytes: number; layout: string; mountpoint?: string; fs?: { type: string; uuid?: string } }> }> };
  filesystems: Array<{ mountpoint: string; type: string; source: string }>;
}

run('debian on LVM: captured over ssh, restored onto a BIOS VM with vg0 recreated', () => {
  let d: DebianDeployLab;
  let work: string;
  const t0 = Date.now();
  const figures: Record<string, number | string | boolean> = {};

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'imgsrv-debian-lvm-'));
    d = await startDebianDeployLab({ work, promptTimeout: 600, signing: true, nodeMemoryMiB: 1536, layout: 'lvm', say: (s) => process.stderr.write(`${s}\n`) });
    const b = d.sample.build;
    Object.assign(figures, {
      sampleBuiltNow: d.sample.built, buildSeconds: b.seconds, provisionSeconds: b.provisionSeconds, sampleBootSeconds: d.sampleBootSeconds, captureSeconds: d.captureSeconds,
      imageRawMB: +(d.image.size / 1e6).toFixed(1), imageCompressedMB: +(d.image.compressedSize / 1e6).toFixed(1), setupSeconds: (Date.now() - t0) / 1000,
    });
    await d.server.cli(['nodes', 'assign', MAC, 'deb-lvm']);
  }, 2_400_000);

  afterAll(async () => {
    figures.totalSeconds = (Date.now() - t0) / 1000;
    process.stderr.write(`debian-lvm figures: ${JSON.stringify(figures)}\n`);
    await d?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('captures vg0 with its PV on the root disk and its linear LVs', async () => {
    const meta = JSON.parse(await d.server.cli(['images', 'show', `${DEBIAN_IMAGE}@1`, '--json'])) as { meta: { host: LvmHost } };
    const host = meta.meta.host;
    expect(host.lvm?.vgs.map((v) => v.name)).toEqual(['vg0']);
    const vg = host.lvm!.vgs[0]!;
    expect(vg.extentBytes).toBe(SAMPLE_LVM.extentMiB * MiB);
    // the sample VM's disk is virtio
    expect(vg.pvs).toEqual([expect.objectContaining({ device: '/dev/vda4', disk: 'vda', partition: 4 })]);
    expect(vg.lvs.map((l) => [l.name, l.sizeBytes / MiB, l.layout, l.mountpoint ?? '', l.fs?.type]).sort()).toEqual(
      SAMPLE_LVM.lvs.map((l) => [l.name, l.sizeMiB, 'linear', l.fs.mount ?? '', l.fs.type]).sort(),
    );
    expect(host.filesystems.find((f) => f.mountpoint === '/')?.source).toBe('/dev/mapper/vg0-root');
  });

  it('restores it: vg0 under the same names, root grown, new UUIDs, boots to multi-user and reports done', async () => {
    const { server, srv } = d;
    const start = Date.now();
    const vm = await d.blankVm({ name: 'deblvm', firmware: 'bios', mac: MAC, diskSize: '4G', diskBus: 'sata', diskSerial: 'imgsrv-deb-lvm' });
    const diagnose = async (err: unknown): Promise<never> => {
      const nodes = await server.cli(['nodes', 'ls', '--json']).catch(() => '?');
      const tail = (v: Vm) => v.serial.split('\n').slice(-60).join('\n');
      throw new Error(`${(err as Error).message}\n--- nodes: ${nodes}\n--- node:\n${tail(vm)}\n--- server:\n${server.log().split('\n').slice(-30).join('\n')}`);
    };
    const rebooted = await vm.waitFor(/imgsrv: rebooting into the restored system/, NODE_TIMEOUT).catch(diagnose);
    figures.restoreSeconds = (Date.now() - start) / 1000;
    const login = await vm.waitFor(DEBIAN_LOGIN, NODE_TIMEOUT, (rebooted.index ?? 0) + rebooted[0].length).catch(diagnose);
    figures.loginSeconds = (Date.now() - start) / 1000;
    expect(login[1]).toBe('deb-lvm');
    const node = await waitForDone(d, MAC, 600_000).catch(diagnose);
    figures.doneSeconds = (Date.now() - start) / 1000;
    expect(node).toMatchObject({ hostname: 'deb-lvm', phase: 'done', install: 'installed', error: null });
    // what the node said while it restored
    expect(vm.serial).toMatch(/image pieces kept on \/dev\/sda \(scratch area of/);
    expect(vm.serial).toMatch(/scratch area given back: \/dev\/mapper\/vg0-root grown by/);
    const ip = node.ip!;
    expect(await srv.exec('curl', ['-sS', '--max-time', '20', `http://${ip}/`])).toMatch(sampleAppResponse('deb-lvm'));
    const out = await debianSsh(srv, d.key, ip, [
      'echo "cmdline=$(cat /proc/cmdline)"',
      'echo "mounts=$(findmnt -rn -o TARGET,SOURCE,FSTYPE,UUID -t ext4,xfs,vfat | sort | tr "\\n" ";")"',
      'echo "lvs=$(lvs --noheadings --units b --nosuffix -o lv_name,lv_size,lv_layout --separator : vg0 | tr -d " " | sort | tr "\\n" ";")"',
      'echo "pv=$(pvs --noheadings --units b --nosuffix -o pv_name,pv_size,pv_free --separator : | tr -d " ")"',
      'echo "part=$(lsblk -bno SIZE /dev/sda4)"',
      'echo "rootfs=$(df -B1 --output=size / | tail -1 | tr -d " ")"',
      'echo "swap=$(swapon --show=NAME,SIZE --noheadings --bytes | tr -s " ")"',
      'echo "swapuuid=$(blkid -o value -s UUID /dev/mapper/vg0-swap_1)"',
      'echo "fstab=$(grep -v "^#" /etc/fstab | tr -s " " | tr "\\n" ";")"',
      'echo "homefile=$(cat /home/operator/notes.txt)"',
      'echo "state=$(systemctl is-system-running)"',
      'echo "failed=$(systemctl --failed --no-legend --plain | cut -d" " -f1 | tr "\\n" " ")"',
    ].join('; '));
    const f = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    process.stderr.write(`debian-lvm node facts: ${JSON.stringify(f)}\n`);
    expect(f.cmdline).toContain('root=/dev/mapper/vg0-root');
    const mounts = f.mounts!.split(';').filter(Boolean).map((l) => l.split(' '));
    expect(mounts.map(([t, src, type]) => `${t}:${src}:${type}`)).toEqual(['/:/dev/mapper/vg0-root:ext4', '/boot:/dev/sda3:ext4', '/boot/efi:/dev/sda2:vfat', '/home:/dev/mapper/vg0-home:xfs']);
    for (const [t, , , uuid] of mounts) {
      const lv = SAMPLE_LVM.lvs.find((l) => l.fs.mount === t);
      if (lv) expect(uuid!.toLowerCase(), t).not.toBe(lv.fs.uuid);
    }
    // home and swap_1 at their captured sizes, root over every other extent of the PV that fills its partition
    const lvs = Object.fromEntries(f.lvs!.split(';').filter(Boolean).map((l) => l.split(':')).map(([n, size, layout]) => [n, { size: Number(size), layout }]));
    expect(lvs.home).toEqual({ size: 320 * MiB, layout: 'linear' });
    expect(lvs.swap_1).toEqual({ size: 64 * MiB, layout: 'linear' });
    const [pvName, pvSize, pvFree] = f.pv!.split(':');
    expect(pvName).toBe('/dev/sda4');
    expect(Number(pvFree)).toBe(0);
    expect(Number(pvSize)).toBeGreaterThan(Number(f.part) - 5 * MiB);
    expect(lvs.root!.size).toBe(Number(pvSize) - 384 * MiB);
    expect(Number(f.rootfs) / lvs.root!.size).toBeGreaterThan(0.9);
    // swapon counts the area without its header page
    expect(f.swap).toMatch(/^\/dev\/(dm-\d+|mapper\/vg0-swap_1) (67108864|67104768)$/);
    expect(f.swapuuid).not.toBe(SAMPLE_LVM.lvs[2]!.fs.uuid);
    // the LV names in fstab are the sample's, as it wrote them
    expect(f.fstab).toContain('/dev/mapper/vg0-root / ext4 errors=remount-ro 0 1');
    expect(f.fstab).toContain('/dev/vg0/home /home xfs defaults,noatime 0 2');
    expect(f.fstab).toContain('/dev/mapper/vg0-swap_1 none swap sw 0 0');
    expect(f.homefile).toBe('kept with the image');
    expect(`${f.state} ${f.failed}`.trim()).toBe('running');
  }, 2 * NODE_TIMEOUT);
});
