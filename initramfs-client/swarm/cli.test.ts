/**
 * The headless CLI as a real child process (what the lab tests and the
 * benchmark run), against a real seeder and tracker on 127.0.0.1 and a
 * stand-in for the two server routes it calls (the server's contract:
 * POST /api/v1/nodes/report, GET /api/v1/swarm/<infoHash>).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeImage, makeTorrent, startSeeder, startTracker, tempDir } from '../../torrent/testdata/swarm.ts';
import type { RestorePlan } from '../../contract/plan.ts';

const CLI = join(import.meta.dirname, 'cli.ts');
const SIZE = 2 * 1024 * 1024 + 7;
const NAME = 'demo-1.tar.zst';
const TOKEN = 'node-token-123';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      ok({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function fixture(uploadLimit = 1_500_000) {
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const seedDir = join(tmp.dir, 'seed');
  mkdirSync(seedDir);
  const image = makeImage(seedDir, NAME, SIZE);
  const tracker = await startTracker();
  cleanups.push(tracker.close);
  const buf = await makeTorrent(image.path, { announce: tracker.url, pieceLength: 32 * 1024 });
  const torrentFile = join(tmp.dir, 'demo-1.torrent');
  writeFileSync(torrentFile, buf);
  const seeder = await startSeeder(buf, seedDir, { uploadLimit });
  cleanups.push(seeder.close);
  const tokenFile = join(tmp.dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  return { tmp: tmp.dir, image, torrentFile, tokenFile };
}

/** A stand-in server: records reports, says "done" once a node reported seeding, hands out `plans` in turn (the last one repeats). */
/** A whole restore plan (contract/plan.ts) for the stand-in image: the CLI reads torrent, artifact and linger from it. */
function restorePlan(torrentUrl: string, sha256: string, linger: number): RestorePlan {
  const meta = { artifact: { sha256, compressedBytes: SIZE } } as unknown as RestorePlan['meta'];
  const hostname = { assigned: null, suggestion: 'node-1', promptTimeoutSec: 0 };
  return { action: 'restore', image: { name: 'demo', version: 1 }, torrentUrl, meta, hostname, keep: [], targetDisk: null, linger, signature: null };
}

async function standInServer(plans: object[] = []) {
  const reports: { auth: string | undefined; body: { mac: string; phase: string; swarm: Record<string, unknown>; message?: string; ip?: string } }[] = [];
  const polls: string[] = [];
  const readBody = async (req: IncomingMessage): Promise<string> => {
    let s = '';
    for await (const c of req) s += c;
    return s;
  };
  const server = createServer(async (req, res) => {
    const auth = req.headers.authorization;
    if (auth !== `Bearer ${TOKEN}`) return void res.writeHead(401).end();
    if (req.method === 'POST' && req.url === '/api/v1/nodes/report') {
      reports.push({ auth, body: JSON.parse(await readBody(req)) });
      return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    }
    if (req.method === 'GET' && /^\/api\/v1\/nodes\/[0-9a-f:]{17}\/plan$/.test(req.url ?? '') && plans.length) {
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(plans.length > 1 ? plans.shift() : plans[0]));
    }
    const m = /^\/api\/v1\/swarm\/([0-9a-f]{40})$/.exec(req.url ?? '');
    if (req.method === 'GET' && m) {
      polls.push(m[1]!);
      const done = reports.some((r) => r.body.phase === 'seeding');
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ infoHash: m[1], complete: 1, incomplete: 0, done }));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  cleanups.push(() => new Promise((ok) => server.close(ok)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, reports, polls };
}

const lines = (stdout: string): { event: string; [k: string]: unknown }[] =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('swarm cli', () => {
  it('downloads, writes the stream, reports to the server and stops seeding when the server says done', async () => {
    const f = await fixture();
    const srv = await standInServer();
    const out = join(f.tmp, 'image.out');
    const r = await runCli([
      '--torrent', f.torrentFile, '--dir', join(f.tmp, 'node'), '--address', '127.0.0.1', '--out', out,
      '--server', srv.url, '--token-file', f.tokenFile, '--mac', '52:54:00:AA:BB:01',
      '--report-interval', '0.3', '--linger', '30', '--json', '--log-level', 'warn',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const ev = lines(r.stdout);
    expect(ev.filter((e) => e.event === 'progress').length).toBeGreaterThanOrEqual(1);
    const complete = ev.find((e) => e.event === 'complete')!;
    expect(complete).toMatchObject({ sha256: f.image.sha256, bytes: SIZE, fromPeers: SIZE, fromWebSeed: 0, banned: 0 });
    expect(complete.seconds).toBeGreaterThan(0);
    expect(ev.at(-1)).toMatchObject({ event: 'seeded', result: 'done' });
    expect(readFileSync(out).equals(f.image.data)).toBe(true);
    // Reports carry the node's MAC, its phase and exactly the swarm fields the server's schema allows.
    expect(srv.reports.map((x) => x.body.phase)).toContain('downloading');
    expect(srv.reports.at(-1)!.body).toMatchObject({ mac: '52:54:00:aa:bb:01', phase: 'seeding', swarm: { progress: 1, downloaded: SIZE } });
    for (const rep of srv.reports) {
      expect(Object.keys(rep.body.swarm).sort()).toEqual(['downloadSpeed', 'downloaded', 'infoHash', 'peers', 'progress', 'uploadSpeed', 'uploaded']);
    }
    expect(srv.polls.every((p) => p === complete.infoHash)).toBe(true);
  });

  it('finishes with the server down and lingers out', async () => {
    const f = await fixture(-1);
    const r = await runCli([
      '--torrent', f.torrentFile, '--dir', join(f.tmp, 'node'), '--address', '127.0.0.1',
      '--server', 'http://127.0.0.1:9', '--token-file', f.tokenFile, '--mac', '52:54:00:aa:bb:02',
      '--report-interval', '0.3', '--linger', '0.3', '--json', '--log-level', 'silent',
    ]);
    expect(r.code).toBe(0);
    const ev = lines(r.stdout);
    expect(ev.find((e) => e.event === 'complete')).toMatchObject({ sha256: f.image.sha256, bytes: SIZE });
    expect(ev.at(-1)).toMatchObject({ event: 'seeded', result: 'linger' });
  });

  it('gives up with one line when no source sends anything (tracker down, no seeder, no web seed)', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const image = makeImage(tmp.dir, NAME, 100_000);
    const torrentFile = join(tmp.dir, 'demo-1.torrent');
    writeFileSync(torrentFile, await makeTorrent(image.path, { announce: 'http://127.0.0.1:9/announce', pieceLength: 16_384 }));
    const r = await runCli(['--torrent', torrentFile, '--dir', join(tmp.dir, 'node'), '--address', '127.0.0.1', '--stall-timeout', '0.5', '--log-level', 'silent']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no data from any peer or the web seed for 0.5 s \(0% done, 0 peers\)/);
  });

  it('--plan: reports booted, waits while the plan says so, then downloads the planned image, verified against its meta, and reports done', async () => {
    const f = await fixture();
    const restore = restorePlan(f.torrentFile, f.image.sha256, 30);
    const srv = await standInServer([{ action: 'wait', reason: 'no image yet', retryAfterSec: 0.2 }, restore]);
    const r = await runCli([
      '--plan', '--dir', join(f.tmp, 'node'), '--address', '127.0.0.1',
      '--server', srv.url, '--token-file', f.tokenFile, '--mac', '52:54:00:aa:bb:03', '--report-interval', '0.3', '--json', '--log-level', 'warn',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const ev = lines(r.stdout);
    expect(ev.filter((e) => e.event === 'plan').map((e) => e.action)).toEqual(['wait', 'restore']);
    expect(ev.find((e) => e.event === 'complete')).toMatchObject({ sha256: f.image.sha256, bytes: SIZE, verifiedAgainst: 'demo@1' });
    expect(ev.at(-1)).toMatchObject({ event: 'seeded', result: 'done' });
    const phases = srv.reports.map((x) => x.body.phase);
    expect(phases.slice(0, 2)).toEqual(['booted', 'booted']);
    expect(srv.reports[0]!.body.ip).toBe('127.0.0.1');
    expect(phases).toContain('downloading');
    expect(phases.at(-1)).toBe('done');
  });

  it('--plan: a download that does not match the plan\'s image fails, and the server is told why', async () => {
    const f = await fixture(-1);
    const wrong = 'ab'.repeat(32);
    const srv = await standInServer([restorePlan(f.torrentFile, wrong, 600)]);
    const r = await runCli(['--plan', '--dir', join(f.tmp, 'node'), '--address', '127.0.0.1', '--server', srv.url, '--token-file', f.tokenFile, '--mac', '52:54:00:aa:bb:04', '--log-level', 'silent']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`sha256 ${f.image.sha256}, but demo@1 is ${SIZE} bytes with sha256 ${wrong}`);
    const failed = srv.reports.find((x) => x.body.phase === 'failed');
    expect(failed?.body.message).toContain(wrong);
    expect(srv.reports.some((x) => x.body.phase === 'seeding')).toBe(false);
  });

  it('fails with one line: bad usage and a refused torrent URL exit 2', async () => {
    const usage = await runCli(['--dir', '/tmp/x', '--address', '127.0.0.1']);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
    expect(usage.stderr).toMatch(/--torrent is required/);
    const planAlone = await runCli(['--plan', '--dir', '/tmp/x', '--address', '127.0.0.1']);
    expect(planAlone.code).toBe(2);
    expect(planAlone.stderr).toMatch(/--plan needs --server, --token-file and --mac/);
    const refused = await runCli(['--torrent', 'http://198.18.0.1/x.torrent', '--dir', '/tmp/x', '--address', '127.0.0.1']);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/only rsync:\/\/ URLs/);
  });
});
