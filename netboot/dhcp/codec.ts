/**
 * DHCP wire codec (RFC 2131 §2 message layout, RFC 2132 options, RFC 3396 long
 * options, option 52 overload). Pure functions over Buffers: `decode` throws a
 * `DhcpDecodeError` whose `reason` is a metrics label; `encode` never throws
 * for a well-typed message. No sockets, no files.
 */
import {
  OPTIONS,
  OPTION_BY_CODE,
  OptionLengthError,
  decodeOptionValue,
  encodeOptionValue,
  ipFromBytes,
  ipToBytes,
  type DhcpOptions,
  type OptionName,
} from './options.ts';

/** BOOTP op codes (RFC 951). */
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;

/** The "magic cookie" that starts the options field (RFC 2131 §3). */
export const MAGIC_COOKIE = 0x63825363;

/** RFC 2131 §2: the broadcast bit of `flags`. */
export const FLAG_BROADCAST = 0x8000;

/** Fixed BOOTP header + cookie. */
const HEADER_LEN = 240;
/** RFC 1542 §3.1.1: some relays and old PXE ROMs drop BOOTP messages shorter than 300 bytes. */
const MIN_PACKET = 300;
const SNAME = { start: 44, end: 108 };
const FILE = { start: 108, end: 236 };

/** A decoded DHCP/BOOTP message. Addresses are dotted quads ('0.0.0.0' when unset). */
export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Client hardware address: the first `hlen` bytes as lowercase colon hex. */
  chaddr: string;
  /** Server host name field; '' when option 52 overloads it with options. */
  sname: string;
  /** Boot file name field; '' when option 52 overloads it with options. */
  file: string;
  options: DhcpOptions;
}

/** Why a packet could not be decoded; used verbatim as the `reason` metrics label. */
export type DecodeReason =
  | 'short'
  | 'bad-magic'
  | 'bad-op'
  | 'bad-hlen'
  | 'option-overrun'
  | 'bad-overload'
  | 'overload-loop'
  | 'bad-option';

/** A malformed packet: `reason` is a short label, `message` the detail for logs. */
export class DhcpDecodeError extends Error {
  readonly reason: DecodeReason;
  constructor(reason: DecodeReason, detail: string) {
    super(`${reason}: ${detail}`);
    this.name = 'DhcpDecodeError';
    this.reason = reason;
  }
}

interface RawOption {
  code: number;
  data: Buffer;
}

/** Decode one UDP payload; throws DhcpDecodeError and nothing else on bad input. */
export function decode(buf: Buffer): DhcpMessage {
  if (buf.length < HEADER_LEN) throw new DhcpDecodeError('short', `${buf.length} bytes, need ${HEADER_LEN}`);
  const magic = buf.readUInt32BE(236);
  if (magic !== MAGIC_COOKIE) throw new DhcpDecodeError('bad-magic', `cookie 0x${magic.toString(16)}`);
  const op = buf[0] ?? 0;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new DhcpDecodeError('bad-op', `op ${op}`);
  const hlen = buf[2] ?? 0;
  if (hlen > 16) throw new DhcpDecodeError('bad-hlen', `hlen ${hlen}`);

  // RFC 2131 §4.1 / RFC 3396 §6: options field first, then file, then sname.
  const raw = scanField(buf, HEADER_LEN, buf.length, 'options');
  const overloadOpts = raw.filter((o) => o.code === 52);
  let overload = 0;
  if (overloadOpts.length > 0) {
    const only = overloadOpts.length === 1 ? overloadOpts[0] : undefined;
    if (!only || only.data.length !== 1 || (only.data[0] ?? 0) < 1 || (only.data[0] ?? 0) > 3) {
      throw new DhcpDecodeError('bad-overload', 'option 52 must appear once with value 1, 2 or 3');
    }
    overload = only.data[0] ?? 0;
  }
  // Loop protection: overload is honoured only from the options field; an option 52
  // inside file/sname would ask us to re-read a field we are already reading.
  for (const [bit, field, name] of [[1, FILE, 'file'], [2, SNAME, 'sname']] as const) {
    if (!(overload & bit)) continue;
    const more = scanField(buf, field.start, field.end, name);
    if (more.some((o) => o.code === 52)) throw new DhcpDecodeError('overload-loop', `option 52 inside ${name}`);
    raw.push(...more);
  }

  return {
    op,
    htype: buf[1] ?? 0,
    hlen,
    hops: buf[3] ?? 0,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipFromBytes(buf, 12),
    yiaddr: ipFromBytes(buf, 16),
    siaddr: ipFromBytes(buf, 20),
    giaddr: ipFromBytes(buf, 24),
    chaddr: [...buf.subarray(28, 28 + hlen)].map((b) => b.toString(16).padStart(2, '0')).join(':'),
    sname: overload & 2 ? '' : cString(buf, SNAME.start, SNAME.end),
    file: overload & 1 ? '' : cString(buf, FILE.start, FILE.end),
    options: decodeOptions(raw),
  };
}

/** What the server's admission check needs of a packet (see `peek`). */
export interface PacketHead {
  op: number;
  chaddr: string;
  giaddr: string;
  /** Option 53 when the options field carries it (an overloaded file or sname field is not read). */
  messageType: number | undefined;
}

/**
 * The head of a packet without decoding its options: op, chaddr, giaddr and
 * option 53. A flood is dropped for this much work (issue 25); what passes is
 * decoded in full. Throws DhcpDecodeError where `decode` refuses the header.
 */
export function peek(buf: Buffer): PacketHead {
  if (buf.length < HEADER_LEN) throw new DhcpDecodeError('short', `${buf.length} bytes, need ${HEADER_LEN}`);
  if (buf.readUInt32BE(236) !== MAGIC_COOKIE) throw new DhcpDecodeError('bad-magic', `cookie 0x${buf.readUInt32BE(236).toString(16)}`);
  const op = buf[0] ?? 0;
  const hlen = buf[2] ?? 0;
  if (hlen > 16) throw new DhcpDecodeError('bad-hlen', `hlen ${hlen}`);
  let chaddr = '';
  for (let i = 0; i < hlen; i++) chaddr += (i ? ':' : '') + (buf[28 + i] ?? 0).toString(16).padStart(2, '0');
  let messageType: number | undefined;
  for (let i = HEADER_LEN; i + 1 < buf.length; ) {
    const code = buf[i] ?? 0;
    if (code === 255) break;
    if (code === 0) {
      i++;
      continue;
    }
    const len = buf[i + 1] ?? 0;
    if (code === 53 && len === 1 && i + 2 < buf.length) {
      messageType = buf[i + 2];
      break;
    }
    i += 2 + len;
  }
  return { op, chaddr, giaddr: ipFromBytes(buf, 24), messageType };
}

/** Walk one code/length/value area up to End (255) or its end; pads (0) are skipped. */
function scanField(buf: Buffer, start: number, end: number, where: string): RawOption[] {
  const out: RawOption[] = [];
  let i = start;
  while (i < end) {
    const code = buf[i] ?? 0;
    if (code === 255) return out;
    if (code === 0) {
      i++;
      continue;
    }
    const len = buf[i + 1];
    if (i + 1 >= end || len === undefined || i + 2 + len > end) {
      throw new DhcpDecodeError('option-overrun', `option ${code} at ${i} overruns the ${where} field`);
    }
    out.push({ code, data: buf.subarray(i + 2, i + 2 + len) });
    i += 2 + len;
  }
  // A missing End option is tolerated: several ROMs pad to the end instead.
  return out;
}

/** RFC 3396 §5: all instances of one code are concatenated, in order, before decoding. */
function decodeOptions(raw: RawOption[]): DhcpOptions {
  const joined = new Map<number, Buffer[]>();
  for (const o of raw) {
    const parts = joined.get(o.code);
    if (parts) parts.push(o.data);
    else joined.set(o.code, [o.data]);
  }
  const opts: DhcpOptions = {};
  const bag = opts as Record<string, unknown>;
  for (const [code, parts] of joined) {
    const data = Buffer.concat(parts);
    const name = OPTION_BY_CODE.get(code);
    if (!name) {
      (opts.unknown ??= {})[code] = data;
      continue;
    }
    try {
      bag[name] = decodeOptionValue(code, OPTIONS[name].kind, data);
    } catch (err) {
      if (err instanceof OptionLengthError) throw new DhcpDecodeError('bad-option', err.message);
      throw err;
    }
  }
  return opts;
}

function cString(buf: Buffer, start: number, end: number): string {
  const field = buf.subarray(start, end);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('latin1');
}

/** Message type first (some PXE ROMs look for it early), server id next, the rest in table order. */
const ENCODE_ORDER: OptionName[] = [
  'messageType',
  'serverId',
  ...(Object.keys(OPTIONS) as OptionName[]).filter((n) => n !== 'messageType' && n !== 'serverId' && n !== 'overload'),
];

/** The options area (without cookie), End included; values over 255 bytes split per RFC 3396 §4. */
function encodeOptionsArea(opts: DhcpOptions): Buffer {
  const parts: Buffer[] = [];
  const push = (code: number, data: Buffer): void => {
    if (data.length === 0) parts.push(Buffer.from([code, 0]));
    for (let off = 0; off < data.length; off += 255) {
      const chunk = data.subarray(off, off + 255);
      parts.push(Buffer.from([code, chunk.length]), chunk);
    }
  };
  const bag = opts as Record<string, unknown>;
  for (const name of ENCODE_ORDER) {
    const v = bag[name];
    if (v === undefined) continue;
    push(OPTIONS[name].code, encodeOptionValue(OPTIONS[name].kind, v));
  }
  const unknown = opts.unknown ?? {};
  for (const code of Object.keys(unknown).map(Number).sort((a, b) => a - b)) {
    const v = unknown[code];
    if (v && code > 0 && code < 255) push(code, v);
  }
  parts.push(Buffer.from([255]));
  return Buffer.concat(parts);
}

/**
 * Encode a message. Never emits option 52: sname/file are written as fields and
 * long options go to the options area, split per RFC 3396.
 */
export function encode(msg: DhcpMessage): Buffer {
  const area = encodeOptionsArea(msg.options);
  const buf = Buffer.alloc(Math.max(MIN_PACKET, HEADER_LEN + area.length));
  buf[0] = msg.op;
  buf[1] = msg.htype;
  buf[2] = msg.hlen;
  buf[3] = msg.hops;
  buf.writeUInt32BE(msg.xid >>> 0, 4);
  buf.writeUInt16BE(msg.secs & 0xffff, 8);
  buf.writeUInt16BE(msg.flags & 0xffff, 10);
  ipToBytes(msg.ciaddr).copy(buf, 12);
  ipToBytes(msg.yiaddr).copy(buf, 16);
  ipToBytes(msg.siaddr).copy(buf, 20);
  ipToBytes(msg.giaddr).copy(buf, 24);
  const hw = msg.chaddr === '' ? [] : msg.chaddr.split(':').map((h) => parseInt(h, 16));
  Buffer.from(hw.slice(0, 16)).copy(buf, 28);
  buf.write(msg.sname.slice(0, SNAME.end - SNAME.start - 1), SNAME.start, 'latin1');
  buf.write(msg.file.slice(0, FILE.end - FILE.start - 1), FILE.start, 'latin1');
  buf.writeUInt32BE(MAGIC_COOKIE, 236);
  area.copy(buf, HEADER_LEN);
  return buf;
}

/** Byte length `encode(msg)` will produce. */
export function encodingLength(msg: DhcpMessage): number {
  return Math.max(MIN_PACKET, HEADER_LEN + encodeOptionsArea(msg.options).length);
}

/** An empty message with every header field zeroed: a base for requests and replies. */
export function emptyMessage(op: number, xid: number, chaddr: string): DhcpMessage {
  return {
    op,
    htype: 1,
    hlen: chaddr === '' ? 0 : chaddr.split(':').length,
    hops: 0,
    xid,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: {},
  };
}
