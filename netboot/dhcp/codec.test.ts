import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { BOOTREPLY, BOOTREQUEST, DhcpDecodeError, MAGIC_COOKIE, decode, emptyMessage, encode, encodingLength, peek, type DhcpMessage } from './codec.ts';
import { MESSAGE_TYPE_NAMES, MessageType, messageTypeName } from './options.ts';

const MAC = '52:54:00:12:34:56';

/** A message of each type carrying the options that type really carries on the wire. */
function sample(type: number): DhcpMessage {
  const request = [MessageType.DISCOVER, MessageType.REQUEST, MessageType.DECLINE, MessageType.RELEASE, MessageType.INFORM].includes(type as 1);
  const m = emptyMessage(request ? BOOTREQUEST : BOOTREPLY, 0xdeadbeef, MAC);
  m.secs = 4;
  m.flags = 0x8000;
  m.options.messageType = type;
  if (request) {
    m.options.vendorClass = 'PXEClient:Arch:00007:UNDI:003016';
    m.options.clientArch = [7];
    m.options.clientNdi = { type: 1, major: 3, minor: 16 };
    m.options.clientUuid = Buffer.from('00' + '11'.repeat(16), 'hex');
    m.options.paramList = [1, 3, 6, 43, 60, 66, 67, 175];
    m.options.maxMessageSize = 1472;
    m.options.userClass = 'iPXE';
    m.options.ipxe = [{ code: 16, data: Buffer.from([1]) }, { code: 19, data: Buffer.from([1]) }];
    m.options.clientId = Buffer.from('01525400123456', 'hex');
    if (type === MessageType.REQUEST) {
      m.options.requestedIp = '198.18.0.50';
      m.options.serverId = '198.18.0.1';
      m.options.hostname = 'node-01';
    }
    if (type === MessageType.RELEASE || type === MessageType.INFORM) m.ciaddr = '198.18.0.50';
    if (type === MessageType.DECLINE) m.options.requestedIp = '198.18.0.50';
  } else {
    m.options.serverId = '198.18.0.1';
    if (type !== MessageType.NAK) {
      m.yiaddr = '198.18.0.50';
      m.siaddr = '198.18.0.1';
      m.file = 'undionly.kpxe';
      m.sname = 'imgsrv';
      m.options.subnetMask = '255.255.255.0';
      m.options.router = ['198.18.0.254'];
      m.options.dns = ['198.18.0.1', '198.18.0.2'];
      m.options.leaseTime = 3600;
      m.options.renewalTime = 1800;
      m.options.rebindingTime = 3150;
      m.options.tftpServer = '198.18.0.1';
      m.options.bootfile = 'undionly.kpxe';
      m.options.vendorSpecific = Buffer.from([6, 1, 8, 255]);
    } else m.options.message = 'no such lease';
  }
  m.giaddr = '198.18.1.1';
  m.hops = 1;
  // Relay agent information with an RFC 3527 link selection (sub-option 5), and RFC 3011 subnet selection.
  m.options.agentInfo = [{ code: 1, data: Buffer.from('eth0/1') }, { code: 2, data: Buffer.from([1, 2, 3]) }, { code: 5, data: Buffer.from([198, 18, 1, 0]) }];
  m.options.subnetSelection = '198.18.1.0';
  return m;
}

describe('codec round trip', () => {
  for (const [code, name] of Object.entries(MESSAGE_TYPE_NAMES)) {
    it(`${name} survives encode → decode`, () => {
      const m = sample(Number(code));
      const buf = encode(m);
      expect(buf.length).toBe(encodingLength(m));
      expect(decode(buf)).toEqual(m);
      expect(messageTypeName(decode(buf).options.messageType)).toBe(name);
    });
  }

  it('pads to the 300-byte BOOTP minimum and writes the cookie', () => {
    const m = emptyMessage(BOOTREQUEST, 1, MAC);
    m.options.messageType = MessageType.DISCOVER;
    const buf = encode(m);
    expect(buf.length).toBe(300);
    expect(buf.readUInt32BE(236)).toBe(MAGIC_COOKIE);
    expect(buf[240]).toBe(53);
  });

  it('keeps unknown options raw', () => {
    const m = sample(MessageType.DISCOVER);
    m.options.unknown = { 119: Buffer.from([3, 0x6c, 0x61, 0x62, 0]), 250: Buffer.alloc(0) };
    expect(decode(encode(m)).options.unknown).toEqual(m.options.unknown);
  });
});

describe('RFC 3396 long options', () => {
  it('splits a 600-byte option into 255+255+90 and joins it back', () => {
    const m = sample(MessageType.OFFER);
    const big = Buffer.alloc(600, 0x41);
    m.options.vendorSpecific = big;
    const buf = encode(m);
    const lens: number[] = [];
    for (let i = 240; i < buf.length && buf[i] !== 255; ) {
      if (buf[i] === 0) { i++; continue; }
      if (buf[i] === 43) lens.push(buf[i + 1] ?? -1);
      i += 2 + (buf[i + 1] ?? 0);
    }
    expect(lens).toEqual([255, 255, 90]);
    expect(decode(buf).options.vendorSpecific).toEqual(big);
  });

  it('concatenates split instances even when other options sit between them', () => {
    const opts = Buffer.from([53, 1, 1, 12, 3, 0x61, 0x62, 0x63, 61, 2, 1, 2, 12, 2, 0x64, 0x65, 255]);
    expect(decode(packet(opts)).options.hostname).toBe('abcde');
  });
});

describe('option overload (52)', () => {
  it('reads options from file, then sname, after the options field', () => {
    const buf = packet(Buffer.from([53, 1, 1, 52, 1, 3, 255]));
    Buffer.from([12, 2, 0x68, 0x31, 255]).copy(buf, 108); // file: hostname "h1"
    Buffer.from([12, 1, 0x21, 60, 4, 0x50, 0x58, 0x45, 0x43, 255]).copy(buf, 44); // sname
    const m = decode(buf);
    expect(m.options.hostname).toBe('h1!');
    expect(m.options.vendorClass).toBe('PXEC');
    expect(m.file).toBe('');
    expect(m.sname).toBe('');
    expect(m.options.overload).toBe(3);
  });

  it('refuses option 52 inside an overloaded field (loop)', () => {
    const buf = packet(Buffer.from([53, 1, 1, 52, 1, 1, 255]));
    Buffer.from([52, 1, 1, 255]).copy(buf, 108);
    expect(() => decode(buf)).toThrow(expect.objectContaining({ reason: 'overload-loop' }));
  });

  it('refuses a bad overload value', () => {
    expect(() => decode(packet(Buffer.from([52, 1, 7, 255])))).toThrow(expect.objectContaining({ reason: 'bad-overload' }));
    expect(() => decode(packet(Buffer.from([52, 1, 1, 52, 1, 1, 255])))).toThrow(expect.objectContaining({ reason: 'bad-overload' }));
  });

  it('detects an overrun inside an overloaded field', () => {
    const buf = packet(Buffer.from([52, 1, 2, 255]));
    buf[44 + 62] = 12;
    buf[44 + 63] = 10; // runs past the 64-byte sname field
    expect(() => decode(buf)).toThrow(expect.objectContaining({ reason: 'option-overrun' }));
  });
});

describe('malformed input', () => {
  const cases: [string, Buffer][] = [
    ['short', Buffer.alloc(100)],
    ['bad-magic', Buffer.alloc(300)],
    ['option-overrun', packet(Buffer.from([53, 1, 1, 12, 200, 0x41]), false)],
    ['option-overrun', packet(Buffer.from([53]), false)],
    ['bad-option', packet(Buffer.from([54, 3, 1, 2, 3, 255]))],
    ['bad-option', packet(Buffer.from([93, 3, 0, 0, 7, 255]))],
  ];
  for (const [reason, buf] of cases) {
    it(`rejects with reason ${reason}`, () => {
      let caught: unknown;
      try {
        decode(buf);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(DhcpDecodeError);
      expect((caught as DhcpDecodeError).reason).toBe(reason);
    });
  }

  it('rejects op codes other than request/reply', () => {
    const buf = packet(Buffer.from([255]));
    buf[0] = 3;
    expect(() => decode(buf)).toThrow(expect.objectContaining({ reason: 'bad-op' }));
  });

  it('tolerates a missing End option when the packet ends cleanly', () => {
    expect(decode(packet(Buffer.from([53, 1, 3]), false)).options.messageType).toBe(3);
  });
});

describe('peek: the head of a packet, for the rate limits (issue 25)', () => {
  const dir = new URL('./testdata/', import.meta.url);
  const fixtures = readdirSync(dir)
    .filter((f) => f.endsWith('.hex'))
    .map((f) => Buffer.from(readFileSync(new URL(f, dir), 'utf8').replace(/\s+/g, ''), 'hex'));
  const head = (m: DhcpMessage) => ({ op: m.op, chaddr: m.chaddr, giaddr: m.giaddr, messageType: m.options.messageType });

  it('agrees with decode on every message type and every captured packet', () => {
    for (const type of Object.keys(MESSAGE_TYPE_NAMES).map(Number)) {
      const m = sample(type);
      m.giaddr = '198.18.1.1';
      expect(peek(encode(m))).toEqual(head(m));
    }
    expect(fixtures.length).toBeGreaterThan(0);
    for (const buf of fixtures) expect(peek(buf)).toEqual(head(decode(buf)));
  });

  it('throws only DhcpDecodeError, and agrees with decode on whatever decode accepts (mutated captures)', () => {
    let seed = 25;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    let agreed = 0;
    for (let n = 0; n < 20_000; n++) {
      const buf = Buffer.from(fixtures[rnd(fixtures.length)]!);
      for (let k = 1 + rnd(4); k > 0; k--) buf[rnd(buf.length)] = rnd(256);
      const cut = rnd(8) === 0 ? buf.subarray(0, rnd(buf.length)) : buf;
      let h;
      try {
        h = peek(cut);
      } catch (err) {
        expect(err).toBeInstanceOf(DhcpDecodeError);
        continue;
      }
      let m;
      try {
        m = decode(cut);
      } catch {
        continue;
      }
      // Option 53 in an overloaded file/sname field is decode's alone.
      expect(h).toEqual({ ...head(m), messageType: h.messageType === undefined ? undefined : m.options.messageType });
      agreed++;
    }
    expect(agreed).toBeGreaterThan(1000);
  });
});

describe('dhcpjs as an independent decoder of our packets', () => {
  const require = createRequire(import.meta.url);
  const dhcpjs = require('dhcpjs/lib/parser.js') as { parse(b: Buffer, rinfo: unknown): Record<string, any> };

  it('reads an OFFER the way we meant it', () => {
    const m = sample(MessageType.OFFER);
    delete m.options.tftpServer; // dhcpjs logs and skips options it does not know (66/67)
    delete m.options.bootfile;
    delete m.options.vendorSpecific; // dhcpjs reads past a PXE End sub-option (255) and loses sync
    m.options.agentInfo = m.options.agentInfo!.filter((s) => s.code !== 5); // dhcpjs asserts on 82 sub-options it does not know
    delete m.options.subnetSelection;
    const p = dhcpjs.parse(encode(m), { address: '198.18.0.1', port: 67 });
    expect(p.xid).toBe(0xdeadbeef);
    expect(p.yiaddr).toBe('198.18.0.50');
    expect(p.siaddr).toBe('198.18.0.1');
    expect(p.giaddr).toBe('198.18.1.1');
    expect(p.chaddr.address).toBe(MAC);
    expect(p.file).toBe('undionly.kpxe');
    expect(p.options.subnetMask).toBe('255.255.255.0');
    expect(p.options.routerOption).toEqual(['198.18.0.254']);
    expect(p.options.domainNameServerOption).toEqual(['198.18.0.1', '198.18.0.2']);
    expect(p.options.ipAddressLeaseTime).toBe(3600);
    expect(p.options.serverIdentifier).toBe('198.18.0.1');
    expect(p.options.relayAgentInformation.agentCircuitId).toBe(Buffer.from('eth0/1').toString('hex'));
    expect(String(p.options.dhcpMessageType)).toMatch(/DHCPOFFER/);
  });

  it('reads a REQUEST the way we meant it', () => {
    const m = emptyMessage(BOOTREQUEST, 42, MAC);
    m.options = { messageType: MessageType.REQUEST, requestedIp: '198.18.0.50', serverId: '198.18.0.1', hostname: 'n1', paramList: [1, 3, 6], vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };
    const p = dhcpjs.parse(encode(m), {});
    expect(p.options.requestedIpAddress).toBe('198.18.0.50');
    expect(p.options.hostName).toBe('n1');
    expect(p.options.parameterRequestList).toEqual([1, 3, 6]);
    expect(p.options.vendorClassIdentifier).toBe('PXEClient:Arch:00000:UNDI:002001');
  });
});

/** A zeroed 300+ byte BOOTREQUEST whose options area is `opts`. */
function packet(opts: Buffer, pad = true): Buffer {
  const head = Buffer.alloc(240);
  head[0] = 1;
  head[1] = 1;
  head[2] = 6;
  head.writeUInt32BE(MAGIC_COOKIE, 236);
  const body = Buffer.concat([head, opts]);
  return pad && body.length < 300 ? Buffer.concat([body, Buffer.alloc(300 - body.length)]) : body;
}
