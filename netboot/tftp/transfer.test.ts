/**
 * The read-transfer state machine against hand-driven and lossy peers over
 * loopback: duplicate ACKs, foreign TIDs, partial windows, backoff, loss.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { tftpGet } from './client.ts';
import { startTftpServer, type TftpServer, type TftpServerOptions } from './server.ts';
import { RawPeer, seededRandom } from './testdata/raw-peer.ts';

type Event = Parameters<NonNullable<TftpServerOptions['onTransfer']>>[0];

describe('read transfer state machine', () => {
  let dir: string;
  let server: TftpServer;
  const peers: RawPeer[] = [];
  const events: Event[] = [];
  const forty = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyzABCD'); // 40 bytes = 5 blocks of 8 + empty block
  const lossy = randomBytes(200_000 + 99);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tftpxfer-'));
    await mkdir(join(dir, 'root'));
    await writeFile(join(dir, 'root', 'forty'), forty);
    await writeFile(join(dir, 'root', 'lossy'), lossy);
    server = await startTftpServer({
      root: join(dir, 'root'),
      address: '127.0.0.1',
      port: 0,
      // Long enough that a test process slowed by a loaded machine still answers before a retransmission
      // (at 40 ms, a CI run beside VMs saw OACK and DATA resent under the tests' feet).
      timeoutMs: 200,
      maxRetries: 3,
      logger: silentLogger,
      onTransfer: (ev) => events.push(ev),
    });
  });
  afterEach(() => peers.splice(0).forEach((p) => p.close()));
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function peer(): Promise<RawPeer> {
    const p = await RawPeer.open();
    peers.push(p);
    return p;
  }

  it('ignores duplicate ACKs: no duplicate DATA (Sorcerer\'s Apprentice, RFC 1123 §4.2.3.1)', async () => {
    const c = await peer();
    c.send({ type: 'RRQ', filename: 'forty', mode: 'octet', options: { blksize: '8' } }, server.port);
    const oack = await c.next();
    expect(oack?.p).toEqual({ type: 'OACK', options: { blksize: '8' } });
    const tid = oack!.port;
    expect(tid).not.toBe(server.port); // a new transfer ID (RFC 1350 §4)
    c.send({ type: 'ACK', block: 0 }, tid);
    expect((await c.next())?.p).toMatchObject({ type: 'DATA', block: 1 });
    for (let i = 0; i < 3; i++) c.send({ type: 'ACK', block: 1 }, tid);
    const got = await c.drain(100); // shorter than the 200 ms retransmission timeout
    expect(got.map((r) => r.p)).toEqual([{ type: 'DATA', block: 2, data: Buffer.from('89abcdef') }]);
    for (let b = 2; b <= 5; b++) {
      c.send({ type: 'ACK', block: b }, tid);
      expect((await c.next())?.p).toMatchObject({ type: 'DATA', block: b + 1 });
    }
    c.send({ type: 'ACK', block: 6 }, tid);
    await new Promise((r) => setTimeout(r, 50));
    expect(events.at(-1)).toMatchObject({ file: 'forty', ok: true, bytes: 40 });
  });

  it('answers a foreign TID with ERROR 5 and carries on', async () => {
    const c = await peer();
    const intruder = await peer();
    c.send({ type: 'RRQ', filename: 'forty', mode: 'octet', options: { blksize: '20' } }, server.port);
    const tid = (await c.next())!.port;
    c.send({ type: 'ACK', block: 0 }, tid);
    expect((await c.next())?.p).toMatchObject({ type: 'DATA', block: 1 });
    intruder.send({ type: 'ACK', block: 1 }, tid);
    intruder.send(Buffer.from('garbage'), tid);
    expect((await intruder.next())?.p).toMatchObject({ type: 'ERROR', code: 5 });
    expect(await c.drain(100)).toEqual([]); // the intruder's ACK moved nothing
    c.send({ type: 'ACK', block: 1 }, tid);
    expect((await c.next())?.p).toMatchObject({ type: 'DATA', block: 2 });
    c.send({ type: 'ACK', block: 2 }, tid);
    expect((await c.next())?.p).toMatchObject({ type: 'DATA', block: 3, data: Buffer.alloc(0) });
    c.send({ type: 'ACK', block: 3 }, tid);
  });

  it('resends from the block after a partial-window ACK (RFC 7440)', async () => {
    const c = await peer();
    c.send({ type: 'RRQ', filename: 'forty', mode: 'octet', options: { blksize: '8', windowsize: '4' } }, server.port);
    const tid = (await c.next())!.port;
    c.send({ type: 'ACK', block: 0 }, tid);
    const w1 = await c.drain(100);
    expect(w1.map((r) => (r.p.type === 'DATA' ? r.p.block : -1))).toEqual([1, 2, 3, 4]);
    c.send({ type: 'ACK', block: 2 }, tid); // blocks 3 and 4 "lost"
    const w2 = await c.drain(100);
    expect(w2.map((r) => (r.p.type === 'DATA' ? r.p.block : -1))).toEqual([3, 4, 5, 6]);
    c.send({ type: 'ACK', block: 6 }, tid);
  });

  it('retransmits with exponential backoff, then gives up and frees the transfer', async () => {
    const c = await peer();
    const t0 = Date.now();
    c.send({ type: 'RRQ', filename: 'forty', mode: 'octet', options: {} }, server.port);
    const arrivals: number[] = [];
    for (;;) {
      const r = await c.next(2500);
      if (!r) break;
      expect(r.p).toMatchObject({ type: 'DATA', block: 1 });
      arrivals.push(Date.now() - t0);
    }
    expect(arrivals).toHaveLength(4); // first send + maxRetries
    const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!);
    // 200, 400, 800 ms: doubling. Lower bounds only, and loose ones: arrivals are timed at the client, and a
    // busy machine can delay one arrival and not the next (a 4 ms margin failed beside VMs).
    expect(gaps[0]!).toBeGreaterThanOrEqual(150);
    expect(gaps[1]!).toBeGreaterThanOrEqual(300);
    expect(gaps[2]!).toBeGreaterThanOrEqual(600);
    expect(server.active).toBe(0);
    expect(events.at(-1)).toMatchObject({ ok: false, error: expect.stringContaining('timeout') });
  });

  it.each([
    ['lock-step', { blksize: '1024' }],
    ['windowsize 8', { blksize: '1024', windowsize: '8' }],
  ] as [string, Record<string, string>][])('%s: identical bytes through a peer that drops 10%% both ways', async (_, options) => {
    const rnd = seededRandom('windowsize' in options ? 7 : 3);
    const r = await tftpGet({
      address: '127.0.0.1',
      port: server.port,
      file: 'lossy',
      options,
      timeoutMs: 60,
      maxRetries: 20,
      dropIncoming: () => rnd() < 0.1,
      dropOutgoing: (msg) => msg.readUInt16BE(0) === 4 && rnd() < 0.1, // drop ACKs, keep the RRQ
    });
    expect(r.data.equals(lossy)).toBe(true);
  });
});
