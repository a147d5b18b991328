/**
 * TFTP wire format: pure encode/decode over Buffers, no I/O.
 * RFC 1350 (RRQ, WRQ, DATA, ACK, ERROR) and RFC 2347 (OACK, request options).
 */

/** Opcodes by name (RFC 1350 §5, RFC 2347): the one table log names come from. */
export const OPCODES = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** A packet type name as used in logs ("RRQ", "OACK"…). */
export type OpcodeName = keyof typeof OPCODES;

const NAME_BY_OPCODE = new Map<number, OpcodeName>(
  Object.entries(OPCODES).map(([name, code]) => [code, name as OpcodeName]),
);

/** The log name of a numeric opcode, or `OP<n>` for an unknown one. */
export function opcodeName(op: number): string {
  return NAME_BY_OPCODE.get(op) ?? `OP${op}`;
}

/** TFTP error codes (RFC 1350 appendix, RFC 2347 adds 8). */
export const ERROR_CODES = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

/** Largest DATA payload any option can negotiate (RFC 2348: blksize 8–65464). */
export const MAX_BLOCK_SIZE = 65464;

/** Request options, names lower-cased (RFC 2347: option names are case-insensitive). */
export type TftpOptions = Record<string, string>;

/** A read or write request; `mode` is lower-cased ("octet", "netascii"). */
export interface TftpRequest {
  type: 'RRQ' | 'WRQ';
  filename: string;
  mode: string;
  options: TftpOptions;
}
/** One block of file data; `block` is the 16-bit wire number. */
export interface TftpData {
  type: 'DATA';
  block: number;
  data: Buffer;
}
/** Acknowledgement of a 16-bit block number (0 acknowledges an OACK). */
export interface TftpAck {
  type: 'ACK';
  block: number;
}
/** An error; ends the transfer (RFC 1350 §7). */
export interface TftpError {
  type: 'ERROR';
  code: number;
  message: string;
}
/** Option acknowledgement (RFC 2347). */
export interface TftpOack {
  type: 'OACK';
  options: TftpOptions;
}
/** Any TFTP packet. */
export type TftpPacket = TftpRequest | TftpData | TftpAck | TftpError | TftpOack;

/** Why a datagram could not be decoded; used as the `reason` metrics label. */
export type DecodeReason =
  | 'too-short'
  | 'unknown-opcode'
  | 'unterminated-string'
  | 'empty-filename'
  | 'empty-mode'
  | 'option-without-value'
  | 'empty-option-name'
  | 'block-too-large'
  | 'empty-oack';

/** Thrown by `decode` for any datagram that is not a well-formed TFTP packet. */
export class TftpDecodeError extends Error {
  readonly reason: DecodeReason;
  constructor(reason: DecodeReason, message: string) {
    super(message);
    this.name = 'TftpDecodeError';
    this.reason = reason;
  }
}

/** Read NUL-terminated strings from `buf` starting at `at`. Trailing NULs (padding some ROMs add) are ignored. */
function readStrings(buf: Buffer, at: number, encoding: BufferEncoding): string[] {
  const out: string[] = [];
  let pos = at;
  while (pos < buf.length) {
    const end = buf.indexOf(0, pos);
    if (end < 0) throw new TftpDecodeError('unterminated-string', `string at offset ${pos} has no NUL terminator`);
    out.push(buf.toString(encoding, pos, end));
    pos = end + 1;
  }
  return out;
}

function parseOptions(strings: string[]): TftpOptions {
  // Trailing NULs are padding, not options: drop an odd empty string, then
  // empty name/value pairs. An option with an empty value survives.
  if (strings.length % 2 !== 0 && strings.at(-1) === '') strings.pop();
  while (strings.length >= 2 && strings.at(-1) === '' && strings.at(-2) === '') strings.length -= 2;
  if (strings.length % 2 !== 0) throw new TftpDecodeError('option-without-value', `option "${strings.at(-1)}" has no value`);
  const options: TftpOptions = {};
  for (let i = 0; i < strings.length; i += 2) {
    const name = (strings[i] ?? '').toLowerCase();
    if (name === '') throw new TftpDecodeError('empty-option-name', 'empty option name');
    // First occurrence wins; RFC 2347 does not define duplicates.
    if (!(name in options)) options[name] = strings[i + 1] ?? '';
  }
  return options;
}

/** Decode one datagram; throws `TftpDecodeError` if it is not a well-formed TFTP packet. */
export function decode(buf: Buffer): TftpPacket {
  if (buf.length < 4) throw new TftpDecodeError('too-short', `${buf.length}-byte datagram`);
  const op = buf.readUInt16BE(0);
  switch (op) {
    case OPCODES.RRQ:
    case OPCODES.WRQ: {
      const strings = readStrings(buf, 2, 'utf8');
      const [filename, mode, ...rest] = strings;
      if (!filename) throw new TftpDecodeError('empty-filename', 'request without a file name');
      if (!mode) throw new TftpDecodeError('empty-mode', 'request without a mode');
      return { type: op === OPCODES.RRQ ? 'RRQ' : 'WRQ', filename, mode: mode.toLowerCase(), options: parseOptions(rest) };
    }
    case OPCODES.DATA: {
      if (buf.length - 4 > MAX_BLOCK_SIZE) throw new TftpDecodeError('block-too-large', `${buf.length - 4}-byte block`);
      return { type: 'DATA', block: buf.readUInt16BE(2), data: buf.subarray(4) };
    }
    case OPCODES.ACK:
      // Extra bytes after the block number are ignored (some stacks pad).
      return { type: 'ACK', block: buf.readUInt16BE(2) };
    case OPCODES.ERROR: {
      // Lenient on the terminator: an ERROR ends the transfer either way.
      const end = buf.indexOf(0, 4);
      return { type: 'ERROR', code: buf.readUInt16BE(2), message: buf.toString('utf8', 4, end < 0 ? buf.length : end) };
    }
    case OPCODES.OACK: {
      const options = parseOptions(readStrings(buf, 2, 'utf8'));
      if (Object.keys(options).length === 0) throw new TftpDecodeError('empty-oack', 'OACK without options');
      return { type: 'OACK', options };
    }
    default:
      throw new TftpDecodeError('unknown-opcode', `opcode ${op}`);
  }
}

function strings(parts: string[]): Buffer[] {
  return parts.flatMap((s) => [Buffer.from(s, 'utf8'), Buffer.alloc(1)]);
}

function optionParts(options: TftpOptions): string[] {
  return Object.entries(options).flatMap(([k, v]) => [k, v]);
}

function op(code: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code, 0);
  return b;
}

/** Write a DATA header (opcode + 16-bit block) into the first 4 bytes of `buf`; the hot path builds packets this way. */
export function writeDataHeader(buf: Buffer, block: number): void {
  buf.writeUInt16BE(OPCODES.DATA, 0);
  buf.writeUInt16BE(block & 0xffff, 2);
}

/** Encode a packet. Block numbers are taken modulo 65536 (rollover). */
export function encode(p: TftpPacket): Buffer {
  switch (p.type) {
    case 'RRQ':
    case 'WRQ':
      return Buffer.concat([op(OPCODES[p.type]), ...strings([p.filename, p.mode, ...optionParts(p.options)])]);
    case 'DATA': {
      const b = Buffer.allocUnsafe(4 + p.data.length);
      writeDataHeader(b, p.block);
      p.data.copy(b, 4);
      return b;
    }
    case 'ACK': {
      const b = Buffer.alloc(4);
      b.writeUInt16BE(OPCODES.ACK, 0);
      b.writeUInt16BE(p.block & 0xffff, 2);
      return b;
    }
    case 'ERROR': {
      const head = Buffer.alloc(4);
      head.writeUInt16BE(OPCODES.ERROR, 0);
      head.writeUInt16BE(p.code, 2);
      return Buffer.concat([head, ...strings([p.message])]);
    }
    case 'OACK':
      return Buffer.concat([op(OPCODES.OACK), ...strings(optionParts(p.options))]);
  }
}
