/**
 * TFTP benchmark: the same 64 MiB file fetched by the same client (curl,
 * blksize 1468, lock-step since curl sends no windowsize) from our server and
 * from tftpd-hpa, each in its own lab namespace, runs alternated, median of 3.
 * Also, for information, our server with RFC 7440 windowsize 16 through our
 * own client (tftpd-hpa 5.2 does not implement windowsize).
 * Prints throughputs and the ratio; writes bench/results/tftp.json.
 * Needs root (network namespaces) and Debian's tftpd-hpa (in.tftpd).
 * Usage: node bench/tftp.ts [--runs N] [--size-mib N]
 */
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab, labAvailable, sh, sweepStaleLabs, type LabHost } from '../lab/netns.ts';
import { median } from './stats.ts';
import { GET, NODE, sha256File, startOurServer, writeRandomFile } from '../lab/tftp/control.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, 'size-mib': { type: 'string', default: '64' } } });
const RUNS = Number(values.runs);
const SIZE = Number(values['size-mib']) * 1024 * 1024;
const OURS = '198.18.0.1';
const HPA = '198.18.0.3';
const BLKSIZE = '1468';

/** One timed curl fetch; checks the byte count (content is checked once, untimed, below). */
async function curlRun(cli: LabHost, address: string): Promise<number> {
  const t0 = performance.now();
  const size = await cli.exec('curl', ['-sS', '--fail', '--tftp-blksize', BLKSIZE, `tftp://${address}/big.bin`, '-o', '/dev/null', '-w', '%{size_download}'], { timeoutMs: 300_000 });
  const s = (performance.now() - t0) / 1000;
  if (Number(size) !== SIZE) throw new Error(`curl from ${address} got ${size} bytes, expected ${SIZE}`);
  return s;
}

async function startHpa(host: LabHost, root: string): Promise<ChildProcess> {
  // -L: stay in the foreground; -s: chroot to the root; -a: the lab address only.
  const child = host.spawn('in.tftpd', ['-L', '-s', root, '-a', `${host.address}:69`]);
  // in.tftpd prints nothing when ready: wait until its port answers.
  for (let i = 0; i < 50; i++) {
    const ss = await host.exec('ss', ['-uln']);
    if (ss.includes(`${host.address}:69`)) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('in.tftpd did not start listening');
}

async function main(): Promise<void> {
  if (!(await labAvailable())) throw new Error('the TFTP benchmark needs root and ip netns');
  await sh('which', ['in.tftpd']).catch(() => {
    throw new Error('in.tftpd not found: apt-get install --no-install-recommends tftpd-hpa (and stop the daemon it starts)');
  });
  await sweepStaleLabs();
  const dir = await mkdtemp(join(tmpdir(), 'tftpbench-'));
  const lab = await Lab.create();
  try {
    const root = join(dir, 'root');
    await mkdir(root);
    await writeRandomFile(join(root, 'big.bin'), SIZE);
    // in.tftpd drops privileges to user tftp: the tree must be world-readable.
    await chmod(dir, 0o755);
    await chmod(root, 0o755);
    await chmod(join(root, 'big.bin'), 0o644);
    const want = await sha256File(join(root, 'big.bin'));

    const ours = await lab.addHost('ours', `${OURS}/24`);
    const hpa = await lab.addHost('hpa', `${HPA}/24`);
    const cli = await lab.addHost('cli', '198.18.0.2/24');
    await startOurServer(ours, root);
    await startHpa(hpa, root);

    // Correctness first (untimed): both servers give the same bytes.
    for (const address of [OURS, HPA]) {
      const f = join(dir, `check-${address}`);
      await cli.exec('curl', ['-sS', '--fail', '--tftp-blksize', BLKSIZE, `tftp://${address}/big.bin`, '-o', f], { timeoutMs: 300_000 });
      if ((await sha256File(f)) !== want) throw new Error(`content from ${address} differs`);
      await rm(f);
    }

    const runs: Record<'imgsrv' | 'tftpd_hpa' | 'imgsrv_windowsize16', number[]> = { imgsrv: [], tftpd_hpa: [], imgsrv_windowsize16: [] };
    for (let i = 0; i < RUNS; i++) {
      runs.imgsrv.push(await curlRun(cli, OURS));
      runs.tftpd_hpa.push(await curlRun(cli, HPA));
      const res = JSON.parse(await cli.exec(NODE, [GET, OURS, 'big.bin', `blksize=${BLKSIZE}`, 'windowsize=16'], { timeoutMs: 300_000 })) as { sha256: string; ms: number };
      if (res.sha256 !== want) throw new Error('windowsize transfer content differs');
      runs.imgsrv_windowsize16.push(res.ms / 1000);
    }
    const mbps = (s: number) => SIZE / s / 1e6;
    const med = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)])) as Record<keyof typeof runs, number>;
    const ratio = mbps(med.imgsrv) / mbps(med.tftpd_hpa);
    const result = {
      benchmark: 'tftp',
      date: new Date().toISOString(),
      file_bytes: SIZE,
      client: `curl ${(await sh('curl', ['--version'])).split(' ')[1]} --tftp-blksize ${BLKSIZE} (lock-step)`,
      baseline: 'tftpd-hpa 5.2 (in.tftpd -L -s ROOT -a ADDR:69)',
      link: 'veth pair through a Linux bridge in network namespaces',
      cpus: (await sh('nproc', [])).trim(),
      runs_s: runs,
      median_s: med,
      throughput_MBps: Object.fromEntries(Object.entries(med).map(([k, v]) => [k, Number(mbps(v).toFixed(2))])),
      ratio_imgsrv_over_tftpd_hpa: Number(ratio.toFixed(3)),
      note: 'imgsrv_windowsize16 uses our own client (no Debian client sends RFC 7440 windowsize); informational, not part of the ratio',
    };
    await writeFile(new URL('./results/tftp.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(
      `TFTP ${SIZE >> 20} MiB, curl blksize ${BLKSIZE}, median of ${RUNS}:\n` +
        `  imgsrv     ${mbps(med.imgsrv).toFixed(1)} MB/s (${med.imgsrv.toFixed(2)} s)\n` +
        `  tftpd-hpa  ${mbps(med.tftpd_hpa).toFixed(1)} MB/s (${med.tftpd_hpa.toFixed(2)} s)\n` +
        `  ratio imgsrv/tftpd-hpa = ${ratio.toFixed(2)}\n` +
        `  (imgsrv, windowsize 16, own client: ${mbps(med.imgsrv_windowsize16).toFixed(1)} MB/s)\n`,
    );
  } finally {
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
