/**
 * The DHCP option catalogue (RFC 2132, PXE RFC 4578, relay RFC 3046/3527,
 * subnet selection RFC 3011, iPXE):
 * one table maps a readable name to its code and wire kind, and the typed
 * `DhcpOptions` object is derived from it. Also the message-type name table
 * used by every log line. Pure data + helpers; no I/O.
 */

/** DHCP message types (option 53, RFC 2132 §9.6). */
export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

/** The one table of message-type names for logs and metric labels. */
export const MESSAGE_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'DHCPDISCOVER',
  2: 'DHCPOFFER',
  3: 'DHCPREQUEST',
  4: 'DHCPDECLINE',
  5: 'DHCPACK',
  6: 'DHCPNAK',
  7: 'DHCPRELEASE',
  8: 'DHCPINFORM',
};

/** Name of a message type for logs ('DHCPDISCOVER'), 'BOOTP' when option 53 is absent. */
export function messageTypeName(type: number | undefined): string {
  if (type === undefined) return 'BOOTP';
  return MESSAGE_TYPE_NAMES[type] ?? `DHCP-TYPE-${type}`;
}

/** A sub-option inside an encapsulating option (82 agent info, 175 iPXE, 43 PXE vendor). */
export interface SubOption {
  code: number;
  data: Buffer;
}

/** Client network device interface (option 94, RFC 4578 §2.2): UNDI type and version. */
export interface ClientNdi {
  type: number;
  major: number;
  minor: number;
}

/** Wire kinds of option payloads. */
type Kind = 'ip' | 'ips' | 'u8' | 'u16' | 'u32' | 'i32' | 'string' | 'bytes' | 'u8list' | 'u16list' | 'subopts' | 'ndi';

/** The option catalogue: readable name → code and wire kind. Unknown codes are kept raw. */
export const OPTIONS = {
  subnetMask: { code: 1, kind: 'ip' },
  timeOffset: { code: 2, kind: 'i32' },
  router: { code: 3, kind: 'ips' },
  dns: { code: 6, kind: 'ips' },
  hostname: { code: 12, kind: 'string' },
  domainName: { code: 15, kind: 'string' },
  rootPath: { code: 17, kind: 'string' },
  interfaceMtu: { code: 26, kind: 'u16' },
  broadcastAddress: { code: 28, kind: 'ip' },
  ntpServers: { code: 42, kind: 'ips' },
  // Opaque per RFC 2132 §8.4; for PXE clients it holds PXE sub-options (see encodeSubOptions).
  vendorSpecific: { code: 43, kind: 'bytes' },
  requestedIp: { code: 50, kind: 'ip' },
  leaseTime: { code: 51, kind: 'u32' },
  overload: { code: 52, kind: 'u8' },
  messageType: { code: 53, kind: 'u8' },
  serverId: { code: 54, kind: 'ip' },
  paramList: { code: 55, kind: 'u8list' },
  message: { code: 56, kind: 'string' },
  maxMessageSize: { code: 57, kind: 'u16' },
  renewalTime: { code: 58, kind: 'u32' },
  rebindingTime: { code: 59, kind: 'u32' },
  vendorClass: { code: 60, kind: 'string' },
  clientId: { code: 61, kind: 'bytes' },
  tftpServer: { code: 66, kind: 'string' },
  bootfile: { code: 67, kind: 'string' },
  // iPXE sends the bare string "iPXE", not the RFC 3004 length-prefixed list: keep it raw text.
  userClass: { code: 77, kind: 'string' },
  clientFqdn: { code: 81, kind: 'bytes' },
  agentInfo: { code: 82, kind: 'subopts' },
  clientArch: { code: 93, kind: 'u16list' },
  clientNdi: { code: 94, kind: 'ndi' },
  clientUuid: { code: 97, kind: 'bytes' },
  // RFC 3011: the subnet a client (or a relay on its behalf) asks to be served from.
  subnetSelection: { code: 118, kind: 'ip' },
  ipxe: { code: 175, kind: 'subopts' },
  pxelinuxConfigFile: { code: 209, kind: 'string' },
  pxelinuxPathPrefix: { code: 210, kind: 'string' },
} as const satisfies Record<string, { code: number; kind: Kind }>;

/** Readable option names. */
export type OptionName = keyof typeof OPTIONS;

interface KindTypes {
  ip: string;
  ips: string[];
  u8: number;
  u16: number;
  u32: number;
  i32: number;
  string: string;
  bytes: Buffer;
  u8list: number[];
  u16list: number[];
  subopts: SubOption[];
  ndi: ClientNdi;
}

/** Decoded options: one typed field per known option; anything else raw under `unknown` by code. */
export type DhcpOptions = { -readonly [K in OptionName]?: KindTypes[(typeof OPTIONS)[K]['kind']] } & {
  unknown?: Record<number, Buffer>;
};

/** Option code → name, for decoding. */
export const OPTION_BY_CODE: ReadonlyMap<number, OptionName> = new Map(
  (Object.keys(OPTIONS) as OptionName[]).map((name) => [OPTIONS[name].code, name]),
);

/** Why an option payload could not be decoded (caller wraps it in a DhcpDecodeError). */
export class OptionLengthError extends Error {
  readonly code: number;
  constructor(code: number, len: number) {
    super(`option ${code}: invalid length ${len}`);
    this.code = code;
  }
}

/** Decode one (already RFC 3396-concatenated) option payload by its kind. */
export function decodeOptionValue(code: number, kind: Kind, b: Buffer): unknown {
  const need = (ok: boolean): void => {
    if (!ok) throw new OptionLengthError(code, b.length);
  };
  switch (kind) {
    case 'ip':
      need(b.length === 4);
      return ipFromBytes(b, 0);
    case 'ips':
      need(b.length > 0 && b.length % 4 === 0);
      return Array.from({ length: b.length / 4 }, (_, i) => ipFromBytes(b, i * 4));
    case 'u8':
      need(b.length === 1);
      return b[0];
    case 'u16':
      need(b.length === 2);
      return b.readUInt16BE(0);
    case 'u32':
      need(b.length === 4);
      return b.readUInt32BE(0);
    case 'i32':
      need(b.length === 4);
      return b.readInt32BE(0);
    case 'string':
      // latin1 keeps every byte so encode(decode(x)) is lossless.
      return b.toString('latin1');
    case 'bytes':
      return Buffer.from(b);
    case 'u8list':
      return [...b];
    case 'u16list':
      need(b.length > 0 && b.length % 2 === 0);
      return Array.from({ length: b.length / 2 }, (_, i) => b.readUInt16BE(i * 2));
    case 'subopts': {
      const subs = decodeSubOptions(b);
      if (!subs) throw new OptionLengthError(code, b.length);
      return subs;
    }
    case 'ndi':
      need(b.length === 3);
      return { type: b[0] ?? 0, major: b[1] ?? 0, minor: b[2] ?? 0 };
  }
}

/** Encode one option value by its kind. */
export function encodeOptionValue(kind: Kind, v: unknown): Buffer {
  switch (kind) {
    case 'ip':
      return ipToBytes(v as string);
    case 'ips':
      return Buffer.concat((v as string[]).map(ipToBytes));
    case 'u8':
      return Buffer.from([(v as number) & 0xff]);
    case 'u16': {
      const b = Buffer.alloc(2);
      b.writeUInt16BE(v as number);
      return b;
    }
    case 'u32': {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(v as number);
      return b;
    }
    case 'i32': {
      const b = Buffer.alloc(4);
      b.writeInt32BE(v as number);
      return b;
    }
    case 'string':
      return Buffer.from(v as string, 'latin1');
    case 'bytes':
      return v as Buffer;
    case 'u8list':
      return Buffer.from(v as number[]);
    case 'u16list': {
      const list = v as number[];
      const b = Buffer.alloc(list.length * 2);
      list.forEach((n, i) => b.writeUInt16BE(n, i * 2));
      return b;
    }
    case 'subopts':
      return encodeSubOptions(v as SubOption[]);
    case 'ndi': {
      const n = v as ClientNdi;
      return Buffer.from([n.type, n.major, n.minor]);
    }
  }
}

/** Parse code/length/value sub-options (RFC 3046 §2.0 layout); undefined if they overrun. */
export function decodeSubOptions(b: Buffer): SubOption[] | undefined {
  const out: SubOption[] = [];
  let i = 0;
  while (i < b.length) {
    const code = b[i] ?? 0;
    if (code === 255) break; // PXE option 43 ends with an End sub-option.
    if (code === 0) {
      i++;
      continue;
    }
    const len = b[i + 1];
    if (len === undefined || i + 2 + len > b.length) return undefined;
    out.push({ code, data: Buffer.from(b.subarray(i + 2, i + 2 + len)) });
    i += 2 + len;
  }
  return out;
}

/** Serialise sub-options as code/length/value (no End marker; callers add one where a spec wants it). */
export function encodeSubOptions(subs: SubOption[]): Buffer {
  return Buffer.concat(subs.map((s) => Buffer.concat([Buffer.from([s.code, s.data.length]), s.data])));
}

/** Dotted quad from 4 bytes. */
export function ipFromBytes(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** 4 bytes from a dotted quad; throws on anything else (our own callers pass validated strings). */
export function ipToBytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new TypeError(`not an IPv4 address: ${ip}`);
  }
  return Buffer.from(parts);
}

/** IPv4 dotted quad → unsigned 32-bit number. */
export function ipToInt(ip: string): number {
  return ipToBytes(ip).readUInt32BE(0);
}

/** Unsigned 32-bit number → IPv4 dotted quad. */
export function intToIp(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return ipFromBytes(b, 0);
}
