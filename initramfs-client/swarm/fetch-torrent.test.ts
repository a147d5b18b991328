/**
 * fetchTorrent: the URL check (pure), local files, damaged torrents, and the
 * real rsync client against a real `rsync --daemon` on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImgsrvError } from '../../core/errors.ts';
import { fetchTorrent, parseTorrentSource } from './fetch-torrent.ts';
import { makeImage, makeTorrent, tempDir, waitFor } from '../../torrent/testdata/swarm.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof ImgsrvError ? err.code : `not ImgsrvError: ${String(err)}`;
  }
  return undefined;
}

async function torrentFixture() {
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const img = makeImage(tmp.dir, 'demo-1.tar.zst', 300_000);
  const buf = await makeTorrent(img.path, { announce: 'http://127.0.0.1:9/announce', pieceLength: 16_384 });
  mkdirSync(join(tmp.dir, 'torrents', 'demo'), { recursive: true });
  const file = join(tmp.dir, 'torrents', 'demo', '1.torrent');
  writeFileSync(file, buf);
  return { tmp: tmp.dir, file, buf };
}

describe('parseTorrentSource', () => {
  it('accepts the server URL shape and names the local file after image and version', () => {
    expect(parseTorrentSource('rsync://198.18.0.1/torrents/demo/1.torrent')).toEqual({
      kind: 'rsync',
      url: 'rsync://198.18.0.1/torrents/demo/1.torrent',
      fileName: 'demo-1.torrent',
    });
    expect(parseTorrentSource('rsync://imgsrv.lab:8873/torrents/web_v2/2024.06.01.torrent')).toMatchObject({ kind: 'rsync', fileName: 'web_v2-2024.06.01.torrent' });
    expect(parseTorrentSource('rsync://[fd00::1]:873/torrents/a/b.torrent')).toMatchObject({ kind: 'rsync' });
    expect(parseTorrentSource('/tmp/x.torrent')).toEqual({ kind: 'file', path: '/tmp/x.torrent' });
    expect(parseTorrentSource('file:///tmp/x.torrent')).toEqual({ kind: 'file', path: '/tmp/x.torrent' });
  });

  it.each([
    ['http://198.18.0.1/torrents/demo/1.torrent', 'other scheme'],
    ['ssh://198.18.0.1/torrents/demo/1.torrent', 'other scheme'],
    ['rsync:198.18.0.1/torrents/demo/1.torrent', 'no //'],
    ['rsync:///torrents/demo/1.torrent', 'no host'],
    ['rsync://198.18.0.1/torrents/demo/1.tar', 'not .torrent'],
    ['rsync://198.18.0.1/torrents/demo/.torrent', 'empty name'],
    ['rsync://198.18.0.1/1.torrent', 'no module'],
    ['rsync://198.18.0.1/torrents/../etc/1.torrent', 'dot-dot'],
    ['rsync://198.18.0.1/torrents/%2e%2e/1.torrent', 'encoded dot-dot'],
    ['rsync://198.18.0.1/torrents/-e sh/1.torrent', 'option-like and space'],
    ['rsync://user:pw@198.18.0.1/torrents/demo/1.torrent', 'credentials'],
    ['rsync://198.18.0.1/torrents/demo/1.torrent?x=1', 'query'],
    ['rsync://-oProxyCommand=x/torrents/demo/1.torrent', 'option-like host'],
    ['', 'empty'],
  ])('refuses %s (%s)', (url) => {
    expect(codeOf(() => parseTorrentSource(url))).toBe('BAD_USAGE');
  });
});

describe('fetchTorrent', () => {
  it('copies and parses a local torrent file', async () => {
    const f = await torrentFixture();
    const out = await fetchTorrent(f.file, join(f.tmp, 'dest'));
    expect(readFileSync(out)).toEqual(f.buf);
  });

  it('fails early on a damaged torrent', async () => {
    const f = await torrentFixture();
    writeFileSync(f.file, f.buf.subarray(0, f.buf.length - 40));
    await expect(fetchTorrent(f.file, join(f.tmp, 'dest'))).rejects.toMatchObject({ code: 'IMAGE_INVALID' });
    writeFileSync(f.file, 'not bencode at all');
    await expect(fetchTorrent(f.file, join(f.tmp, 'dest'))).rejects.toMatchObject({ code: 'IMAGE_INVALID' });
  });

  it('says rsync is missing without retrying', async () => {
    const f = await torrentFixture();
    const t0 = Date.now();
    await expect(fetchTorrent('rsync://127.0.0.1/torrents/demo/1.torrent', join(f.tmp, 'dest'), { rsyncPath: '/nonexistent/rsync' })).rejects.toMatchObject({ code: 'NO_RSYNC' });
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('fetches with the real rsync client from a real rsync daemon, and retries an unreachable one', async () => {
    const f = await torrentFixture();
    const port = await freePort();
    const conf = join(f.tmp, 'rsyncd.conf');
    writeFileSync(conf, `use chroot = no\npid file = ${join(f.tmp, 'rsyncd.pid')}\n[torrents]\n  path = ${join(f.tmp, 'torrents')}\n  read only = yes\n`);
    const daemon: ChildProcess = spawn('rsync', ['--daemon', '--no-detach', `--config=${conf}`, '--address=127.0.0.1', `--port=${port}`], { stdio: 'ignore' });
    cleanups.push(() => daemon.kill('SIGTERM'));
    const url = `rsync://127.0.0.1:${port}/torrents/demo/1.torrent`;
    // The daemon takes a moment to listen: the retries cover it.
    const out = await fetchTorrent(url, join(f.tmp, 'dest'), { retries: 3, timeoutMs: 5000 });
    expect(out).toBe(join(f.tmp, 'dest', 'demo-1.torrent'));
    expect(readFileSync(out)).toEqual(f.buf);
    await expect(fetchTorrent(`rsync://127.0.0.1:${port}/torrents/demo/2.torrent`, join(f.tmp, 'dest'), { retries: 0 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    daemon.kill('SIGTERM');
    await waitFor(() => daemon.exitCode !== null || daemon.signalCode !== null, 5000, 'rsync daemon to stop');
    const t0 = Date.now();
    await expect(fetchTorrent(url, join(f.tmp, 'dest2'), { retries: 1, timeoutMs: 2000 })).rejects.toMatchObject({ code: 'SERVER_UNREACHABLE' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000); // one backoff
  });
});

function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => ok(p));
    });
  });
}
