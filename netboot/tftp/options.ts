/**
 * Option negotiation for a read request: pure, no I/O.
 * RFC 2347 (OACK), 2348 (blksize), 2349 (timeout, tsize), 7440 (windowsize).
 */
import { MAX_BLOCK_SIZE, type TftpOptions } from './codec.ts';

/** Server-side limits the negotiation works within. */
export interface NegotiationLimits {
  /** Largest blksize we agree to (default 1468: 1468 + 4 TFTP + 8 UDP + 20 IP = 1500, one Ethernet MTU). */
  maxBlockSize: number;
  /** Largest windowsize we agree to. */
  maxWindowSize: number;
  /** Our retransmission timeout when the client does not ask for one (or asks for more than `maxTimeoutSeconds`). */
  timeoutMs: number;
  /**
   * Largest client `timeout` option honoured, in seconds. A larger one is left
   * out of the OACK and our own `timeoutMs` applies: a request cannot make a
   * transfer hold its socket and file for 255 s per retry.
   */
  maxTimeoutSeconds: number;
}

/** What a transfer runs with, and the OACK to send (null: no options accepted, start with DATA 1). */
export interface Negotiated {
  blockSize: number;
  windowSize: number;
  timeoutMs: number;
  oack: TftpOptions | null;
}

/** RFC 1350's fixed block size, used when no blksize is negotiated. */
export const DEFAULT_BLOCK_SIZE = 512;

function intOption(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,10}$/.test(value.trim())) return null;
  return Number(value.trim());
}

/**
 * Decide the options for an RRQ. Unknown or invalid options are left out of
 * the OACK, which RFC 2347 allows ("the server ... may ignore the option").
 * `size` is the file size reported for tsize (RFC 2349 §"Transfer Size").
 */
export function negotiate(requested: TftpOptions, limits: NegotiationLimits, size: number): Negotiated {
  const oack: TftpOptions = {};
  let blockSize = DEFAULT_BLOCK_SIZE;
  let windowSize = 1;
  let timeoutMs = limits.timeoutMs;

  // RFC 2348: 8..65464; a larger request is answered with our cap, a smaller
  // one is honoured as asked (the server may only lower the value).
  const blk = intOption(requested['blksize']);
  if (blk !== null && blk >= 8) {
    blockSize = Math.min(blk, limits.maxBlockSize, MAX_BLOCK_SIZE);
    oack['blksize'] = String(blockSize);
  }

  // RFC 2349: timeout 1..255 seconds, and an OACK's timeout "must match the
  // value specified by the client": the server takes it as asked or ignores it.
  // A smaller value in the OACK is not an option: EDK2's Mtftp4RrqOackValid (every
  // UEFI PXE client) rejects an OACK whose timeout differs ("Malformatted OACK").
  // So a value above our cap is ignored, and our default timeout applies.
  const t = intOption(requested['timeout']);
  if (t !== null && t >= 1 && t <= Math.min(255, limits.maxTimeoutSeconds)) {
    timeoutMs = t * 1000;
    oack['timeout'] = String(t);
  }

  // RFC 2349: on an RRQ the client sends tsize 0 and the server answers with the size.
  if (requested['tsize'] !== undefined && intOption(requested['tsize']) !== null) {
    oack['tsize'] = String(size);
  }

  // RFC 7440: windowsize 1..65535; the server may answer with a smaller value.
  // Capped well below 32768 so a 16-bit ACK maps to one block of the window.
  const w = intOption(requested['windowsize']);
  if (w !== null && w >= 1 && w <= 65535) {
    windowSize = Math.max(1, Math.min(w, limits.maxWindowSize, 4096));
    oack['windowsize'] = String(windowSize);
  }

  return { blockSize, windowSize, timeoutMs, oack: Object.keys(oack).length > 0 ? oack : null };
}
