/** The server over real loopback sockets: negotiation, windows, rollover, refusals. */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { tftpGet } from './client.ts';
import { RawPeer } from './testdata/raw-peer.ts';
import { startTftpServer, type TftpServer, type TftpServerOptions } from './server.ts';

type Event = Parameters<NonNullable<TftpServerOptions['onTransfer']>>[0];

describe('TFTP server over loopback', () => {
  let dir: string;
  let server: TftpServer;
  const registry = new Registry();
  const events: Event[] = [];
  const files: Record<string, Buffer> = {
    'small.txt': Buffer.from('hello, node\n'),
    'exact.bin': randomBytes(1468 * 3), // a multiple of blksize: ends with an empty block
    'medium.bin': randomBytes(300_000 + 7),
  };
  const virtualSeen: { name: string; address: string }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tftpsrv-'));
    await writeFile(join(dir, 'outside'), 'SECRET');
    await mkdir(join(dir, 'root'));
    for (const [name, data] of Object.entries(files)) await writeFile(join(dir, 'root', name), data);
    await symlink('../outside', join(dir, 'root', 'escape'));
    server = await startTftpServer({
      root: join(dir, 'root'),
      address: '127.0.0.1',
      port: 0,
      // Retransmissions are what some tests here are about, but a client slowed by a loaded machine must
      // not see spurious ones: 200 ms, not 50.
      timeoutMs: 200,
      maxRetries: 8,
      // Every request here comes from 127.0.0.1: the caps have their own tests (limits.server.test.ts).
      maxTransfers: 2000,
      maxTransfersPerAddress: 2000,
      logger: silentLogger,
      registry,
      onTransfer: (ev) => events.push(ev),
      resolveVirtual: async (name, remote) => {
        virtualSeen.push({ name, address: remote.address });
        return name === 'pxelinux.cfg/01-52-54-00-00-00-01' ? Buffer.from('DEFAULT node1\n') : null;
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const get = (file: string, options?: Record<string, string>) =>
    tftpGet({ address: '127.0.0.1', port: server.port, file, ...(options ? { options } : {}) });

  it('serves a file with RFC 1350 defaults (no options, no OACK)', async () => {
    const r = await get('small.txt');
    expect(r.oack).toBeNull();
    expect(r.data.equals(files['small.txt']!)).toBe(true);
  });

  it('negotiates blksize and tsize, ending a block-multiple file with an empty block', async () => {
    const r = await get('exact.bin', { blksize: '1468', tsize: '0' });
    expect(r.oack).toEqual({ blksize: '1468', tsize: String(1468 * 3) });
    expect(r.data.equals(files['exact.bin']!)).toBe(true);
  });

  it('caps a large blksize at the configured max and honours a smaller one', async () => {
    expect((await get('medium.bin', { blksize: '65464' })).oack).toEqual({ blksize: '1468' });
    const r = await get('medium.bin', { BLKSIZE: '100' });
    expect(r.oack).toEqual({ blksize: '100' });
    expect(r.data.equals(files['medium.bin']!)).toBe(true);
  });

  it('sends windows of blocks (RFC 7440)', async () => {
    const r = await get('medium.bin', { blksize: '1000', windowsize: '8', timeout: '1' });
    expect(r.oack).toEqual({ blksize: '1000', windowsize: '8', timeout: '1' });
    expect(r.data.equals(files['medium.bin']!)).toBe(true);
  });

  it('serves virtual files before the file system, with the requester address', async () => {
    const r = await get('/pxelinux.cfg/01-52-54-00-00-00-01');
    expect(r.data.toString()).toBe('DEFAULT node1\n');
    expect(virtualSeen).toContainEqual({ name: 'pxelinux.cfg/01-52-54-00-00-00-01', address: '127.0.0.1' });
    await expect(get('pxelinux.cfg/01-52-54-00-00-00-02')).rejects.toThrow('ERROR 1');
  });

  it('refuses writes, netascii, missing files and names that leave the root', async () => {
    const peer = await RawPeer.open();
    peer.send({ type: 'WRQ', filename: 'x', mode: 'octet', options: {} }, server.port);
    expect((await peer.next())?.p).toMatchObject({ type: 'ERROR', code: 2 });
    peer.close();
    await expect(tftpGet({ address: '127.0.0.1', port: server.port, file: 'small.txt', mode: 'netascii' })).rejects.toThrow(/ERROR 4.*octet/);
    await expect(get('nope')).rejects.toThrow('ERROR 1');
    await expect(get('../outside')).rejects.toThrow('ERROR 2');
    await expect(get('escape')).rejects.toThrow('ERROR 2');
    await expect(get('a\\b')).rejects.toThrow('ERROR 2');
  });

  it('rolls block numbers over past 65535 (33 MiB at blksize 512)', async () => {
    const big = randomBytes(33 * 1024 * 1024 + 123);
    await writeFile(join(dir, 'root', 'big.bin'), big);
    // A window keeps this unit test fast; the lock-step case runs in the lab with tftp-hpa.
    const r = await get('big.bin', { blksize: '512', windowsize: '32' });
    expect(r.size).toBe(big.length);
    expect(r.data.equals(big)).toBe(true);
  });

  it('runs many transfers at once', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => get(i % 2 ? 'medium.bin' : 'exact.bin', { blksize: String(512 + i), windowsize: String(1 + (i % 4)) })),
    );
    results.forEach((r, i) => expect(r.data.equals(files[i % 2 ? 'medium.bin' : 'exact.bin']!)).toBe(true));
    // The server frees a transfer when the last ACK arrives; on a loaded machine that can trail the client's end.
    for (let i = 0; i < 100 && server.active > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.active).toBe(0);
  });

  // The server asks for 4 MiB; the kernel grants at most net.core.rmem_max (4 MiB on our machines, ~200 KiB by default).
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  it.skipIf(rmemMax < 2 << 20)('answers a burst of 1,000 requests that all arrive before it reads one (a rack of ROMs at once)', async () => {
    // Each from its own port, all sent in one tick: they queue on the listening socket together,
    // and a default-sized receive queue (~200 KiB) drops most of them.
    const peers = await Promise.all(Array.from({ length: 1000 }, () => RawPeer.open()));
    try {
      for (const p of peers) p.send({ type: 'RRQ', filename: 'burst-missing', mode: 'octet', options: {} }, server.port);
      const replies = await Promise.all(peers.map((p) => p.next(5000)));
      expect(replies.filter((r) => r?.p.type === 'ERROR' && r.p.code === 1)).toHaveLength(peers.length);
    } finally {
      for (const p of peers) p.close();
    }
  });

  it('fails to start with a coded SOCKET error when the port is taken', async () => {
    await expect(startTftpServer({ root: join(dir, 'root'), address: '127.0.0.1', port: server.port, logger: silentLogger })).rejects.toMatchObject({
      name: 'ImgsrvError',
      code: 'SOCKET',
      message: expect.stringContaining('EADDRINUSE'),
    });
  });

  it('close() aborts running transfers with an ERROR to the client', async () => {
    const other = await startTftpServer({ root: join(dir, 'root'), address: '127.0.0.1', port: 0, logger: silentLogger });
    const peer = await RawPeer.open();
    peer.send({ type: 'RRQ', filename: 'medium.bin', mode: 'octet', options: {} }, other.port);
    const first = await peer.next();
    expect(first?.p).toMatchObject({ type: 'DATA', block: 1 });
    expect(other.active).toBe(1);
    await other.close();
    expect(other.active).toBe(0);
    expect((await peer.next())?.p).toMatchObject({ type: 'ERROR', message: 'server shutting down' });
    peer.close();
  });

  it('counts transfers and reports each through onTransfer', async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/imgsrv_tftp_transfers_total\{result="ok"\} \d+/);
    expect(text).toMatch(/imgsrv_tftp_transfers_total\{result="refused"\} \d+/);
    expect(events.find((e) => e.file === 'small.txt' && e.ok)).toMatchObject({ bytes: files['small.txt']!.length });
  });
});
