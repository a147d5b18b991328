/**
 * A hand-driven UDP peer for TFTP tests: send exact packets, read what comes
 * back with the sender's port, so tests can play a misbehaving client.
 */
import { createSocket, type Socket } from 'node:dgram';
import { decode, encode, type TftpPacket } from '../codec.ts';

/** One received packet and the port (TID) it came from. */
export interface Received {
  p: TftpPacket;
  port: number;
}

/** A loopback UDP socket with a queue of decoded incoming packets. */
export class RawPeer {
  readonly socket: Socket;
  private readonly queue: Received[] = [];
  private waiter: (() => void) | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (msg, rinfo) => {
      this.queue.push({ p: decode(msg), port: rinfo.port });
      this.waiter?.();
    });
  }

  /** Bind a new peer on 127.0.0.1, or another loopback address (127.0.0.0/8 is all local on Linux): another client. */
  static async open(address = '127.0.0.1'): Promise<RawPeer> {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, address, () => r()));
    return new RawPeer(s);
  }

  /** Send a packet (or raw bytes) to 127.0.0.1:port. */
  send(p: TftpPacket | Buffer, port: number): void {
    this.socket.send(Buffer.isBuffer(p) ? p : encode(p), port, '127.0.0.1');
  }

  /** The next packet, or null if none arrives within `ms`. */
  async next(ms = 1000): Promise<Received | null> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = null;
    }
    return this.queue.shift() ?? null;
  }

  /** Everything that arrives within `ms`. */
  async drain(ms: number): Promise<Received[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.splice(0);
  }

  close(): void {
    this.socket.close();
  }
}

/** A deterministic PRNG (mulberry32) so lossy tests fail the same way twice. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
