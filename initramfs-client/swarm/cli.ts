#!/usr/bin/env node
/**
 * Headless swarm download, for the lab tests and the swarm benchmark (and a
 * person debugging a node):
 *
 *   node initramfs-client/swarm/cli.ts (--torrent <rsync-url|file> | --plan) --dir DIR --address IP
 *        [--port N] [--out FILE|-] [--unpack DIR] [--server URL --token-file F --mac MAC]
 *        [--linger SECONDS] [--upload-limit BYTES_PER_S] [--web-seed fallback|always|never] [--json]
 *        [--report-interval SECONDS] [--stall-timeout SECONDS] [--log-level LEVEL]
 *
 * Fetches the torrent, downloads into DIR, writes the in-order stream to
 * --out (or only hashes it; with --unpack, restores its files into DIR as
 * the node's restore does, so the lag of a real unpack is measured), reports progress to the server every
 * --report-interval seconds (default 3; also how often it asks whether the
 * deployment is done), then seeds until the server says it is or the linger
 * time (default 600 s, the server's swarm.linger) ends. With --json, stdout
 * gets one JSON line per second (`{"event":"progress",…}`),
 * `{"event":"complete",…}` when the image is
 * downloaded and verified and the stream consumed (sha256 of the streamed
 * bytes, timings, sources, and how far the stream trailed the download),
 * and `{"event":"seeded",…}` when it stops seeding. Exit 0 on success, 1 on
 * failure, 2 on bad usage, with one line on stderr.
 *
 * --plan (with --server, --token-file and --mac) is a simulated node: it
 * reports `booted`, asks for its deployment plan as the node client does
 * (`{"event":"plan",…}`), downloads the plan's torrent, fails unless the
 * stream's size and sha256 are the plan's image's, seeds with the plan's
 * linger, and reports `done` at the end or `failed` with the reason.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, Writable, type Writable as WritableT } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { ImgsrvError } from '../../core/errors.ts';
import { createRootLogger, type Logger } from '../../core/log.ts';
import { unpackImage } from '../../images/unpack.ts';
import { SwarmDownload, type SwarmStats, type WebSeedMode } from '../../torrent/download.ts';
import { fetchTorrent, parseTorrentSource } from './fetch-torrent.ts';
import type { ReportedPhase } from '../../contract/report.ts';
import { createReporter, type ClientReport } from '../client/api.ts';
import { checkAgainstPlan, targetFromPlan, type DownloadTarget } from './cli-plan.ts';
import { swarmDone, type NodeApi } from './node-api.ts';

/** Validated command-line options. */
export interface CliOptions {
  /** null with --plan: the torrent comes from the server's plan. */
  torrent: string | null;
  plan: boolean;
  dir: string;
  address: string;
  port: number;
  out: string | null;
  /** Unpack the image into this directory (images/unpack.ts) instead of writing it to --out. */
  unpack: string | null;
  api: NodeApi | null;
  /** null: the plan's linger, else 600 s (the server's swarm.linger default). */
  lingerMs: number | null;
  uploadLimit: number;
  webSeeds: WebSeedMode;
  json: boolean;
  reportMs: number;
  /** Fail when no byte arrives for this long before the image is complete (0 = wait forever). */
  stallMs: number;
  logLevel: string;
}

const usage = (msg: string): ImgsrvError =>
  new ImgsrvError('BAD_USAGE', msg, { hint: 'usage: cli.ts (--torrent <rsync-url|file> | --plan) --dir DIR --address IP [--out FILE|-] [--server URL --token-file F --mac MAC] [--linger S] [--json]' });

function webSeedMode(raw: string | undefined): WebSeedMode {
  if (raw === undefined) return 'fallback';
  if (raw === 'fallback' || raw === 'always' || raw === 'never') return raw;
  throw usage(`--web-seed must be fallback, always or never, not ${JSON.stringify(raw)}`);
}

/** Parse and check argv (without node and script). */
export function parseCli(argv: string[]): CliOptions {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        torrent: { type: 'string' },
        plan: { type: 'boolean' },
        dir: { type: 'string' },
        address: { type: 'string' },
        port: { type: 'string' },
        out: { type: 'string' },
        unpack: { type: 'string' },
        server: { type: 'string' },
        'token-file': { type: 'string' },
        mac: { type: 'string' },
        linger: { type: 'string' },
        'upload-limit': { type: 'string' },
        'web-seed': { type: 'string' },
        'report-interval': { type: 'string' },
        'stall-timeout': { type: 'string' },
        'log-level': { type: 'string' },
        json: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    throw usage((err as Error).message);
  }
  const num = (name: string, raw: string | undefined, dflt: number): number => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw usage(`--${name} must be a number >= 0, not ${JSON.stringify(raw)}`);
    return n;
  };
  if (!v.torrent && !v.plan) throw usage('--torrent is required (or --plan, to take it from the server)');
  if (v.torrent && v.plan) throw usage('--torrent and --plan exclude each other');
  for (const k of ['dir', 'address'] as const) if (!v[k]) throw usage(`--${k} is required`);
  if (v.torrent) parseTorrentSource(v.torrent); // refuse a bad URL before touching the disk or the network
  if (v.out === '-' && v.json) throw usage('--out - and --json both want stdout; write the image to a file');
  if (v.out && v.unpack) throw usage('--out and --unpack exclude each other');
  let api: NodeApi | null = null;
  if (v.plan && !v.server) throw usage('--plan needs --server, --token-file and --mac');
  if (v.server || v['token-file'] || v.mac) {
    if (!v.server || !v['token-file'] || !v.mac) throw usage('--server, --token-file and --mac go together');
    if (!/^https?:\/\//.test(v.server)) throw usage(`--server must be an http:// URL, not ${JSON.stringify(v.server)}`);
    if (!/^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$/.test(v.mac)) throw usage(`--mac ${JSON.stringify(v.mac)} is not a MAC address`);
    let token: string;
    try {
      token = readFileSync(v['token-file'], 'utf8').trim();
    } catch (err) {
      throw usage(`cannot read --token-file: ${(err as Error).message}`);
    }
    api = { server: v.server, token, mac: v.mac.toLowerCase().replaceAll('-', ':') };
  }
  const port = num('port', v.port, 0);
  if (!Number.isInteger(port) || port > 65535) throw usage('--port must be 0..65535');
  return {
    torrent: v.torrent ?? null,
    plan: !!v.plan,
    dir: v.dir!,
    address: v.address!,
    port,
    out: v.out ?? null,
    unpack: v.unpack ?? null,
    api,
    lingerMs: v.linger === undefined ? null : num('linger', v.linger, 0) * 1000,
    uploadLimit: num('upload-limit', v['upload-limit'], 0),
    webSeeds: webSeedMode(v['web-seed']),
    json: !!v.json,
    reportMs: num('report-interval', v['report-interval'], 3) * 1000,
    stallMs: num('stall-timeout', v['stall-timeout'], 300) * 1000,
    logLevel: v['log-level'] ?? 'info',
  };
}

/** Run the download (with --plan, the deployment); resolves with the process exit code. */
export async function runCli(o: CliOptions, log: Logger, signal: AbortSignal): Promise<number> {
  const emit = (event: string, data: object): void => {
    if (o.json) process.stdout.write(`${JSON.stringify({ event, ...data })}\n`);
  };
  // The server being down must not stop a node that can get the image from its peers: reports are best effort.
  const report = o.api ? createReporter(o.api, log) : async (): Promise<boolean> => false;
  if (!o.plan) return download(o, { torrent: o.torrent!, expected: null, lingerSec: null }, report, emit, log, signal);
  const target = await targetFromPlan(o.api!, o.address, report, log, signal, (plan) =>
    emit('plan', plan.action === 'restore' ? { action: plan.action, image: plan.image, torrentUrl: plan.torrentUrl } : { action: plan.action, reason: plan.reason }),
  );
  if (!target) return 0;
  try {
    return await download(o, target, report, emit, log, signal);
  } catch (err) {
    // As the node client does: the console and the install state say why.
    if (!signal.aborted) await report({ phase: 'failed', message: err instanceof ImgsrvError ? err.oneLine() : String(err) });
    throw err;
  }
}

async function download(
  o: CliOptions,
  target: DownloadTarget,
  send: (r: ClientReport) => Promise<boolean>,
  emit: (event: string, data: object) => void,
  log: Logger,
  signal: AbortSignal,
): Promise<number> {
  const t0 = performance.now();
  const seconds = (): number => Math.round(performance.now() - t0) / 1000;
  const infoHash = target.expected?.infoHash;
  const torrentFile = await fetchTorrent(target.torrent, join(o.dir, '.torrents'), { logger: log, signal, ...(infoHash ? { expectInfoHash: infoHash } : {}) });
  const dl = await SwarmDownload.start({
    torrentFile,
    dataDir: o.dir,
    address: o.address,
    port: o.port,
    webSeeds: o.webSeeds,
    uploadLimit: o.uploadLimit,
    logger: log,
    signal,
  });
  let phase: ReportedPhase = 'downloading';
  const report = (): Promise<boolean> => send({ phase, swarm: dl.stats() });
  const reporter = setInterval(() => void report(), o.reportMs || 3000);
  try {
    void report();
    // A swarm with no source left (seeder gone, no web seed, tracker down)
    // would wait forever: after --stall-timeout without a byte, give up.
    let lastBytes = 0;
    let lastChange = performance.now();
    const stalled = new Promise<never>((_ok, fail) => {
      dl.on('progress', (s: SwarmStats) => {
        emit('progress', { seconds: seconds(), ...s });
        const got = s.fromPeers + s.fromWebSeed;
        if (got !== lastBytes || s.done) {
          lastBytes = got;
          lastChange = performance.now();
        } else if (o.stallMs > 0 && performance.now() - lastChange > o.stallMs) {
          fail(new ImgsrvError('CONNECTION_LOST', `no data from any peer or the web seed for ${o.stallMs / 1000} s (${Math.round(s.progress * 100)}% done, ${s.peers} peers)`, {
            hint: 'check that imgsrv serve is seeding this image and its tracker and web seed are reachable',
          }));
        }
      });
    });
    stalled.catch(() => {});
    const hash = createHash('sha256');
    let bytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        cb(null, chunk);
      },
    });
    let downloadedAt = 0;
    const downloaded = dl.whenComplete().then(() => {
      downloadedAt = seconds();
    });
    const restored = (o.unpack ? unpackTo(o.unpack, dl, tap, log, signal) : pipeline(dl.stream(), tap, sinkFor(o.out), { end: o.out !== '-' })).then(() => dl.restoreEnded());
    await Promise.race([Promise.all([restored, downloaded]), stalled]);
    const s = dl.stats();
    const downloadSeconds = seconds();
    const sha256 = hash.digest('hex');
    checkAgainstPlan(target.expected, { sha256, bytes });
    emit('complete', {
      infoHash: s.infoHash,
      sha256,
      bytes,
      ...(target.expected ? { verifiedAgainst: target.expected.image } : {}),
      seconds: downloadSeconds,
      downloadSeconds: downloadedAt,
      lag: s.lag,
      fromPeers: s.fromPeers,
      fromWebSeed: s.fromWebSeed,
      uploaded: s.uploaded,
      banned: s.banned,
      bySource: dl.bytesBySource(),
    });
    log.info({ seconds: downloadSeconds, bytes }, 'download complete; seeding');
    phase = 'seeding';
    void report();
    const api = o.api;
    const result = await dl.seedUntil({
      lingerMs: o.lingerMs ?? (target.lingerSec ?? 600) * 1000,
      pollMs: o.reportMs || 3000,
      ...(api ? { isDone: () => swarmDone(api, s.infoHash) } : {}),
    });
    // The node client reports `done` once it stops seeding (deploy.ts); a bare download stays `seeding`.
    if (o.plan) phase = 'done';
    await report();
    emit('seeded', { result, uploaded: dl.stats().uploaded, seconds: seconds(), seedSeconds: Math.round((seconds() - downloadSeconds) * 1000) / 1000 });
    return 0;
  } finally {
    clearInterval(reporter);
    await dl.close();
  }
}

/** Where the streamed image goes without --unpack: stdout, a file, or nowhere (only hashed). */
function sinkFor(out: string | null): WritableT {
  return out === '-' ? process.stdout : out ? createWriteStream(out) : new Writable({ write: (_c, _e, cb) => cb() });
}

/** Restore the stream's files into `dir` (created if missing) as the node's restore does, hashing the compressed bytes on the way. */
async function unpackTo(dir: string, dl: SwarmDownload, tap: Transform, log: Logger, signal: AbortSignal): Promise<void> {
  await mkdir(dir, { recursive: true });
  const source = dl.stream();
  source.once('error', (err) => tap.destroy(err));
  await unpackImage({ input: source.pipe(tap), target: dir, signal, logger: log });
}

export async function main(): Promise<void> {
  let opts: CliOptions;
  try {
    opts = parseCli(process.argv.slice(2));
  } catch (err) {
    const e = err as ImgsrvError;
    process.stderr.write(`imgsrv-swarm: ${e.oneLine()}\n`);
    process.exit(e.exitCode);
  }
  const log = createRootLogger(opts.logLevel as 'info').child({ subsystem: 'swarm-cli' });
  const ac = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => ac.abort());
  try {
    process.exitCode = await runCli(opts, log, ac.signal);
  } catch (err) {
    const e = err instanceof ImgsrvError ? err : new ImgsrvError('INTERNAL', (err as Error).message ?? String(err), { cause: err });
    process.stderr.write(`imgsrv-swarm: ${ac.signal.aborted ? 'cancelled' : e.oneLine()}\n`);
    process.exitCode = ac.signal.aborted ? 130 : 1;
  }
  // webtorrent leaves timers (tracker retries) behind even after destroy; do not wait on them.
  setTimeout(() => process.exit(), 200).unref();
}

if (import.meta.main) await main();
