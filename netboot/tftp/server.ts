/**
 * The TFTP service: a read-only server on one address. The listening socket
 * only takes requests; each accepted RRQ gets its own ephemeral socket bound
 * to the same address (its transfer ID, RFC 1350 §4) and a ReadTransfer.
 */
import { createSocket, type RemoteInfo, type Socket, type SocketOptions } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { Registry } from 'prom-client';
import { counter } from '../metrics.ts';
import type { Logger } from '../../core/log.ts';
import { ImgsrvError } from '../../core/errors.ts';
import { ERROR_CODES, TftpDecodeError, decode, encode, type TftpRequest } from './codec.ts';
import { negotiate } from './options.ts';
import { TftpRoot, cleanName } from './root.ts';
import { BlockReader, bufferSource, fileSource, type ByteSource } from './source.ts';
import { ReadTransfer } from './transfer.ts';

/** Options of `startTftpServer`. */
export interface TftpServerOptions {
  root: string;
  address: string;
  /** Default 69. 0 picks a free port (tests). */
  port?: number;
  /** Largest blksize agreed to; default 1468 (fits a 1500-byte MTU). */
  maxBlockSize?: number;
  /** Largest RFC 7440 windowsize agreed to; default 32. */
  maxWindowSize?: number;
  /** Initial retransmission timeout; default 1000 ms, doubled on each retry. */
  timeoutMs?: number;
  /** Retransmissions before a transfer gives up; default 5. */
  maxRetries?: number;
  /** Consulted before the file system with the cleaned name; a Buffer is served as that file. */
  resolveVirtual?: (name: string, remote: { address: string; port: number }) => Promise<Buffer | null>;
  /** Called once per finished transfer (ok or not). */
  onTransfer?: (ev: { file: string; remote: string; bytes: number; ms: number; ok: boolean; error?: string }) => void;
  logger: Logger;
  registry?: Registry;
}

/** A running TFTP server. */
export interface TftpServer {
  close(): Promise<void>;
  readonly port: number;
  /** Transfers in progress (including those still opening their file). */
  readonly active: number;
}

function bind(socket: Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/**
 * Transfer sockets only send to the IP literal a request came from: answer
 * the address lookup dgram does before every send at once, instead of
 * through dns.lookup and a tick per datagram.
 */
function literalLookup(family: 4 | 6): NonNullable<SocketOptions['lookup']> {
  const lookup = (address: string, _opts: unknown, cb: (err: null, address: string, family: number) => void) => cb(null, address, family);
  return lookup as unknown as NonNullable<SocketOptions['lookup']>;
}

/** Start the server; rejects with an ImgsrvError (code SOCKET) if the address cannot be bound. */
export async function startTftpServer(opts: TftpServerOptions): Promise<TftpServer> {
  const log = opts.logger;
  const registry = opts.registry ?? new Registry();
  const dropped = counter(registry, 'imgsrv_tftp_dropped_total', 'TFTP datagrams dropped, by reason', ['reason']);
  const transfers = counter(registry, 'imgsrv_tftp_transfers_total', 'TFTP read requests by result', ['result']);
  const sentBytes = counter(registry, 'imgsrv_tftp_sent_bytes_total', 'TFTP DATA payload bytes sent, retransmissions included');
  const retransmits = counter(registry, 'imgsrv_tftp_retransmits_total', 'TFTP DATA packets sent again');
  const limits = {
    maxBlockSize: opts.maxBlockSize ?? 1468,
    maxWindowSize: opts.maxWindowSize ?? 32,
    timeoutMs: opts.timeoutMs ?? 1000,
  };
  const maxRetries = opts.maxRetries ?? 5;
  const family = isIPv6(opts.address) ? 'udp6' : 'udp4';

  let root: TftpRoot;
  try {
    root = await TftpRoot.open(opts.root);
  } catch (err) {
    throw new ImgsrvError('BAD_CONFIG', `TFTP root ${opts.root} is not usable: ${(err as Error).message}`, {
      hint: 'create the directory or point the TFTP root elsewhere',
      cause: err,
    });
  }

  const main = createSocket({ type: family });
  try {
    await bind(main, opts.address, opts.port ?? 69);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    main.close();
    throw new ImgsrvError('SOCKET', `cannot listen for TFTP on ${opts.address}:${opts.port ?? 69} (${code})`, {
      hint:
        code === 'EACCES'
          ? 'port 69 needs root or CAP_NET_BIND_SERVICE'
          : 'another TFTP server (tftpd-hpa, dnsmasq) may hold the port: stop it or use another address',
      cause: err,
    });
  }
  const port = main.address().port;
  // A rack of ROMs sends its RRQs together; a default ~200 KiB queue holds ~250 and
  // drops the rest, each costing its ROM a retry seconds later. Ask for a deep queue
  // (the kernel caps it at net.core.rmem_max), as the DHCP socket does.
  main.setRecvBufferSize(4 << 20);
  log.info({ address: opts.address, port, root: root.real }, 'TFTP server listening');

  /** Transfers by client endpoint; a placeholder (null) while the file is being opened. */
  const active = new Map<string, ReadTransfer | null>();
  const running = new Set<Promise<void>>();
  let closing = false;

  const drop = (reason: string, rinfo: RemoteInfo, detail?: string): void => {
    dropped.inc({ reason });
    log.debug({ reason, remote: `${rinfo.address}:${rinfo.port}`, detail }, 'dropped datagram');
  };

  const refuse = (rinfo: RemoteInfo, code: number, message: string): void => {
    transfers.inc({ result: 'refused' });
    main.send(encode({ type: 'ERROR', code, message }), rinfo.port, rinfo.address, () => undefined);
  };

  async function openSource(req: TftpRequest, rinfo: RemoteInfo): Promise<ByteSource | null> {
    const clean = cleanName(req.filename);
    if (!clean.ok) {
      log.info({ file: req.filename, remote: rinfo.address, reason: clean.reason }, 'refused file name');
      refuse(rinfo, clean.code, clean.message);
      return null;
    }
    if (opts.resolveVirtual) {
      const buf = await opts.resolveVirtual(clean.name, { address: rinfo.address, port: rinfo.port });
      if (buf) return bufferSource(buf);
    }
    const file = await root.openFile(clean.name);
    if (!file.ok) {
      log.info({ file: req.filename, remote: rinfo.address, reason: file.reason }, 'refused request');
      refuse(rinfo, file.code, file.message);
      return null;
    }
    return fileSource(file.handle, file.size);
  }

  async function serveRead(req: TftpRequest, rinfo: RemoteInfo, key: string): Promise<void> {
    const started = performance.now();
    const remote = `${rinfo.address}:${rinfo.port}`;
    const tlog = log.child({ remote, file: req.filename });
    // RFC 1350 modes: octet is all a boot ROM uses. netascii is refused, not
    // implemented: it rewrites line ends, so tsize and offsets stop matching the file.
    if (req.mode !== 'octet') {
      refuse(rinfo, ERROR_CODES.ILLEGAL_OPERATION, `transfer mode "${req.mode}" not supported; use octet (binary)`);
      return;
    }
    let source: ByteSource | null;
    try {
      source = await openSource(req, rinfo);
    } catch (err) {
      tlog.error({ err }, 'could not open file');
      refuse(rinfo, ERROR_CODES.NOT_DEFINED, 'internal error');
      return;
    }
    if (!source) return;
    const n = negotiate(req.options, limits, source.size);
    const socket = createSocket({ type: family, lookup: literalLookup(family === 'udp6' ? 6 : 4) });
    try {
      await bind(socket, opts.address, 0);
    } catch (err) {
      await source.close();
      socket.close();
      tlog.error({ err }, 'could not open a transfer socket');
      refuse(rinfo, ERROR_CODES.NOT_DEFINED, 'server cannot open a transfer socket');
      return;
    }
    if (closing) {
      socket.close();
      await source.close();
      refuse(rinfo, ERROR_CODES.NOT_DEFINED, 'server shutting down');
      return;
    }
    const transfer = new ReadTransfer({
      socket,
      remote: { address: rinfo.address, port: rinfo.port },
      reader: new BlockReader(source, n.blockSize, n.windowSize),
      windowSize: n.windowSize,
      oack: n.oack,
      timeoutMs: n.timeoutMs,
      maxRetries,
      logger: tlog,
      onDrop: (reason) => dropped.inc({ reason }),
      onSend: (bytes, again) => {
        sentBytes.inc(bytes);
        if (again > 0) retransmits.inc(again);
      },
    });
    active.set(key, transfer);
    tlog.debug({ options: req.options, oack: n.oack }, 'transfer started');
    const result = await transfer.run();
    const ms = Math.round(performance.now() - started);
    transfers.inc({ result: result.ok ? 'ok' : 'failed' });
    if (result.ok) tlog.info({ bytes: result.bytes, ms }, 'transfer complete');
    else tlog.warn({ bytes: result.bytes, ms, error: result.error }, 'transfer failed');
    opts.onTransfer?.({ file: req.filename, remote, bytes: result.bytes, ms, ok: result.ok, ...(result.error ? { error: result.error } : {}) });
  }

  main.on('message', (msg, rinfo) => {
    if (closing) return;
    let p;
    try {
      p = decode(msg);
    } catch (err) {
      if (err instanceof TftpDecodeError) return drop(err.reason, rinfo, err.message);
      return drop('internal', rinfo, String(err));
    }
    if (p.type === 'WRQ') {
      log.info({ file: p.filename, remote: rinfo.address }, 'refused write request');
      return refuse(rinfo, ERROR_CODES.ACCESS_VIOLATION, 'server is read-only');
    }
    if (p.type !== 'RRQ') return drop('unexpected-opcode', rinfo, p.type);
    const key = `${rinfo.address}:${rinfo.port}`;
    // A repeated RRQ from the same endpoint is the client retrying before our
    // first answer arrived: the transfer already running will retransmit.
    if (active.has(key)) return drop('duplicate-request', rinfo);
    active.set(key, null);
    const job = serveRead(p, rinfo, key)
      .catch((err: unknown) => log.error({ err }, 'transfer crashed'))
      .finally(() => {
        active.delete(key);
        running.delete(job);
      });
    running.add(job);
  });

  let closed: Promise<void> | null = null;
  main.on('error', (err) => {
    // Only a socket error ends the service (bad packets never do).
    log.error({ err }, 'TFTP socket error: stopping the service');
    void server.close();
  });

  const server: TftpServer = {
    get port() {
      return port;
    },
    get active() {
      return active.size;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        for (const t of active.values()) t?.abort('server shutting down');
        await new Promise<void>((resolve) => {
          try {
            main.close(() => resolve());
          } catch {
            resolve(); // already closed after a socket error
          }
        });
        await Promise.all([...running]);
        log.info('TFTP server stopped');
      })();
      return closed;
    },
  };
  return server;
}
