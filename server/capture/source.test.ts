import { describe, expect, it } from 'vitest';
import { defaultImageName, describeSource, parseSource, validateHost } from './source.ts';

describe('capture sources', () => {
  it.each([
    '-oProxyCommand=touch /tmp/pwned',
    'x;rm -rf /',
    '$(id)',
    '`id`',
    'host name',
    'a|b',
    'host\nother',
    '-p',
    '--',
    '',
    'a..b',
    'evil.com:22',
    '[::1];id',
    '-leading.example',
    'trailing-.example',
  ])('refuses the hostile or invalid host %j', (host) => {
    expect(() => parseSource(host)).toThrow(/not a host name or IP address|is not a user name/);
  });

  it('accepts names and addresses', () => {
    expect(validateHost('198.18.0.10')).toBe('198.18.0.10');
    expect(validateHost('sample-1.lab.example')).toBe('sample-1.lab.example');
    expect(validateHost('[2001:db8::1]')).toBe('2001:db8::1');
    expect(parseSource('198.18.0.10')).toEqual({ kind: 'ssh', host: '198.18.0.10', user: 'root', port: 22, identity: undefined });
    expect(parseSource('admin@web1', { port: 2222 })).toMatchObject({ user: 'admin', host: 'web1', port: 2222 });
  });

  it('refuses hostile users, ports and identity paths', () => {
    expect(() => parseSource('h', { user: '-oProxyCommand=x' })).toThrow(/not a user name/);
    expect(() => parseSource('-o@h')).toThrow(/not a user name/);
    expect(() => parseSource('h', { port: 0 })).toThrow(/not a port/);
    expect(() => parseSource('h', { identity: '/tmp/my key' })).toThrow(/without spaces/);
    expect(() => parseSource('h', { identity: 'relative/key' })).toThrow(/absolute path/);
    expect(() => parseSource('h', { identity: '/a/../etc/shadow' })).toThrow(/absolute path/);
  });

  it('parses rsync:// URLs and refuses bad ones', () => {
    expect(parseSource('rsync://198.18.0.10/root')).toEqual({ kind: 'rsyncd', host: '198.18.0.10', port: 873, module: 'root', path: '/' });
    expect(parseSource('rsync://h:8873/sys/sub')).toMatchObject({ port: 8873, module: 'sys', path: '/sub' });
    expect(() => parseSource('rsync://h/-x')).toThrow(/module name/);
    expect(() => parseSource('rsync://h/m/../../etc')).toThrow(/may not contain/);
    expect(() => parseSource('rsync://x;id/m')).toThrow(/not a host name/);
    expect(() => parseSource('http://h/')).toThrow(/unsupported source/);
  });

  it('names images after the host', () => {
    expect(defaultImageName(parseSource('198.18.0.10'))).toBe('198.18.0.10');
    expect(defaultImageName(parseSource('Web1.Example.'))).toBe('web1.example');
    expect(defaultImageName(parseSource('rsync://h/root'))).toBe('h-root');
    expect(describeSource(parseSource('h', { port: 2222 }))).toBe('root@h:2222');
  });
});
