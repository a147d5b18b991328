/**
 * A real OS on btrfs subvolumes end to end (issue 23). The Debian sample of
 * debian.lab.test.ts laid out with btrfs subvolumes (lab/debian-sample.ts
 * SAMPLE_BTRFS: bios_grub and ESP partitions, then one btrfs holding @ at /
 * and @home at /home, fstab naming both by UUID with subvol=,
 * compress=zstd,noatime; the top level stays the default subvolume, so the
 * kernel finds / only by rootflags=subvol=@) boots through its own grub,
 * is captured over ssh with its btrfs facts, and is restored onto a blank
 * SeaBIOS+iPXE VM on SATA and a blank OVMF VM on NVMe, one after the other: the btrfs made with a new UUID, @ and
 * @home made again, each filled with its own files, the file system grown
 * over the scratch area once it is given back; the node boots with its
 * own grub (update-grub in the chroot) to multi-user, answers ssh with its
 * application, mounts / from @ and /home from @home with the sample's
 * options, and reports done itself.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debianSsh, DEBIAN_IMAGE, DEBIAN_LOGIN, startDebianDeployLab, waitForDone, type DebianDeployLab } from '../../lab/debian-lab.ts';
import { SAMPLE_BTRFS } from '../../lab/debian-sample.ts';
import { labAvailable } from '../../lab/netns.ts';
import type { Vm } from '../../lab/qemu.ts';
import { sampleAppResponse } from '../../lab/sample-os.ts';

const run = (await labAvailable()) && existsSync('/usr/bin/qemu-system-x86_64') && existsSync('/usr/sbin/debootstrap') ? describe : describe.skip;

/** The nodes, one test each: SeaBIOS on SATA, OVMF on NVMe. */
const NODES = [
  { firmware: 'bios', mac: '52:54:00:de:b1:41', vm: 'debbtrfs', hostname: 'deb-btrfs', bus: 'sata', disk: '/dev/sda', part: '/dev/sda3' },
  { firmware: 'uefi', mac: '52:54:00:de:b1:42', vm: 'debbtrfsu', hostname: 'deb-btrfs-u', bus: 'nvme', disk: '/dev/nvme0n1', part: '/dev/nvme0n1p3' },
] as const;
const NODE_TIMEOUT = 1_500_000;

interface BtrfsHost {
  btrfs?: Array<{ uuid: string; devices: string[]; subvolumes: Array<{ path: string }>; defaultId: number; mounts: Array<{ mountpoint: string; subvolume: string; options: string }> }>;
  filesystems: Array<{ mountpoint: string; type: string; source: string }>;
}

run('debian on btrfs subvolumes: captured over ssh, restored onto a BIOS VM with @ and @home made again', () => {
  let d: DebianDeployLab;
  let work: string;
  const t0 = Date.now();
  const figures: Record<string, number | string | boolean> = {};

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'imgsrv-debian-btrfs-'));
    d = await startDebianDeployLab({ work, promptTimeout: 600, signing: true, nodeMemoryMiB: 1536, layout: 'btrfs', say: (s) => process.stderr.write(`${s}\n`) });
    const b = d.sample.build;
    Object.assign(figures, {
      sampleBuiltNow: d.sample.built, buildSeconds: b.seconds, provisionSeconds: b.provisionSeconds, sampleBootSeconds: d.sampleBootSeconds, captureSeconds: d.captureSeconds,
      imageRawMB: +(d.image.size / 1e6).toFixed(1), imageCompressedMB: +(d.image.compressedSize / 1e6).toFixed(1), setupSeconds: (Date.now() - t0) / 1000,
    });
    for (const n of NODES) await d.server.cli(['nodes', 'assign', n.mac, n.hostname]);
  }, 2_400_000);

  afterAll(async () => {
    figures.totalSeconds = (Date.now() - t0) / 1000;
    process.stderr.write(`debian-btrfs figures: ${JSON.stringify(figures)}\n`);
    await d?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('captures the btrfs with its subvolumes, their mounts and fstab options', async () => {
    const meta = JSON.parse(await d.server.cli(['images', 'show', `${DEBIAN_IMAGE}@1`, '--json'])) as { meta: { host: BtrfsHost } };
    const fs = meta.meta.host.btrfs;
    expect(fs?.map((b) => b.uuid)).toEqual([SAMPLE_BTRFS.uuid]);
    // the sample VM's disk is virtio
    expect(fs![0]!.devices).toEqual(['vda3']);
    expect(fs![0]!.subvolumes.map((s) => s.path).sort()).toEqual(['@', '@home']);
    expect(fs![0]!.defaultId).toBe(5);
    expect(fs![0]!.mounts.map((m) => [m.mountpoint, m.subvolume, m.options])).toEqual(SAMPLE_BTRFS.subvolumes.map((s) => [s.mount, s.name, s.options]));
  });

  for (const n of NODES) it(`restores it on ${n.firmware} (${n.bus}): @ and @home with a new UUID, grown, boots from @ to multi-user and reports done`, async () => {
    const { server, srv } = d;
    const start = Date.now();
    const f0 = (k: string) => `${n.firmware}.${k}`;
    const vm = await d.blankVm({ name: n.vm, firmware: n.firmware, mac: n.mac, diskSize: '4G', diskBus: n.bus, diskSerial: `imgsrv-${n.vm}` });
    const diagnose = async (err: unknown): Promise<never> => {
      const nodes = await server.cli(['nodes', 'ls', '--json']).catch(() => '?');
      const tail = (v: Vm) => v.serial.split('\n').slice(-60).join('\n');
      throw new Error(`${(err as Error).message}\n--- nodes: ${nodes}\n--- node:\n${tail(vm)}\n--- server:\n${server.log().split('\n').slice(-30).join('\n')}`);
    };
    const rebooted = await vm.waitFor(/imgsrv: rebooting into the restored system/, NODE_TIMEOUT).catch(diagnose);
    figures[f0('restoreSeconds')] = (Date.now() - start) / 1000;
    const login = await vm.waitFor(DEBIAN_LOGIN, NODE_TIMEOUT, (rebooted.index ?? 0) + rebooted[0].length).catch(diagnose);
    figures[f0('loginSeconds')] = (Date.now() - start) / 1000;
    expect(login[1]).toBe(n.hostname);
    const node = await waitForDone(d, n.mac, 600_000).catch(diagnose);
    figures[f0('doneSeconds')] = (Date.now() - start) / 1000;
    expect(node).toMatchObject({ hostname: n.hostname, phase: 'done', install: 'installed', error: null });
    expect(vm.serial).toContain(`image pieces kept on ${n.disk} (scratch area of`);
    expect(vm.serial).toContain(`scratch area given back: ${n.part} grown by`);
    const ip = node.ip!;
    expect(await srv.exec('curl', ['-sS', '--max-time', '20', `http://${ip}/`])).toMatch(sampleAppResponse(n.hostname));
    const out = await debianSsh(srv, d.key, ip, [
      'echo "cmdline=$(cat /proc/cmdline)"',
      'echo "mounts=$(findmnt -rn -o TARGET,SOURCE,FSTYPE,UUID,OPTIONS -t btrfs,vfat | sort | tr "\\n" ";")"',
      'echo "home=$(btrfs subvolume show /home | head -1)"',
      'echo "homename=$(btrfs subvolume show /home | sed -n "s/^[[:space:]]*Name:[[:space:]]*//p")"',
      'echo "rootname=$(btrfs subvolume show / | sed -n "s/^[[:space:]]*Name:[[:space:]]*//p")"',
      'echo "list=$(btrfs subvolume list / | sed "s/.* path //" | sort | tr "\\n" " ")"',
      'echo "size=$(btrfs filesystem show --raw / | sed -n "s/.*devid *1 size \\([0-9]*\\).*/\\1/p")"',
      `echo "part=$(lsblk -bno SIZE ${n.part})"`,
      'echo "fstab=$(grep -v "^#" /etc/fstab | tr -s " " | tr "\\n" ";")"',
      'echo "homefile=$(cat /home/operator/notes.txt)"',
      'echo "state=$(systemctl is-system-running)"',
      'echo "failed=$(systemctl --failed --no-legend --plain | cut -d" " -f1 | tr "\\n" " ")"',
    ].join('; '));
    const f = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    process.stderr.write(`debian-btrfs ${n.firmware} node facts: ${JSON.stringify(f)}\n`);
    const mounts = f.mounts!.split(';').filter(Boolean).map((l) => l.split(' '));
    const root = mounts.find(([t]) => t === '/')!;
    const home = mounts.find(([t]) => t === '/home')!;
    const newUuid = root[3]!;
    expect(newUuid).not.toBe(SAMPLE_BTRFS.uuid);
    expect(f.cmdline).toContain(`root=UUID=${newUuid}`);
    expect(f.cmdline).toContain('rootflags=subvol=@');
    expect(root.slice(0, 4)).toEqual(['/', `${n.part}[/@]`, 'btrfs', newUuid]);
    expect(home.slice(0, 4)).toEqual(['/home', `${n.part}[/@home]`, 'btrfs', newUuid]);
    // the sample's mount options: noatime and zstd compression on both
    for (const m of [root, home]) expect(m[4]).toMatch(/(^|,)noatime(,|$).*compress=zstd/);
    expect(mounts.find(([t]) => t === '/boot/efi')?.[2]).toBe('vfat');
    expect(f.homename).toBe('@home');
    expect(f.rootname).toBe('@');
    expect(f.list!.trim()).toBe('@ @home');
    // grown over the scratch area to the partition's end
    expect(Number(f.size)).toBe(Number(f.part));
    // the sample's fstab lines, with the new UUID
    for (const sv of SAMPLE_BTRFS.subvolumes) expect(f.fstab).toContain(`UUID=${newUuid} ${sv.mount} btrfs ${sv.options} 0 0`);
    expect(f.fstab).not.toContain(SAMPLE_BTRFS.uuid);
    expect(f.homefile).toBe('kept with the image');
    expect(`${f.state} ${f.failed}`.trim()).toBe('running');
  }, 2 * NODE_TIMEOUT);
});
