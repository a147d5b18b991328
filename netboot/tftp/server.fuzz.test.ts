/**
 * Throw random and mutated datagrams at a running server on loopback (its
 * listening port and live transfer ports) for a bounded time, then check it
 * still serves a real transfer and counted the garbage.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { tftpGet } from './client.ts';
import { encode, type TftpPacket } from './codec.ts';
import { startTftpServer, type TftpServer } from './server.ts';
import { seededRandom } from './testdata/raw-peer.ts';

const BUDGET_MS = Number(process.env['FUZZ_MS'] ?? 3000);

describe('tftp server fuzz', () => {
  let dir: string;
  let server: TftpServer;
  const registry = new Registry();
  const file = randomBytes(50_000);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tftpfuzz-'));
    await mkdir(join(dir, 'root'));
    await writeFile(join(dir, 'root', 'file'), file);
    server = await startTftpServer({ root: join(dir, 'root'), address: '127.0.0.1', port: 0, timeoutMs: 20, maxRetries: 2, logger: silentLogger, registry });
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`survives ${BUDGET_MS} ms of garbage and still transfers`, async () => {
    const rnd = seededRandom(Number(process.env['FUZZ_SEED'] ?? 11));
    const pick = (n: number) => Math.floor(rnd() * n);
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    // Transfer ports the server opens for our RRQs: fuzz those too.
    const tids = new Set<number>();
    sock.on('message', (_m, rinfo) => {
      if (rinfo.port !== server.port) tids.add(rinfo.port);
    });
    const valid: TftpPacket[] = [
      { type: 'RRQ', filename: 'file', mode: 'octet', options: { blksize: String(pick(70000)), windowsize: String(pick(100)), tsize: '0' } },
      { type: 'RRQ', filename: '../../etc/passwd', mode: 'octet', options: {} },
      { type: 'RRQ', filename: 'file', mode: 'mail', options: {} },
      { type: 'WRQ', filename: 'file', mode: 'octet', options: {} },
      { type: 'ACK', block: pick(65536) },
      { type: 'DATA', block: 1, data: randomBytes(pick(600)) },
      { type: 'ERROR', code: pick(9), message: 'x' },
      { type: 'OACK', options: { blksize: '8' } },
    ];
    const end = Date.now() + BUDGET_MS;
    let sent = 0;
    while (Date.now() < end) {
      for (let k = 0; k < 50; k++, sent++) {
        let msg: Buffer = rnd() < 0.4 ? randomBytes(pick(120)) : encode(valid[pick(valid.length)]!);
        if (rnd() < 0.5 && msg.length > 0) msg[pick(msg.length)] = pick(256);
        const ports = [server.port, ...tids];
        sock.send(msg, ports[pick(ports.length)]!, '127.0.0.1');
      }
      await new Promise((r) => setImmediate(r));
    }
    sock.close();
    expect(sent).toBeGreaterThan(1000);

    const r = await tftpGet({ address: '127.0.0.1', port: server.port, file: 'file', options: { blksize: '1468', windowsize: '4' } });
    expect(r.data.equals(file)).toBe(true);
    const metrics = await registry.getSingleMetricAsString('imgsrv_tftp_dropped_total');
    expect(metrics).toMatch(/reason="unknown-opcode"/);
    // Abandoned fuzz transfers time out (20 ms, 2 retries) and are freed.
    await new Promise((r) => setTimeout(r, 400));
    expect(server.active).toBe(0);
  });
});
