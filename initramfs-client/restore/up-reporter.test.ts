// The first-boot reporter runs in the restored system, with that system's
// tools: here busybox's sh and wget (the lab's sample OS) and, for an image
// with neither curl nor wget, bash's /dev/tcp alone.
import { execFile, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { installUpReporter, REPORTER_PATH, reporterScript, UNIT_NAME } from './up-reporter.ts';
import { BUSYBOX } from './testdata/netboot-runner.ts';

const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), 'imgsrv-up-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MAC = '52:54:00:0a:00:01';
const TOKEN = 'n1.5254000a0001.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ';

/** A real HTTP server on loopback recording each report; answers `status`. */
let server: Server;
let base = '';
let status = 200;
const seen: Array<{ auth: string | undefined; type: string | undefined; body: unknown }> = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ auth: req.headers.authorization, type: req.headers['content-type'], body: JSON.parse(body || 'null') });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

/** A tree with busybox's applets in /bin, as the sample OS has them. */
function tree(name: string, init: 'systemd' | 'busybox' | 'sysv' | 'none'): string {
  const root = join(tmp, name);
  mkdirSync(join(root, 'etc'), { recursive: true });
  if (init === 'systemd') {
    // Debian's merged /usr: /lib is a link into usr/.
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    writeFileSync(join(root, 'usr/lib/systemd/systemd'), '');
    symlinkSync('usr/lib', join(root, 'lib'));
  }
  if (init === 'busybox') writeFileSync(join(root, 'etc/inittab'), '::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100\n');
  if (init === 'sysv') writeFileSync(join(root, 'etc/inittab'), 'id:2:initdefault:\nsi::sysinit:/etc/init.d/rcS\n');
  return root;
}

describe('installUpReporter', () => {
  it('installs a systemd oneshot wanted by multi-user.target, with the node token only in a root-only script', async () => {
    const root = tree('systemd', 'systemd');
    expect(await installUpReporter(root, { server: base, mac: MAC, token: TOKEN }, silentLogger)).toBe('systemd');
    const unit = readFileSync(join(root, 'etc/systemd/system', UNIT_NAME), 'utf8');
    expect(unit).toMatch(/^Type=oneshot$/m);
    expect(unit).toMatch(/^After=network-online.target multi-user.target$/m);
    expect(unit).toMatch(new RegExp(`^ExecStart=/${REPORTER_PATH}$`, 'm'));
    expect(readlinkSync(join(root, 'etc/systemd/system/multi-user.target.wants', UNIT_NAME))).toBe(`../${UNIT_NAME}`);
    expect(lstatSync(join(root, REPORTER_PATH)).mode & 0o777).toBe(0o700);
  });

  it("adds a once line in the inittab's own syntax (busybox or sysvinit); no init it knows: none", async () => {
    const bb = tree('bb', 'busybox');
    expect(await installUpReporter(bb, { server: base, mac: MAC, token: TOKEN }, silentLogger)).toBe('inittab');
    expect(readFileSync(join(bb, 'etc/inittab'), 'utf8')).toMatch(new RegExp(`\\n::once:/${REPORTER_PATH}\\n$`));
    const sysv = tree('sysv', 'sysv');
    await installUpReporter(sysv, { server: base, mac: MAC, token: TOKEN }, silentLogger);
    expect(readFileSync(join(sysv, 'etc/inittab'), 'utf8')).toMatch(new RegExp(`\\nimgs:2345:once:/${REPORTER_PATH}\\n$`));
    expect(await installUpReporter(tree('none', 'none'), { server: base, mac: MAC, token: TOKEN }, silentLogger)).toBe('none');
  });

  it('refuses values a shell script must not carry', () => {
    expect(() => reporterScript({ server: base, mac: MAC, token: "x';reboot;'" }, 'systemd')).toThrow(/token/);
  });
});

describe('the reporter script, run with the restored system tools', () => {
  /** PATH with only `tools` (links to busybox applets or to host binaries). */
  function pathWith(name: string, tools: Record<string, string>): string {
    const dir = join(tmp, `path-${name}`);
    mkdirSync(dir);
    for (const [tool, target] of Object.entries(tools)) symlinkSync(target, join(dir, tool));
    return dir;
  }
  const bbTools = Object.fromEntries(['sh', 'wget', 'rm', 'rmdir', 'sed', 'sleep'].map((a) => [a, BUSYBOX]));

  it('busybox sh + wget: posts "done" with the node token, then removes itself and its inittab line', async () => {
    seen.length = 0;
    const root = tree('run-bb', 'busybox');
    await installUpReporter(root, { server: base, mac: MAC, token: TOKEN }, silentLogger);
    const PATH = pathWith('bb', bbTools);
    const out = await run(BUSYBOX, ['sh', join(root, REPORTER_PATH)], { env: { PATH, IMGSRV_ROOT: root }, timeout: 30_000 });
    expect(out.stdout).toMatch(/reported to the server/);
    expect(seen).toEqual([{ auth: `Bearer ${TOKEN}`, type: 'application/json', body: { mac: MAC, phase: 'done', message: 'the restored system is up' } }]);
    expect(existsSync(join(root, REPORTER_PATH))).toBe(false);
    expect(readFileSync(join(root, 'etc/inittab'), 'utf8')).not.toMatch(/imgsrv/);
  });

  it('bash /dev/tcp alone (no curl, no wget): same report; the systemd unit and its link go', async () => {
    seen.length = 0;
    const root = tree('run-bash', 'systemd');
    await installUpReporter(root, { server: base, mac: MAC, token: TOKEN }, silentLogger);
    const PATH = pathWith('bash', { sh: BUSYBOX, rm: BUSYBOX, rmdir: BUSYBOX, sleep: BUSYBOX, bash: '/bin/bash' });
    await run(BUSYBOX, ['sh', join(root, REPORTER_PATH)], { env: { PATH, IMGSRV_ROOT: root }, timeout: 30_000 });
    expect(seen).toEqual([{ auth: `Bearer ${TOKEN}`, type: 'application/json', body: { mac: MAC, phase: 'done', message: 'the restored system is up' } }]);
    expect(existsSync(join(root, 'etc/systemd/system', UNIT_NAME))).toBe(false);
    expect(existsSync(join(root, 'etc/systemd/system/multi-user.target.wants', UNIT_NAME))).toBe(false);
    expect(existsSync(join(root, REPORTER_PATH))).toBe(false);
  });

  it('keeps itself (and retries) while the server refuses', async () => {
    seen.length = 0;
    status = 403;
    try {
      const root = tree('run-refused', 'busybox');
      await installUpReporter(root, { server: base, mac: MAC, token: TOKEN }, silentLogger);
      const PATH = pathWith('refused', bbTools);
      // The first retry waits 10 s: stop it (its process group, sleep included) during that wait.
      const child = spawn(BUSYBOX, ['sh', join(root, REPORTER_PATH)], { env: { PATH, IMGSRV_ROOT: root }, stdio: 'ignore', detached: true });
      const exited = new Promise((ok) => child.once('exit', ok));
      try {
        for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        process.kill(-child.pid!, 'SIGKILL');
        await exited;
      }
      expect(seen.length).toBe(1);
      expect(existsSync(join(root, REPORTER_PATH))).toBe(true);
      expect(readFileSync(join(root, 'etc/inittab'), 'utf8')).toMatch(/::once:\/usr\/local\/lib\/imgsrv\/report-up/);
    } finally {
      status = 200;
    }
  });
});
