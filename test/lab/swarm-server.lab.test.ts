// The server side of the swarm with clients nobody here wrote: the real rsync
// client fetches the .torrent from our supervised daemon, aria2c downloads
// the image over BitTorrent from our seeder (byte-identical), curl reads the
// web seed with ranges, and the tracker refuses torrents it doesn't serve.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bencode from 'bencode';
import parseTorrent from 'parse-torrent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageMeta } from '../../images/meta.ts';
import { Lab, labAvailable, sweepStaleLabs, type LabHost } from '../../lab/netns.ts';
import { startLabServer, type LabServer } from '../../lab/imgsrv.ts';
import { makeTestImage } from '../../lab/swarm-image.ts';

const run = (await labAvailable()) ? describe : describe.skip;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

run('swarm server side (rsync daemon, seeder, tracker, web seed)', () => {
  let lab: Lab;
  let srv: LabHost;
  let cli: LabHost;
  let server: LabServer;
  let meta: ImageMeta;
  let work: string;
  const base = 'http://198.18.0.1:8080';
  const torrentUrl = 'rsync://198.18.0.1/torrents/web/1.torrent';

  beforeAll(async () => {
    await sweepStaleLabs();
    work = mkdtempSync(join(tmpdir(), 'imgsrv-swarm-srv-'));
    const data = join(work, 'data');
    meta = await makeTestImage(data, 'web', 12 << 20);
    lab = await Lab.create();
    srv = await lab.addHost('srv', '198.18.0.1/24');
    cli = await lab.addHost('cli', '198.18.0.2/24');
    server = await startLabServer(srv, ['--interface', 'eth0', '--dhcp', 'off', '--http-port', '8080'], { data });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await lab?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('exports the .torrent over rsync with the info hash computed at pack time', async () => {
    await cli.exec('rsync', ['--timeout=20', torrentUrl, join(work, 'web-1.torrent')]);
    const t = await parseTorrent(readFileSync(join(work, 'web-1.torrent')));
    expect(t.infoHash).toBe(meta.torrent!.infoHash);
    expect(t.name).toBe('web-1.tar.zst');
    expect(t.length).toBe(meta.artifact.compressedBytes);
    expect(t.announce).toEqual([`${base}/announce`]);
    expect(t.urlList).toEqual([`${base}/seed/web/1/web-1.tar.zst`]);
    // Read-only: an upload is refused.
    writeFileSync(join(work, 'evil.torrent'), 'x');
    await expect(cli.exec('rsync', ['--timeout=20', join(work, 'evil.torrent'), 'rsync://198.18.0.1/torrents/web/'])).rejects.toThrow();
  });

  it('aria2c downloads the image from our seeder over BitTorrent, byte-identical', async () => {
    // Strip the web seed so every byte must come over the BitTorrent wire protocol.
    const raw = bencode.decode(readFileSync(join(work, 'web-1.torrent'))) as Record<string, unknown>;
    delete raw['url-list'];
    writeFileSync(join(work, 'bt-only.torrent'), bencode.encode(raw));
    const before = JSON.parse(await server.cli(['swarm', 'show', 'web@1', '--json'])) as { server: { uploaded: number } };
    await cli.exec(
      'aria2c',
      ['--dir', join(work, 'aria'), '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--seed-time=0', '--file-allocation=none', '--summary-interval=0', '--console-log-level=warn', '--listen-port=6990', '--check-integrity=true', join(work, 'bt-only.torrent')],
      { timeoutMs: 120_000 },
    );
    const got = readFileSync(join(work, 'aria', 'web-1.tar.zst'));
    expect(sha256(got)).toBe(meta.artifact.sha256);
    const after = JSON.parse(await server.cli(['swarm', 'show', 'web@1', '--json'])) as { server: { uploaded: number } };
    expect(after.server.uploaded - before.server.uploaded).toBeGreaterThanOrEqual(meta.artifact.compressedBytes);
  }, 180_000);

  it('serves the web seed with ranges, and nothing outside the seeded versions', async () => {
    const art = readFileSync(join(server.data, 'images', 'web', '1', 'image.tar.zst'));
    await cli.exec('curl', ['-sf', '-r', '1000-1999', '-o', join(work, 'part'), `${base}/seed/web/1/web-1.tar.zst`]);
    expect(sha256(readFileSync(join(work, 'part')))).toBe(sha256(art.subarray(1000, 2000)));
    for (const path of ['/seed/web/1/image.tar.zst', '/seed/web/2/web-2.tar.zst', '/seed/web/1/..%2f..%2fmeta.json', '/seed/..%2f..%2fadmin.token/1/x']) {
      expect(await cli.exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${base}${path}`])).toBe('404');
    }
  });

  it('the tracker answers only for torrents we seed', async () => {
    const unknown = '%AA'.repeat(20);
    const reply = await cli.exec('curl', ['-s', `${base}/announce?info_hash=${unknown}&peer_id=-XX0001-abcdefghijkl&port=6999&uploaded=0&downloaded=0&left=1`]);
    expect(reply).toContain('failure reason');
    expect(reply).toContain('unknown torrent');
  });
});
