/**
 * The netboot environment PXE-booted the way a rack does it, with dnsmasq as
 * DHCP + TFTP server (SeaBIOS + iPXE ROM, OVMF, and OVMF's own PXE with
 * snponly.efi), and a node keeping its address through 20 s DHCP leases,
 * also after the DHCP server is gone. `npm run test:heavy`: the CI suite
 * boots the same environment directly (qemu-initramfs.lab.test.ts) and
 * PXE-boots it from imgsrv itself (netboot.lab.test.ts, deploy.lab.test.ts).
 */
import { createInterface } from 'node:readline';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, sweepStaleLabs } from '../../lab/netns.ts';
import { startVm, type Vm } from '../../lab/qemu.ts';
import { BASE, DHCP_RUNNER, ipInRange, labBuild, logDir, MEM, NODE, preparePxe, PXE_DNSMASQ_ARGS, SERVER_IP, startDnsmasq, startReportServer, TOKEN, waitForReport } from '../../lab/netboot-env.ts';

const canRun = await labAvailable();

describe.skipIf(!canRun)('netboot environment PXE-booted by dnsmasq', () => {
  let tmp: string;
  let lab: Lab;
  let server: ReturnType<typeof startReportServer>;
  const vms: Vm[] = [];

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = await mkdtemp(join(tmpdir(), 'imgsrv-qemu-pxe-'));
    const build = await labBuild();
    // Kernel and initrd come from the report server's static dir.
    await mkdir(join(tmp, 'a'), { recursive: true });
    await copyFile(build.kernel, join(tmp, 'a', 'vmlinuz'));
    await copyFile(build.initrd, join(tmp, 'a', 'initrd.img'));
    lab = await Lab.create();
    const srv = await lab.addHost('srv', `${SERVER_IP}/24`);
    server = startReportServer(srv, tmp);
    await server.ready;
    await preparePxe(tmp);
    startDnsmasq(srv, tmp, PXE_DNSMASQ_ARGS(join(tmp, 'tftp')));
  });

  afterAll(async () => {
    await Promise.all(vms.map((v) => v.stop()));
    await lab?.destroy();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  for (const firmware of ['bios', 'uefi'] as const) {
    it(`PXE-boots with ${firmware === 'bios' ? 'SeaBIOS + iPXE ROM' : 'OVMF'}: TFTP, iPXE script, kernel + initrd over HTTP`, async () => {
      const mac = firmware === 'bios' ? '52:54:00:18:00:21' : '52:54:00:18:00:22';
      const t0 = Date.now();
      const vm = await startVm(lab, { name: `pxe${firmware}`, firmware, mac, netboot: true, memoryMiB: MEM, serialLog: join(logDir(tmp), `pxe-${firmware}.log`) });
      vms.push(vm);
      const report = await waitForReport(server.reports, mac, 170_000);
      console.log(`${firmware} PXE boot: start to report ${report.t - t0} ms`);
      expect(report.body).toMatchObject({ mac, firmware, phase: 'booted' });
      expect(ipInRange(report.body?.ip ?? '')).toBe(true);
      expect(server.gets).toEqual(expect.arrayContaining(['/a/vmlinuz', '/a/initrd.img']));
      // BOOTIF from the iPXE script picked the NIC that booted.
      await vm.waitFor(new RegExp(`mac ${mac}`), 1_000);
      expect(await vm.waitExit(30_000)).toBe(0);
    });
  }

  it('PXE-boots with OVMF\'s own PXE (no NIC ROM): snponly.efi over TFTP, then the iPXE script', async () => {
    const mac = '52:54:00:18:00:23';
    const t0 = Date.now();
    const vm = await startVm(lab, { name: 'pxeovmf', firmware: 'uefi', mac, netboot: true, nicRom: '', memoryMiB: MEM, serialLog: join(logDir(tmp), 'pxe-ovmf.log') });
    vms.push(vm);
    const report = await waitForReport(server.reports, mac, 170_000);
    console.log(`OVMF native PXE + snponly.efi: start to report ${report.t - t0} ms`);
    expect(report.body).toMatchObject({ mac, firmware: 'uefi', phase: 'booted' });
    expect(await vm.waitExit(30_000)).toBe(0);
  });
});

describe.skipIf(!canRun)('netboot environment: DHCP leases of 20 s', () => {
  let tmp: string;
  let lab: Lab;
  let vm: Vm | undefined;

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = await mkdtemp(join(tmpdir(), 'imgsrv-qemu-lease-'));
    lab = await Lab.create();
  });
  afterAll(async () => {
    await vm?.stop();
    await lab?.destroy();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('keeps its address through renewals and after the DHCP server is gone past the lease end', async () => {
    const build = await labBuild();
    const srv = await lab.addHost('srv', `${SERVER_IP}/24`);
    const server = startReportServer(srv, tmp);
    await server.ready;
    // Our own DHCP server: dnsmasq won't hand out leases shorter than 2 minutes.
    const dhcp = srv.spawn(NODE, [
      DHCP_RUNNER,
      JSON.stringify({
        mode: 'full',
        serverAddress: SERVER_IP,
        subnet: { address: '198.18.0.0', prefix: 24, router: SERVER_IP },
        range: { first: '198.18.0.100', last: '198.18.0.150' },
        leaseSeconds: 20,
        logLevel: 'warn',
      }),
    ]);
    const acks: { t: number; ip: string }[] = [];
    const dhcpReady = new Promise<void>((resolve, reject) => {
      dhcp.once('exit', (code) => reject(new Error(`dhcp runner exited ${code}`)));
      createInterface({ input: dhcp.stdout! }).on('line', (line) => {
        const o = JSON.parse(line) as { ready?: boolean; event?: { mac: string; ip?: string; message: string } };
        if (o.ready) resolve();
        if (o.event?.message === 'bound' && o.event.ip) acks.push({ t: Date.now(), ip: o.event.ip });
      });
    });
    dhcp.stderr?.pipe(process.stderr);
    await dhcpReady;

    const mac = '52:54:00:18:00:51';
    vm = await startVm(lab, {
      name: 'lease',
      firmware: 'bios',
      mac,
      kernel: build.kernel,
      initrd: build.initrd,
      append: `console=ttyS0 imgsrv.server=${BASE} imgsrv.token=${TOKEN} imgsrv.labclient=heartbeat`,
      serialLog: join(logDir(tmp), 'lease.log'),
      memoryMiB: MEM,
    });
    await vm.waitFor(/lab-client: started/, 240_000);
    const ip = acks[0]?.ip ?? '';
    expect(ipInRange(ip)).toBe(true);
    // Two renewals (every 10 s with a 20 s lease), then the DHCP server goes away.
    const end = Date.now() + 60_000;
    while (acks.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 500));
    expect(acks.length).toBeGreaterThanOrEqual(3);
    expect(new Set(acks.map((a) => a.ip))).toEqual(new Set([ip]));
    const killedAt = Date.now();
    dhcp.kill('SIGTERM');
    // The lease runs out ≤ 20 s later; udhcpc deconfigs and the script keeps the address.
    await vm.waitFor(new RegExp(`lost its lease; keeping ${ip.replaceAll('.', '\\.')}`), 60_000);
    // The client ends after 75 s and /init reboots (-no-reboot: QEMU exits).
    expect(await vm.waitExit(120_000)).toBe(0);
    const fromClient = server.reports.filter((r) => r.body?.mac === mac && r.body.phase === 'client');
    console.log(`lease: ${acks.length} ACKs before the DHCP server stopped, ${fromClient.length} client reports`);
    expect(fromClient.length).toBeGreaterThanOrEqual(10);
    expect(fromClient.every((r) => r.body?.ip === ip && r.authorized)).toBe(true);
    // Reports kept coming with the same address well after the lease ended.
    expect(fromClient.filter((r) => r.t > killedAt + 25_000).length).toBeGreaterThanOrEqual(2);
    expect(vm.serial).not.toMatch(/report failed with ip/);
  });
});
