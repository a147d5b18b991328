import { describe, expect, it } from 'vitest';
import { negotiate } from './options.ts';

const limits = { maxBlockSize: 1468, maxWindowSize: 32, timeoutMs: 1000, maxTimeoutSeconds: 10 };

describe('negotiate', () => {
  it('no options: RFC 1350 defaults and no OACK', () => {
    expect(negotiate({}, limits, 10)).toEqual({ blockSize: 512, windowSize: 1, timeoutMs: 1000, oack: null });
  });
  it('caps blksize to the configured max and honours a smaller one', () => {
    expect(negotiate({ blksize: '65464' }, limits, 10)).toMatchObject({ blockSize: 1468, oack: { blksize: '1468' } });
    expect(negotiate({ blksize: '1024' }, limits, 10)).toMatchObject({ blockSize: 1024, oack: { blksize: '1024' } });
    expect(negotiate({ blksize: '8' }, limits, 10)).toMatchObject({ blockSize: 8 });
    expect(negotiate({ blksize: '99999' }, { ...limits, maxBlockSize: 100000 }, 10)).toMatchObject({ blockSize: 65464 });
  });
  it('ignores invalid values (RFC 2347: the server may omit an option)', () => {
    for (const blksize of ['7', '0', '-5', 'abc', '', '1e3']) {
      expect(negotiate({ blksize }, limits, 10)).toMatchObject({ blockSize: 512, oack: null });
    }
    expect(negotiate({ timeout: '0' }, limits, 10).oack).toBeNull();
    expect(negotiate({ timeout: '256' }, limits, 10).oack).toBeNull();
    expect(negotiate({ windowsize: '0' }, limits, 10).oack).toBeNull();
    expect(negotiate({ multicast: '' }, limits, 10).oack).toBeNull();
  });
  it('reports tsize and takes the client timeout in seconds', () => {
    expect(negotiate({ tsize: '0', timeout: '3' }, limits, 67108864)).toEqual({
      blockSize: 512,
      windowSize: 1,
      timeoutMs: 3000,
      oack: { timeout: '3', tsize: '67108864' },
    });
  });
  it('ignores a timeout above the cap (no smaller value in the OACK: RFC 2349 says it must match) and keeps our own', () => {
    expect(negotiate({ timeout: '255' }, limits, 10)).toEqual({ blockSize: 512, windowSize: 1, timeoutMs: 1000, oack: null });
    expect(negotiate({ timeout: '11', tsize: '0', blksize: '1468' }, limits, 10)).toEqual({
      blockSize: 1468,
      windowSize: 1,
      timeoutMs: 1000,
      oack: { blksize: '1468', tsize: '10' },
    });
    expect(negotiate({ timeout: '10' }, limits, 10)).toMatchObject({ timeoutMs: 10_000, oack: { timeout: '10' } });
    expect(negotiate({ timeout: '255' }, { ...limits, maxTimeoutSeconds: 255 }, 10)).toMatchObject({ timeoutMs: 255_000 });
  });
  it('caps windowsize', () => {
    expect(negotiate({ windowsize: '64' }, limits, 1)).toMatchObject({ windowSize: 32, oack: { windowsize: '32' } });
    expect(negotiate({ windowsize: '4' }, limits, 1)).toMatchObject({ windowSize: 4 });
  });
});
