/**
 * A real OS end to end (issue 23). A Debian 12 host made with debootstrap
 * (kernel, systemd, udev, sshd, grub for BIOS and UEFI, an HTTP application
 * started at boot; lab/debian-sample.ts) on a GPT disk with separate file
 * systems (bios_grub, ESP on /boot/efi, ext4 /boot, ext4 /, XFS /var, XFS
 * /home) boots in a QEMU VM through its own grub, with a static address
 * pinned to its MAC in systemd-networkd. `imgsrv capture root@IP` takes it
 * over ssh with its host facts (the probe's partitions, file systems, boot
 * mode, interfaces). Two blank VMs, SeaBIOS+iPXE on SATA and OVMF on NVMe,
 * network-boot from `imgsrv serve`, restore it in parallel through the
 * sample's own layout and the image's own grub-install/update-grub, and
 * reboot into it. Each must reach multi-user with its own name at the
 * serial login prompt, answer ssh with NEW host keys, answer with its
 * application, mount every file system of the layout by its new UUID (/home,
 * the partition that grows, grown to the node's disk once the scratch area is
 * given back), and report "up" itself: the restore's one-shot systemd unit
 * runs once, posts `done` and removes itself. The BIOS node runs DHCP instead
 * of the sample's address; the UEFI node has the static address the operator
 * gave it (`imgsrv nodes set MAC --address`), in networkd's own format.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debianSsh, DEBIAN_IMAGE, DEBIAN_LOGIN, hostKeyFingerprints, startDebianDeployLab, type DebianDeployLab } from '../../lab/debian-lab.ts';
import { DEBIAN_SAMPLE_CIDR, SAMPLE_LAYOUT } from '../../lab/debian-sample.ts';
import { labAvailable } from '../../lab/netns.ts';
import type { Vm } from '../../lab/qemu.ts';
import { sampleAppResponse } from '../../lab/sample-os.ts';

const run = (await labAvailable()) && existsSync('/usr/bin/qemu-system-x86_64') && existsSync('/usr/sbin/debootstrap') ? describe : describe.skip;

const BIOS_MAC = '52:54:00:de:b1:21';
const UEFI_MAC = '52:54:00:de:ef:22';
/** The UEFI node's own static address (outside the lab's DHCP range, .100-.199). */
const UEFI_STATIC = '198.18.0.77';
/** Per node: netboot, download and restore (~520 MB), reboot, Debian's boot to multi-user (a bound for a machine shared with other VMs). */
const NODE_TIMEOUT = 1_800_000;

interface NodeJson {
  mac: string;
  ip: string | null;
  hostname: string | null;
  phase: string;
  install: string;
  installedImage: string | null;
  error: string | null;
}

run('debian: a debootstrapped Debian 12 captured over ssh, restored onto BIOS and UEFI VMs', () => {
  let d: DebianDeployLab;
  let work: string;
  const t0 = Date.now();
  const figures: Record<string, number | string | boolean> = {};

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'imgsrv-debian-'));
    // Long prompt timeout (the test answers it); the netboot environment keeps the image in RAM.
    d = await startDebianDeployLab({ work, promptTimeout: 600, signing: true, nodeMemoryMiB: 1536 });
    const b = d.sample.build;
    Object.assign(figures, {
      sampleBuiltNow: d.sample.built, buildSeconds: b.seconds, debootstrapSeconds: b.debootstrapSeconds, packagesSeconds: b.packagesSeconds,
      provisionSeconds: b.provisionSeconds, installedMB: +(b.installedBytes / 1e6).toFixed(1), installedFiles: b.files,
      sampleDiskAllocatedMB: +(b.diskAllocatedBytes / 1e6).toFixed(1), sampleBootSeconds: d.sampleBootSeconds, captureSeconds: d.captureSeconds,
      imageRawMB: +(d.image.size / 1e6).toFixed(1), imageCompressedMB: +(d.image.compressedSize / 1e6).toFixed(1), setupSeconds: (Date.now() - t0) / 1000,
    });
    await d.server.cli(['nodes', 'assign', UEFI_MAC, 'deb-b']);
    await d.server.cli(['nodes', 'set', UEFI_MAC, '--address', `${UEFI_STATIC}/24`, '--gateway', '198.18.0.1']);
  }, 2_400_000);

  afterAll(async () => {
    figures.totalSeconds = (Date.now() - t0) / 1000;
    process.stderr.write(`debian figures: ${JSON.stringify(figures)}\n`);
    await d?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('captures the running sample over ssh with its facts', async () => {
    const meta = JSON.parse(await d.server.cli(['images', 'show', `${DEBIAN_IMAGE}@1`, '--json'])) as {
      meta: { sourceHost: string; host: { bootMode: string; bootloader: string; partitionTable: string; filesystems: Array<{ mountpoint: string; type: string }>; interfaces: Array<{ mac: string }>; os?: { id?: string } } };
    };
    const host = meta.meta.host;
    expect(meta.meta.sourceHost).toBe(`root@${d.sampleAddress}`);
    expect(host).toMatchObject({ bootMode: 'bios', bootloader: 'grub', partitionTable: 'gpt' });
    expect(host.filesystems.map((f) => `${f.mountpoint}:${f.type}`).sort()).toEqual(['/:ext4', '/boot/efi:vfat', '/boot:ext4', '/home:xfs', '/var:xfs']);
    expect(host.interfaces.map((i) => i.mac)).toContain('52:54:00:5a:de:05');
    expect(host.os?.id).toBe('debian');
  });

  it('restores both in parallel; each boots to multi-user with its name, its layout, new host keys, its app, its address, and reports done itself', async () => {
    const { server, srv } = d;
    const start = Date.now();
    const [bios, uefi] = await Promise.all([
      d.blankVm({ name: 'debbios', firmware: 'bios', mac: BIOS_MAC, diskSize: '3G', diskBus: 'sata', diskSerial: 'imgsrv-deb-a' }),
      d.blankVm({ name: 'debuefi', firmware: 'uefi', mac: UEFI_MAC, diskSize: '3G', diskBus: 'nvme', diskSerial: 'imgsrv-deb-b' }),
    ]);
    const diagnose = async (err: unknown): Promise<never> => {
      const nodes = await server.cli(['nodes', 'ls', '--json']).catch(() => '?');
      const tail = (v: Vm) => v.serial.split('\n').slice(-50).join('\n');
      throw new Error(`${(err as Error).message}\n--- nodes: ${nodes}\n--- bios:\n${tail(bios)}\n--- uefi:\n${tail(uefi)}\n--- server:\n${server.log().split('\n').slice(-30).join('\n')}`);
    };

    // The BIOS node has no assignment: it asks on its console.
    await bios.waitFor(/Hostname for this node \[(node-\d+)\]/, NODE_TIMEOUT).catch(diagnose);
    bios.write('deb-a\n');

    const nodes = await Promise.all(
      ([[bios, 'deb-a', BIOS_MAC, 'bios'], [uefi, 'deb-b', UEFI_MAC, 'uefi']] as const).map(async ([vm, name, mac, firmware]) => {
        const rebooted = await vm.waitFor(/imgsrv: rebooting into the restored system/, NODE_TIMEOUT).catch(diagnose);
        figures[`${name}RestoreSeconds`] = (Date.now() - start) / 1000;
        // multi-user: getty's prompt with the node's own name on the serial console
        const login = await vm.waitFor(DEBIAN_LOGIN, NODE_TIMEOUT, (rebooted.index ?? 0) + rebooted[0].length).catch(diagnose);
        figures[`${name}LoginSeconds`] = (Date.now() - start) / 1000;
        expect(login[1]).toBe(name);
        const node = await waitForPhase(d, mac, 'done', 600_000).catch(diagnose);
        figures[`${name}DoneSeconds`] = (Date.now() - start) / 1000;
        return { vm, name, mac, firmware, node };
      }),
    );

    for (const { name, firmware, node } of nodes) {
      expect(node).toMatchObject({ hostname: name, phase: 'done', install: 'installed', installedImage: `${DEBIAN_IMAGE}@1`, error: null });
      const ip = node.ip!;
      // BIOS: an address from the DHCP range; UEFI: the static one it was given.
      if (firmware === 'bios') expect(ip).toMatch(/^198\.18\.0\.1\d\d$/);
      else expect(ip).toBe(UEFI_STATIC);
      // New ssh host keys: none of the sample's.
      const keys = await hostKeyFingerprints(srv, ip);
      expect(Object.keys(keys).sort()).toEqual(Object.keys(d.sample.build.hostKeys).sort());
      for (const [type, fp] of Object.entries(keys)) expect(fp, `${name} ${type}`).not.toBe(d.sample.build.hostKeys[type]);
      // The application, started at boot, with the node's own name.
      expect(await srv.exec('curl', ['-sS', '--max-time', '20', `http://${ip}/`])).toMatch(sampleAppResponse(name));

      const facts = parseFacts(
        await debianSsh(srv, d.key, ip, [
          'echo "hostname=$(hostname)"',
          'echo "mid=$(cat /etc/machine-id)"',
          'echo "cmdline=$(cat /proc/cmdline)"',
          'echo "rootuuid=$(findmnt -no UUID /)"',
          'echo "mounts=$(findmnt -rn -o TARGET,FSTYPE,UUID -t ext4,xfs,vfat | sort | tr "\\n" ";")"',
          'echo "home=$(df -B1 --output=size /home | tail -1 | tr -d " ") $(lsblk -bno SIZE $(findmnt -no SOURCE /home))"',
          'echo "homefile=$(cat /home/operator/notes.txt)"',
          'echo "esp=$(findmnt -no FSTYPE /boot/efi)"',
          'echo "efi=$(test -d /sys/firmware/efi && echo uefi || echo bios)"',
          'echo "network=$(ls /etc/systemd/network | tr "\\n" " ")"',
          'echo "addresses=$(ip -4 -o addr show scope global | tr -s " " | cut -d" " -f4 | tr "\\n" " ")"',
          'echo "dhcp=$(grep -c "^DHCP=yes" /etc/systemd/network/10-lan0.network)"',
          'echo "static=$(grep -c "^Address=\\|^Gateway=" /etc/systemd/network/10-lan0.network)"',
          'echo "unit=$(ls /etc/systemd/system/imgsrv-report-up.service /etc/systemd/system/multi-user.target.wants/imgsrv-report-up.service /usr/local/lib/imgsrv 2>/dev/null | wc -l)"',
          'echo "unitresult=$(systemctl show -p Result --value imgsrv-report-up.service)"',
          'echo "reported=$(journalctl -b -o cat -u imgsrv-report-up.service | grep -c "reported to the server")"',
          'echo "state=$(systemctl is-system-running)"',
          'echo "failed=$(systemctl --failed --no-legend --plain | cut -d" " -f1 | tr "\\n" " ")"',
        ].join('; ')),
      );
      expect(facts.hostname).toBe(name);
      expect(facts.mid).toMatch(/^[0-9a-f]{32}$/);
      expect(facts.mid).not.toBe(d.sample.build.machineId);
      expect(facts.rootuuid).toMatch(/^[0-9a-f-]{36}$/);
      // Every file system of the layout, each of its own type and with a new identity.
      const mounts = facts.mounts!.split(';').filter(Boolean).map((l) => l.split(' '));
      expect(mounts.map(([target, type]) => `${target}:${type}`)).toEqual(['/:ext4', '/boot:ext4', '/boot/efi:vfat', '/home:xfs', '/var:xfs']);
      for (const [target, , uuid] of mounts) {
        const sample = SAMPLE_LAYOUT.find((p) => p.fs?.mount === target)!.fs!;
        expect(uuid, `${name} ${target}`).toBeTruthy();
        expect(uuid!.toLowerCase(), `${name} ${target}`).not.toBe(sample.uuid.toLowerCase());
      }
      // /home grew to the node's partition: the scratch area at its end was given back.
      const [homeFs, homePart] = facts.home!.split(' ').map(Number);
      expect(homeFs! / homePart!, `${name}: /home ${facts.home}`).toBeGreaterThan(0.95);
      expect(facts.homefile).toBe('kept with the image');
      // The image's update-grub named the root by its new UUID, not by a device name that can move.
      expect(facts.cmdline).toContain(`root=UUID=${facts.rootuuid}`);
      expect(facts.cmdline).toContain('console=ttyS0');
      expect(facts.esp).toBe('vfat');
      expect(facts.efi).toBe(firmware);
      // The .link that renamed the sample's NIC by MAC is gone; its static .network became DHCP;
      // the node's own static address, when it has one, sorts first (networkd applies the first match).
      expect(facts.network).toBe(firmware === 'bios' ? '10-lan0.network ' : '05-imgsrv-static.network 10-lan0.network ');
      expect(facts.dhcp).toBe('1');
      expect(facts.static).toBe('0');
      expect(facts.addresses).toBe(`${ip}/24 `);
      // The reporter ran once on real systemd, said "up" and removed its unit, hook and script.
      expect(facts.unit).toBe('0');
      expect(facts.unitresult).toBe('success');
      expect(facts.reported).toBe('1');
      expect(`${facts.state} ${facts.failed}`.trim()).toBe('running');
    }
    // No clone kept the sample's static address (the sample itself is off).
    await expect(srv.exec('ping', ['-c', '2', '-W', '1', DEBIAN_SAMPLE_CIDR.split('/')[0]!])).rejects.toThrow();
    expect(bios.serial).toMatch(/imgsrv: target disk \/dev\/sda: \S+ GB sata/);
    expect(uefi.serial).toMatch(/imgsrv: target disk \/dev\/nvme0n1: \S+ GB nvme/);
  }, 2 * NODE_TIMEOUT);
});

/** Poll `imgsrv nodes ls --json` until the node is in `phase`. */
async function waitForPhase(d: DebianDeployLab, mac: string, phase: string, timeoutMs: number): Promise<NodeJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const node = (JSON.parse(await d.server.cli(['nodes', 'ls', '--json'])) as NodeJson[]).find((n) => n.mac === mac);
    if (node?.phase === phase) return node;
    if (Date.now() > deadline) throw new Error(`node ${mac} not ${phase} within ${timeoutMs} ms: ${JSON.stringify(node)}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function parseFacts(out: string): Record<string, string> {
  return Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}
