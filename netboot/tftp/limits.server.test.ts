/**
 * Issue 25 over loopback: the caps (per address, total, with eviction of
 * unanswered transfers), the clamped timeout, the lifetime, files opened only
 * once admitted, and a log that stays short under a flood. Clients are told
 * apart by their loopback address (127.0.0.0/8 is all local on Linux).
 */
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../../core/log.ts';
import { tftpGet } from './client.ts';
import { RawPeer } from './testdata/raw-peer.ts';
import { startTftpServer, type TftpServer, type TftpServerOptions } from './server.ts';

const FILE = Buffer.alloc(64 * 1024, 7); // 128 blocks of 512

/** A logger that keeps every line it writes. */
function captureLogger(): { logger: Logger; lines: () => Array<{ msg: string; reason?: string; suppressed?: number }> } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines: () => out.map((l) => JSON.parse(l) as { msg: string }) };
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getSingleMetric(name)?.get())?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return m?.value ?? 0;
}

describe('TFTP server limits (issue 25)', () => {
  let dir: string;
  const servers: TftpServer[] = [];
  const peers: RawPeer[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tftplimits-'));
    await mkdir(join(dir, 'root'));
    await writeFile(join(dir, 'root', 'file.bin'), FILE);
  });
  afterEach(async () => {
    peers.splice(0).forEach((p) => p.close());
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function start(o: Partial<TftpServerOptions> = {}): Promise<TftpServer> {
    const s = await startTftpServer({ root: join(dir, 'root'), address: '127.0.0.1', port: 0, timeoutMs: 1000, logger: silentLogger, ...o });
    servers.push(s);
    return s;
  }
  async function peer(address = '127.0.0.1'): Promise<RawPeer> {
    const p = await RawPeer.open(address);
    peers.push(p);
    return p;
  }
  /** Send an RRQ that gets an OACK (blksize), and return the first reply. */
  async function request(server: TftpServer, p: RawPeer, options: Record<string, string> = { blksize: '512' }) {
    p.send({ type: 'RRQ', filename: 'file.bin', mode: 'octet', options }, server.port);
    return p.next(2000);
  }

  it('refuses a client address past its cap with an ERROR, and counts it; other addresses still get in', async () => {
    const registry = new Registry();
    const server = await start({ maxTransfers: 10, maxTransfersPerAddress: 2, registry });
    const [a, b, c] = [await peer(), await peer(), await peer()];
    expect((await request(server, a))?.p.type).toBe('OACK');
    expect((await request(server, b))?.p.type).toBe('OACK');
    expect((await request(server, c))?.p).toEqual({ type: 'ERROR', code: 0, message: 'server busy, try again later' });
    expect(await metric(registry, 'imgsrv_tftp_limited_total', { reason: 'busy-address' })).toBe(1);
    expect(await metric(registry, 'imgsrv_tftp_transfers_total', { result: 'refused' })).toBe(1);
    expect((await request(server, await peer('127.0.0.2')))?.p.type).toBe('OACK');
    expect(server.active).toBe(3);
  });

  it('when full, ends the oldest transfer whose client never answered for the newcomer; answered ones keep going', async () => {
    const registry = new Registry();
    const server = await start({ maxTransfers: 2, maxTransfersPerAddress: 8, registry });
    const real = await peer('127.0.0.2');
    const oack = await request(server, real);
    expect(oack?.p.type).toBe('OACK');
    real.send({ type: 'ACK', block: 0 }, oack!.port); // answered: never evicted
    expect((await real.next())?.p).toMatchObject({ type: 'DATA', block: 1 });
    const forged = await peer('127.0.0.3'); // never answers, like a spoofed source
    expect((await request(server, forged))?.p.type).toBe('OACK');
    const newcomer = await peer('127.0.0.4');
    expect((await request(server, newcomer))?.p.type).toBe('OACK');
    expect((await forged.next())?.p).toEqual({ type: 'ERROR', code: 0, message: 'server busy, try again later' });
    expect(await metric(registry, 'imgsrv_tftp_limited_total', { reason: 'evicted' })).toBe(1);
    // Once the evicted transfer has closed, the next request evicts the newcomer (unanswered), not the real client.
    for (let i = 0; i < 100 && server.active > 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.active).toBe(2);
    expect((await request(server, await peer('127.0.0.5')))?.p.type).toBe('OACK');
    expect((await newcomer.next())?.p).toMatchObject({ type: 'ERROR', message: 'server busy, try again later' });
    real.send({ type: 'ACK', block: 1 }, oack!.port);
    expect((await real.next())?.p).toMatchObject({ type: 'DATA', block: 2 });
  });

  it('refuses when every slot is held by a client that answered', async () => {
    const registry = new Registry();
    const server = await start({ maxTransfers: 1, maxTransfersPerAddress: 8, registry });
    const a = await peer('127.0.0.2');
    const oack = await request(server, a);
    a.send({ type: 'ACK', block: 0 }, oack!.port);
    expect((await a.next())?.p).toMatchObject({ type: 'DATA', block: 1 });
    expect((await request(server, await peer('127.0.0.3')))?.p).toMatchObject({ type: 'ERROR', code: 0 });
    expect(await metric(registry, 'imgsrv_tftp_limited_total', { reason: 'busy' })).toBe(1);
  });

  it('leaves a timeout above the cap out of the OACK (a smaller value would break UEFI clients) and uses its own', async () => {
    const server = await start({ maxTimeoutSeconds: 10 });
    const r = await tftpGet({ address: '127.0.0.1', port: server.port, file: 'file.bin', options: { timeout: '255', tsize: '0', blksize: '1024' } });
    expect(r.oack).toEqual({ tsize: String(FILE.length), blksize: '1024' });
    expect(r.data.equals(FILE)).toBe(true);
    const alone = await peer();
    alone.send({ type: 'RRQ', filename: 'file.bin', mode: 'octet', options: { timeout: '255' } }, server.port);
    expect((await alone.next())?.p).toMatchObject({ type: 'DATA', block: 1 }); // no option left: RFC 1350 start
    const ok = await tftpGet({ address: '127.0.0.1', port: server.port, file: 'file.bin', options: { timeout: '10' } });
    expect(ok.oack).toEqual({ timeout: '10' });
  });

  it('ends a transfer still running after maxTransferMs with an ERROR, however alive its client is', async () => {
    const registry = new Registry();
    const events: unknown[] = [];
    const server = await start({ maxTransferMs: 300, timeoutMs: 100, registry, onTransfer: (e) => events.push(e) });
    const slow = await peer();
    slow.send({ type: 'RRQ', filename: 'file.bin', mode: 'octet', options: {} }, server.port);
    const started = Date.now();
    let last;
    // A slow client: each block is acknowledged 40 ms after it arrives, well inside the server's timeout.
    for (;;) {
      last = await slow.next(2000);
      if (!last || last.p.type !== 'DATA') break;
      await new Promise((r) => setTimeout(r, 40));
      slow.send({ type: 'ACK', block: last.p.block }, last.port);
    }
    expect(last?.p).toEqual({ type: 'ERROR', code: 0, message: 'transfer not finished after 0.3 s' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(await metric(registry, 'imgsrv_tftp_limited_total', { reason: 'lifetime' })).toBe(1);
    for (let i = 0; i < 50 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(events).toMatchObject([{ ok: false, error: 'transfer not finished after 0.3 s' }]);
  });

  it('opens no file and no socket for a refused request: 2,000 requests past the caps leave the descriptors flat', async () => {
    const registry = new Registry();
    const server = await start({ maxTransfers: 4, maxTransfersPerAddress: 2, registry });
    const flood = await Promise.all(Array.from({ length: 500 }, (_, i) => peer(`127.0.1.${1 + (i % 4)}`)));
    const before = openFds();
    let peak = before;
    for (let round = 0; round < 4; round++) {
      for (const p of flood) p.send({ type: 'RRQ', filename: 'file.bin', mode: 'octet', options: { timeout: '255', blksize: '512' } }, server.port);
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 5));
        peak = Math.max(peak, openFds());
      }
    }
    await new Promise((r) => setTimeout(r, 100));
    peak = Math.max(peak, openFds());
    // At most maxTransfers + headroom (4 + 1) slots, each a socket and a file handle.
    expect(peak - before).toBeLessThanOrEqual(2 * 5);
    expect(server.active).toBeLessThanOrEqual(5);
    // Most are refused with an ERROR (a few admitted by evicting, a few retries of endpoints being served).
    expect(await metric(registry, 'imgsrv_tftp_transfers_total', { result: 'refused' })).toBeGreaterThan(1000);
  });

  it('logs a flood of refusals in a few lines plus a count, not one line each', async () => {
    const { logger, lines } = captureLogger();
    const server = await start({ maxTransfers: 100, maxTransfersPerAddress: 1, logIntervalMs: 200, logger });
    const flood = await Promise.all(Array.from({ length: 300 }, () => peer()));
    for (const p of flood) p.send({ type: 'RRQ', filename: 'file.bin', mode: 'octet', options: { blksize: '512' } }, server.port);
    await Promise.all(flood.map((p) => p.next(2000)));
    await new Promise((r) => setTimeout(r, 500)); // past the next interval: the summary line is out
    const busy = lines().filter((l) => l.reason === 'busy-address');
    const each = busy.filter((l) => l.suppressed === undefined).length;
    const counted = busy.reduce((n, l) => n + (l.suppressed ?? 0), 0);
    expect(each).toBeLessThanOrEqual(6); // 3 per interval; the flood may straddle two
    expect(each + counted).toBe(299); // every refusal either logged or counted
    expect(lines().length).toBeLessThan(20);
  });
});
