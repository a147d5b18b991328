import { describe, expect, it } from 'vitest';
import {
  displayKeyType,
  findHostArgv,
  fingerprintOf,
  keyscanArgv,
  knownHostsName,
  knownHostsText,
  parseFingerprint,
  parseKeyLines,
  pinMismatchError,
  preferredKey,
  removeHostArgv,
} from './host-key.ts';
import { parseSource } from './source.ts';

// Keys made with ssh-keygen; the fingerprints are what `ssh-keygen -lf` printed for them.
const ED25519 = 'AAAAC3NzaC1lZDI1NTE5AAAAIJZzgFWx2urSEGyPCDNGPt3VSRMh0L3NsMmCNZVV+Vkn';
const ED25519_FP = 'SHA256:UPIWSL6HFaB3w3ajSxR/+EOVd9NHf5pysmclpBFwCzY';
const ECDSA = 'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBIKJmmQUZfwhSXmWJ7shNqBV8q+b5HelsRBcJ2O8pG4PdQJufBXlSLSCLnbpVIlJTvobQylfVypvbrYQxcsivyc=';
const ECDSA_FP = 'SHA256:xRGBPPX10NQD/CTJhRKesIjrkmuYSFQk4z6VrlXdSnA';
const RSA =
  'AAAAB3NzaC1yc2EAAAADAQABAAAAgQC+ps0dRFFBfy6dBhHvj9ZQRe+vu7WorrxGztg8M1FkrT9r/XV2tZFkLN90cun5ETJ3zCq/DdIX6E7mt3tZDcfeo3f466UONdbZo6DbsVElm6bnFbGR0ga/8KSlZN6T1+GeKbO6HTwPDlqE9+d7Fnapyaaf8mahqc68g3N8CCTpYw==';
const RSA_FP = 'SHA256:6r/dLZRfa+mMmQmH07HkHyow8EnEqPhWe3Bp7QRtWRc';

const ssh = (spec: string, port?: number) => {
  const s = parseSource(spec, { port });
  if (s.kind !== 'ssh') throw new Error('ssh source expected');
  return s;
};

describe('ssh host keys', () => {
  it('computes fingerprints as ssh-keygen -l does', () => {
    expect(fingerprintOf(ED25519)).toBe(ED25519_FP);
    expect(fingerprintOf(ECDSA)).toBe(ECDSA_FP);
    expect(fingerprintOf(RSA)).toBe(RSA_FP);
    expect(displayKeyType('ssh-ed25519')).toBe('ED25519');
    expect(displayKeyType('ecdsa-sha2-nistp384')).toBe('ECDSA');
    expect(displayKeyType('ssh-rsa')).toBe('RSA');
  });

  it('accepts an OpenSSH fingerprint and refuses anything else in one line', () => {
    expect(parseFingerprint(` ${ED25519_FP}\n`)).toBe(ED25519_FP);
    for (const bad of ['UPIWSL6HFaB3w3ajSxR/+EOVd9NHf5pysmclpBFwCzY', 'MD5:12:34', `${ED25519_FP}=`, 'SHA256:short', `${ED25519_FP} -oProxyCommand=x`]) {
      expect(() => parseFingerprint(bad), bad).toThrow(/is not an OpenSSH host key fingerprint/);
    }
  });

  it('reads keyscan output and known_hosts (ssh-keygen -F) text: comments, markers, junk', () => {
    const keys = parseKeyLines(
      [
        '# 198.18.0.10:22 SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3',
        `198.18.0.10 ssh-rsa ${RSA}`,
        `198.18.0.10 ssh-ed25519 ${ED25519}`,
        '# Host 198.18.0.10 found: line 3',
        `|1|thQmjlZegrA/gmMzGGOPLXqCVc0=|UG6NB3Y407zvHv0FMWinj/IHIAM= ecdsa-sha2-nistp256 ${ECDSA} comment`,
        '198.18.0.10 ssh-ed25519 not*base64',
        '198.18.0.10 rot13 AAAA',
        '',
      ].join('\n'),
    );
    expect(keys.map((k) => [k.keyType, k.fingerprint])).toEqual([
      ['ssh-rsa', RSA_FP],
      ['ssh-ed25519', ED25519_FP],
      ['ecdsa-sha2-nistp256', ECDSA_FP],
    ]);
  });

  it('never trusts a key marked @revoked, and keeps a CA line marked', () => {
    const keys = parseKeyLines([`h ssh-ed25519 ${ED25519}`, `@revoked * ssh-ed25519 ${ED25519}`, `@cert-authority *.lab ssh-rsa ${RSA}`].join('\n'));
    expect(keys).toEqual([{ keyType: 'ssh-rsa', key: RSA, fingerprint: RSA_FP, marker: '@cert-authority' }]);
  });

  it('picks the key ssh negotiates first: ED25519, then ECDSA, then RSA; a host key before a CA', () => {
    const keys = parseKeyLines([`h ssh-rsa ${RSA}`, `h ecdsa-sha2-nistp256 ${ECDSA}`, `h ssh-ed25519 ${ED25519}`].join('\n'));
    expect(preferredKey(keys)?.fingerprint).toBe(ED25519_FP);
    expect(preferredKey(keys.slice(0, 2))?.fingerprint).toBe(ECDSA_FP);
    expect(preferredKey(parseKeyLines(`@cert-authority h ssh-ed25519 ${ED25519}\nh ssh-rsa ${RSA}`))?.fingerprint).toBe(RSA_FP);
    expect(preferredKey([])).toBeUndefined();
  });

  it('names the host as known_hosts does: bare on port 22, [host]:port elsewhere', () => {
    expect(knownHostsName(ssh('198.18.0.10'))).toBe('198.18.0.10');
    expect(knownHostsName(ssh('sample.lab', 2222))).toBe('[sample.lab]:2222');
    expect(knownHostsName(ssh('[fd00::10]', 2222))).toBe('[fd00::10]:2222');
    const [k] = parseKeyLines(`x ssh-ed25519 ${ED25519}`);
    expect(knownHostsText('[sample.lab]:2222', [k!])).toBe(`[sample.lab]:2222 ssh-ed25519 ${ED25519}\n`);
  });

  it('builds ssh-keyscan and ssh-keygen argument vectors: no shell, -- before the host', () => {
    expect(keyscanArgv(ssh('root@198.18.0.10', 2222), 10)).toEqual(['ssh-keyscan', '-T', '10', '-p', '2222', '--', '198.18.0.10']);
    expect(keyscanArgv(ssh('fd00::10'), 0.2)).toEqual(['ssh-keyscan', '-T', '1', '-p', '22', '--', 'fd00::10']);
    expect(findHostArgv('[h]:2222', '/d/ssh/known_hosts')).toEqual(['ssh-keygen', '-F', '[h]:2222', '-f', '/d/ssh/known_hosts']);
    expect(removeHostArgv('h', '/d/ssh/known_hosts')).toEqual(['ssh-keygen', '-R', 'h', '-f', '/d/ssh/known_hosts']);
  });

  it('a pin the host does not offer is one HOST_KEY line naming both keys', () => {
    const e = pinMismatchError('root@198.18.0.10', RSA_FP, parseKeyLines(`h ssh-ed25519 ${ED25519}`));
    expect(e.code).toBe('HOST_KEY');
    expect(e.oneLine()).not.toContain('\n');
    expect(e.oneLine()).toContain(`does not match the pinned ${RSA_FP} (the host offers ${ED25519_FP} (ED25519))`);
  });
});
