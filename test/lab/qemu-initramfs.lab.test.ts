// The netboot environment on real (emulated) machines: build kernel + initramfs
// from Debian's packages (cached, see server/netboot-env/cached-build.ts)
// with a stand-in client (server/netboot-env/testdata/lab-client.ts), boot
// QEMU VMs under SeaBIOS and OVMF on the lab bridge, get a lease from dnsmasq,
// check that /init reports to an HTTP server, then starts Node and the client
// on the console. PXE boots through dnsmasq and the 20 s lease test are in
// qemu-initramfs-pxe.heavy.test.ts. Needs root, network namespaces,
// qemu-system-x86, ovmf, dnsmasq-base.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CachedNetboot } from '../../server/netboot-env/cached-build.ts';
import { Lab, labAvailable, sweepStaleLabs } from '../../lab/netns.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';
import { BASE, ipInRange, labBuild, logDir, MEM, SERVER_IP, startDnsmasq, startReportServer, TOKEN, waitForReport, type Report } from '../../lab/netboot-env.ts';

const canRun = await labAvailable();

describe.skipIf(!canRun)('netboot environment in QEMU', () => {
  let tmp: string;
  let build: CachedNetboot;
  let lab: Lab;
  let server: ReturnType<typeof startReportServer>;
  const vms: Vm[] = [];

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = await mkdtemp(join(tmpdir(), 'imgsrv-qemu-lab-'));
    build = await labBuild();
    lab = await Lab.create();
    const srv = await lab.addHost('srv', `${SERVER_IP}/24`);
    server = startReportServer(srv, tmp);
    await server.ready;
    startDnsmasq(srv, tmp);
  });

  afterAll(async () => {
    await Promise.all(vms.map((v) => v.stop()));
    await lab?.destroy();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('builds from the real Debian kernel, small enough to PXE-boot (reproducibility: initramfs.lab.test.ts)', () => {
    expect(build.initrdBytes).toBeLessThan(80 << 20);
    expect(build.largest[0]?.path).toBe('/usr/bin/node');
  });

  for (const firmware of ['bios', 'uefi'] as const) {
    it(`boots with ${firmware === 'bios' ? 'SeaBIOS' : 'OVMF'} (direct kernel boot), gets a lease and reports${firmware === 'bios' ? ', then runs the client' : ''}`, async () => {
      const mac = firmware === 'bios' ? '52:54:00:18:00:11' : '52:54:00:18:00:12';
      // The BIOS VM goes on to run the client (which reports every 5 s); the UEFI one powers off after its report.
      const poweroff = firmware === 'uefi';
      const t0 = Date.now();
      const vm = await startVm(lab, {
        name: `direct${firmware}`,
        firmware,
        mac,
        kernel: build.kernel,
        initrd: build.initrd,
        append: `console=ttyS0 imgsrv.server=${BASE} imgsrv.token=${TOKEN} imgsrv.mac=${mac}${poweroff ? ' imgsrv.poweroff=1' : ' imgsrv.labclient=heartbeat'}`,
        serialLog: join(logDir(tmp), `direct-${firmware}.log`),
        memoryMiB: MEM,
      });
      vms.push(vm);
      const report = await waitForReport(server.reports, mac, 240_000);
      console.log(`${firmware} direct boot: start to report ${report.t - t0} ms`);
      expect(report.authorized).toBe(true);
      expect(report.contentType).toBe('application/json');
      expect(report.body).toMatchObject({ mac, firmware, arch: 'x86_64', kernel: build.kernelVersion, phase: 'booted' });
      expect(ipInRange(report.body?.ip ?? '')).toBe(true);
      await vm.waitFor(/imgsrv: .*reported to/, 10_000);
      // Storage and file-system drivers are all loaded (xfs needs crc32c, a soft dependency, first).
      const drivers = ` ${/imgsrv: \S+ drivers: ([^\n]*)/.exec(vm.serial)?.[1] ?? ''} `;
      for (const m of ['virtio_blk', 'ahci', 'nvme', 'ext4', 'xfs', 'vfat', 'crc32c_generic']) expect(drivers).toContain(` ${m} `);
      expect(vm.serial).not.toMatch(/efivarfs: mount failed/);
      if (poweroff) {
        expect(await vm.waitExit(30_000)).toBe(0); // imgsrv.poweroff=1 with -no-reboot
        return;
      }
      // /init hands over to the client: its first line shows the environment contract and a console tty.
      const ip = report.body?.ip ?? '';
      const started = await vm.waitFor(/lab-client: started [^\n]*tty (true|false)/, 120_000);
      console.log(`bios: start to client ${Date.now() - t0} ms: ${started[0]}`);
      expect(started[0]).toContain(`iface eth0 ip ${ip} mac ${mac} firmware bios server ${BASE} tty true`);
      const fromClient = (): Report[] => server.reports.filter((r) => r.body?.mac === mac && r.body.phase === 'client');
      const end = Date.now() + 60_000;
      while (fromClient().length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 500));
      const [first, second] = fromClient();
      expect(first?.body?.ip).toBe(ip);
      expect(second?.body?.ip).toBe(ip);
      expect(first?.authorized).toBe(true);
      // init's own heartbeat stopped when the client started.
      expect(server.reports.filter((r) => r.body?.mac === mac && r.body.phase === 'booted')).toHaveLength(1);
      await vm.stop();
    });
  }

  it('imgsrv.selftest: runs Node on the console, loads koffi, calls libc, powers off', async () => {
    const mac = '52:54:00:18:00:41';
    const vm = await startVm(lab, {
      name: 'selftest',
      firmware: 'bios',
      mac,
      kernel: build.kernel,
      initrd: build.initrd,
      append: `console=ttyS0 imgsrv.server=${BASE} imgsrv.token=${TOKEN} imgsrv.selftest=1`,
      serialLog: join(logDir(tmp), 'selftest.log'),
      memoryMiB: MEM,
    });
    vms.push(vm);
    const m = await vm.waitFor(/imgsrv-selftest: node (v\S+) koffi (\S+) getpid (\d+) pid (\d+)/, 240_000);
    expect(m[1]).toBe('v24.11.1');
    expect(m[3]).toBe(m[4]); // koffi's getpid() is node's own pid
    await vm.waitFor(/imgsrv.selftest: node exited 0/, 10_000);
    expect(await vm.waitExit(30_000)).toBe(0);
  });

  it('the client prompts on the serial console; its failure (exit 3) leaves a shell there, no reboot', async () => {
    const mac = '52:54:00:18:00:42';
    const vm = await startVm(lab, {
      name: 'prompt',
      firmware: 'bios',
      mac,
      kernel: build.kernel,
      initrd: build.initrd,
      append: `console=ttyS0 imgsrv.server=${BASE} imgsrv.token=${TOKEN} imgsrv.labclient=prompt`,
      serialLog: join(logDir(tmp), 'prompt.log'),
      memoryMiB: MEM,
    });
    vms.push(vm);
    await vm.waitFor(/lab-client: hostname\? /, 240_000);
    vm.write('node-7\n');
    await vm.waitFor(/lab-client: got "node-7"/, 30_000);
    await vm.waitFor(/client FAILED with exit code 3; starting a shell/, 30_000);
    const from = vm.serial.length;
    await new Promise((r) => setTimeout(r, 1000));
    vm.write('echo shell-says-$((6 * 7))\n');
    await vm.waitFor(/shell-says-42/, 30_000, from);
    await vm.stop();
  });

  it('retries a refused report, then opens a console shell with imgsrv.debug (serial is writable)', async () => {
    const mac = '52:54:00:18:00:31';
    const vm = await startVm(lab, {
      name: 'debug',
      firmware: 'bios',
      mac,
      kernel: build.kernel,
      initrd: build.initrd,
      append: `console=ttyS0 imgsrv.server=${BASE} imgsrv.token=wrong-token imgsrv.debug=1`,
      serialLog: join(logDir(tmp), 'debug.log'),
      memoryMiB: MEM,
    });
    vms.push(vm);
    await vm.waitFor(/imgsrv: .*report failed .*401/, 120_000);
    await vm.waitFor(/imgsrv: .*starting a shell/, 60_000);
    const from = vm.serial.length;
    await new Promise((r) => setTimeout(r, 1000)); // let the shell reach its prompt
    vm.write('echo shell-says-$((6 * 7))\n');
    await vm.waitFor(/shell-says-42/, 30_000, from);
    expect(server.reports.filter((r) => r.body?.mac === mac).every((r) => !r.authorized)).toBe(true);
    await vm.stop();
  });
});
