/**
 * A small TFTP read client (RRQ with RFC 2347 options, RFC 7440 windowsize,
 * block-number rollover). It exists to test the server: no Debian client
 * sends windowsize, and the loss hooks simulate a lossy peer without root.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ERROR_CODES, decode, encode, type TftpOptions } from './codec.ts';

/** Options of `tftpGet`. */
export interface TftpGetOptions {
  address: string;
  port?: number;
  file: string;
  /** Request options, e.g. { blksize: '1468', windowsize: '16', tsize: '0' }. */
  options?: TftpOptions;
  mode?: string;
  localAddress?: string;
  /** Wait this long for the next packet before resending the last ACK (default 500 ms). */
  timeoutMs?: number;
  maxRetries?: number;
  /** Return true to drop an incoming datagram (simulated loss). */
  dropIncoming?: (msg: Buffer) => boolean;
  /** Return true to drop an outgoing datagram (simulated loss). */
  dropOutgoing?: (msg: Buffer) => boolean;
  /** Receive the file chunk by chunk instead of collecting it into `data`. */
  sink?: (chunk: Buffer) => void;
}

/** What the client got: the bytes (unless a sink took them) and what was negotiated. */
export interface TftpGetResult {
  data: Buffer;
  size: number;
  oack: TftpOptions | null;
  blockSize: number;
  windowSize: number;
}

/** Fetch one file over TFTP; rejects on an ERROR packet or after maxRetries timeouts. */
export function tftpGet(o: TftpGetOptions): Promise<TftpGetResult> {
  const socket = createSocket({ type: isIPv6(o.address) ? 'udp6' : 'udp4' });
  const timeoutMs = o.timeoutMs ?? 500;
  const maxRetries = o.maxRetries ?? 10;
  const chunks: Buffer[] = [];
  let size = 0;
  let blockSize = 512;
  let windowSize = 1;
  let oack: TftpOptions | null = null;
  let serverPort: number | null = null;
  let next = 1; // next expected block, absolute
  let inWindow = 0;
  let gapReported = false;
  let retries = 0;
  let last: Buffer = encode({ type: 'RRQ', filename: o.file, mode: o.mode ?? 'octet', options: o.options ?? {} });
  let timer: NodeJS.Timeout | null = null;

  return new Promise<TftpGetResult>((resolve, reject) => {
    let finished = false;
    const end = (err: Error | null): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve({ data: o.sink ? Buffer.alloc(0) : Buffer.concat(chunks), size, oack, blockSize, windowSize });
    };
    const send = (msg: Buffer, then?: () => void): void => {
      last = msg;
      if (o.dropOutgoing?.(msg)) return then?.();
      // Close only after the send completed, or the final ACK never leaves.
      socket.send(msg, serverPort ?? o.port ?? 69, o.address, () => then?.());
    };
    const ack = (block: number, then?: () => void): void => send(encode({ type: 'ACK', block }), then);
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        if (++retries > maxRetries) return end(new Error(`timeout waiting for block ${next}`));
        send(last); // RRQ again, or the last ACK
        arm();
      }, timeoutMs);
    };

    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (finished) return;
      if (o.dropIncoming?.(msg)) return;
      if (rinfo.address !== o.address) return;
      serverPort ??= rinfo.port;
      if (rinfo.port !== serverPort) {
        socket.send(encode({ type: 'ERROR', code: ERROR_CODES.UNKNOWN_TID, message: 'Unknown transfer ID' }), rinfo.port, rinfo.address);
        return;
      }
      let p;
      try {
        p = decode(msg);
      } catch {
        return; // malformed: ignore, as the server does
      }
      retries = 0;
      if (p.type === 'ERROR') return end(new Error(`TFTP ERROR ${p.code}: ${p.message}`));
      if (p.type === 'OACK' && next === 1 && oack === null) {
        oack = p.options;
        if (p.options['blksize']) blockSize = Number(p.options['blksize']);
        if (p.options['windowsize']) windowSize = Number(p.options['windowsize']);
        ack(0);
        arm();
        return;
      }
      if (p.type !== 'DATA') return;
      if (p.block === (next & 0xffff)) {
        if (p.data.length > blockSize) return end(new Error(`block ${next} has ${p.data.length} bytes > blksize ${blockSize}`));
        if (o.sink) o.sink(Buffer.from(p.data));
        else chunks.push(Buffer.from(p.data));
        size += p.data.length;
        next++;
        inWindow++;
        gapReported = false;
        if (p.data.length < blockSize) {
          if (timer) clearTimeout(timer);
          return ack(next - 1, () => end(null));
        }
        if (inWindow >= windowSize) {
          ack(next - 1);
          inWindow = 0;
        }
      } else if (!gapReported) {
        // RFC 7440: out of order, so ACK the last block received in order,
        // once per gap (ACKing every stray block would double the traffic).
        ack(next - 1);
        inWindow = 0;
        gapReported = true;
      }
      arm();
    });
    socket.on('error', (err) => end(err));
    socket.bind({ address: o.localAddress ?? (isIPv6(o.address) ? '::' : '0.0.0.0'), port: 0 }, () => {
      send(last);
      arm();
    });
  });
}
