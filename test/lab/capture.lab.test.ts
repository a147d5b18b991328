/**
 * Capture end to end, with the real CLI, the real server, real ssh and rsync:
 * a sample host (Debian tree in its own namespace, sshd in a chroot) is
 * captured as version 1; the image verifies and unpacks to the same tree;
 * a recapture after a few changes is incremental (rsync's own byte counts);
 * unreachable host, wrong key, a cut connection and a cancel each fail with
 * their one-line error and publish nothing.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, diffManifests, displayPath, type ManifestEntry } from '../../images/manifest.ts';
import { unpackImage } from '../../images/unpack.ts';
import { DEFAULT_CAPTURE_EXCLUDES } from '../../server/config/schema.ts';
import { Lab, labAvailable, sh, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { IMGSRV, runCli, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { startSampleHost, type SampleHost } from '../../lab/sample-host.ts';

const cli = runCli;

/** Paths the capture leaves out (config defaults), as a predicate on manifest paths ("proc/1", "var/cache/apt/archives/x.deb"). */
function excluded(path: string): boolean {
  for (const pat of DEFAULT_CAPTURE_EXCLUDES) {
    if (!pat.startsWith('/')) {
      if (path.split('/').includes(pat)) return true;
      continue;
    }
    const p = pat.slice(1);
    if (p.endsWith('/*')) {
      const dir = p.slice(0, -2);
      if (path.startsWith(`${dir}/`)) return true;
    } else if (p.includes('*')) {
      const re = new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
      if (re.test(path)) return true;
    } else if (path === p) return true;
  }
  return false;
}

const rel = (e: ManifestEntry) => displayPath(e.path).replace(/^\.\//, '');

async function unpackVersion(dir: string): Promise<string> {
  const target = mkdtempSync(join(tmpdir(), 'imgsrv-unpacked-'));
  await unpackImage({ input: createReadStream(join(dir, 'image.tar.zst')), target });
  return target;
}

/** Source tree vs unpacked image: differences outside the excluded paths. */
async function compare(sourceRoot: string, unpacked: string): Promise<string[]> {
  const src = (await buildManifest(sourceRoot)).filter((e) => !excluded(rel(e)));
  const out = (await buildManifest(unpacked)).filter((e) => !excluded(rel(e)));
  // rsync -S writes runs of zeros as holes even where the source had none: same bytes
  // (sha256 and size still compared), only the allocation differs, so `sparse` alone is not a difference.
  // /proc, /sys and /dev are live kernel file systems mounted in the sample host: their own mtime is the
  // kernel's and moves whenever something on this machine changes them (a module load, another test's
  // mount), so between capture and comparison it is not the sample's to keep.
  return diffManifests(src, out).filter((d) => !/^[^:]+: sparse [^:]*$/.test(d) && !/^(proc|sys|dev): mtime /.test(d));
}

const run = (await labAvailable()) ? describe : describe.skip;

run('capture a sample host over ssh', () => {
  let lab: Lab;
  let srv: LabHost;
  let server: LabServer;
  let sample: SampleHost;
  const scratch: string[] = [];
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    await sweepStaleLabs();
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
    sample = await startSampleHost(lab, { cidr: '198.18.0.10/24' });
    server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'off', '--http-port', '8080']);
  });
  afterAll(async () => {
    process.stderr.write(`capture figures: ${JSON.stringify(figures)}\n`);
    await server?.stop();
    await sample?.stop();
    await lab?.destroy();
    for (const d of scratch) rmSync(d, { recursive: true, force: true });
    if (server) rmSync(server.data, { recursive: true, force: true });
  });

  const ls = async () => JSON.parse((await cli(srv, server.data, ['images', 'ls', '--json'])).stdout) as Array<Record<string, unknown>>;
  const versionDirs = () => readdirSync(join(server.data, 'images', 'sample')).sort();

  it('captures version 1, which verifies and unpacks to the source tree', async () => {
    const t0 = Date.now();
    const r = await cli(srv, server.data, ['capture', sample.address, '--name', 'sample', '--identity', sample.key, '--json']);
    expect(r.code, r.stderr + server.log().slice(-3000)).toBe(0);
    const rec = JSON.parse(r.stdout) as { state: string; version: number; stats: { incremental: boolean; rsync: { bytesReceived: number; totalFileSize: number }; rsyncSeconds: number; packSeconds: number; rawBytes: number; compressedBytes: number } };
    figures.first = { wallSeconds: (Date.now() - t0) / 1000, ...rec.stats };
    expect(rec).toMatchObject({ state: 'done', version: 1, stats: { incremental: false } });
    expect(rec.stats.rsync.bytesReceived).toBeGreaterThan(rec.stats.rsync.totalFileSize * 0.3);

    const list = await ls();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ name: 'sample', version: 1, sourceHost: `root@${sample.address}` });
    expect(list[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(list[0]!.size).toBeGreaterThan(50e6);

    const v = await cli(srv, server.data, ['images', 'verify', 'sample@1', '--json']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, problems: [] });

    const show = JSON.parse((await cli(srv, server.data, ['images', 'show', 'sample@1', '--json'])).stdout) as { meta: { host: { interfaces: Array<{ name: string }>; os?: { id: string }; kernels: string[] } } };
    expect(show.meta.host.interfaces.map((i) => i.name)).toContain('eth0');
    if (sample.kind === 'debootstrap') expect(show.meta.host.os?.id).toBe('debian');

    const unpacked = await unpackVersion(join(server.data, 'images', 'sample', '1'));
    scratch.push(unpacked);
    const diff = await compare(sample.root, unpacked);
    expect(diff, diff.slice(0, 20).join('\n')).toEqual([]);
  });

  it('recaptures incrementally as version 2 after a few changes', async () => {
    writeFileSync(join(sample.root, 'etc/imgsrv-lab.conf'), 'changed=1\n');
    appendFileSync(join(sample.root, 'etc/hostname'), '# recaptured\n');
    chmodSync(join(sample.root, 'etc/issue'), 0o600);
    unlinkSync(join(sample.root, 'etc/issue.net'));
    const t0 = Date.now();
    const r = await cli(srv, server.data, ['capture', sample.address, '--name', 'sample', '--identity', sample.key, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as { version: number; stats: { incremental: boolean; rsync: { bytesReceived: number; totalFileSize: number; transferredFiles: number; deletedFiles: number } } };
    figures.recapture = { wallSeconds: (Date.now() - t0) / 1000, ...rec.stats };
    expect(rec.version).toBe(2);
    expect(rec.stats.incremental).toBe(true);
    // rsync's own count: the delta is a tiny fraction of the tree.
    expect(rec.stats.rsync.bytesReceived).toBeLessThan(rec.stats.rsync.totalFileSize / 50);
    expect(rec.stats.rsync.deletedFiles).toBeGreaterThanOrEqual(1);
    expect((await ls()).map((i) => i.version)).toEqual([1, 2]);
    const unpacked = await unpackVersion(join(server.data, 'images', 'sample', '2'));
    scratch.push(unpacked);
    const diff = await compare(sample.root, unpacked);
    expect(diff, diff.slice(0, 20).join('\n')).toEqual([]);
  });

  it('recaptures an unchanged host as version 3 without packing again', async () => {
    const t0 = Date.now();
    const r = await cli(srv, server.data, ['capture', sample.address, '--name', 'sample', '--identity', sample.key, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rec = JSON.parse(r.stdout) as { version: number; stats: { reusedVersion?: number; packSeconds: number; rsync: { bytesReceived: number; totalFileSize: number } } };
    figures.unchanged = { wallSeconds: (Date.now() - t0) / 1000, ...rec.stats };
    expect(rec.version).toBe(3);
    expect(rec.stats.reusedVersion).toBe(2);
    const [, v2, v3] = await ls();
    expect(v3!.sha256).toBe(v2!.sha256);
    expect(JSON.parse((await cli(srv, server.data, ['images', 'verify', 'sample@3', '--json'])).stdout)).toMatchObject({ ok: true });
    // Removing the older version leaves the newer one whole (they share the artifact by hard link).
    expect((await cli(srv, server.data, ['images', 'rm', 'sample@2'])).code).toBe(0);
    expect(JSON.parse((await cli(srv, server.data, ['images', 'verify', 'sample@3', '--json'])).stdout)).toMatchObject({ ok: true });
  });

  it('an unreachable host fails in one line and publishes nothing', async () => {
    const r = await cli(srv, server.data, ['capture', '198.18.0.99', '--name', 'sample', '--identity', sample.key]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('imgsrv:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^imgsrv: cannot reach root@198\.18\.0\.99 .*: check that the host is up/);
    expect(versionDirs()).toEqual(['1', '3']);
  });

  it('a wrong key fails in one line and publishes nothing', async () => {
    const r = await cli(srv, server.data, ['capture', sample.address, '--name', 'sample', '--identity', sample.wrongKey]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^imgsrv: ssh to root@198\.18\.0\.10 refused the key: add the server's public key/m);
    expect(versionDirs()).toEqual(['1', '3']);
  });

  it('hostile host names are refused before anything runs', async () => {
    for (const host of ['-oProxyCommand=touch /tmp/pwned', 'x;rm -rf /', '$(id)']) {
      // After `--` commander passes anything through: the server's validation must refuse it.
      const r = await cli(srv, server.data, ['capture', '--name', 'sample', '--', host]);
      expect(r.code, host).not.toBe(0);
      expect(r.stderr).toMatch(/is not a host name or IP address/);
    }
    expect(existsSync('/tmp/pwned')).toBe(false);
  });

  it('a connection cut mid-transfer, and a cancel, leave no version', async () => {
    // 64 MB of incompressible data behind a 40 Mbit/s link: ~13 s of rsync to interrupt.
    await sh('dd', ['if=/dev/urandom', `of=${join(sample.root, 'var/big.bin')}`, 'bs=1M', 'count=64', 'status=none']);
    const shaped = await sample.host.exec('tc', ['qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', '40mbit', 'burst', '64kb', 'latency', '200ms']).then(
      () => true,
      () => false,
    );
    figures.linkShaped = shaped;
    try {
      const waitForRsync = async () => {
        for (let i = 0; i < 200; i++) {
          const pids = (await sh('ip', ['netns', 'pids', sample.host.ns])).split(/\s+/).filter(Boolean).map(Number);
          const sessions = pids.filter((p) => p !== sample.sshd.pid);
          // The transfer (not the probe): the remote `rsync --server` is running.
          const cmd = (p: number) => {
            try {
              return readFileSync(`/proc/${p}/cmdline`, 'latin1');
            } catch {
              return '';
            }
          };
          if (sessions.some((p) => cmd(p).startsWith('rsync\0--server'))) return sessions;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error('rsync never started');
      };
      // 1: kill the ssh session on the sample host.
      const capture1 = cli(srv, server.data, ['capture', sample.address, '--name', 'sample', '--identity', sample.key]);
      await waitForRsync();
      await new Promise((r) => setTimeout(r, shaped ? 1500 : 0));
      const sessions = (await sh('ip', ['netns', 'pids', sample.host.ns])).split(/\s+/).filter(Boolean).map(Number).filter((p) => p !== sample.sshd.pid);
      for (const p of sessions) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      const r1 = await capture1;
      expect(r1.code).toBe(1);
      expect(r1.stderr).toMatch(/^imgsrv: (the connection to root@198\.18\.0\.10 was lost|rsync from root@198\.18\.0\.10)/m);
      expect(versionDirs()).toEqual(['1', '3']);

      // 2: Ctrl-C on the CLI: it asks the server to cancel.
      const child = spawn('ip', ['netns', 'exec', srv.ns, IMGSRV, '--data', server.data, 'capture', sample.address, '--name', 'sample', '--identity', sample.key], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number>((res) => child.once('exit', (code) => res(code ?? -1)));
      await waitForRsync();
      await new Promise((r) => setTimeout(r, 500));
      // `ip netns exec` execs imgsrv's shell wrapper, which execs node: the child's PID is the CLI's.
      child.kill('SIGINT');
      const code = await exited;
      expect(code, err).toBe(130);
      expect(err).toMatch(/^imgsrv: capture cancelled by request/m);
      expect(versionDirs()).toEqual(['1', '3']);
      // The server recorded why each one ended.
      const token = readFileSync(join(server.data, 'admin.token'), 'utf8').trim();
      const caps = JSON.parse(await srv.exec('curl', ['-sf', '-H', `authorization: Bearer ${token}`, 'http://198.18.0.1:8080/api/v1/captures'])) as Array<{ state: string; errorCode: string }>;
      expect(caps.slice(0, 2).map((c) => [c.state, c.errorCode])).toEqual([
        ['cancelled', 'CANCELLED'],
        ['failed', expect.stringMatching(/CONNECTION_LOST|CAPTURE_FAILED/)],
      ]);
      expect(readdirSync(join(server.data, 'images', 'sample')).filter((n) => n.startsWith('.'))).toEqual([]);
    } finally {
      if (shaped) await sample.host.exec('tc', ['qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => undefined);
      rmSync(join(sample.root, 'var/big.bin'), { force: true });
    }
  });
});
