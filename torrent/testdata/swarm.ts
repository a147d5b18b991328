/**
 * Test fixtures for the swarm library, all on 127.0.0.1: a random image
 * file, its torrent (create-torrent), a real bittorrent-tracker HTTP server,
 * webtorrent seeders and a BEP 19 web seed with HTTP Range support.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server as TrackerServer } from 'bittorrent-tracker';
import createTorrent from 'create-torrent';
import type WebTorrent from 'webtorrent';
import type { Torrent } from 'webtorrent';
import { destroyClient } from '../client.ts';
import { createBoundClient } from '../webtorrent/index.ts';

/** A temp dir removed by the returned function. */
export function tempDir(prefix = 'imgsrv-swarm-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Write `size` random bytes to dir/name; returns path and sha256. */
export function makeImage(dir: string, name: string, size: number): { path: string; sha256: string; data: Buffer } {
  const data = randomBytes(size);
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, sha256: createHash('sha256').update(data).digest('hex'), data };
}

/** create-torrent for a single file, with optional tracker and web seed. */
export function makeTorrent(file: string, opts: { announce?: string; urlList?: string[]; pieceLength: number }): Promise<Buffer> {
  return new Promise((ok, fail) => {
    createTorrent(
      file,
      {
        pieceLength: opts.pieceLength,
        announceList: opts.announce ? [[opts.announce]] : [],
        urlList: opts.urlList ?? [],
        createdBy: 'imgsrv-test',
        creationDate: 0,
      },
      (err, buf) => (err ? fail(err) : ok(Buffer.from(buf))),
    );
  });
}

/** A bittorrent-tracker HTTP server on 127.0.0.1 (no UDP, no WebSocket). */
export async function startTracker(port = 0): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  const server = new TrackerServer({ http: true, udp: false, ws: false, stats: false }) as TrackerServer & {
    listen(port: number, host: string, cb: () => void): void;
    http: HttpServer;
  };
  await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
  const p = (server.http.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${p}/announce`, port: p, close: () => new Promise((ok) => server.close(() => ok())) };
}

/** A running seeder: a webtorrent client with the image already in `dir`. */
export interface TestSeeder {
  client: WebTorrent;
  torrent: Torrent;
  port: number;
  close: () => Promise<void>;
}

/**
 * Seed `torrent` from `dir` (which holds the file under info.name). With
 * skipVerify the data is not hashed, so a corrupted copy still advertises
 * every piece — that is how the corrupt-peer test makes a lying peer.
 */
export async function startSeeder(torrentBuf: Buffer, dir: string, opts: { uploadLimit?: number; port?: number } = {}): Promise<TestSeeder> {
  const client = await createBoundClient({ address: '127.0.0.1', port: opts.port ?? 0, webSeeds: false, uploadLimit: opts.uploadLimit ?? -1 });
  const torrent = client.add(torrentBuf, { path: dir, skipVerify: true, strategy: 'rarest' });
  await new Promise<void>((ok, fail) => {
    torrent.once('ready', () => ok());
    torrent.once('error', fail);
  });
  return { client, torrent, port: client.torrentPort, close: () => destroyClient(client) };
}

/** A BEP 19 web seed: GET/HEAD of the one file at /seed/<name>, with single-range `Range` support; `delayMs` slows each answer. */
export async function startWebSeed(file: string, name: string, opts: { delayMs?: number } = {}): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  const size = statSync(file).size;
  let requests = 0;
  let closed = false;
  const server = createServer(async (req, res) => {
    requests++;
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    // A delayed answer may wake after close() and after the test removed the file: answer nothing then.
    if (closed || res.destroyed) return void res.destroy();
    if (req.url !== `/seed/${name}`) {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const end = m && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    if (start > end) {
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    res.writeHead(m ? 206 : 200, {
      'content-length': end - start + 1,
      'accept-ranges': 'bytes',
      ...(m ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file, { start, end })
      .on('error', () => res.destroy())
      .pipe(res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/seed/${name}`,
    requests: () => requests,
    close: () =>
      new Promise((ok) => {
        closed = true;
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** Resolve when `check()` is true (polled every 20 ms), reject after `ms`. */
export async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** sha256 of a stream's bytes and their count. */
export async function hashStream(stream: AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    h.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: h.digest('hex'), bytes };
}
