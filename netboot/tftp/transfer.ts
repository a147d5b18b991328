/**
 * One read transfer (RRQ): the sending side's state machine over its own
 * UDP socket, whose port is the transfer ID (RFC 1350 §4).
 *
 * - Optional OACK first, then DATA from block 1 once ACK 0 arrives (RFC 2347).
 * - Sends a window of blocks, then waits (RFC 7440); windowsize 1 is plain
 *   RFC 1350 lock-step.
 * - An ACK that advances moves the window to the block after it, which also
 *   covers an ACK for part of a window (RFC 7440 §4: resend from there).
 * - An ACK that does not advance (duplicate, stale) is ignored: only a timeout
 *   retransmits, which avoids the Sorcerer's Apprentice bug (RFC 1123 §4.2.3.1).
 * - Block numbers are 16 bits on the wire and wrap 65535 → 0 (what tftp-hpa,
 *   curl and iPXE expect); internally blocks are counted without wrapping.
 * - Timeouts back off exponentially; after maxRetries the transfer gives up.
 * - The first ACK it accepts (or an ERROR) from the client marks it answered:
 *   the server may evict a transfer whose client never answered (limits.ts).
 */
import type { Socket, RemoteInfo } from 'node:dgram';
import type { Logger } from '../../core/log.ts';
import { ERROR_CODES, OPCODES, TftpDecodeError, decode, encode, type TftpOptions } from './codec.ts';
import type { BlockReader } from './source.ts';

/** Longest single wait between retransmissions, whatever the backoff says. */
const MAX_BACKOFF_MS = 10_000;

/** What a transfer needs; the socket is bound and owned by the transfer from now on. */
export interface ReadTransferOptions {
  socket: Socket;
  remote: { address: string; port: number };
  reader: BlockReader;
  windowSize: number;
  /** Options to acknowledge first, or null to start with DATA 1. */
  oack: TftpOptions | null;
  timeoutMs: number;
  maxRetries: number;
  logger: Logger;
  /** A datagram was dropped (metrics label). */
  onDrop?: (reason: string) => void;
  /** A window of DATA went out: payload bytes, and how many packets were retransmissions. */
  onSend?: (payloadBytes: number, retransmitted: number) => void;
  /** Called once, when the client first answers (an ACK this transfer accepts, or an ERROR). */
  onAnswered?: () => void;
}

/** How a transfer ended; `bytes` are the acknowledged file bytes. */
export interface TransferResult {
  ok: boolean;
  bytes: number;
  /** Whether the client ever answered: false for a forged source or a client that went away. */
  answered: boolean;
  error?: string;
}

/** The sending side of one RRQ. Call `run()` once. */
export class ReadTransfer {
  private readonly o: ReadTransferOptions;
  private readonly reader: BlockReader;
  private phase: 'oack' | 'data' | 'done';
  /** First block not yet acknowledged (absolute, 1-based). */
  private base = 1;
  /** Highest block sent in the current window (base - 1 when none). */
  private sentTo = 0;
  /** Highest block ever sent: anything at or below is a retransmission. */
  private highest = 0;
  private retries = 0;
  private answered = false;
  private generation = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerDelay = 0;
  private resolve: (r: TransferResult) => void = () => undefined;
  private readonly done: Promise<TransferResult>;

  constructor(opts: ReadTransferOptions) {
    this.o = opts;
    this.reader = opts.reader;
    this.phase = opts.oack ? 'oack' : 'data';
    this.done = new Promise((r) => (this.resolve = r));
  }

  /** Start sending; resolves when the last block is acknowledged, or on failure. */
  run(): Promise<TransferResult> {
    const { socket } = this.o;
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A failed send (EPERM from a firewall, ENOBUFS…) is a lost datagram.
      if (err.syscall === 'send') this.o.logger.debug({ err: err.message }, 'send failed');
      else this.finish(false, `socket error: ${err.message}`);
    });
    this.transmit();
    return this.done;
  }

  /** End the transfer now (server shutdown), telling the client why. */
  abort(reason: string): void {
    if (this.phase === 'done') return;
    this.sendPacket(encode({ type: 'ERROR', code: ERROR_CODES.NOT_DEFINED, message: reason }), () =>
      this.finish(false, reason),
    );
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.phase === 'done') return;
    const { remote } = this.o;
    if (rinfo.address !== remote.address || rinfo.port !== remote.port) {
      // RFC 1350 §4: a packet from another TID gets ERROR 5 and does not disturb this transfer.
      this.o.onDrop?.('unknown-tid');
      const err = encode({ type: 'ERROR', code: ERROR_CODES.UNKNOWN_TID, message: 'Unknown transfer ID' });
      this.o.socket.send(err, rinfo.port, rinfo.address, () => undefined);
      return;
    }
    // Fast path: a plain ACK, the packet a transfer sees most.
    if (msg.length >= 4 && msg[0] === 0 && msg[1] === OPCODES.ACK) {
      this.onAck(msg.readUInt16BE(2));
      return;
    }
    let p;
    try {
      p = decode(msg);
    } catch (err) {
      if (!(err instanceof TftpDecodeError)) throw err;
      this.o.onDrop?.(err.reason);
      this.o.logger.debug({ reason: err.reason }, 'dropped malformed packet from peer');
      return;
    }
    if (p.type === 'ACK') this.onAck(p.block);
    else if (p.type === 'ERROR') {
      this.markAnswered();
      this.finish(false, `client sent ERROR ${p.code}: ${p.message}`);
    } else {
      this.o.onDrop?.('unexpected-opcode');
      this.o.logger.debug({ op: p.type }, 'dropped unexpected packet in read transfer');
    }
  }

  private onAck(block: number): void {
    if (this.phase === 'oack') {
      if (block !== 0) return; // only ACK 0 answers an OACK (RFC 2347)
      this.markAnswered();
      this.phase = 'data';
      this.retries = 0;
      this.transmit();
      return;
    }
    // Map the 16-bit number onto the window just sent: delta 0 is a duplicate
    // of the previous ACK, anything past sentTo is stale or bogus.
    const delta = (block - ((this.base - 1) & 0xffff)) & 0xffff;
    if (delta === 0 || delta > this.sentTo - (this.base - 1)) return;
    this.markAnswered();
    const acked = this.base - 1 + delta;
    if (acked >= this.reader.lastBlock) {
      this.finish(true);
      return;
    }
    this.base = acked + 1;
    this.retries = 0;
    this.transmit();
  }

  /** (Re)send whatever the phase calls for, then arm the timer. */
  private transmit(): void {
    if (this.phase === 'oack') {
      this.sendPacket(encode({ type: 'OACK', options: this.o.oack ?? {} }));
      this.arm();
    } else if (this.phase === 'data') {
      this.sendWindow();
    }
  }

  /** Send the window starting at `base`: synchronously when its blocks are in memory (the hot path). */
  private sendWindow(): void {
    const gen = ++this.generation;
    const from = this.base;
    const to = Math.min(from + this.o.windowSize - 1, this.reader.lastBlock);
    if (this.reader.ready(from, to)) {
      this.sendBlocks(from, to);
      return;
    }
    this.reader.ensure(from, to).then(
      () => {
        // Superseded by a newer ACK or timeout while the disk read ran?
        if (gen === this.generation && this.phase === 'data') this.sendBlocks(from, to);
      },
      (err: unknown) => {
        const message = `read error: ${(err as Error).message}`;
        this.o.logger.warn({ err }, 'read failed during transfer');
        this.sendPacket(encode({ type: 'ERROR', code: ERROR_CODES.NOT_DEFINED, message: 'read error' }), () =>
          this.finish(false, message),
        );
      },
    );
  }

  private sendBlocks(from: number, to: number): void {
    const { socket, remote } = this.o;
    let bytes = 0;
    for (let b = from; b <= to; b++) {
      const payload = this.reader.block(b);
      if (!payload) throw new Error(`block ${b} not loaded`); // a BlockReader bug, not input
      const header = Buffer.allocUnsafe(4);
      header.writeUInt16BE(OPCODES.DATA, 0);
      header.writeUInt16BE(b & 0xffff, 2);
      bytes += payload.length;
      // No callback: send errors come as 'error' events with syscall 'send',
      // which run() treats as loss (the timer retransmits).
      socket.send([header, payload], remote.port, remote.address);
    }
    this.o.onSend?.(bytes, Math.max(0, Math.min(to, this.highest) - from + 1));
    this.sentTo = to;
    if (to > this.highest) this.highest = to;
    this.arm();
  }

  private arm(): void {
    const delay = Math.min(this.o.timeoutMs * 2 ** this.retries, Math.max(MAX_BACKOFF_MS, this.o.timeoutMs));
    // refresh() re-arms the same timer object: no allocation per window.
    if (this.timer && this.timerDelay === delay) this.timer.refresh();
    else {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.onTimeout(), delay);
      this.timerDelay = delay;
    }
  }

  private onTimeout(): void {
    this.timer = null;
    if (this.phase === 'done') return;
    this.retries++;
    if (this.retries > this.o.maxRetries) {
      this.finish(false, `timeout: no ACK after ${this.o.maxRetries} retransmissions`);
      return;
    }
    this.o.logger.debug({ base: this.base, retries: this.retries }, 'retransmitting');
    this.transmit();
  }

  private markAnswered(): void {
    if (this.answered) return;
    this.answered = true;
    this.o.onAnswered?.();
  }

  private sendPacket(msg: Buffer | Buffer[], then?: () => void): void {
    if (this.phase === 'done') return;
    const { port, address } = this.o.remote;
    // A callback keeps send errors (EHOSTUNREACH…) out of the socket's 'error'
    // event: a lost datagram is just a timeout later.
    this.o.socket.send(msg, port, address, (err) => {
      if (err) this.o.logger.debug({ err: err.message }, 'send failed');
      then?.();
    });
  }

  private finish(ok: boolean, error?: string): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    try {
      this.o.socket.close();
    } catch {
      /* already closed */
    }
    const bytes = ok ? this.reader.size : Math.min((this.base - 1) * this.reader.blockSize, this.reader.size);
    const answered = this.answered;
    void this.reader.close().then(
      () => this.resolve(error === undefined ? { ok, bytes, answered } : { ok, bytes, answered, error }),
      (err: unknown) => this.resolve({ ok: false, bytes, answered, error: `close failed: ${(err as Error).message}` }),
    );
  }
}
