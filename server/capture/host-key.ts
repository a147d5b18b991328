/**
 * ssh host keys of a sample host, pure: fingerprints (OpenSSH's SHA256 form),
 * known_hosts lines, and the argument vectors of ssh-keyscan and ssh-keygen
 * that host-trust.ts runs. Hosts come validated from source.ts, so none can
 * be read as an option.
 */
import { createHash } from 'node:crypto';
import { ImgsrvError } from '../../core/errors.ts';
import type { CaptureSource } from './source.ts';

type SshSource = Extract<CaptureSource, { kind: 'ssh' }>;

/** How the operator pins a host key: an OpenSSH fingerprint, or known_hosts text. */
export type HostKeyPin = { kind: 'fingerprint'; fingerprint: string } | { kind: 'known-hosts'; text: string };

/** How far the key a capture talked to was trusted. */
export type HostKeyTrust = 'pinned' | 'remembered' | 'first-use';

/** The host key a capture connected with. */
export interface HostKeyInfo {
  /** OpenSSH form: SHA256:<43 base64 characters>. */
  fingerprint: string;
  /** As ssh-keygen -l shows it: ED25519, ECDSA, RSA … */
  type: string;
  trust: HostKeyTrust;
}

/** One key of a known_hosts or ssh-keyscan line. */
export interface HostKeyLine {
  /** ssh's name for the key type (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa …). */
  keyType: string;
  /** The key blob, base64. */
  key: string;
  fingerprint: string;
  /** @cert-authority: the line names a CA, not the host's own key. */
  marker?: '@cert-authority' | undefined;
}

/** An OpenSSH SHA256 fingerprint: a SHA-256 in base64 without padding. */
export const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** Validate a fingerprint the operator typed (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host prints it). */
export function parseFingerprint(raw: string): string {
  const fp = raw.trim();
  if (FINGERPRINT.test(fp)) return fp;
  throw new ImgsrvError('BAD_USAGE', `"${JSON.stringify(raw).slice(1, -1).slice(0, 100)}" is not an OpenSSH host key fingerprint`, {
    hint: 'give it as SHA256:… (43 base64 characters), as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints it on the host',
  });
}

/** The SHA256 fingerprint of a base64 key blob, as ssh-keygen -l computes it. */
export function fingerprintOf(keyBase64: string): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(keyBase64, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/** The key type as ssh-keygen -l shows it (ssh-ed25519 → ED25519). */
export function displayKeyType(keyType: string): string {
  if (keyType === 'ssh-ed25519') return 'ED25519';
  if (keyType === 'sk-ssh-ed25519@openssh.com') return 'ED25519-SK';
  if (keyType.startsWith('ecdsa-sha2-')) return 'ECDSA';
  if (keyType.startsWith('sk-ecdsa-sha2-')) return 'ECDSA-SK';
  if (keyType === 'ssh-rsa') return 'RSA';
  if (keyType === 'ssh-dss') return 'DSA';
  return keyType;
}

/** The name ssh looks the host up by in known_hosts: `host`, or `[host]:port` off port 22. */
export function knownHostsName(src: SshSource): string {
  return src.port === 22 ? src.host : `[${src.host}]:${src.port}`;
}

const KEY_TYPE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The keys in known_hosts or ssh-keyscan text. Comments, blank lines and the
 * lines ssh-keygen -F adds ("# Host … found") are skipped, as is anything
 * that is not a key line; a key the text marks @revoked is never returned,
 * even where another line lists it (ssh refuses it too).
 */
export function parseKeyLines(text: string): HostKeyLine[] {
  const out: HostKeyLine[] = [];
  const revoked = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    let fields = line.split(/\s+/);
    const first = fields[0]!;
    if (first.startsWith('@')) fields = fields.slice(1);
    const [, keyType, key] = fields;
    if (!keyType || !key || !KEY_TYPE.test(keyType) || !BASE64.test(key)) continue;
    const fingerprint = fingerprintOf(key);
    if (first === '@revoked') revoked.add(fingerprint);
    else if (first === '@cert-authority') out.push({ keyType, key, fingerprint, marker: '@cert-authority' });
    else if (!first.startsWith('@')) out.push({ keyType, key, fingerprint });
  }
  return out.filter((k) => !revoked.has(k.fingerprint));
}

/** ssh's default preference among host key types (OpenSSH 9's HostKeyAlgorithms order), most preferred first. */
const PREFERENCE = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com', 'ssh-rsa', 'ssh-dss'];

/**
 * Of several keys trusted for one host, the one ssh negotiates when the host
 * offers them all: ssh orders its host key algorithms by the types known for
 * the host, in its default order. A host's own key goes before a CA's.
 */
export function preferredKey(keys: readonly HostKeyLine[]): HostKeyLine | undefined {
  const rank = (k: HostKeyLine) => (k.marker ? 100 : 0) + (PREFERENCE.indexOf(k.keyType) + 1 || 50);
  return [...keys].sort((a, b) => rank(a) - rank(b))[0];
}

/** known_hosts text giving `name` exactly these keys (CA lines keep their marker). */
export function knownHostsText(name: string, keys: readonly HostKeyLine[]): string {
  return keys.map((k) => `${k.marker ? `${k.marker} ` : ''}${name} ${k.keyType} ${k.key}\n`).join('');
}

/** ssh-keyscan of the host's keys (every type), `-T` seconds per connection. */
export function keyscanArgv(src: SshSource, timeoutSeconds: number): string[] {
  return ['ssh-keyscan', '-T', String(Math.max(1, Math.round(timeoutSeconds))), '-p', String(src.port), '--', src.host];
}

/** ssh-keygen -F: the lines of `file` that apply to `name` (hashed names, patterns and markers as ssh reads them). Exit 1: none. */
export function findHostArgv(name: string, file: string): string[] {
  return ['ssh-keygen', '-F', name, '-f', file];
}

/** ssh-keygen -R: remove every line of `file` for `name` (it keeps the old file as `file`.old). */
export function removeHostArgv(name: string, file: string): string[] {
  return ['ssh-keygen', '-R', name, '-f', file];
}

/** The one line for a pinned fingerprint that the host does not offer. */
export function pinMismatchError(target: string, pinned: string, offered: readonly HostKeyLine[]): ImgsrvError {
  const list = offered.map((k) => `${k.fingerprint} (${displayKeyType(k.keyType)})`).join(', ');
  return new ImgsrvError('HOST_KEY', `the ssh host key of ${target} does not match the pinned ${pinned} (the host offers ${list}); nothing was captured`, {
    hint: 'check the fingerprint on the host\'s console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and pin that one: a different key can mean another machine answers at that address',
  });
}
