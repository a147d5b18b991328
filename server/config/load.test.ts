import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, validateConfig } from './load.ts';
import { errorOf } from '../../core/testdata/errors.ts';

const tmp = mkdtempSync(join(tmpdir(), 'imgsrv-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};


describe('config', () => {
  it('fills defaults for an empty config', () => {
    const c = validateConfig({});
    expect(c.dhcp.mode).toBe('proxy');
    expect(c.tftp.maxBlockSize).toBe(1468);
    expect(c.boot.mode).toBe('http');
    expect(c.http.port).toBe(80);
  });

  it('reads YAML, lets flags override the file, and parses the range', () => {
    const p = file('a.yaml', 'data: /srv/imgsrv\ndhcp:\n  mode: full\n  range: 198.18.0.100-198.18.0.150\n  leaseSeconds: 600\n');
    const c = loadConfig({ file: p, overrides: { dhcp: { mode: 'proxy' }, data: './var' } });
    expect(c.data).toBe('./var');
    expect(c.dhcp.mode).toBe('proxy');
    expect(c.dhcp.leaseSeconds).toBe(600);
    expect(c.dhcp.range).toEqual({ first: '198.18.0.100', last: '198.18.0.150' });
  });

  it('names the path of an unknown key', () => {
    const p = file('b.yaml', 'dhcp:\n  mode: full\n  rnage: 1.2.3.4-1.2.3.5\n');
    const err = errorOf(() => loadConfig({ file: p }));
    expect(err.code).toBe('BAD_CONFIG');
    expect(err.message).toContain('unknown key dhcp.rnage');
    expect(err.exitCode).toBe(2);
  });

  it('names the path of a bad value', () => {
    expect(errorOf(() => validateConfig({ dhcp: { reservations: [{ mac: 'zz', ip: '198.18.0.5' }] } })).message).toMatch(
      /dhcp\.reservations\.0\.mac: must be a MAC/,
    );
    expect(errorOf(() => validateConfig({ dhcp: { range: '198.18.0.9-198.18.0.1' } })).message).toMatch(/dhcp\.range: must be FIRST-LAST/);
    expect(errorOf(() => validateConfig({ tftp: { port: 'sixty-nine' } })).message).toMatch(/tftp\.port/);
    expect(errorOf(() => validateConfig({ boot: { kernelArgs: ['a b'] } })).message).toMatch(/boot\.kernelArgs\.0/);
    expect(errorOf(() => validateConfig({ nodes: { hostnamePattern: '-{n}' } })).message).toMatch(/nodes\.hostnamePattern: it gives "-1"/);
    // The boot builders' rule: iPXE syntax or a key imgsrv sets itself is refused at load, not at boot.
    expect(errorOf(() => validateConfig({ boot: { kernelArgs: ['quiet', '&&'] } })).message).toMatch(/boot\.kernelArgs\.1: .*iPXE syntax/);
    expect(errorOf(() => validateConfig({ boot: { kernelArgs: ['imgsrv.server=http://x'] } })).message).toMatch(/boot\.kernelArgs\.0: .*sets a key imgsrv sets itself/);
  });

  it('takes the swarm upload cap as bytes/s or with a unit, and names a bad one', () => {
    expect(validateConfig({}).swarm.uploadLimit).toBe('auto');
    expect(validateConfig({ swarm: { uploadLimit: 1000 } }).swarm.uploadLimit).toBe(1000);
    expect(validateConfig({ swarm: { uploadLimit: '100Mbit' } }).swarm.uploadLimit).toBe(12_500_000);
    expect(validateConfig({ swarm: { uploadLimit: '12.5MB/s' } }).swarm.uploadLimit).toBe(12_500_000);
    expect(validateConfig({ swarm: { uploadLimit: '1gbit' } }).swarm.uploadLimit).toBe(125_000_000);
    expect(errorOf(() => validateConfig({ swarm: { uploadLimit: 'fast' } })).message).toMatch(/swarm\.uploadLimit/);
    expect(errorOf(() => validateConfig({ swarm: { torrentPort: 0 } })).message).toMatch(/swarm\.torrentPort/);
  });

  it('reads subnets behind relays, and names a bad one by its path', () => {
    const p = file('s.yaml', [
      'dhcp:',
      '  mode: full',
      '  range: 198.18.0.100-198.18.0.150',
      '  subnets:',
      '    - { subnet: 198.18.1.0/24, range: 198.18.1.100-198.18.1.200, router: 198.18.1.1, dns: [198.18.0.53], leaseSeconds: 900 }',
      '    - { subnet: 198.18.2.0/23, range: 198.18.3.10-198.18.3.20 }',
      '',
    ].join('\n'));
    const c = loadConfig({ file: p });
    expect(c.dhcp.range).toEqual({ first: '198.18.0.100', last: '198.18.0.150' });
    expect(c.dhcp.subnets).toEqual([
      { subnet: { address: '198.18.1.0', prefix: 24 }, range: { first: '198.18.1.100', last: '198.18.1.200' }, router: '198.18.1.1', dns: ['198.18.0.53'], leaseSeconds: 900 },
      { subnet: { address: '198.18.2.0', prefix: 23 }, range: { first: '198.18.3.10', last: '198.18.3.20' }, dns: [] },
    ]);
    const bad = (subnets: unknown[]) => errorOf(() => validateConfig({ dhcp: { subnets } })).message;
    const s = { subnet: '198.18.1.0/24', range: '198.18.1.100-198.18.1.200' };
    expect(bad([{ ...s, subnet: '198.18.1.7/24' }])).toMatch(/dhcp\.subnets\.0\.subnet: must be the network address: 198\.18\.1\.0\/24/);
    expect(bad([{ ...s, subnet: '198.18.1.0' }])).toMatch(/dhcp\.subnets\.0\.subnet: must be a network like/);
    expect(bad([{ ...s, range: '198.18.1.100-198.18.2.5' }])).toMatch(/dhcp\.subnets\.0\.range: 198\.18\.2\.5 is outside 198\.18\.1\.0\/24/);
    expect(bad([{ ...s, router: '198.18.0.1' }])).toMatch(/dhcp\.subnets\.0\.router: 198\.18\.0\.1 is outside 198\.18\.1\.0\/24/);
    expect(bad([s, { subnet: '198.18.0.0/23', range: '198.18.0.10-198.18.0.20' }])).toMatch(/dhcp\.subnets\.1\.subnet: overlaps dhcp\.subnets\.0 \(198\.18\.1\.0\/24\)/);
    expect(bad([{ ...s, gateway: '198.18.1.1' }])).toMatch(/unknown key dhcp\.subnets\.0\.gateway/);
    expect(bad([{ subnet: '198.18.1.0/24' }])).toMatch(/dhcp\.subnets\.0\.range/);
  });

  it('reports a syntax error with the file name', () => {
    const p = file('c.yaml', 'dhcp: [unclosed\n');
    expect(errorOf(() => loadConfig({ file: p })).message).toMatch(/c\.yaml is not valid YAML/);
  });

  it('normalises MACs', () => {
    const c = validateConfig({ nodes: { assignments: [{ mac: 'AA-BB-CC-DD-EE-01', hostname: 'web1' }] } });
    expect(c.nodes.assignments[0]!.mac).toBe('aa:bb:cc:dd:ee:01');
  });
});
