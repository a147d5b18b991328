/**
 * The TFTP service: a read-only server on one address. The listening socket
 * only takes requests; each accepted RRQ gets its own ephemeral socket bound
 * to the same address (its transfer ID, RFC 1350 §4) and a ReadTransfer.
 *
 * What a request can claim is bounded (issue 25): cheap checks (mode, name)
 * first, then a slot under the total and per-address caps (limits.ts), and
 * only then the file is opened and the socket made. A request over a cap gets
 * an ERROR, is counted, and is logged at a bounded rate; a transfer still
 * running `maxTransferMs` after its request is ended with an ERROR.
 */
import { createSocket, type RemoteInfo, type Socket, type SocketOptions } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { counter } from '../metrics.ts';
import type { Logger } from '../../core/log.ts';
import { ImgsrvError } from '../../core/errors.ts';
import { ERROR_CODES, TftpDecodeError, decode, encode, type TftpRequest } from './codec.ts';
import { DEFAULT_SLOT_LIMITS, TransferSlots } from './limits.ts';
import { LogThrottle } from '../log-throttle.ts';
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
  /** Most transfers at once; default 256. Each holds a socket and, for a disk file, a file handle. */
  maxTransfers?: number;
  /** Most transfers at once from one client address; default 8. */
  maxTransfersPerAddress?: number;
  /** Largest client `timeout` option honoured, in seconds; default 10. A larger one is ignored (left out of the OACK). */
  maxTimeoutSeconds?: number;
  /** A transfer not finished this long after its request is ended with an ERROR; default 600,000 ms (10 min). */
  maxTransferMs?: number;
  /** Interval of the bounded-rate log of refusals and evictions; default 10,000 ms (tests shorten it). */
  logIntervalMs?: number;
  /** Consulted before the file system with the cleaned name; a Buffer is served as that file. */
  resolveVirtual?: (name: string, remote: { address: string; port: number }) => Promise<Buffer | null>;
  /**
   * Called once per finished transfer (ok or not) whose client answered at
   * least once. Transfers that never heard from their client (forged sources,
   * evicted under a flood) are only counted and logged in summary.
   */
  onTransfer?: (ev: { file: string; remote: string; bytes: number; ms: number; ok: boolean; error?: string }) => void;
  logger: Logger;
  registry?: Registry;
}

/** A running TFTP server. */
export interface TftpServer {
  close(): Promise<void>;
  readonly port: number;
  /** Transfer slots held: transfers in progress, including those still opening their file or closing. */
  readonly active: number;
}

/** One admitted request, from its slot to the end of its transfer. */
interface Job {
  readonly address: string;
  readonly key: string;
  transfer: ReadTransfer | null;
  /** Why the server ends it early (evicted, too long, shutdown); the ERROR message sent. */
  cancelled: { reason: 'evicted' | 'lifetime' | 'shutdown'; message: string } | null;
  timer: NodeJS.Timeout | null;
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
  const limited = counter(
    registry,
    'imgsrv_tftp_limited_total',
    'TFTP requests refused by a cap (busy, busy-address) and transfers ended by one (evicted, lifetime)',
    ['reason'],
  );
  const activeGauge = gauge(registry, 'imgsrv_tftp_transfers_active', 'TFTP transfer slots held (transfers running, opening or closing)');
  const limits = {
    maxBlockSize: opts.maxBlockSize ?? 1468,
    maxWindowSize: opts.maxWindowSize ?? 32,
    timeoutMs: opts.timeoutMs ?? 1000,
    maxTimeoutSeconds: opts.maxTimeoutSeconds ?? 10,
  };
  const maxRetries = opts.maxRetries ?? 5;
  const maxTransferMs = opts.maxTransferMs ?? 600_000;
  const slots = new TransferSlots<Job>({
    maxTransfers: opts.maxTransfers ?? DEFAULT_SLOT_LIMITS.maxTransfers,
    maxPerAddress: opts.maxTransfersPerAddress ?? DEFAULT_SLOT_LIMITS.maxPerAddress,
  });
  const logIntervalMs = opts.logIntervalMs ?? 10_000;
  // What a flood repeats is logged 3 times per reason and interval, then summarised.
  const throttle = new LogThrottle(log, { intervalMs: logIntervalMs, lines: 3 });
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

  /** Admitted requests by client endpoint (address:port): a repeated RRQ from one is a retry. */
  const active = new Map<string, Job>();
  const running = new Set<Promise<void>>();
  let closing = false;

  const drop = (reason: string, rinfo: RemoteInfo, detail?: string): void => {
    dropped.inc({ reason });
    log.debug({ reason, remote: `${rinfo.address}:${rinfo.port}`, detail }, 'dropped datagram');
  };

  const logLimited = (level: 'info' | 'warn' | 'error', key: string, obj: Record<string, unknown>, msg: string): void =>
    throttle.write(level, key, { ...obj, reason: key }, msg);
  const summary = setInterval(() => throttle.flush(), logIntervalMs);
  summary.unref();

  const sendError = (rinfo: RemoteInfo, code: number, message: string): void => {
    main.send(encode({ type: 'ERROR', code, message }), rinfo.port, rinfo.address, () => undefined);
  };
  const refuse = (rinfo: RemoteInfo, code: number, message: string): void => {
    transfers.inc({ result: 'refused' });
    sendError(rinfo, code, message);
  };

  /** End a job early with an ERROR to its client: now if its transfer runs, else as soon as its file is open. */
  const cancel = (job: Job, reason: NonNullable<Job['cancelled']>['reason'], message: string): void => {
    if (job.cancelled) return;
    job.cancelled = { reason, message };
    if (reason !== 'shutdown') limited.inc({ reason });
    job.transfer?.abort(message);
  };

  async function openSource(req: TftpRequest, name: string, rinfo: RemoteInfo): Promise<ByteSource | null> {
    if (opts.resolveVirtual) {
      const buf = await opts.resolveVirtual(name, { address: rinfo.address, port: rinfo.port });
      if (buf) return bufferSource(buf);
    }
    const file = await root.openFile(name);
    if (!file.ok) {
      logLimited('info', 'refused-file', { file: req.filename, remote: rinfo.address, why: file.reason }, 'refused request');
      refuse(rinfo, file.code, file.message);
      return null;
    }
    return fileSource(file.handle, file.size);
  }

  /** Serve an admitted request: open the file, then the transfer socket, then run the transfer. */
  async function serveRead(req: TftpRequest, name: string, rinfo: RemoteInfo, job: Job): Promise<void> {
    const started = performance.now();
    const remote = `${rinfo.address}:${rinfo.port}`;
    const tlog = log.child({ remote, file: req.filename });
    const endedEarly = (c: NonNullable<Job['cancelled']>): void => {
      transfers.inc({ result: 'failed' });
      sendError(rinfo, ERROR_CODES.NOT_DEFINED, c.message);
    };
    let source: ByteSource | null;
    try {
      source = await openSource(req, name, rinfo);
    } catch (err) {
      // EMFILE and the like come in floods too.
      logLimited('error', 'open-failed', { remote, file: req.filename, err }, 'could not open file');
      refuse(rinfo, ERROR_CODES.NOT_DEFINED, 'internal error');
      return;
    }
    if (!source) return;
    if (job.cancelled) {
      await source.close();
      return endedEarly(job.cancelled);
    }
    const n = negotiate(req.options, limits, source.size);
    const socket = createSocket({ type: family, lookup: literalLookup(family === 'udp6' ? 6 : 4) });
    try {
      await bind(socket, opts.address, 0);
    } catch (err) {
      await source.close();
      socket.close();
      logLimited('error', 'socket-failed', { remote, err }, 'could not open a transfer socket');
      refuse(rinfo, ERROR_CODES.NOT_DEFINED, 'server cannot open a transfer socket');
      return;
    }
    if (job.cancelled) {
      socket.close();
      await source.close();
      return endedEarly(job.cancelled);
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
      onAnswered: () => slots.answered(job),
    });
    job.transfer = transfer;
    tlog.debug({ options: req.options, oack: n.oack }, 'transfer started');
    const result = await transfer.run();
    const ms = Math.round(performance.now() - started);
    transfers.inc({ result: result.ok ? 'ok' : 'failed' });
    if (result.ok) tlog.info({ bytes: result.bytes, ms }, 'transfer complete');
    else if (result.answered) tlog.warn({ bytes: result.bytes, ms, error: result.error }, 'transfer failed');
    else if ((job.cancelled as Job['cancelled'])?.reason !== 'evicted') {
      // (cancelled changes while run() waits: TypeScript still has it narrowed to null.)
      // Never heard from the client: a forged source, or a client that went away.
      logLimited('info', 'unanswered', { remote, file: req.filename, ms, error: result.error }, 'transfer ended without an answer from the client');
    }
    if (result.answered) {
      opts.onTransfer?.({ file: req.filename, remote, bytes: result.bytes, ms, ok: result.ok, ...(result.error ? { error: result.error } : {}) });
    }
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
      logLimited('info', 'write', { file: p.filename, remote: rinfo.address }, 'refused write request');
      return refuse(rinfo, ERROR_CODES.ACCESS_VIOLATION, 'server is read-only');
    }
    if (p.type !== 'RRQ') return drop('unexpected-opcode', rinfo, p.type);
    const key = `${rinfo.address}:${rinfo.port}`;
    // A repeated RRQ from the same endpoint is the client retrying before our
    // first answer arrived: the transfer already running will retransmit.
    if (active.has(key)) return drop('duplicate-request', rinfo);
    // Refusals that cost nothing come before the caps, and claim no slot.
    // RFC 1350 modes: octet is all a boot ROM uses. netascii is refused, not
    // implemented: it rewrites line ends, so tsize and offsets stop matching the file.
    if (p.mode !== 'octet') {
      return refuse(rinfo, ERROR_CODES.ILLEGAL_OPERATION, `transfer mode "${p.mode}" not supported; use octet (binary)`);
    }
    const clean = cleanName(p.filename);
    if (!clean.ok) {
      logLimited('info', 'refused-name', { file: p.filename, remote: rinfo.address, why: clean.reason }, 'refused file name');
      return refuse(rinfo, clean.code, clean.message);
    }
    const job: Job = { address: rinfo.address, key, transfer: null, cancelled: null, timer: null };
    const admission = slots.admit(job);
    if (!admission.ok) {
      const reason = admission.limit === 'total' ? 'busy' : 'busy-address';
      limited.inc({ reason });
      logLimited(
        'warn',
        reason,
        { remote: key, file: p.filename, held: slots.held, heldByAddress: slots.heldBy(rinfo.address) },
        admission.limit === 'total' ? 'refused request: too many transfers' : 'refused request: too many transfers from this address',
      );
      return refuse(rinfo, ERROR_CODES.NOT_DEFINED, 'server busy, try again later');
    }
    if (admission.evicted) {
      logLimited('warn', 'evicted', { remote: admission.evicted.key, for: key, held: slots.held }, 'too many transfers: ended the oldest one whose client never answered');
      cancel(admission.evicted, 'evicted', 'server busy, try again later');
    }
    active.set(key, job);
    activeGauge.set(slots.held);
    job.timer = setTimeout(() => cancel(job, 'lifetime', `transfer not finished after ${maxTransferMs / 1000} s`), maxTransferMs);
    const task = serveRead(p, clean.name, rinfo, job)
      .catch((err: unknown) => log.error({ err }, 'transfer crashed'))
      .finally(() => {
        if (job.timer) clearTimeout(job.timer);
        active.delete(key);
        slots.release(job);
        activeGauge.set(slots.held);
        running.delete(task);
      });
    running.add(task);
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
      return slots.held;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        for (const job of active.values()) cancel(job, 'shutdown', 'server shutting down');
        await new Promise<void>((resolve) => {
          try {
            main.close(() => resolve());
          } catch {
            resolve(); // already closed after a socket error
          }
        });
        await Promise.all([...running]);
        clearInterval(summary);
        throttle.flush(true);
        log.info('TFTP server stopped');
      })();
      return closed;
    },
  };
  return server;
}

/** The gauge `name` on `registry`, created on first use (a restarted service reuses it). */
function gauge(registry: Registry, name: string, help: string): Gauge<string> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<string>;
  return new Gauge({ name, help, registers: [registry] });
}
