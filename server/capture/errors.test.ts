import { describe, expect, it } from 'vitest';
import { classifyFailure, notRootError } from './errors.ts';

const c = (stderr: string, exitCode: number | null = 255, tool: 'ssh' | 'rsync' = 'rsync') => classifyFailure({ target: 'root@198.18.0.10', tool, exitCode, stderr });

describe('capture failures become one line saying what to do', () => {
  it.each([
    ['ssh: connect to host 198.18.0.99 port 22: No route to host\r\nrsync: connection unexpectedly closed (0 bytes received so far) [Receiver]\nrsync error: unexplained error (code 255) at io.c(232) [Receiver=3.5.0]', 'HOST_UNREACHABLE', /cannot reach .*No route to host.*: check that the host is up/],
    ['ssh: connect to host 198.18.0.10 port 22: Connection refused', 'HOST_UNREACHABLE', /Connection refused/],
    ['ssh: connect to host 198.18.0.10 port 22: Connection timed out', 'HOST_UNREACHABLE', /timed out/],
    ['ssh: Could not resolve hostname nope: Name or service not known', 'HOST_UNREACHABLE', /cannot resolve/],
    ['root@198.18.0.10: Permission denied (publickey).', 'SSH_AUTH', /refused the key: add the server's public key/],
    ['@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.', 'HOST_KEY', /known_hosts/],
    ['bash: line 1: rsync: command not found\nrsync: connection unexpectedly closed (0 bytes received so far) [Receiver]', 'NO_RSYNC', /has no rsync: install it/],
    ['rsync: [receiver] write failed on "/d/staging/s/var/big": No space left on device (28)', 'DISK_FULL', /disk is full/],
    ['Connection to 198.18.0.10 closed by remote host.\nrsync: connection unexpectedly closed (1234 bytes received so far) [receiver]', 'CONNECTION_LOST', /lost during the transfer.*staging tree is kept/],
    ['rsync: [sender] some odd thing', 'CAPTURE_FAILED', /exited with 23/],
  ])('%j → %s', (stderr, code, msg) => {
    const e = c(stderr, code === 'CAPTURE_FAILED' ? 23 : 255);
    expect(e.code).toBe(code);
    expect(e.oneLine()).toMatch(msg);
    expect(e.oneLine()).not.toContain('\n');
  });

  it('a pinned key ssh refuses is "does not match the pin", not "changed since the last capture"', () => {
    const stderr = 'No ED25519 host key is known for 198.18.0.10 and you have requested strict checking.\nHost key verification failed.';
    const pinned = classifyFailure({ target: 'root@198.18.0.10', tool: 'ssh', exitCode: 255, stderr, pinned: true });
    expect(pinned.code).toBe('HOST_KEY');
    expect(pinned.oneLine()).toMatch(/does not match the pinned key; nothing was captured: check the key on the host's console/);
    expect(c(stderr, 255, 'ssh').oneLine()).toMatch(/changed since the last capture.*--host-key/);
  });

  it('an rsync missing on the remote side exits 127', () => {
    expect(c('', 127).code).toBe('NO_RSYNC');
  });

  it('says what to do when we are not root', () => {
    expect(notRootError('admin@h', '1000').oneLine()).toMatch(/uid 1000, not root.*--user root/);
  });
});
