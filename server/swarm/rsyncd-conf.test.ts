import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImgsrvError } from '../../core/errors.ts';
import { BACKOFF, nextRestart, parseLogLine, renderRsyncdConf, startFailure, validateModule, type RsyncdConfOptions } from './rsyncd-conf.ts';
import { errorOf } from '../../core/testdata/errors.ts';

/** Real rsync 3.5.0 daemon logs (log file + stderr), captured on this machine. */
const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'testdata', name), 'utf8').split('\n');

const base: RsyncdConfOptions = {
  pidFile: '/var/lib/imgsrv/rsyncd/rsyncd.pid',
  lockFile: '/var/lib/imgsrv/rsyncd/rsyncd.lock',
  logFile: '/dev/stderr',
  modules: [{ name: 'torrents', path: '/var/lib/imgsrv/torrents', comment: 'imgsrv torrent files' }],
};

/** The `name = value` pairs of one section ('' = global). */
function section(conf: string, name: string): Map<string, string> {
  const out = new Map<string, string>();
  let current = '';
  for (const line of conf.split('\n')) {
    const header = /^\[(.*)\]$/.exec(line);
    if (header) current = header[1]!;
    else if (current === name && /^[a-z ]+ = /.test(line)) {
      const [k, ...v] = line.split(' = ');
      out.set(k!, v.join(' = '));
    }
  }
  return out;
}


describe('renderRsyncdConf', () => {
  it('exports each module read-only from inside a chroot, as nobody', () => {
    const conf = renderRsyncdConf(base);
    const g = section(conf, '');
    expect(Object.fromEntries(g)).toMatchObject({
      'pid file': base.pidFile,
      'lock file': base.lockFile,
      'log file': '/dev/stderr',
      'use chroot': 'yes',
      uid: '65534',
      gid: '65534',
      'numeric ids': 'yes',
      'read only': 'yes',
      'write only': 'no',
      'munge symlinks': 'yes',
      'reverse lookup': 'no',
      'forward lookup': 'no',
      'max connections': '512',
      timeout: '60',
    });
    for (const opt of ['delete', 'remove-source-files', 'copy-links', 'copy-unsafe-links', 'log-file']) {
      expect(g.get('refuse options')!.split(' ')).toContain(opt);
    }
    expect(Object.fromEntries(section(conf, 'torrents'))).toEqual({ path: '/var/lib/imgsrv/torrents', comment: 'imgsrv torrent files' });
  });

  it('no module overrides a global safety setting', () => {
    const conf = renderRsyncdConf({ ...base, modules: [...base.modules, { name: 'other.v2', path: '/srv/x y' }] });
    for (const name of ['torrents', 'other.v2']) {
      expect([...section(conf, name).keys()].every((k) => k === 'path' || k === 'comment')).toBe(true);
    }
    expect(section(conf, 'other.v2').get('path')).toBe('/srv/x y');
  });

  it('takes the connection limit and timeout', () => {
    const g = section(renderRsyncdConf({ ...base, maxConnections: 50, timeoutSec: 30 }), '');
    expect(g.get('max connections')).toBe('50');
    expect(g.get('timeout')).toBe('30');
    expect(errorOf(() => renderRsyncdConf({ ...base, maxConnections: 0 })).code).toBe('BAD_CONFIG');
  });

  it.each([
    ['relative path', { name: 'm', path: 'var/lib/x' }, 'not an absolute path'],
    ['newline in path', { name: 'm', path: '/srv/a\n[evil]\npath = /' }, 'control character'],
    ['NUL in path', { name: 'm', path: '/srv/a\0b' }, 'control character'],
    ['dot-dot', { name: 'm', path: '/srv/../etc' }, 'not a normalised path'],
    ['chroot split /./', { name: 'm', path: '/srv/./x' }, 'not a normalised path'],
    ['trailing slash', { name: 'm', path: '/srv/x/' }, 'not a normalised path'],
    ['trailing space', { name: 'm', path: '/srv/x ' }, 'whitespace'],
    ['trailing backslash', { name: 'm', path: '/srv/x\\' }, 'backslash'],
    ['env reference', { name: 'm', path: '/srv/%HOME%' }, '"%"'],
    ['the root', { name: 'm', path: '/' }, 'whole file system'],
    ['bracket in name', { name: 'a]b', path: '/srv' }, 'name'],
    ['slash in name', { name: 'a/b', path: '/srv' }, 'name'],
    ['space in name', { name: 'a b', path: '/srv' }, 'name'],
    ['reserved name', { name: 'Global', path: '/srv' }, 'name'],
    ['newline in comment', { name: 'm', path: '/srv', comment: 'a\nuid = 0' }, 'control character'],
  ])('refuses %s with BAD_CONFIG', (_what, mod, words) => {
    const err = errorOf(() => renderRsyncdConf({ ...base, modules: [mod] }));
    expect(err.code).toBe('BAD_CONFIG');
    expect(err.message).toContain(words);
    expect(err.hint).toBeTruthy();
    expect(() => validateModule(mod)).toThrow(ImgsrvError);
  });

  it('refuses a bad state path, no module, and a module twice', () => {
    expect(errorOf(() => renderRsyncdConf({ ...base, pidFile: 'rsyncd.pid' })).message).toContain('pid file');
    expect(errorOf(() => renderRsyncdConf({ ...base, modules: [] })).code).toBe('BAD_CONFIG');
    expect(errorOf(() => renderRsyncdConf({ ...base, modules: [base.modules[0]!, base.modules[0]!] })).message).toContain('twice');
  });

  it('every line of the output is a comment, a header, blank or one parameter', () => {
    for (const line of renderRsyncdConf(base).split('\n')) {
      expect(line).toMatch(/^(#.*|\[[A-Za-z0-9._-]+\]|[a-z ]+ = \S.*|)$/);
    }
  });
});

describe('rsync daemon restart backoff', () => {
  it('doubles from 0.5 s to at most 10 s while the daemon keeps dying quickly', () => {
    let s = { delayMs: BACKOFF.initialMs / 2, quickFailures: 0 };
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      s = nextRestart(s, 200);
      delays.push(s.delayMs);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    expect(s.quickFailures).toBe(8);
  });

  it('starts over after a run of 60 s', () => {
    const s = nextRestart({ delayMs: 10_000, quickFailures: 7 }, 60_000);
    expect(s).toEqual({ delayMs: 500, quickFailures: 1 });
  });
});

describe('rsync log lines', () => {
  it('strips the timestamp, keeps the pid, and logs fetches at info, errors at warn, the rest at debug', () => {
    const lines = fixture('rsyncd-session.log').map(parseLogLine).filter((l) => l !== undefined);
    expect(lines[0]).toEqual({ msg: 'connect from UNDETERMINED (127.0.0.1)', rsyncPid: expect.any(Number), level: 'debug' });
    expect(lines.filter((l) => l.level === 'info').map((l) => l.msg)).toEqual([
      'rsync on torrents/img/1.torrent from UNDETERMINED (127.0.0.1)',
      'rsync on torrents/img/pw from UNDETERMINED (127.0.0.1)',
      'rsync to torrents/up from UNDETERMINED (127.0.0.1)',
    ]);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      'rsync: [sender] link_stat "/img/pw" (in torrents) failed: No such file or directory (2)',
      'ERROR: module is read only',
      'rsync error: syntax or usage error (code 1) at main.c(1185) [Receiver=3.5.0]',
    ]);
    // A plain stderr line (before the log is open) has no prefix and no pid.
    expect(parseLogLine('failed to lock pid file /x/rsyncd.pid: Resource temporarily unavailable')).toMatchObject({ rsyncPid: undefined, level: 'warn' });
    expect(parseLogLine('')).toBeUndefined();
  });
});

describe('startFailure', () => {
  const ctx = { address: '198.18.0.1', port: 873, rsyncPath: 'rsync', pidFile: '/d/rsyncd/rsyncd.pid', configFile: '/d/rsyncd/rsyncd.conf', timedOut: false };
  const tail = (name: string) => fixture(name).map(parseLogLine).flatMap((l) => (l ? [l.msg] : []));

  it.each([
    ['rsyncd-in-use.log', 'SOCKET', 'rsync daemon cannot listen on 198.18.0.1:873: address already in use', 'swarm.rsyncPort'],
    ['rsyncd-not-local.log', 'SOCKET', 'rsync daemon cannot bind 198.18.0.1: not an address of this host', 'netboot interface'],
    ['rsyncd-pid-locked.log', 'CONFLICT', 'another rsync daemon holds /d/rsyncd/rsyncd.pid', 'this data directory'],
  ])('reads %s as %s', (file, code, message, hint) => {
    const err = startFailure(tail(file), ctx);
    expect(err.code).toBe(code);
    expect(err.message).toBe(message);
    expect(err.hint).toContain(hint);
  });

  it('says rsync is missing, or quotes its last line', () => {
    expect(startFailure(['spawn rsync ENOENT'], ctx).code).toBe('NO_RSYNC');
    const err = startFailure(['rsyncd version 3.5.0 starting, listening on port 873', 'Unknown parameter "foo"', 'rsync error: syntax or usage error (code 1)'], ctx);
    expect(err.oneLine()).toBe('rsync daemon exited at start: Unknown parameter "foo": check /d/rsyncd/rsyncd.conf and the rsyncd log lines');
    expect(startFailure([], { ...ctx, timedOut: true }).message).toBe('rsync daemon did not accept connections on 198.18.0.1:873 in time (no output)');
  });
});
