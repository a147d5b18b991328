/**
 * Fetch an image's .torrent from the server's rsync daemon (read-only module
 * `torrents`) with the real rsync client, then parse it so a damaged file
 * fails here and not half-way into a download.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import parseTorrent from 'parse-torrent';
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';

/** Options for {@link fetchTorrent}. */
export interface FetchTorrentOptions {
  /** rsync connect and I/O timeout per attempt (ms, default 30 s). */
  timeoutMs?: number;
  /** Extra attempts after the first (default 3); backoff 1 s, 2 s, 4 s … capped at 10 s. */
  retries?: number;
  signal?: AbortSignal;
  logger?: Logger;
  /** rsync binary (tests point it elsewhere to simulate a missing client). */
  rsyncPath?: string;
  /**
   * The info hash the torrent must have (the signed meta's): a torrent for
   * anything else is refused, so every piece downloaded is then checked
   * against hashes the signature vouches for before it is used.
   */
  expectInfoHash?: string;
}

/** Where a torrent comes from once the caller's string has been checked. */
export type TorrentSource = { kind: 'rsync'; url: string; fileName: string } | { kind: 'file'; path: string };

// Path segments we accept: what the server writes (`torrents/<image>/<version>.torrent`).
// No '%' (no encoded traversal), no leading '-' (never read as an rsync option).
const SEGMENT = /^[A-Za-z0-9_@+][A-Za-z0-9._@+-]*$/;
const HOSTNAME = /^(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])$/;

/** Check a torrent location: `rsync://host[:port]/module/…/<name>.torrent`, a `file://` URL or a local path. */
export function parseTorrentSource(input: string): TorrentSource {
  const bad = (why: string): ImgsrvError =>
    new ImgsrvError('BAD_USAGE', `refusing torrent location ${JSON.stringify(input)}: ${why}`, {
      hint: 'use rsync://<server>[:port]/torrents/<image>/<version>.torrent',
    });
  if (input.startsWith('file://')) return { kind: 'file', path: fileURLToPath(input) };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(input);
  if (scheme && scheme[1]!.toLowerCase() !== 'rsync') {
    // A one-letter "scheme" would be a Windows drive; anything else is a URL we do not fetch.
    throw bad(`only rsync:// URLs are fetched, not ${scheme[1]}:`);
  }
  if (!scheme) {
    if (input === '' || /[\0\n]/.test(input)) throw bad('empty or contains control characters');
    return { kind: 'file', path: resolve(input) };
  }
  if (!input.startsWith('rsync://')) throw bad('expected rsync://host/...');
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw bad('not a valid URL');
  }
  if (!url.hostname || !HOSTNAME.test(url.hostname)) throw bad('missing or invalid host');
  if (url.username || url.password) throw bad('credentials in the URL are not supported');
  if (url.search || url.hash) throw bad('query strings and fragments are not allowed');
  // WHATWG URL parsing resolves "." and ".." and re-encodes characters: a
  // path that changed under parsing is not the one the operator wrote.
  if (input.replace(/^rsync:\/\/[^/]*/, '') !== url.pathname) throw bad('path contains "." or ".." segments or characters that need encoding');
  const segments = url.pathname.split('/').slice(1);
  if (segments.length < 2) throw bad('path must name an rsync module and a file');
  for (const s of segments) {
    if (!SEGMENT.test(s) || s === '.' || s === '..') throw bad(`invalid path segment ${JSON.stringify(s)}`);
  }
  const last = segments[segments.length - 1]!;
  if (!last.endsWith('.torrent') || last === '.torrent') throw bad('path must end in <name>.torrent');
  // <image>-<version>.torrent: versions repeat across images, so keep the image in the local name.
  const fileName = segments.length >= 3 ? `${segments[segments.length - 2]}-${last}` : last;
  return { kind: 'rsync', url: url.href, fileName };
}

/**
 * Fetch the torrent at `url` into `destDir` and return the local path. rsync
 * runs without a shell, stdin closed, with `--timeout`/`--contimeout`, retried
 * with backoff; the result is parsed with parse-torrent (and its info hash
 * compared with `expectInfoHash`) before returning.
 */
export async function fetchTorrent(url: string, destDir: string, opts: FetchTorrentOptions = {}): Promise<string> {
  const source = parseTorrentSource(url);
  await mkdir(destDir, { recursive: true });
  let dest: string;
  if (source.kind === 'file') {
    dest = join(destDir, basename(source.path));
    if (resolve(dest) !== resolve(source.path)) {
      await copyFile(source.path, dest).catch((err: NodeJS.ErrnoException) => {
        throw new ImgsrvError(err.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot read torrent ${source.path}: ${err.message}`, { cause: err });
      });
    }
  } else {
    dest = join(destDir, source.fileName);
    await rsyncWithRetries(source.url, dest, opts);
  }
  const { infoHash } = await checkTorrentFile(dest);
  if (opts.expectInfoHash !== undefined && infoHash !== opts.expectInfoHash) {
    throw new ImgsrvError('IMAGE_INVALID', `the torrent at ${url} is for another image (info hash ${infoHash}, the image's meta says ${opts.expectInfoHash})`, {
      hint: 'the server or something between it and the node served the wrong .torrent; check `imgsrv images verify` on the server, then retry',
    });
  }
  return dest;
}

/** Parse a .torrent file and return its info hash; throws IMAGE_INVALID if it is damaged or not a single-file torrent with pieces. */
export async function checkTorrentFile(path: string): Promise<{ infoHash: string }> {
  const buf = await readFile(path);
  let parsed;
  try {
    parsed = await parseTorrent(buf);
  } catch (err) {
    throw new ImgsrvError('IMAGE_INVALID', `torrent file ${path} is damaged (${(err as Error).message})`, {
      hint: 'republish the image on the server (imgsrv images verify) and retry',
      cause: err,
    });
  }
  if (!parsed.infoHash || !parsed.pieces?.length || !(parsed.length > 0)) {
    throw new ImgsrvError('IMAGE_INVALID', `torrent file ${path} has no pieces`, { hint: 'republish the image on the server' });
  }
  return { infoHash: parsed.infoHash.toLowerCase() };
}

async function rsyncWithRetries(url: string, dest: string, opts: FetchTorrentOptions): Promise<void> {
  const retries = opts.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      await runRsync(url, dest, opts);
      return;
    } catch (err) {
      const e = err as ImgsrvError;
      // A missing rsync binary or a cancel will not get better by waiting.
      if (attempt >= retries || e.code === 'NO_RSYNC' || e.code === 'CANCELLED') throw e;
      const delay = Math.min(1000 * 2 ** attempt, 10_000);
      opts.logger?.warn({ url, attempt: attempt + 1, delayMs: delay, err: e.message }, 'torrent fetch failed, retrying');
      await sleep(delay, opts.signal);
    }
  }
}

// rsync(1) EXIT VALUES that mean "could not talk to the daemon" rather than "no such file".
const UNREACHABLE_EXITS = new Set([10, 12, 30, 35]);

function runRsync(url: string, dest: string, opts: FetchTorrentOptions): Promise<void> {
  const timeoutS = Math.max(1, Math.ceil((opts.timeoutMs ?? 30_000) / 1000));
  const args = [`--timeout=${timeoutS}`, `--contimeout=${timeoutS}`, '--no-motd', '--', url, dest];
  return new Promise((ok, fail) => {
    if (opts.signal?.aborted) return fail(cancelled());
    const child = spawn(opts.rsyncPath ?? 'rsync', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    // Belt and braces over rsync's own timeouts: a wedged client is killed.
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 2000 + 5000);
    const onAbort = (): void => {
      child.kill('SIGTERM');
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      clearTimeout(killer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      done();
      if (err.code === 'ENOENT') {
        fail(new ImgsrvError('NO_RSYNC', 'rsync is not installed on this node', { hint: 'add rsync to the initramfs', cause: err }));
      } else fail(new ImgsrvError('IO', `cannot run rsync: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      done();
      if (code === 0) return ok();
      if (opts.signal?.aborted) return fail(cancelled());
      const detail = stderr.trim().split('\n').find((l) => l.includes('ERROR') || l.includes('failed')) ?? stderr.trim().split('\n')[0] ?? '';
      const what = `rsync ${url} exited with ${signal ?? code}${detail ? `: ${detail}` : ''}`;
      if (code === 23 || /Unknown module|No such file/.test(stderr)) {
        fail(new ImgsrvError('NOT_FOUND', what, { hint: 'is the image published and deployable on the server?' }));
      } else if ((code !== null && UNREACHABLE_EXITS.has(code)) || signal) {
        fail(new ImgsrvError('SERVER_UNREACHABLE', what, { hint: 'check that imgsrv serve is running and its rsync port is reachable' }));
      } else {
        fail(new ImgsrvError('IO', what));
      }
    });
  });
}

function cancelled(): ImgsrvError {
  return new ImgsrvError('CANCELLED', 'torrent fetch cancelled');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((ok, fail) => {
    if (signal?.aborted) return fail(cancelled());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      ok();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      fail(cancelled());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
