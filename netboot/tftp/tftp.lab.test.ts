/**
 * Our TFTP server in a lab namespace, fetched by real clients from another:
 * tftp-hpa (RFC 1350 only: 512-byte blocks, so a 64 MiB file also proves the
 * block-number rollover), curl (tsize, blksize, timeout), our own client for
 * windowsize (no Debian client sends RFC 7440), a lossy link, and refusals.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { GET, NODE, sha256File, startOurServer, udpLoss, writeRandomFile } from '../../lab/tftp/control.ts';

const SERVER = '198.18.0.1';
const BIG = 64 << 20;

describe.runIf(await labAvailable())('TFTP server with real clients (lab)', () => {
  let lab: Lab;
  let srv: LabHost;
  let cli: LabHost;
  let dir: string;
  let server: ChildProcess;
  let bigSha: string;

  beforeAll(async () => {
    await sweepStaleLabs();
    dir = await mkdtemp(join(tmpdir(), 'tftplab-'));
    await mkdir(join(dir, 'root/sub'), { recursive: true });
    await mkdir(join(dir, 'out'));
    await writeRandomFile(join(dir, 'root/big.bin'), BIG);
    await writeRandomFile(join(dir, 'root/sub/small.bin'), 700_000);
    await writeRandomFile(join(dir, 'root/lossy.bin'), 300_000);
    await writeFile(join(dir, 'secret'), 'SECRET\n');
    await symlink('../secret', join(dir, 'root/escape'));
    bigSha = await sha256File(join(dir, 'root/big.bin'));
    lab = await Lab.create();
    srv = await lab.addHost('srv', `${SERVER}/24`);
    cli = await lab.addHost('cli', '198.18.0.2/24');
    // 100 ms first retransmission: the lab link has sub-millisecond RTT.
    server = await startOurServer(srv, join(dir, 'root'), ['--timeout-ms', '100']);
  });
  afterAll(async () => {
    await lab?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const out = (name: string) => join(dir, 'out', name);

  it('tftp-hpa fetches 64 MiB at 512-byte blocks (past block 65535: rollover)', async () => {
    await cli.exec('tftp', ['-m', 'binary', SERVER, '-c', 'get', 'big.bin', out('hpa.bin')], { timeoutMs: 120_000 });
    expect(await sha256File(out('hpa.bin'))).toBe(bigSha);
    await rm(out('hpa.bin'));
  });

  it('tftp-hpa -v, with a leading slash in the name', async () => {
    const log = await cli.exec('tftp', ['-v', '-m', 'binary', SERVER, '-c', 'get', '/sub/small.bin', out('v.bin')]);
    expect(log).toMatch(/Received 700000 bytes/);
    expect(await sha256File(out('v.bin'))).toBe(await sha256File(join(dir, 'root/sub/small.bin')));
  });

  it.each([
    ['default options (blksize 512)', []],
    ['--tftp-blksize 1468', ['--tftp-blksize', '1468']],
  ])('curl fetches 64 MiB with %s', async (label, args) => {
    const file = out(`curl-${args.length}.bin`);
    await cli.exec('curl', ['-sS', '--fail', ...args, `tftp://${SERVER}/big.bin`, '-o', file], { timeoutMs: 120_000 });
    expect(await sha256File(file)).toBe(bigSha);
    await rm(file);
    expect(label).toBeTruthy();
  });

  it('our client fetches 64 MiB with windowsize 16 (RFC 7440; no Debian client sends it)', async () => {
    const res = JSON.parse(await cli.exec(NODE, [GET, SERVER, 'big.bin', 'blksize=1468', 'windowsize=16', 'tsize=0'], { timeoutMs: 120_000 }));
    expect(res.oack).toEqual({ blksize: '1468', tsize: String(BIG), windowsize: '16' });
    expect(res.sha256).toBe(bigSha);
  });

  it('refuses .., absolute-outside, symlink-out, writes and netascii', async () => {
    const get = (name: string) => cli.exec('curl', ['-sS', `tftp://${SERVER}/${name}`, '-o', out('refused')]).then(
      () => 'fetched',
      (err: Error) => err.message,
    );
    // curl 7.88 prints a stale getpeername() message (curl PR #11332); its
    // exit code tells the TFTP error: 69 access violation, 68 file not found.
    expect(await get('..%2Fsecret')).toMatch(/curl: \(69\)/);
    expect(await get('escape')).toMatch(/curl: \(69\)/);
    expect(await get('nope')).toMatch(/curl: \(68\)/);
    const hpa = await cli.exec('tftp', ['-m', 'binary', SERVER, '-c', 'get', '../secret', out('r2')]).catch((e: Error) => e.message);
    expect(hpa).toMatch(/Error code 2/);
    const abs = await cli.exec('tftp', ['-m', 'binary', SERVER, '-c', 'get', `${dir}/secret`, out('r3')]).catch((e: Error) => e.message);
    expect(abs).toMatch(/Error code 1/); // a leading '/' is stripped: the path is looked up under the root
    await writeFile(out('up'), 'x');
    const put = await cli.exec('tftp', ['-m', 'binary', SERVER, '-c', 'put', out('up'), 'up']).catch((e: Error) => e.message);
    expect(put).toMatch(/Error code 2/);
    const ascii = await cli.exec('tftp', ['-m', 'ascii', SERVER, '-c', 'get', 'sub/small.bin', out('r4')]).catch((e: Error) => e.message);
    expect(ascii).toMatch(/Error code 4.*octet/);
    expect((await readFile(join(dir, 'secret'), 'utf8')).trim()).toBe('SECRET');
  });

  it('completes through a link that loses 5% of UDP each way, bytes identical', async () => {
    await udpLoss(lab, 5);
    try {
      // Lock-step at 512 bytes: each loss costs one 100 ms server timeout, hence a small file.
      const want = await sha256File(join(dir, 'root/lossy.bin'));
      await cli.exec('tftp', ['-m', 'binary', SERVER, '-c', 'get', 'lossy.bin', out('lossy-hpa.bin')], { timeoutMs: 120_000 });
      expect(await sha256File(out('lossy-hpa.bin'))).toBe(want);
      const res = JSON.parse(await cli.exec(NODE, [GET, SERVER, 'sub/small.bin', 'blksize=1468', 'windowsize=8'], { timeoutMs: 120_000 }));
      expect(res.sha256).toBe(await sha256File(join(dir, 'root/sub/small.bin')));
    } finally {
      await udpLoss(lab, 0);
    }
    expect(server.exitCode).toBeNull();
  });
});
