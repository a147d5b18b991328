/**
 * A real OS on md RAID1 end to end (issue 23). The Debian sample laid out
 * as Debian's installer lays out a RAID1 pair (lab/debian-sample.ts
 * SAMPLE_MD, made inside a VM by the sample's own mdadm: two disks
 * partitioned alike with bios_grub, an ESP each, md1 = /boot (metadata 1.0)
 * and md0 = / (1.2), grub on both disks) boots from its arrays, is captured
 * over ssh with its md facts, and is restored onto ONE blank SeaBIOS+iPXE VM
 * with two SATA disks: both partitioned alike, md0 and md1 made again under
 * their device names with new UUIDs, / grown to the disk, grub on both.
 * The node boots to multi-user with both arrays in sync, answers ssh with
 * its application and reports done itself. Then the first disk is pulled:
 * a VM with the SECOND disk alone boots the restored system, degraded, to
 * multi-user: both disks are bootable.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debianSsh, DEBIAN_IMAGE, DEBIAN_LOGIN, startDebianDeployLab, waitForDone, type DebianDeployLab } from '../../lab/debian-lab.ts';
import { SAMPLE_MD } from '../../lab/debian-sample.ts';
import { labAvailable, sh } from '../../lab/netns.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';
import { sampleAppResponse } from '../../lab/sample-os.ts';

const run = (await labAvailable()) && existsSync('/usr/bin/qemu-system-x86_64') && existsSync('/usr/sbin/debootstrap') ? describe : describe.skip;

const MAC = '52:54:00:de:b1:51';
const HOSTNAME = 'deb-md';
// An hour: the restore rebuilds the image's initramfs in a chroot (mdadm.conf names the new arrays), which under software emulation
// takes 20-40 minutes (seconds on hardware).
const NODE_TIMEOUT = 3_600_000;

interface MdHost {
  md?: { arrays: Array<{ device: string; level: string; metadata: string; raidDevices: number; degraded: boolean; mountpoint?: string; fs?: { type: string; uuid?: string }; members: Array<{ device: string; disk?: string; partition?: number }> }> };
  filesystems: Array<{ mountpoint: string; type: string; source: string }>;
}

/** `key=value` lines of a remote script's output. */
const facts = (out: string): Record<string, string> => Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

run('debian on md RAID1: captured over ssh, restored onto a BIOS VM with two disks, each disk boots alone', () => {
  let d: DebianDeployLab;
  let work: string;
  let firstDisk: string;
  let secondDisk: string;
  let nodeIp: string;
  const t0 = Date.now();
  const figures: Record<string, number | string | boolean> = {};

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'imgsrv-debian-md-'));
    d = await startDebianDeployLab({ work, promptTimeout: 600, signing: true, nodeMemoryMiB: 1536, layout: 'md', say: (s) => process.stderr.write(`${s}\n`) });
    const b = d.sample.build;
    Object.assign(figures, {
      sampleBuiltNow: d.sample.built, buildSeconds: b.seconds, provisionSeconds: b.provisionSeconds, sampleBootSeconds: d.sampleBootSeconds, captureSeconds: d.captureSeconds,
      imageRawMB: +(d.image.size / 1e6).toFixed(1), imageCompressedMB: +(d.image.compressedSize / 1e6).toFixed(1), setupSeconds: (Date.now() - t0) / 1000,
    });
    await d.server.cli(['nodes', 'assign', MAC, HOSTNAME]);
  }, 2_400_000);

  afterAll(async () => {
    figures.totalSeconds = (Date.now() - t0) / 1000;
    process.stderr.write(`debian-md figures: ${JSON.stringify(figures)}\n`);
    await d?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('captures md0 and md1 as RAID1 mirrors of the same partitions of two disks', async () => {
    const meta = JSON.parse(await d.server.cli(['images', 'show', `${DEBIAN_IMAGE}@1`, '--json'])) as { meta: { host: MdHost } };
    const host = meta.meta.host;
    const arrays = [...(host.md?.arrays ?? [])].sort((a, b) => a.device.localeCompare(b.device));
    expect(arrays.map((a) => [a.device, a.level, a.metadata, a.raidDevices, a.degraded, a.mountpoint, a.fs?.type])).toEqual(
      SAMPLE_MD.arrays.map((a) => [a.device, 'raid1', a.metadata, 2, false, a.mount, 'ext4']),
    );
    // the sample VM's two virtio disks, the same partition of each
    for (const [i, a] of arrays.entries()) {
      const part = SAMPLE_MD.arrays[i]!.partition;
      expect(a.members.map((m) => `${m.disk}:${m.partition}`).sort()).toEqual([`vda:${part}`, `vdb:${part}`]);
    }
    expect(host.filesystems.find((f) => f.mountpoint === '/')?.source).toBe('/dev/md0');
  });

  it('restores it onto two disks: both arrays made again in sync, / grown, boots to multi-user and reports done', async () => {
    const { server, srv } = d;
    firstDisk = join(work, 'debmd.raw');
    secondDisk = join(work, 'debmd-2.raw');
    await sh('truncate', ['-s', '4G', firstDisk]);
    await sh('truncate', ['-s', '4G', secondDisk]);
    const start = Date.now();
    const vm = await d.blankVm({
      name: 'debmd', firmware: 'bios', mac: MAC, disk: firstDisk, diskBus: 'sata', diskSerial: 'imgsrv-deb-md-a',
      extraDisks: [{ file: secondDisk, bus: 'sata', serial: 'imgsrv-deb-md-b' }],
    });
    const diagnose = async (err: unknown): Promise<never> => {
      const nodes = await server.cli(['nodes', 'ls', '--json']).catch(() => '?');
      const tail = (v: Vm) => v.serial.split('\n').slice(-60).join('\n');
      throw new Error(`${(err as Error).message}\n--- nodes: ${nodes}\n--- node:\n${tail(vm)}\n--- server:\n${server.log().split('\n').slice(-30).join('\n')}`);
    };
    const rebooted = await vm.waitFor(/imgsrv: rebooting into the restored system/, NODE_TIMEOUT).catch(diagnose);
    figures.restoreSeconds = (Date.now() - start) / 1000;
    const login = await vm.waitFor(DEBIAN_LOGIN, NODE_TIMEOUT, (rebooted.index ?? 0) + rebooted[0].length).catch(diagnose);
    figures.loginSeconds = (Date.now() - start) / 1000;
    expect(login[1]).toBe(HOSTNAME);
    const node = await waitForDone(d, MAC, 600_000).catch(diagnose);
    figures.doneSeconds = (Date.now() - start) / 1000;
    expect(node).toMatchObject({ hostname: HOSTNAME, phase: 'done', install: 'installed', error: null });
    nodeIp = node.ip!;
    expect(await srv.exec('curl', ['-sS', '--max-time', '20', `http://${nodeIp}/`])).toMatch(sampleAppResponse(HOSTNAME));
    const f = facts(await debianSsh(srv, d.key, nodeIp, [
      'echo "mdstat=$(grep -A1 ^md /proc/mdstat | tr -s " " | tr "\\n" ";")"',
      'echo "md0=$(mdadm --detail --export /dev/md0 | grep -E "^MD_(LEVEL|METADATA|DEVICES|UUID)=" | sort | tr "\\n" " ")"',
      'echo "md1=$(mdadm --detail --export /dev/md1 | grep -E "^MD_(LEVEL|METADATA|DEVICES|UUID)=" | sort | tr "\\n" " ")"',
      'echo "members=$(for m in md0 md1; do echo "$m:$(ls /sys/block/$m/slaves | sort | tr "\\n" ",")"; done | tr "\\n" " ")"',
      'echo "mounts=$(findmnt -rn -o TARGET,SOURCE,FSTYPE,UUID -t ext4,vfat | sort | tr "\\n" ";")"',
      'echo "sda=$(sfdisk -d /dev/sda | grep ^/dev | sed "s,/dev/sda,P,;s/, uuid=[^,]*//" | tr "\\n" ";")"',
      'echo "sdb=$(sfdisk -d /dev/sdb | grep ^/dev | sed "s,/dev/sdb,P,;s/, uuid=[^,]*//" | tr "\\n" ";")"',
      'echo "esp2=$(blkid -o value -s TYPE /dev/sdb2)"',
      'echo "conf=$(grep ^ARRAY /etc/mdadm/mdadm.conf | tr -s " " | tr "\\n" ";")"',
      'echo "rootfs=$(df -B1 --output=size / | tail -1 | tr -d " ")"',
      'echo "fstab=$(grep -v "^#" /etc/fstab | tr -s " " | tr "\\n" ";")"',
      'echo "state=$(systemctl is-system-running)"',
      'echo "failed=$(systemctl --failed --no-legend --plain | cut -d" " -f1 | tr "\\n" " ")"',
    ].join('; ')));
    process.stderr.write(`debian-md node facts: ${JSON.stringify(f)}\n`);
    // both arrays whole: two members each, both up
    expect(f.mdstat!.match(/\[UU\]/g)?.length).toBe(2);
    expect(f.md0).toContain('MD_LEVEL=raid1');
    expect(f.md0).toContain('MD_METADATA=1.2');
    expect(f.md1).toContain('MD_METADATA=1.0');
    expect(f.members!.trim()).toBe('md0:sda4,sdb4, md1:sda3,sdb3,');
    // the same partition table on both disks
    expect(f.sda).toBe(f.sdb);
    expect(f.esp2).toBe('vfat');
    const mounts = f.mounts!.split(';').filter(Boolean).map((l) => l.split(' '));
    expect(mounts.map(([t, src, type]) => `${t}:${src}:${type}`)).toEqual(['/:/dev/md0:ext4', '/boot:/dev/md1:ext4', '/boot/efi:/dev/sda2:vfat']);
    for (const [t, , , uuid] of mounts) {
      const p = SAMPLE_MD.partitions.find((x) => x.fs?.mount === t);
      expect(uuid!.toLowerCase(), t).not.toBe(p!.fs!.uuid.toLowerCase());
    }
    // new array UUIDs, written to mdadm.conf (the initramfs assembles by them)
    const uuids = [f.md0, f.md1].map((x) => /MD_UUID=(\S+)/.exec(x!)![1]!);
    for (const u of uuids) expect(f.conf).toContain(u);
    // / filled the 4 GiB disk (the sample's was 2.3 GiB)
    expect(Number(f.rootfs)).toBeGreaterThan(3.2e9);
    expect(f.fstab).toContain(' / ext4 errors=remount-ro 0 1');
    expect(`${f.state} ${f.failed}`.trim()).toBe('running');
    await vm.stop();
  }, 2 * NODE_TIMEOUT);

  it('boots from the second disk alone, degraded, to multi-user', async () => {
    expect(nodeIp, 'the restore above must have passed').toBeTruthy();
    const start = Date.now();
    // the first disk pulled: the second, alone, on the first SATA port; no network boot
    const vm = await startVm(d.lab, { name: 'debmd2', firmware: 'bios', mac: MAC, memoryMiB: 1536, disk: secondDisk, diskBus: 'sata', diskSerial: 'imgsrv-deb-md-b', allowReboot: true, serialLog: join(work, 'debmd2.serial.log') });
    try {
      const login = await vm.waitFor(DEBIAN_LOGIN, 900_000).catch((err: Error) => {
        throw new Error(`${err.message}\n--- second disk:\n${vm.serial.split('\n').slice(-60).join('\n')}`);
      });
      figures.secondDiskLoginSeconds = (Date.now() - start) / 1000;
      expect(login[1]).toBe(HOSTNAME);
      const f = facts(await debianSsh(d.srv, d.key, nodeIp, [
        'echo "mdstat=$(grep -A1 ^md /proc/mdstat | tr -s " " | tr "\\n" ";")"',
        'echo "mounts=$(findmnt -rn -o TARGET,SOURCE -t ext4 | sort | tr "\\n" ";")"',
        'echo "home=$(hostname)"',
      ].join('; ')));
      process.stderr.write(`debian-md second disk facts: ${JSON.stringify(f)}\n`);
      expect(f.home).toBe(HOSTNAME);
      // each array runs on one member of two
      expect(f.mdstat!.match(/\[2\/1\]/g)?.length).toBe(2);
      expect(f.mounts).toBe('/:/dev/md0;/boot:/dev/md1;'.replace(/:/g, ' '));
    } finally {
      await vm.stop();
    }
  }, 1_200_000);
});
