/**
 * The supervised rsync daemon in a lab namespace, fetched from by the real
 * rsync client in a second namespace across the lab bridge: bytes, listing,
 * what it refuses (uploads, escapes, symlinks out of the module), binding,
 * restart after kill -9, stop, and a clash on the port.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, stopChild, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';

const DRIVER = join(import.meta.dirname, 'testdata', 'rsyncd-driver.ts');
const ADDR = '198.18.0.1';
const PORT = 873;
const URL = `rsync://${ADDR}:${PORT}`;

/** One RsyncDaemon running in a namespace (testdata/rsyncd-driver.ts), driven over stdin/stdout. */
interface Driver {
  child: ChildProcess;
  /** The next JSON event it prints. */
  next(): Promise<Record<string, unknown>>;
  /** Send a command and return its answer. */
  ask(cmd: 'status' | 'stop'): Promise<Record<string, unknown>>;
  logs(): string;
  close(): Promise<void>;
}

function startDriver(host: LabHost, opts: { stateDir: string; modules: { name: string; path: string }[]; address: string; port: number; rsyncPath?: string }): Driver {
  const child = host.spawn(process.execPath, [DRIVER, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let logs = '';
  child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error(`driver ended without answering:\n${logs}`);
    return JSON.parse(r.value as string) as Record<string, unknown>;
  };
  return {
    child,
    next,
    ask: (cmd) => {
      child.stdin!.write(cmd + '\n');
      return next();
    },
    logs: () => logs,
    close: async () => {
      child.stdin!.end();
      await stopChild(child, 10_000);
    },
  };
}

/** Run the real rsync client in `host`; never rejects. */
function rsync(host: LabHost, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', host.ns, 'rsync', '--contimeout=5', '--timeout=10', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

/** Whether `pid` still runs: a zombie has exited (an orphan waits for its reaper, here a slow one). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every regular file under `dir` (what a fetch left behind), not following symlinks: they are the client's to resolve. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p);
    return e.isFile() ? [p] : [];
  });
}

const canRun = await labAvailable();

describe.skipIf(!canRun)('rsync daemon (lab)', () => {
  let lab: Lab;
  let srv: LabHost;
  let node: LabHost;
  let root: string;
  let data: string;
  let moduleDir: string;
  let torrent: Buffer;
  let daemon: Driver;
  const drivers: Driver[] = [];
  const start = (stateDir: string, o: { address?: string; port?: number; rsyncPath?: string } = {}) => {
    const d = startDriver(srv, { stateDir, modules: [{ name: 'torrents', path: moduleDir }], address: o.address ?? ADDR, port: o.port ?? PORT, rsyncPath: o.rsyncPath });
    drivers.push(d);
    return d;
  };

  beforeAll(async () => {
    await sweepStaleLabs();
    root = mkdtempSync(join(tmpdir(), 'imgsrv-rsyncd-'));
    // Like the real data dir: 0700 above the module; the module itself world-readable.
    data = join(root, 'data');
    mkdirSync(data, { mode: 0o700 });
    moduleDir = join(data, 'torrents');
    mkdirSync(join(moduleDir, 'img'), { recursive: true, mode: 0o755 });
    chmodSync(moduleDir, 0o755);
    chmodSync(join(moduleDir, 'img'), 0o755);
    torrent = randomBytes(20_000);
    writeFileSync(join(moduleDir, 'img', '1.torrent'), torrent, { mode: 0o644 });
    writeFileSync(join(moduleDir, 'img', 'secret.torrent'), 'not for nodes', { mode: 0o600 });
    symlinkSync('/etc/passwd', join(moduleDir, 'img', 'abs-link'));
    symlinkSync('../../../../../../../../etc/passwd', join(moduleDir, 'img', 'rel-link'));
    symlinkSync('/etc', join(moduleDir, 'etc'));

    lab = await Lab.create();
    srv = await lab.addHost('srv', `${ADDR}/24`);
    node = await lab.addHost('node', '198.18.0.2/24');
    // A second address of the server, on another interface: the daemon must not answer there.
    await srv.exec('ip', ['addr', 'add', '198.18.1.1/24', 'dev', 'lo']);

    daemon = start(join(data, 'rsyncd'));
    expect(await daemon.next()).toMatchObject({ event: 'started', pid: expect.any(Number) });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(drivers.map((d) => d.close().catch(() => undefined)));
    await lab?.destroy();
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('serves a torrent file byte for byte, config and state in a 0700 dir', async () => {
    const dest = join(root, 'fetch1');
    const r = await rsync(node, [`${URL}/torrents/img/1.torrent`, dest]);
    expect(r.code, r.out).toBe(0);
    expect(readFileSync(dest).equals(torrent)).toBe(true);
    // rsync's own log reaches our logger, with the node's address.
    await until('the fetch in the log', async () => (daemon.logs().includes('rsync on torrents/img/1.torrent from UNDETERMINED (198.18.0.2)') ? true : undefined));
    expect(statSync(join(data, 'rsyncd')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(data, 'rsyncd', 'rsyncd.conf'), 'utf8')).toMatch(/^read only = yes$/m);
  });

  it('lists the modules and a directory of the module', async () => {
    const modules = await rsync(node, [`${URL}/`]);
    expect(modules.code, modules.out).toBe(0);
    expect(modules.out).toMatch(/^torrents\b/m);
    const list = await rsync(node, [`${URL}/torrents/img/`]);
    expect(list.code, list.out).toBe(0);
    expect(list.out).toMatch(/ 20,000 .* 1\.torrent$/m);
    // ignore nonreadable: a file the transfer user (nobody) cannot read is not even listed.
    expect(list.out).not.toContain('secret.torrent');
  });

  it('refuses uploads', async () => {
    const local = join(root, 'upload.torrent');
    writeFileSync(local, 'evil');
    const r = await rsync(node, [local, `${URL}/torrents/img/x.torrent`]);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('module is read only');
    expect(existsSync(join(moduleDir, 'img', 'x.torrent'))).toBe(false);
  });

  it('never leaks a file from outside the module', async () => {
    const passwd = readFileSync('/etc/passwd', 'utf8');
    const attempts = [
      [`${URL}/torrents/../../etc/passwd`],
      [`${URL}/torrents/img/../../../etc/passwd`],
      [`${URL}/torrents/etc/passwd`],
      [`${URL}/torrents/img/abs-link`],
      [`${URL}/torrents/img/rel-link`],
      ['-a', `${URL}/torrents/`],
      ['-L', `${URL}/torrents/img/abs-link`],
      ['--copy-unsafe-links', '-r', `${URL}/torrents/`],
      [`${URL}/torrents/img/secret.torrent`],
    ];
    for (const [i, args] of attempts.entries()) {
      const dest = join(root, `leak${i}`);
      mkdirSync(dest);
      const r = await rsync(node, [...args, dest + '/']);
      for (const f of filesUnder(dest)) {
        const text = readFileSync(f, 'utf8');
        expect(text, `rsync ${args.join(' ')} fetched ${f}`).not.toBe(passwd);
        expect(text).not.toContain('root:x:0:0');
        expect(text).not.toBe('not for nodes');
      }
      if (args[0] === '-L' || args[0] === '--copy-unsafe-links') expect(r.out).toContain('configured to refuse');
    }
    // The archive copy holds the module's symlinks as symlinks, never their targets.
    expect(lstatSync(join(root, 'leak5', 'img', 'abs-link')).isSymbolicLink()).toBe(true);
  });

  it('answers only on the address it was given', async () => {
    for (const other of ['198.18.1.1', '127.0.0.1']) {
      const r = await rsync(srv, [`rsync://${other}:${PORT}/`]);
      expect(r.code, `${other}: ${r.out}`).not.toBe(0);
      expect(r.out).toContain('Connection refused');
    }
    const listeners = await srv.exec('ss', ['-Hltn', `sport = :${PORT}`]);
    expect(listeners.trim().split('\n')).toHaveLength(1);
    expect(listeners).toContain(`${ADDR}:${PORT}`);
  });

  it('a second daemon on the same port fails start() with a clear error', async () => {
    const second = start(join(data, 'rsyncd-2'));
    const ev = await second.next();
    expect(ev).toMatchObject({ event: 'error', code: 'SOCKET' });
    expect(ev.message).toBe(`rsync daemon cannot listen on ${ADDR}:${PORT}: address already in use`);
    expect(ev.hint).toContain('swarm.rsyncPort');
  });

  it('refuses an address that is not the host\'s, before spawning rsync', async () => {
    const ev = await start(join(data, 'rsyncd-3'), { address: '198.18.5.5' }).next();
    expect(ev).toMatchObject({ event: 'error', code: 'SOCKET', message: expect.stringContaining('not an address of this host') });
  });

  it('restarts the daemon after kill -9, once, and serves again', async () => {
    const before = (await daemon.ask('status')).pid as number;
    process.kill(before, 'SIGKILL');
    const t0 = Date.now();
    const after = await until('a restarted daemon', async () => {
      const s = await daemon.ask('status');
      return typeof s.pid === 'number' && s.pid !== before ? s : undefined;
    });
    const restartMs = Date.now() - t0;
    expect(after).toMatchObject({ restarts: 1, metric: 1 });
    expect(restartMs).toBeLessThan(10_000);
    const dest = join(root, 'fetch2');
    const r = await rsync(node, [`${URL}/torrents/img/1.torrent`, dest]);
    expect(r.code, r.out).toBe(0);
    expect(readFileSync(dest).equals(torrent)).toBe(true);
    expect(daemon.logs()).toContain('rsync daemon exited unexpectedly; restarting');
    console.log(`rsyncd restart after kill -9: ${restartMs} ms until the new pid was reported`);
  });

  it('keeps restarting with growing delays while rsync dies at once, then recovers', async () => {
    // A wrapper that fails while a flag file exists, else runs the real rsync (exec: same PID).
    const flag = join(root, 'rsync-broken');
    const wrapper = join(root, 'rsync-wrapper');
    writeFileSync(wrapper, `#!/bin/sh\n[ -e '${flag}' ] && { echo 'wrapper: rsync broken on purpose' >&2; exit 3; }\nexec rsync "$@"\n`, { mode: 0o755 });
    const d = start(join(data, 'rsyncd-flaky'), { port: 874, rsyncPath: wrapper });
    const pid = (await d.next()).pid as number;
    writeFileSync(flag, '');
    process.kill(pid, 'SIGKILL');
    // Count the exits (the kill, then two failed restarts), not the restart counter: the counter moves when a
    // restart begins, so it can read 2 while the second attempt has not yet hit the flag.
    await until('two failed restarts', async () => (d.logs().split('rsync daemon exited unexpectedly; restarting').length - 1 >= 3 ? true : undefined));
    rmSync(flag);
    const s = await until('recovery', async () => {
      const st = await d.ask('status');
      return typeof st.pid === 'number' ? st : undefined;
    });
    expect(s.restarts).toBeGreaterThanOrEqual(3);
    const delays = [...d.logs().matchAll(/"restartInMs":(\d+)/g)].map((m) => Number(m[1]));
    expect(delays.slice(0, 3)).toEqual([500, 1000, 2000]);
    expect(d.logs()).toContain('wrapper: rsync broken on purpose');
    const r = await rsync(node, [`rsync://${ADDR}:874/torrents/img/1.torrent`, join(root, 'fetch-flaky')]);
    expect(r.code, r.out).toBe(0);
    expect(await d.ask('stop')).toMatchObject({ event: 'stopped' });
  });

  it('stop() ends the process, frees the port and does not restart', async () => {
    const pid = (await daemon.ask('status')).pid as number;
    expect(await daemon.ask('stop')).toMatchObject({ event: 'stopped' });
    expect(alive(pid)).toBe(false);
    expect((await srv.exec('ss', ['-Hltn', `sport = :${PORT}`])).trim()).toBe('');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await daemon.ask('status')).toMatchObject({ restarts: 1 });
    expect((await daemon.ask('status')).pid).toBeUndefined();
    expect((await srv.exec('ss', ['-Hltn', `sport = :${PORT}`])).trim()).toBe('');
    expect(await daemon.ask('stop')).toMatchObject({ event: 'stopped' });
  });

  it('ends an rsync daemon orphaned by a server that died, then starts its own', async () => {
    const stateDir = join(data, 'rsyncd-orphan');
    const first = start(stateDir, { port: 875 });
    const orphan = (await first.next()).pid as number;
    // The server dies hard: its detached rsync keeps running and holds the port.
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    expect(alive(orphan)).toBe(true);
    const second = start(stateDir, { port: 875 });
    const ev = await second.next();
    expect(ev).toMatchObject({ event: 'started' });
    expect(ev.pid).not.toBe(orphan);
    expect(alive(orphan)).toBe(false);
    expect(second.logs()).toContain('left running by a previous imgsrv');
    const r = await rsync(node, [`rsync://${ADDR}:875/torrents/img/1.torrent`, join(root, 'fetch3')]);
    expect(r.code, r.out).toBe(0);
    expect(await second.ask('stop')).toMatchObject({ event: 'stopped' });
  });

  it('says rsync is missing when the binary is not there', async () => {
    const ev = await start(join(data, 'rsyncd-4'), { port: 876, rsyncPath: '/nonexistent/rsync' }).next();
    expect(ev).toMatchObject({ event: 'error', code: 'NO_RSYNC', hint: 'install the rsync package' });
  });
});
