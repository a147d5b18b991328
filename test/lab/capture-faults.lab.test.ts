/**
 * Capture from an rsync daemon (rsync://host/module, no ssh), and a server
 * whose disk fills up mid-capture: one clear line, the previous version
 * intact and verifying, no partial version left.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, sh, stopChild, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { runCli, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { startSampleHost, type SampleHost } from '../../lab/sample-host.ts';

const cli = runCli;

describe('capture: rsync daemon source, and a full disk on the server', () => {
  let lab: Lab;
  let srv: LabHost;
  let sample: SampleHost;
  const servers: LabServer[] = [];
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    await sweepStaleLabs();
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
    sample = await startSampleHost(lab, { cidr: '198.18.0.10/24' });
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await sample?.stop();
    await lab?.destroy();
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('captures rsync://host/module from a real rsync daemon', async () => {
    // The sample's own root, exported read-only by the host's rsync daemon inside the sample's namespace.
    const conf = join(mkdtempSync(join(tmpdir(), 'imgsrv-rsyncd-')), 'rsyncd.conf');
    cleanups.push(async () => rmSync(join(conf, '..'), { recursive: true, force: true }));
    writeFileSync(conf, [
      'uid = 0', 'gid = 0', 'use chroot = yes', 'numeric ids = yes', 'read only = yes', `pid file = ${conf}.pid`,
      '[root]', `  path = ${sample.root}`, '',
    ].join('\n'));
    // stdin must not be a socket (Node's default stdio is a socketpair): rsync would take it for inetd mode and exit.
    const daemon = sample.host.spawn('rsync', ['--daemon', '--no-detach', `--config=${conf}`, '--address=198.18.0.10', '--port=873'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let daemonLog = '';
    daemon.stderr!.on('data', (d: Buffer) => (daemonLog += d.toString()));
    daemon.stdout!.on('data', (d: Buffer) => (daemonLog += d.toString()));
    cleanups.push(() => stopChild(daemon));
    let up = false;
    for (let i = 0; i < 50 && !up; i++) {
      up = await srv.exec('rsync', ['--list-only', 'rsync://198.18.0.10/']).then(() => true, () => false);
      if (!up) await new Promise((r) => setTimeout(r, 100));
    }
    expect(up, `rsync daemon did not start: ${daemonLog}`).toBe(true);
    const server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'off', '--http-port', '8080']);
    servers.push(server);
    // Run in reverse: the server stops, then its data dir goes.
    cleanups.push(async () => rmSync(server.data, { recursive: true, force: true }));
    cleanups.push(() => server.stop());
    const r = await cli(srv, server.data, ['capture', 'rsync://198.18.0.10/root', '--name', 'fromd', '--json']);
    expect(r.code, r.stderr + server.log().slice(-2000)).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'done', version: 1 });
    const v = await cli(srv, server.data, ['images', 'verify', 'fromd@1', '--json']);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true });
    const [img] = JSON.parse((await cli(srv, server.data, ['images', 'ls', '--json'])).stdout) as Array<{ sourceHost: string; size: number }>;
    expect(img!.sourceHost).toBe('rsync://198.18.0.10/root');
    expect(img!.size).toBeGreaterThan(50e6);
  });

  it('a disk that fills up mid-capture fails in one line and keeps the previous version', async () => {
    // The server's data directory on a 320 MB tmpfs: the first capture fits (staging ~200 MB + image ~60 MB),
    // the second, after 120 MB of new incompressible data on the sample, does not.
    const data = mkdtempSync(join(tmpdir(), 'imgsrv-full-'));
    await sh('mount', ['-t', 'tmpfs', '-o', 'size=320m,mode=700', 'imgsrv-full', data]);
    cleanups.push(async () => {
      await sh('umount', [data]).catch(() => sh('umount', ['-l', data]));
      rmSync(data, { recursive: true, force: true });
    });
    for (const s of servers.splice(0)) await s.stop();
    const server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'off', '--http-port', '8081'], { data });
    servers.push(server);
    const first = await cli(srv, data, ['capture', sample.address, '--name', 'full', '--identity', sample.key, '--json']);
    expect(first.code, first.stderr).toBe(0);

    mkdirSync(join(sample.root, 'srv'), { recursive: true });
    await sh('dd', ['if=/dev/urandom', `of=${join(sample.root, 'srv', 'blob.bin')}`, 'bs=1M', 'count=120', 'status=none']);
    cleanups.push(async () => rmSync(join(sample.root, 'srv', 'blob.bin'), { force: true }));
    const second = await cli(srv, data, ['capture', sample.address, '--name', 'full', '--identity', sample.key]);
    expect(second.code).toBe(1);
    const lines = second.stderr.trim().split('\n').filter((l) => l.startsWith('imgsrv:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^imgsrv: the server's disk is full while capturing .*: free space in the data dir/);
    // Version 1 is the only one, intact, and nothing half-written is visible.
    expect(readdirSync(join(data, 'images', 'full'))).toEqual(['1']);
    const v = await cli(srv, data, ['images', 'verify', 'full@1', '--json']);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true });
  });
});
