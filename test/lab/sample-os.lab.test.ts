/**
 * The compact sample OS, for real: built, put on an ext4 disk with its
 * constant UUID, booted by QEMU (TCG) from that disk through its own
 * initramfs, it gets an address from busybox udhcpd on the lab bridge, says
 * it is up on the console, and its application answers `hostname=sample`
 * over the lab network; a person can log in on the serial console. Then the
 * rsync daemon host serves the tree and the real `imgsrv capture rsync://…`
 * turns it into an image that unpacks to the same tree.
 */
import { appendFileSync, createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, diffManifests } from '../../images/manifest.ts';
import { unpackImage } from '../../images/unpack.ts';
import { Lab, labAvailable, sh, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { runCli, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';
import {
  buildSampleOs, makeSampleDisk, sampleAppResponse, startSampleOsHost, SAMPLE_APP_PORT, SAMPLE_ESP_UUID, SAMPLE_HOSTNAME, SAMPLE_MACHINE_ID, SAMPLE_ROOT_UUID, SAMPLE_UP_LINE,
  type SampleOs, type SampleOsHost,
} from '../../lab/sample-os.ts';

const run = (await labAvailable()) && existsSync('/usr/bin/qemu-system-x86_64') ? describe : describe.skip;

run('the compact sample OS', () => {
  let lab: Lab;
  let dhcp: LabHost;
  let os: SampleOs;
  let work: string;
  const vms: Vm[] = [];
  const stops: Array<() => Promise<void>> = [];
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    await sweepStaleLabs();
    work = mkdtempSync(join(tmpdir(), 'imgsrv-sample-os-'));
    const t0 = Date.now();
    os = await buildSampleOs(join(work, 'tree'));
    figures.buildSeconds = (Date.now() - t0) / 1000;
    figures.treeMiB = +(os.bytes / 2 ** 20).toFixed(1);
    lab = await Lab.create();
    // busybox udhcpd answers the VM on the bridge.
    dhcp = await lab.addHost('dhcp', '198.18.0.1/24');
    const conf = join(work, 'udhcpd.conf');
    writeFileSync(conf, ['start 198.18.0.100', 'end 198.18.0.150', 'interface eth0', `lease_file ${join(work, 'udhcpd.leases')}`, `pidfile ${join(work, 'udhcpd.pid')}`, 'option subnet 255.255.255.0', 'option router 198.18.0.1', 'option lease 600', ''].join('\n'));
    writeFileSync(join(work, 'udhcpd.leases'), '');
    dhcp.spawn('busybox', ['udhcpd', '-f', conf], { stdio: 'ignore' });
  }, 180_000);

  afterAll(async () => {
    process.stderr.write(`sample-os figures: ${JSON.stringify(figures)}\n`);
    for (const vm of vms) await vm.stop();
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await lab?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('has the files the restore must personalise, and no grub config', () => {
    const r = (p: string) => readFileSync(join(os.root, p), 'utf8');
    expect(r('etc/hostname')).toBe(`${SAMPLE_HOSTNAME}\n`);
    expect(r('etc/hosts')).toMatch(/^127\.0\.1\.1\s+sample$/m);
    expect(r('etc/machine-id')).toBe(`${SAMPLE_MACHINE_ID}\n`);
    expect(r('etc/fstab')).toMatch(new RegExp(`^UUID=${SAMPLE_ROOT_UUID} / ext4 defaults 0 1$`, 'm'));
    expect(r('etc/udev/rules.d/70-persistent-net.rules')).toMatch(/ATTR\{address\}=="52:54:00:5a:3b:01"/);
    expect(existsSync(join(os.root, 'boot/grub'))).toBe(false);
    for (const d of ['boot/efi', 'srv/www', 'tmp', 'proc', 'sys', 'dev', 'root', 'var']) expect(existsSync(join(os.root, d)), d).toBe(true);
    expect(os.bytes).toBeLessThan(20 * 2 ** 20);
  });

  it('ssh host key pair matches (ssh-keygen -y)', async () => {
    const pub = await sh('ssh-keygen', ['-y', '-f', join(os.root, 'etc/ssh/ssh_host_ed25519_key')]);
    const key = (s: string) => s.trim().split(' ').slice(0, 2).join(' ');
    expect(key(readFileSync(join(os.root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8'))).toBe(key(pub));
  });

  it('boots from a disk laid out as a restore does, through its own initramfs; gets an address; its application answers', async () => {
    // The restore's default layout (GPT: bios_grub, ESP, root) with /boot/efi in fstab, as a restored machine has it.
    const tree = join(work, 'tree-gpt');
    await sh('cp', ['-a', `${os.root}/.`, tree]);
    appendFileSync(join(tree, 'etc/fstab'), `UUID=${SAMPLE_ESP_UUID} /boot/efi vfat umask=0077 0 1\n`);
    const disk = join(work, 'disk.raw');
    const { rootDevice } = await makeSampleDisk(tree, disk, { layout: 'gpt' });
    expect(rootDevice).toBe('/dev/vda3');
    const offset = (await sh('sfdisk', ['-d', disk])).match(/raw3 : start=\s*(\d+)/)?.[1];
    expect((await sh('blkid', ['-p', '-O', String(Number(offset) * 512), '-o', 'value', '-s', 'UUID', disk])).trim()).toBe(SAMPLE_ROOT_UUID);

    const t0 = Date.now();
    const vm = await startVm(lab, {
      name: 'sos',
      firmware: 'bios',
      mac: '52:54:00:5a:3b:77',
      memoryMiB: 256,
      kernel: os.kernel,
      initrd: os.initrd,
      append: `root=UUID=${SAMPLE_ROOT_UUID} ro console=ttyS0`,
      disk,
      serialLog: join(work, 'serial.log'),
    });
    vms.push(vm);
    const up = await vm.waitFor(SAMPLE_UP_LINE, 180_000);
    figures.bootSeconds = (Date.now() - t0) / 1000;
    expect(up[1]).toBe(SAMPLE_HOSTNAME);
    const ip = up[2]!;
    expect(ip).toMatch(/^198\.18\.0\.(1[0-4]\d|150)$/);
    expect(vm.serial).toMatch(/sample-initrd: root UUID=\S+ is \/dev\/vda3, switching to it/);

    const body = await dhcp.exec('curl', ['-sS', '--max-time', '20', `http://${ip}:${SAMPLE_APP_PORT}/`]);
    expect(body).toMatch(sampleAppResponse(SAMPLE_HOSTNAME));

    // A person logs in on the serial console (root, no password) and finds the root mounted read-write.
    await vm.waitFor(/login: /, 60_000);
    const from = vm.serial.length;
    vm.write('root\n');
    await vm.waitFor(/sample:~# /, 30_000, from);
    const mark = vm.serial.length;
    // rcS loaded vfat through busybox modprobe and mounted the ESP from fstab.
    vm.write('touch /rw-ok && echo "rw=$(ls /rw-ok) host=$(hostname) efi=$(grep -c \' /boot/efi vfat \' /proc/mounts)"\n');
    await vm.waitFor(/rw=\/rw-ok host=sample efi=1/, 30_000, mark);
    // inittab's shutdown entries run and the machine powers off.
    vm.write('poweroff\n');
    expect(await vm.waitExit(60_000)).toBe(0);
  }, 300_000);

  it('says why on the console and opens a shell when its root does not appear', async () => {
    const vm = await startVm(lab, {
      name: 'sosbad',
      firmware: 'bios',
      mac: '52:54:00:5a:3b:78',
      memoryMiB: 256,
      kernel: os.kernel,
      initrd: os.initrd,
      append: 'root=UUID=00000000-0000-4000-8000-000000000000 rootwait=2 console=ttyS0',
    });
    vms.push(vm);
    await vm.waitFor(/sample-initrd: ERROR: root UUID=00000000-0000-4000-8000-000000000000 did not appear within 2s/, 120_000);
    await vm.waitFor(/dropping to a shell/, 10_000);
    const from = vm.serial.length;
    vm.write('echo shell-$((6 * 7))\n');
    await vm.waitFor(/shell-42/, 30_000, from);
  }, 180_000);

  describe('served by an rsync daemon', () => {
    let sample: SampleOsHost;
    let srv: LabHost;
    let server: LabServer;

    beforeAll(async () => {
      sample = await startSampleOsHost(lab, os.root, { cidr: '198.18.0.20/24' });
      stops.push(() => sample.stop());
      srv = await lab.addHost('srv', '198.18.0.2/24');
      server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'off', '--http-port', '8080']);
      stops.push(async () => {
        await server.stop();
        rmSync(server.data, { recursive: true, force: true });
      });
    }, 120_000);

    it('lists the tree', async () => {
      const list = await srv.exec('rsync', ['--list-only', `${sample.rsyncUrl}/`]);
      for (const name of ['boot', 'etc', 'sbin', 'srv']) expect(list).toMatch(new RegExp(` ${name}$`, 'm'));
    });

    it('is captured by `imgsrv capture rsync://…` into an image that unpacks to the same tree', async () => {
      const t0 = Date.now();
      const r = await runCli(srv, server.data, ['capture', sample.rsyncUrl, '--name', 'sample', '--json']);
      expect(r.code, r.stderr + server.log().slice(-3000)).toBe(0);
      figures.captureSeconds = (Date.now() - t0) / 1000;
      expect(JSON.parse(r.stdout)).toMatchObject({ state: 'done', version: 1 });
      // No probe over an rsync daemon: unknown facts, so the restore uses the default layout and finds the kernel in /boot.
      const show = await runCli(srv, server.data, ['images', 'show', 'sample@1', '--json']);
      expect(JSON.parse(show.stdout)).toMatchObject({ meta: { sourceHost: sample.rsyncUrl, host: { partitionTable: 'unknown' } } });

      const unpacked = mkdtempSync(join(work, 'unpacked-'));
      await unpackImage({ input: createReadStream(join(server.data, 'images', 'sample', '1', 'image.tar.zst')), target: unpacked });
      const diff = diffManifests(await buildManifest(os.root), await buildManifest(unpacked)).filter((d) => !/^[^:]+: sparse [^:]*$/.test(d));
      expect(diff, diff.slice(0, 20).join('\n')).toEqual([]);
    }, 300_000);
  });
});
