/**
 * The mission end to end, with nothing simulated: a compact real OS with a
 * web application is captured from its rsync daemon by `imgsrv capture`;
 * two blank QEMU VMs — SeaBIOS+iPXE and OVMF — network-boot from `imgsrv
 * serve`, get the image over BitTorrent from the server and each other,
 * restore it onto their own virtio disks, and reboot. One is asked its
 * hostname on the serial console and answered there; the other has a
 * pre-assigned hostname and is never asked. After the reboot the firmware
 * tries the network first (the server sends installed nodes to their
 * disk), each boots its restored system with its own boot loader, takes
 * its hostname, and its application answers over the lab network. Image
 * signing is configured: the server signs what it publishes, the nodes'
 * netboot environment trusts its key and they check the signature first.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labAvailable } from '../../lab/netns.ts';
import { startDeployLab, type DeployLab } from '../../lab/deploy-lab.ts';
import type { Vm } from '../../lab/qemu.ts';
import { sampleAppResponse, SAMPLE_APP_PORT, SAMPLE_MACHINE_ID, SAMPLE_ROOT_UUID, SAMPLE_UP_LINE } from '../../lab/sample-os.ts';

const run = (await labAvailable()) && (await import('node:fs')).existsSync('/usr/bin/qemu-system-x86_64') ? describe : describe.skip;

const BIOS_MAC = '52:54:00:de:b1:01';
const UEFI_MAC = '52:54:00:de:ef:02';
const DEPLOY_TIMEOUT = 900_000;

interface NodeJson {
  mac: string;
  ip: string | null;
  hostname: string | null;
  phase: string;
  install: string;
  installedImage: string | null;
  error: string | null;
}

run('deploy: blank VMs restore a captured OS and reboot into it', () => {
  let d: DeployLab;
  let work: string;
  const figures: Record<string, number> = {};

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'imgsrv-deploy-'));
    // A long prompt timeout: the test answers it.
    d = await startDeployLab({ work, promptTimeout: 600, signing: true });
    figures.captureSeconds = d.captureSeconds;
    await d.server.cli(['nodes', 'assign', UEFI_MAC, 'web-b']);
    // Each node has a decoy disk the ranking alone would not skip (or would pick): the hint chooses.
    await d.server.cli(['nodes', 'set', BIOS_MAC, '--disk', 'serial=imgsrv-sata-a']);
    await d.server.cli(['nodes', 'set', UEFI_MAC, '--disk', 'model=*NVMe*,rotational=0']);
  }, 600_000);

  afterAll(async () => {
    process.stderr.write(`deploy figures: ${JSON.stringify(figures)}\n`);
    await d?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('restores both, asks only the unassigned one its hostname, and each reboots into a working system', async () => {
    const { server, srv, os: tree } = d;
    const t0 = Date.now();
    // SATA (AHCI) under SeaBIOS beside an NVMe decoy; NVMe under OVMF beside a virtio decoy.
    const decoys = [join(work, 'decoy-nvme.raw'), join(work, 'decoy-virtio.raw')];
    for (const f of decoys) writeFileSync(f, Buffer.alloc(0)), truncateSync(f, 64 << 20);
    const bios = await d.blankVm({ name: 'dbios', firmware: 'bios', mac: BIOS_MAC, diskBus: 'sata', diskSerial: 'imgsrv-sata-a', extraDisks: [{ file: decoys[0]!, bus: 'nvme', serial: 'decoy-nvme-a' }] });
    const uefi = await d.blankVm({ name: 'duefi', firmware: 'uefi', mac: UEFI_MAC, diskBus: 'nvme', diskSerial: 'imgsrv-nvme-b', extraDisks: [{ file: decoys[1]!, bus: 'virtio', serial: 'decoy-virtio-b' }] });
    const diagnose = async (err: unknown): Promise<never> => {
      const nodes = await server.cli(['nodes', 'ls', '--json']).catch(() => '?');
      const tail = (v: Vm) => v.serial.split('\n').slice(-40).join('\n');
      throw new Error(`${(err as Error).message}\n--- nodes: ${nodes}\n--- bios:\n${tail(bios)}\n--- uefi:\n${tail(uefi)}\n--- server:\n${server.log().split('\n').slice(-30).join('\n')}`);
    };

    // The BIOS node has no assignment: it asks, with the server's suggestion as the default.
    const asked = await bios.waitFor(/Hostname for this node \[(node-\d+)\]/, DEPLOY_TIMEOUT).catch(diagnose);
    figures.promptSeconds = (Date.now() - t0) / 1000;
    bios.write('web-a\n');

    const ups = await Promise.all(
      [
        [bios, 'web-a'],
        [uefi, 'web-b'],
      ].map(async ([vm, name]) => {
        const v = vm as Vm;
        const m = await v.waitFor(SAMPLE_UP_LINE, DEPLOY_TIMEOUT).catch(diagnose);
        figures[`${name}Seconds`] = (Date.now() - t0) / 1000;
        return { vm: v, name: name as string, hostname: m[1]!, ip: m[2]! };
      }),
    );
    for (const u of ups) {
      expect(u.hostname).toBe(u.name);
      // It checked the image's signature, went through the restore, rebooted, and the server sent it to its disk.
      expect(u.vm.serial).toContain(`imgsrv: image signed by key ${d.signingKeyId}`);
      expect(u.vm.serial).toMatch(/imgsrv: rebooting into the restored system/);
      expect(u.vm.serial).toMatch(/imgsrv: booting from local disk/);
      expect(u.vm.serial).toMatch(u.vm === bios ? /imgsrv: target disk \/dev\/sda: \S+ GB sata/ : /imgsrv: target disk \/dev\/nvme0n1: \S+ GB nvme QEMU NVMe Ctrl/);
      const body = await srv.exec('curl', ['-sS', '--max-time', '20', `http://${u.ip}:${SAMPLE_APP_PORT}/`]);
      expect(body).toMatch(sampleAppResponse(u.name));
    }
    // The assigned node was never asked.
    expect(uefi.serial).not.toMatch(/Hostname for this node/);
    expect(asked[1]).toMatch(/^node-\d+$/);

    // On the restored system itself (root logs in on the serial console): a new identity, not the sample's.
    await bios.waitFor(/login: /, 120_000);
    const at = bios.serial.length;
    bios.write('root\n');
    // ash's prompt is followed by a cursor-position query (ESC[6n), so no end anchor.
    await bios.waitFor(/web-a:~# /, 60_000, at);
    const mark = bios.serial.length;
    bios.write(
      'echo "ID mid=$(cat /etc/machine-id) key=$(cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub) udev=$(ls /etc/udev/rules.d | wc -l) ' +
        'root=$(awk \'$2=="/"{print $1}\' /etc/fstab) esp=$(awk \'$2=="/boot/efi"{print $1}\' /etc/fstab) hosts=$(grep -c "127.0.1.1.*web-a" /etc/hosts) ' +
        'reporter=$(ls /usr/local/lib/imgsrv 2>/dev/null | wc -l)$(grep -c report-up /etc/inittab) DI"\n',
    );
    const id = await bios.waitFor(/ID mid=(\S*) key=(\S*) udev=(\d+) root=(\S*) esp=(\S*) hosts=(\d+) reporter=(\d+) DI/, 60_000, mark);
    // The first-boot reporter said "up" and removed itself: no script, no inittab line.
    expect(id[7]).toBe('00');
    const sampleKey = readFileSync(join(tree.root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').split(' ')[1];
    expect(id[1]).toMatch(/^[0-9a-f]{32}$/);
    expect(id[1]).not.toBe(SAMPLE_MACHINE_ID);
    expect(id[2]).toMatch(/^AAAA/);
    expect(id[2]).not.toBe(sampleKey);
    expect(id[3]).toBe('0');
    expect(id[4]).toMatch(/^UUID=[0-9a-f-]{36}$/);
    expect(id[4]).not.toBe(`UUID=${SAMPLE_ROOT_UUID}`);
    expect(id[5]).toMatch(/^UUID=[0-9A-F]{4}-[0-9A-F]{4}$/);
    expect(id[6]).toBe('1');

    // The decoys were never written: every byte is still zero.
    for (const f of decoys) expect(readFileSync(f).every((b) => b === 0), f).toBe(true);

    // "done" is the restored system's own word, after its reboot: the netboot environment said "rebooting".
    for (const u of ups) expect(u.vm.serial).toMatch(/imgsrv: reported to the server: this machine is up/);
    const nodes = JSON.parse(await server.cli(['nodes', 'ls', '--json'])) as NodeJson[];
    const byMac = Object.fromEntries(nodes.map((n) => [n.mac, n]));
    expect(byMac[BIOS_MAC]).toMatchObject({ hostname: 'web-a', phase: 'done', install: 'installed', installedImage: 'sample@1', error: null });
    expect(byMac[UEFI_MAC]).toMatchObject({ hostname: 'web-b', phase: 'done', install: 'installed', installedImage: 'sample@1', error: null });
    const admin = readFileSync(join(server.data, 'admin.token'), 'utf8').trim();
    const events = JSON.parse(
      await srv.exec('curl', ['-sSf', '--max-time', '10', '-H', `authorization: Bearer ${admin}`, `http://198.18.0.1:8080/api/v1/events?mac=${BIOS_MAC}&limit=500`]),
    ) as Array<{ kind: string; message: string }>;
    const kinds = events.map((e) => e.kind);
    expect(kinds.indexOf('node.rebooting')).toBeGreaterThan(-1);
    expect(kinds.lastIndexOf('node.done')).toBeGreaterThan(kinds.indexOf('node.rebooting'));
  }, DEPLOY_TIMEOUT + 120_000);
});
