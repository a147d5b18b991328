/**
 * The console's CLI commands (admin, groups, nodes set/retire, settings)
 * against the real API app listening on 127.0.0.1, authenticated as the CLI
 * is (--server and IMGSRV_TOKEN). Exit codes, stderr and stdin are checked
 * on real child processes (bin/imgsrv); the many request/response checks
 * call the same `main()` in this process, over the same HTTP, because each
 * child costs a second of Node start-up.
 */
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../main.ts';
import { TEST_ADMIN as ADMIN, nodeAuth, testApp, type TestApp } from '../../api/testdata/app.ts';

const IMGSRV = resolve(import.meta.dirname, '..', '..', '..', 'bin', 'imgsrv');
const MAC = '52:54:00:00:00:c1';

let t: TestApp;
let dir: string;
let base: string;

beforeAll(async () => {
  t = await testApp();
  dir = t.dir;
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  const seen = await t.app.inject({ method: 'POST', url: '/api/v1/nodes/report', headers: nodeAuth(MAC), payload: { mac: MAC, phase: 'booted' } });
  expect(seen.statusCode).toBe(200);
});
afterAll(async () => t?.close());

/** Run `imgsrv --server <app> …args` with the admin token; stdin gets `input` (closed either way, so it is never a TTY). */
function cli(args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(IMGSRV, ['--server', base, ...args], { env: { ...process.env, IMGSRV_TOKEN: ADMIN, IMGSRV_DATA: dir }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => ok({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** Run `main(['--server', <app>, …args])` here, capturing what it prints (tests using it run one at a time). */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += String(c)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += String(c)), true));
  const token = process.env.IMGSRV_TOKEN;
  process.env.IMGSRV_TOKEN = ADMIN;
  try {
    return { code: await main(['--server', base, ...args]), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    if (token === undefined) delete process.env.IMGSRV_TOKEN;
    else process.env.IMGSRV_TOKEN = token;
  }
}

/** Run in-process and parse --json output, failing with stderr when the command failed. */
async function json<T = Record<string, unknown>>(args: string[]): Promise<T> {
  const r = await run([...args, '--json']);
  if (r.code !== 0) throw new Error(`imgsrv ${args.join(' ')} --json exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

describe('as child processes: stdin, exit codes, one-line errors', () => {
  it('admin password takes the password piped on stdin; the console then signs in with it', async () => {
    const r = await cli(['admin', 'password'], 'a-new-console-pw\n');
    expect(r.code, r.stderr).toBe(0);
    const session = await t.app.inject({ method: 'POST', url: '/api/v1/session', payload: { password: 'a-new-console-pw' } });
    expect(session.statusCode).toBe(200);
  });

  it('admin password refuses a short password with one line, exit 2', async () => {
    const r = await cli(['admin', 'password'], 'short\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('imgsrv: the password has 5 characters; it needs at least 8: nothing was changed\n');
  });

  it('admin password refuses an empty stdin', async () => {
    const r = await cli(['admin', 'password'], '');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^imgsrv: no password on stdin/);
  });

  it('settings set: a bad key is exit 2 naming it and the valid keys', async () => {
    const bad = await cli(['settings', 'set', 'dhcp.modus=full']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('imgsrv: unknown setting "dhcp.modus": valid keys: dhcp.mode, dhcp.range, boot.mode, nodes.hostnamePattern, nodes.defaultGroup\n');
  });

  it('groups rm of a missing group is exit 1 with one line', async () => {
    const r = await cli(['groups', 'rm', 'nosuch']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^imgsrv: no group nosuch.*\n$/);
  });
});

describe('imgsrv groups', () => {
  it('creates, changes ("-" clears to inherit), lists, shows and removes a group', async () => {
    const made = await json(['groups', 'set', 'web', '--image', 'web', '--hostname-pattern', 'web{n}', '--keep', '/data,/srv', '--kernel-arg', 'quiet', '--kernel-arg', 'console=ttyS0', '--prompt-timeout', '30', '--target-disk', 'vda']);
    expect(made).toMatchObject({ name: 'web', image: 'web', hostnamePattern: 'web{n}', keep: ['/data', '/srv'], kernelArgs: ['quiet', 'console=ttyS0'], promptTimeout: 30, targetDisk: 'vda' });
    const changed = await json(['groups', 'set', 'web', '--keep', '-', '--no-kernel-args', '--target-disk', '-']);
    expect(changed).toMatchObject({ name: 'web', image: 'web', keep: null, kernelArgs: [], targetDisk: null, promptTimeout: 30 });
    expect((await json<Array<{ name: string }>>(['groups', 'ls'])).map((g) => g.name)).toContain('web');
    const shown = await run(['groups', 'show', 'web']);
    expect(shown.stdout).toMatch(/^name: web$/m);
    expect(shown.stdout).toMatch(/^keep: \(global\)$/m);
    expect((await run(['groups', 'ls'])).stdout).toMatch(/^NAME\s+NODES\s+IMAGE/);
    expect((await run(['groups', 'rm', 'web'])).code).toBe(0);
    const gone = await run(['groups', 'show', 'web']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no group web/);
  });

  it('an image that does not exist is refused by the server, one line', async () => {
    const r = await run(['groups', 'set', 'db', '--image', 'nosuch']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('imgsrv nodes set / retire / ls --all', () => {
  it('pre-assigns hostname, group and image, and clears them with "-"', async () => {
    expect((await run(['groups', 'set', 'db'])).code).toBe(0);
    expect(await json(['nodes', 'set', MAC, '--hostname', 'db1', '--group', 'db', '--image', 'web@1'])).toMatchObject({ mac: MAC, hostname: 'db1', group: 'db', image: 'web@1' });
    expect(await json(['nodes', 'set', MAC, '--image', '-', '--group', '-'])).toMatchObject({ hostname: 'db1', group: null, image: null });
    expect((await run(['nodes', 'set', MAC, '--group', 'nosuch'])).stderr).toMatch(/no group nosuch/);
  });

  it('retire --wipe hides the node unless --all, which shows its group column', async () => {
    await json(['nodes', 'set', MAC, '--group', 'db']);
    const r = await run(['nodes', 'retire', MAC, '--wipe']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wiped at its next network boot/);
    expect(await json<unknown[]>(['nodes', 'ls'])).toEqual([]);
    const all = await json<Array<Record<string, unknown>>>(['nodes', 'ls', '--all']);
    expect(all).toEqual([expect.objectContaining({ mac: MAC, group: 'db', retired: expect.objectContaining({ wipe: true }) })]);
    const table = (await run(['nodes', 'ls', '--all'])).stdout;
    expect(table).toMatch(/^MAC\s+IP\s+FIRMWARE\s+HOSTNAME\s+PHASE\s+GROUP/);
    expect(table).toMatch(/\bdb\b/);
  });
});

describe('imgsrv settings', () => {
  it('sets nested keys, clears with "-", and shows them', async () => {
    expect((await run(['groups', 'set', 'edge'])).code).toBe(0);
    const s = await json(['settings', 'set', 'dhcp.mode=proxy', 'boot.mode=tftp', 'nodes.hostnamePattern=n{n}', 'nodes.defaultGroup=edge']);
    expect(s).toMatchObject({ dhcp: { mode: 'proxy' }, boot: { mode: 'tftp' }, nodes: { hostnamePattern: 'n{n}', defaultGroup: 'edge' } });
    expect(await json(['settings', 'set', 'nodes.defaultGroup=-'])).toMatchObject({ nodes: { defaultGroup: null } });
    expect((await run(['settings', 'show'])).stdout).toMatch(/^dhcp\.mode: proxy$/m);
  });

  it('a bad value is refused by the server naming the key, exit 2', async () => {
    const range = await run(['settings', 'set', 'dhcp.range=banana']);
    expect(range.code).toBe(2);
    expect(range.stderr).toMatch(/range/);
  });

  it('reserves and unreserves an address, keeping the other reservations', async () => {
    expect((await run(['settings', 'reserve', '52:54:00:00:00:d1', '198.18.0.51'])).code).toBe(0);
    expect((await run(['settings', 'reserve', '52-54-00-00-00-D2', '198.18.0.52', 'db2'])).code).toBe(0);
    const taken = await run(['settings', 'reserve', '52:54:00:00:00:d3', '198.18.0.51']);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/198\.18\.0\.51 is already reserved for 52:54:00:00:00:d1/);
    let s = await json<{ dhcp: { reservations: unknown[] } }>(['settings', 'show']);
    expect(s.dhcp.reservations).toEqual([
      { mac: '52:54:00:00:00:d1', ip: '198.18.0.51' },
      { mac: '52:54:00:00:00:d2', ip: '198.18.0.52', hostname: 'db2' },
    ]);
    expect((await run(['settings', 'unreserve', '52:54:00:00:00:d1'])).code).toBe(0);
    s = await json(['settings', 'show']);
    expect(s.dhcp.reservations).toEqual([{ mac: '52:54:00:00:00:d2', ip: '198.18.0.52', hostname: 'db2' }]);
    expect((await run(['settings', 'unreserve', '52:54:00:00:00:d1'])).code).toBe(1);
  });
});
