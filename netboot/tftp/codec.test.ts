import { describe, expect, it } from 'vitest';
import { OPCODES, TftpDecodeError, decode, encode, opcodeName, writeDataHeader, type TftpPacket } from './codec.ts';

function roundTrip(p: TftpPacket): TftpPacket {
  return decode(encode(p));
}

function reasonOf(buf: Buffer): string {
  try {
    decode(buf);
  } catch (err) {
    if (err instanceof TftpDecodeError) return err.reason;
    throw err;
  }
  return 'decoded';
}

describe('tftp codec round trips', () => {
  it('RRQ with options', () => {
    const p: TftpPacket = { type: 'RRQ', filename: 'pxelinux.cfg/01-52-54-00-12-34-56', mode: 'octet', options: { blksize: '1468', tsize: '0' } };
    expect(roundTrip(p)).toEqual(p);
  });
  it('WRQ without options', () => {
    const p: TftpPacket = { type: 'WRQ', filename: 'upload.bin', mode: 'netascii', options: {} };
    expect(roundTrip(p)).toEqual(p);
  });
  it('DATA, including an empty final block and a rolled-over block number', () => {
    const p: TftpPacket = { type: 'DATA', block: 7, data: Buffer.from('hello') };
    expect(roundTrip(p)).toEqual(p);
    expect(roundTrip({ type: 'DATA', block: 65535, data: Buffer.alloc(0) })).toEqual({ type: 'DATA', block: 65535, data: Buffer.alloc(0) });
    expect(roundTrip({ type: 'DATA', block: 65536, data: Buffer.alloc(1) })).toMatchObject({ block: 0 });
  });
  it('ACK', () => {
    expect(roundTrip({ type: 'ACK', block: 0 })).toEqual({ type: 'ACK', block: 0 });
    expect(roundTrip({ type: 'ACK', block: 65535 })).toEqual({ type: 'ACK', block: 65535 });
  });
  it('ERROR', () => {
    const p: TftpPacket = { type: 'ERROR', code: 1, message: 'File not found' };
    expect(roundTrip(p)).toEqual(p);
  });
  it('OACK', () => {
    const p: TftpPacket = { type: 'OACK', options: { blksize: '1468', tsize: '67108864', windowsize: '16' } };
    expect(roundTrip(p)).toEqual(p);
  });
});

describe('tftp codec decoding', () => {
  it('matches bytes a real client sends (curl RRQ)', () => {
    const wire = Buffer.from('\x00\x01file\x00octet\x00tsize\x000\x00blksize\x001468\x00', 'latin1');
    expect(decode(wire)).toEqual({ type: 'RRQ', filename: 'file', mode: 'octet', options: { tsize: '0', blksize: '1468' } });
  });
  it('lower-cases option names and the mode (RFC 2347: case-insensitive)', () => {
    const wire = Buffer.from('\x00\x01f\x00OCTET\x00BlkSize\x001024\x00TSIZE\x000\x00', 'latin1');
    expect(decode(wire)).toMatchObject({ mode: 'octet', options: { blksize: '1024', tsize: '0' } });
  });
  it('tolerates trailing NUL padding after a request', () => {
    const wire = Buffer.from('\x00\x01f\x00octet\x00\x00\x00\x00', 'latin1');
    expect(decode(wire)).toMatchObject({ filename: 'f', options: {} });
  });
  it('keeps the first of duplicate options', () => {
    const wire = Buffer.from('\x00\x01f\x00octet\x00blksize\x00512\x00BLKSIZE\x009000\x00', 'latin1');
    expect(decode(wire)).toMatchObject({ options: { blksize: '512' } });
  });
  it('accepts an ERROR whose message lacks its terminator', () => {
    expect(decode(Buffer.from('\x00\x05\x00\x02no', 'latin1'))).toEqual({ type: 'ERROR', code: 2, message: 'no' });
  });
  it('throws TftpDecodeError with a reason for each kind of malformed packet', () => {
    expect(reasonOf(Buffer.from([0, 1, 0]))).toBe('too-short');
    expect(reasonOf(Buffer.from([0, 9, 0, 0]))).toBe('unknown-opcode');
    expect(reasonOf(Buffer.from('\x00\x01file\x00oct', 'latin1'))).toBe('unterminated-string');
    expect(reasonOf(Buffer.from('\x00\x01\x00octet\x00', 'latin1'))).toBe('empty-filename');
    expect(reasonOf(Buffer.from('\x00\x01f\x00\x00\x00', 'latin1'))).toBe('empty-mode');
    expect(reasonOf(Buffer.from('\x00\x01f\x00octet\x00blksize\x00', 'latin1'))).toBe('option-without-value');
    expect(reasonOf(Buffer.from('\x00\x01f\x00octet\x00\x001\x00', 'latin1'))).toBe('empty-option-name');
    expect(reasonOf(Buffer.concat([Buffer.from([0, 3, 0, 1]), Buffer.alloc(65465)]))).toBe('block-too-large');
  });
  it('names opcodes from one table', () => {
    expect(opcodeName(OPCODES.OACK)).toBe('OACK');
    expect(opcodeName(42)).toBe('OP42');
  });
  it('writeDataHeader writes the wrapped block number', () => {
    const b = Buffer.alloc(6);
    writeDataHeader(b, 65536 + 3);
    expect([...b.subarray(0, 4)]).toEqual([0, 3, 0, 3]);
  });
});
