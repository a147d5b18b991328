/**
 * Capture benchmark, rsync part: `imgsrv capture` of a sample host over ssh
 * (rsync into staging + pack + publish) against the baseline an operator
 * would script by hand: `rsync -aHAXS` over ssh into a directory, then
 * `tar -c | zstd -T0` of it. Both run in the same lab (the sample host is
 * the debootstrap tree of the lab tests), first capture and an unchanged
 * recapture, median of N runs; prints the time ratios.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Lab, sweepStaleLabs, type LabHost } from '../lab/netns.ts';
import { IMGSRV, startLabServer } from '../lab/imgsrv.ts';
import { startSampleHost } from '../lab/sample-host.ts';
import { median, round } from './stats.ts';

/** Run a command inside a namespace; resolves with its wall time in seconds. */
async function timedIn(host: LabHost, cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  await host.exec(cmd, args, { timeoutMs: 600_000 });
  return (performance.now() - t0) / 1000;
}

/** `tar -c -C dir . | zstd -3 -T0 > out`, two processes piped by us (no shell), inside `host`. */
async function tarZstd(host: LabHost, dir: string, out: string): Promise<number> {
  const t0 = performance.now();
  const tar = spawn('ip', ['netns', 'exec', host.ns, 'tar', '--format=posix', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--sparse', '-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const zstd = spawn('zstd', ['-q', '-3', '-T0', '-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await Promise.all([pipeline(tar.stdout!, zstd.stdin!), pipeline(zstd.stdout!, createWriteStream(out))]);
  return (performance.now() - t0) / 1000;
}

/** The section: returns the JSON stored under `rsyncCapture` in bench/results/capture.json. */
export async function benchRsyncCapture(runs: number): Promise<Record<string, unknown>> {
  await sweepStaleLabs();
  const lab = await Lab.create();
  const work = mkdtempSync(join(tmpdir(), 'imgsrv-bench-rsync-'));
  const stops: Array<() => Promise<unknown>> = [];
  try {
    const srv = await lab.addHost('srv', '198.18.0.1/24');
    const sample = await startSampleHost(lab, { cidr: '198.18.0.10/24' });
    stops.push(() => sample.stop());
    const server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'off', '--http-port', '8080']);
    stops.push(() => server.stop());
    const ssh = ['ssh', '-i', sample.key, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'].join(' ');
    const excludes = ['/proc/*', '/sys/*', '/dev/*', '/run/*', '/tmp/*'].map((e) => `--exclude=${e}`);
    const rows = { oursFirst: [] as number[], baseFirst: [] as number[], oursUnchanged: [] as number[], baseUnchanged: [] as number[] };
    for (let i = 0; i < runs; i++) {
      const name = `bench${i}`;
      const base = join(work, `base${i}`);
      const capture = () => timedIn(srv, IMGSRV, ['--data', server.data, 'capture', sample.address, '--name', name, '--identity', sample.key, '--json']);
      const baseline = async () =>
        (await timedIn(srv, 'rsync', ['-aHAXS', '--numeric-ids', '--delete', '--one-file-system', ...excludes, '-e', ssh, '--', `${sample.address}:/`, `${base}/`])) +
        (await tarZstd(srv, base, `${base}.tar.zst`));
      // Alternate who goes first so neither always gets a warm page cache on the sample.
      if (i % 2 === 0) {
        rows.oursFirst.push(await capture());
        rows.baseFirst.push(await baseline());
      } else {
        rows.baseFirst.push(await baseline());
        rows.oursFirst.push(await capture());
      }
      rows.oursUnchanged.push(await capture());
      rows.baseUnchanged.push(await baseline());
      rmSync(base, { recursive: true, force: true });
      rmSync(`${base}.tar.zst`, { force: true });
    }
    const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, round(median(v))])) as Record<keyof typeof rows, number>;
    const result = {
      sampleHost: sample.kind,
      baseline: `rsync -aHAXS --numeric-ids --one-file-system over ssh, then tar --format=posix --xattrs --acls --sparse -c | zstd -3 -T0`,
      runsSeconds: rows,
      medianSeconds: m,
      firstCaptureTimeRatio: round(m.oursFirst / m.baseFirst),
      unchangedRecaptureTimeRatio: round(m.oursUnchanged / m.baseUnchanged),
      unchangedOverFirst: round(m.oursUnchanged / m.oursFirst),
    };
    console.log(`  first capture: imgsrv ${m.oursFirst} s vs rsync + tar|zstd ${m.baseFirst} s (time ratio ${result.firstCaptureTimeRatio})`);
    console.log(`  unchanged recapture: imgsrv ${m.oursUnchanged} s vs ${m.baseUnchanged} s (time ratio ${result.unchangedRecaptureTimeRatio}); imgsrv recapture / first = ${result.unchangedOverFirst}`);
    return result;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await lab.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}
