import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseProgressLine, parseStats, splitOutput, sumStats } from './rsync-output.ts';

const fixture = (n: string) => readFileSync(join(import.meta.dirname, 'testdata', n), 'utf8');

describe('rsync output', () => {
  it('parses progress2 lines of real rsync output, fed in small chunks', () => {
    const text = fixture('rsync-progress2-first.txt');
    for (const size of [1, 7, 4096]) {
      let rest = '';
      const samples = [];
      for (let i = 0; i < text.length; i += size) {
        const r = splitOutput(rest + text.slice(i, i + size));
        rest = r.rest;
        for (const l of r.lines) {
          const p = parseProgressLine(l);
          if (p) samples.push(p);
        }
      }
      expect(samples.length).toBeGreaterThanOrEqual(3);
      expect(samples.at(-1)).toMatchObject({ bytes: 60000003, percent: 100, transferred: 3, toCheck: 0, totalFiles: 4 });
      expect(samples.at(-1)!.bytesPerSecond).toBeGreaterThan(1e6);
      for (let i = 1; i < samples.length; i++) expect(samples[i]!.bytes).toBeGreaterThanOrEqual(samples[i - 1]!.bytes);
    }
  });

  it('reads human-readable numbers (thousands separators) too', () => {
    expect(parseProgressLine('     30,000,000  49%  649.52MB/s    0:00:00 (xfr#1, to-chk=2/4)')).toEqual({
      bytes: 30000000,
      percent: 49,
      bytesPerSecond: 649520000,
      etaSeconds: 0,
      transferred: 1,
      toCheck: 2,
      totalFiles: 4,
    });
    expect(parseProgressLine('  1.23G  12%   10.00MB/s    1:02:03')).toMatchObject({ bytes: 1230000000, etaSeconds: 3723 });
    expect(parseProgressLine('Number of files: 4')).toBeUndefined();
    expect(parseProgressLine('sending incremental file list')).toBeUndefined();
  });

  it('parses the stats block: first copy vs an unchanged re-run', () => {
    const first = parseStats(fixture('rsync-progress2-first.txt'))!;
    expect(first).toMatchObject({ files: 4, createdFiles: 4, transferredFiles: 3, totalFileSize: 60000003, literalData: 60000003, bytesSent: 60014880, bytesReceived: 76 });
    const again = parseStats(fixture('rsync-progress2-again.txt'))!;
    expect(again.totalFileSize).toBe(60000005);
    expect(again.transferredFiles).toBe(1);
    expect(again.bytesSent).toBeLessThan(first.bytesSent / 1000);
    expect(parseStats(fixture('rsync-progress2-human.txt'))!.totalFileSize).toBe(60000005);
    expect(parseStats('rsync: connection unexpectedly closed')).toBeUndefined();
    expect(sumStats([first, again]).totalFileSize).toBe(120000008);
  });
});
