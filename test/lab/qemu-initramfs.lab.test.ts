// The netboot environment on real (emulated) machines: build kernel + initramfs
// from Debian's packages, boot QEMU VMs under SeaBIOS and OVMF on the lab
// bridge, get a lease from dnsmasq, and check that /init reports to an HTTP
// server. Needs root, network namespaces, qemu-system-x86, ovmf, dnsmasq-base.
import { type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNetboot, type NetbootBuild } from '../../initramfs-client/build/build.ts';
import { silentLogger } from '../../server/log.ts';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from './netns.ts';
import { startVm, type Vm } from './qemu.ts';

const NODE = '/work/main/node_modules/.bin/node';
const RUNNER = new URL('./testdata/report-server.ts', import.meta.url).pathname;
const SERVER_IP = '198.18.0.1';
const PORT = 8080;
const TOKEN = 'lab-node-token';
const BASE = `http://${SERVER_IP}:${PORT}`;
// Serial logs go to the temp dir (removed at the end) unless IMGSRV_LAB_LOGS names a dir to keep them in.
const logDir = (tmp: string): string => process.env.IMGSRV_LAB_LOGS ?? tmp;

interface Report {
  t: number;
  authorized: boolean;
  contentType: string | undefined;
  body: { mac: string; ip: string; arch: string; firmware: string; kernel: string; phase: string } | null;
}

/** The report runner in the server namespace; collects reports and GETs from its stdout. */
function startReportServer(host: LabHost, staticDir: string): { reports: Report[]; gets: string[]; ready: Promise<void>; child: ChildProcess } {
  const child = host.spawn(NODE, [RUNNER, SERVER_IP, String(PORT), TOKEN, staticDir]);
  child.stderr?.pipe(process.stderr);
  const reports: Report[] = [];
  const gets: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`report server exited ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('ready ')) resolve();
      else if (line.startsWith('report ')) reports.push(JSON.parse(line.slice(7)) as Report);
      else if (line.startsWith('get ')) gets.push((JSON.parse(line.slice(4)) as { url: string }).url);
    });
  });
  return { reports, gets, ready, child };
}

/** dnsmasq as DHCP server (and optionally TFTP) on the server's eth0; DNS off (--port=0). */
function startDnsmasq(host: LabHost, dir: string, extra: string[] = []): ChildProcess {
  const child = host.spawn('dnsmasq', [
    '--no-daemon',
    '--conf-file=/dev/null',
    '--port=0',
    '--interface=eth0',
    '--bind-interfaces',
    '--dhcp-range=198.18.0.100,198.18.0.150,255.255.255.0,1h',
    `--dhcp-leasefile=${join(dir, 'leases')}`,
    '--dhcp-authoritative',
    '--user=root',
    '--log-dhcp',
    ...extra,
  ]);
  // Drain its log (a full pipe would block dnsmasq), keeping it beside the serial logs.
  const log = createWriteStream(join(logDir(dir), 'dnsmasq.log'));
  createInterface({ input: child.stderr! }).on('line', (l) => log.write(`${new Date().toISOString()} ${l}\n`));
  child.once('exit', () => log.end());
  return child;
}

async function waitForReport(reports: Report[], mac: string, timeoutMs: number): Promise<Report> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = reports.find((x) => x.body?.mac === mac);
    if (r) return r;
    if (Date.now() > end) throw new Error(`no report from ${mac} within ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

function ipInRange(ip: string): boolean {
  const m = /^198\.18\.0\.(\d+)$/.exec(ip);
  return m !== null && Number(m[1]) >= 100 && Number(m[1]) <= 150;
}

/**
 * PXE the way a rack does it, with dnsmasq as DHCP + TFTP server: plain PXE
 * ROMs get iPXE over TFTP (undionly.kpxe for BIOS, snponly.efi for UEFI x64,
 * RFC 4578 client architecture 7/9); iPXE (DHCP option 175 present) gets the
 * script boot.ipxe over TFTP, which fetches kernel and initrd over HTTP.
 */
const PXE_DNSMASQ_ARGS = (tftpRoot: string): string[] => [
  '--enable-tftp',
  `--tftp-root=${tftpRoot}`,
  '--dhcp-match=set:ipxe,175',
  '--dhcp-match=set:efi64,option:client-arch,7',
  '--dhcp-match=set:efi64,option:client-arch,9',
  '--dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe',
  '--dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi',
  '--dhcp-boot=tag:ipxe,boot.ipxe',
];

async function preparePxe(dir: string): Promise<void> {
  const tftp = join(dir, 'tftp');
  await mkdir(tftp, { recursive: true });
  for (const f of ['undionly.kpxe', 'snponly.efi', 'ipxe.efi']) await copyFile(join('/usr/lib/ipxe', f), join(tftp, f));
  // Debian's iPXE under UEFI hands the initrd to the kernel only when the
  // command line names it (initrd=<name>): without it the kernel finds no /init.
  await writeFile(
    join(tftp, 'boot.ipxe'),
    [
      '#!ipxe',
      `kernel ${BASE}/a/vmlinuz initrd=initrd.img console=ttyS0 imgsrv.server=${BASE} imgsrv.token=${TOKEN} BOOTIF=01-\${netX/mac:hexhyp} imgsrv.poweroff=1`,
      `initrd ${BASE}/a/initrd.img`,
      'boot',
      '',
    ].join('\n'),
  );
}

const canRun = await labAvailable();

describe.skipIf(!canRun)('netboot environment in QEMU', () => {
  let tmp: string;
  let build: NetbootBuild;
  let lab: Lab;
  let server: ReturnType<typeof startReportServer>;
  const vms: Vm[] = [];

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = await mkdtemp(join(tmpdir(), 'imgsrv-qemu-lab-'));
    const t0 = Date.now();
    build = await buildNetboot({ outDir: join(tmp, 'a'), logger: silentLogger, sourceDateEpoch: 1_700_000_000 });
    console.log(`build: ${Date.now() - t0} ms, kernel ${build.kernelVersion} ${build.kernelBytes} B, initrd ${build.initrdBytes} B`);
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

  it('builds reproducibly from the real Debian kernel', async () => {
    const again = await buildNetboot({ outDir: join(tmp, 'b'), logger: silentLogger, sourceDateEpoch: 1_700_000_000 });
    expect(again.sha256).toEqual(build.sha256);
    expect(build.initrdBytes).toBeLessThan(16 << 20);
  });

  for (const firmware of ['bios', 'uefi'] as const) {
    it(`boots with ${firmware === 'bios' ? 'SeaBIOS' : 'OVMF'} (direct kernel boot), gets a lease and reports`, async () => {
      const mac = firmware === 'bios' ? '52:54:00:18:00:11' : '52:54:00:18:00:12';
      // The BIOS VM stays up to show the 15 s heartbeat; the UEFI one powers off after its report.
      const poweroff = firmware === 'uefi';
      const t0 = Date.now();
      const vm = await startVm(lab, {
        name: `direct${firmware}`,
        firmware,
        mac,
        kernel: build.kernel,
        initrd: build.initrd,
        append: `console=ttyS0 imgsrv.server=${BASE} imgsrv.token=${TOKEN} imgsrv.mac=${mac}${poweroff ? ' imgsrv.poweroff=1' : ''}`,
        serialLog: join(logDir(tmp), `direct-${firmware}.log`),
      });
      vms.push(vm);
      const report = await waitForReport(server.reports, mac, 240_000);
      console.log(`${firmware} direct boot: start to report ${report.t - t0} ms`);
      expect(report.authorized).toBe(true);
      expect(report.contentType).toBe('application/json');
      expect(report.body).toMatchObject({ mac, firmware, arch: 'x86_64', kernel: build.kernelVersion, phase: 'booted' });
      expect(ipInRange(report.body?.ip ?? '')).toBe(true);
      await vm.waitFor(/imgsrv: .*reported to/, 10_000);
      if (poweroff) {
        expect(await vm.waitExit(30_000)).toBe(0); // imgsrv.poweroff=1 with -no-reboot
        return;
      }
      const mine = (): Report[] => server.reports.filter((r) => r.body?.mac === mac);
      const end = Date.now() + 60_000;
      while (mine().length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 500));
      const [first, second] = mine();
      expect(second?.body).toEqual(first?.body);
      expect((second?.t ?? 0) - (first?.t ?? 0)).toBeGreaterThanOrEqual(14_000);
      await vm.stop();
    });
  }

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

  for (const firmware of ['bios', 'uefi'] as const) {
    it(`PXE-boots with ${firmware === 'bios' ? 'SeaBIOS + iPXE ROM' : 'OVMF'}: TFTP, iPXE script, kernel + initrd over HTTP`, async () => {
      const mac = firmware === 'bios' ? '52:54:00:18:00:21' : '52:54:00:18:00:22';
      const t0 = Date.now();
      const vm = await startVm(lab, { name: `pxe${firmware}`, firmware, mac, netboot: true, serialLog: join(logDir(tmp), `pxe-${firmware}.log`) });
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
    const vm = await startVm(lab, { name: 'pxeovmf', firmware: 'uefi', mac, netboot: true, nicRom: '', serialLog: join(logDir(tmp), 'pxe-ovmf.log') });
    vms.push(vm);
    const report = await waitForReport(server.reports, mac, 170_000);
    console.log(`OVMF native PXE + snponly.efi: start to report ${report.t - t0} ms`);
    expect(report.body).toMatchObject({ mac, firmware: 'uefi', phase: 'booted' });
    expect(await vm.waitExit(30_000)).toBe(0);
  });
});
