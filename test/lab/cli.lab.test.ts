/**
 * The CLI contract, run as real child processes: `imgsrv serve` in a lab
 * namespace, and the client commands against it over HTTP.
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { IMGSRV, startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { nodeTokenOf } from '../../server/data-dir.ts';

const run = promisify(execFile);

/** Run the CLI on the host (no namespace), returning exit code, stdout and stderr. */
async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(IMGSRV, args, { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('imgsrv CLI', () => {
  it('--help everywhere exits 0', async () => {
    for (const args of [['--help'], ['serve', '--help'], ['nodes', 'ls', '--help'], ['netboot', 'build', '--help'], ['status', '--help']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: imgsrv/);
    }
  });

  it('bad usage exits 2 with one line', async () => {
    const r = await cli(['nodes', 'ls', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--frobnicate'/);
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['serve', '--dhcp', 'maybe'])).code).toBe(2);
  });

  it('a bad config key fails at start naming its path, exit 2', async () => {
    const file = join(statSync('/tmp').isDirectory() ? '/tmp' : '.', `imgsrv-bad-${process.pid}.yaml`);
    writeFileSync(file, 'dhcp:\n  mode: full\n  range: 198.18.0.100-198.18.0.50\n');
    const r = await cli(['--data', '/tmp/imgsrv-unused', 'serve', '--config', file, '--interface', 'lo']).finally(() => rmSync(file, { force: true }));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/dhcp\.range: must be FIRST-LAST/);
  });

  it('an unreachable server is one line and exit 1', async () => {
    const r = await cli(['--server', 'http://127.0.0.1:9', 'nodes', 'ls']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^imgsrv: cannot reach imgsrv at http:\/\/127\.0\.0\.1:9 .*is `imgsrv serve` running\?/);
  });
});

describe('imgsrv serve + client commands in the lab', () => {
  let lab: Lab;
  let srv: LabHost;
  let server: LabServer;
  const args = ['--interface', 'eth0', '--dhcp', 'off', '--http-port', '8080'];

  beforeAll(async () => {
    await sweepStaleLabs();
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
    // A second address on the same interface: the server must keep answering from the first.
    await srv.exec('ip', ['addr', 'add', '198.18.0.2/24', 'dev', 'eth0']);
    server = await startLabServer(srv, args);
  });
  afterAll(async () => {
    await server?.stop();
    await lab?.destroy();
    if (server) rmSync(server.data, { recursive: true, force: true });
  });

  it('lists nodes as JSON with stable fields, after a node report', async () => {
    expect(JSON.parse(await server.cli(['nodes', 'ls', '--json']))).toEqual([]);
    const nodeToken = nodeTokenOf(server.data, '52:54:00:12:34:56');
    await srv.exec('curl', ['-sf', '-H', `Authorization: Bearer ${nodeToken}`, '-H', 'Content-Type: application/json',
      '-d', '{"mac":"52:54:00:12:34:56","ip":"198.18.0.100","firmware":"bios","phase":"booted","kernel":"6.1.0"}',
      'http://198.18.0.1:8080/api/v1/nodes/report']);
    const nodes = JSON.parse(await server.cli(['nodes', 'ls', '--json'])) as Array<Record<string, unknown>>;
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({ mac: '52:54:00:12:34:56', ip: '198.18.0.100', firmware: 'bios', hostname: null, phase: 'booted' });
    expect(await server.cli(['nodes', 'ls'])).toMatch(/^MAC\s+IP\s+FIRMWARE\s+HOSTNAME\s+PHASE/);
  });

  it('status shows the services and the stable address', async () => {
    const st = JSON.parse(await server.cli(['status', '--json'])) as Record<string, unknown>;
    expect(st).toMatchObject({ address: '198.18.0.1', interface: 'eth0', services: { http: { state: 'running' }, dhcp: { state: 'off' }, tftp: { state: 'running' } } });
  });

  it('keeps the admin token private and refuses a wrong one', async () => {
    expect(statSync(join(server.data, 'admin.token')).mode & 0o777).toBe(0o600);
    await expect(srv.exec('env', ['IMGSRV_TOKEN=wrong', IMGSRV, '--data', server.data, 'nodes', 'ls'])).rejects.toThrow(/refused the token/);
  });

  it('a restart loses nothing', async () => {
    await server.cli(['nodes', 'assign', '52:54:00:12:34:56', 'web1']);
    await server.stop();
    server = await startLabServer(srv, args, { data: server.data });
    const nodes = JSON.parse(await server.cli(['nodes', 'ls', '--json'])) as Array<Record<string, unknown>>;
    expect(nodes[0]).toMatchObject({ mac: '52:54:00:12:34:56', hostname: 'web1', phase: 'booted' });
  });

  it('a second server on the same ports fails with one clear line', async () => {
    const other = await srv.exec(IMGSRV, ['--data', server.data, 'serve', ...args]).then(() => '', (e: Error) => e.message);
    // The BitTorrent seeder's port is taken first (it listens before HTTP); either way: one line naming the port.
    expect(other).toMatch(/imgsrv: (HTTP|the BitTorrent seeder) cannot listen on 198\.18\.0\.1:(8080|6881): .*EADDRINUSE/);
    expect(other).not.toMatch(/\n\s+at /);
  });
});
