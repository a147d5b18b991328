/**
 * Which ssh host key a capture trusts, decided before the first session and
 * enforced by ssh itself (StrictHostKeyChecking over a known_hosts file):
 *
 * - pinned by fingerprint: ssh-keyscan asks the host for its keys, only a
 *   key whose SHA-256 is the pin goes into a known_hosts file of this
 *   capture's own (in a private temp dir), and ssh runs with
 *   StrictHostKeyChecking=yes against that file alone. A host that offers
 *   no such key is refused before any session; one that shows a different
 *   key to ssh than to ssh-keyscan is refused by ssh.
 * - pinned by known_hosts text: the operator's lines for this host (found by
 *   ssh-keygen -F, so hashed names and patterns work) are that file.
 * - not pinned: the data dir's known_hosts with accept-new, as before (trust
 *   on first use, a changed key refused); after the first session the key
 *   ssh accepted is read back from that file and reported, and the rsync
 *   runs that follow insist on it (StrictHostKeyChecking=yes).
 *
 * A pinned capture that authenticates replaces the host's lines in the data
 * dir's known_hosts with the pinned keys: pinning is how a reinstalled host
 * gets its new key accepted.
 */
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImgsrvError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { SshSettings } from './commands.ts';
import { execArgv } from './exec.ts';
import {
  displayKeyType,
  findHostArgv,
  keyscanArgv,
  knownHostsName,
  knownHostsText,
  parseKeyLines,
  pinMismatchError,
  preferredKey,
  removeHostArgv,
  type HostKeyInfo,
  type HostKeyLine,
  type HostKeyPin,
} from './host-key.ts';
import type { CaptureSource } from './source.ts';

/** What the capture needs to decide. */
export interface HostTrustOptions {
  source: Extract<CaptureSource, { kind: 'ssh' }>;
  pin?: HostKeyPin | undefined;
  /** The data dir's known_hosts (trust on first use). */
  knownHosts: string;
  /** Where this capture's private temp dir goes (the data dir's ssh/, mode 0700). */
  workDir: string;
  connectTimeoutSeconds: number;
  /** How errors name the host (root@host). */
  target: string;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
}

/** The ssh settings for the first session, and what to do once it has authenticated. */
export interface HostTrust {
  /** Settings for the first (probe) session. */
  ssh: SshSettings;
  /** Whether a pin decides (errors then say "does not match the pinned key", not "changed"). */
  pinned: boolean;
  /** After the first session succeeded: the key it used and how it was trusted, and the settings for every later session. */
  confirm(): Promise<{ hostKey: HostKeyInfo | undefined; ssh: SshSettings }>;
  /** Remove the private temp dir. */
  close(): void;
}

const TEMP_PREFIX = 'capture-';

/** Remove the private temp dirs a previous server process left in `workDir` (it died mid-capture). */
export function sweepTrustDirs(workDir: string): number {
  let names: string[];
  try {
    names = readdirSync(workDir).filter((n) => n.startsWith(TEMP_PREFIX));
  } catch {
    return 0;
  }
  for (const n of names) rmSync(join(workDir, n), { recursive: true, force: true });
  return names.length;
}

/** Decide how this capture's ssh sessions check the host key; throws HOST_KEY for a pin the host does not offer. */
export async function prepareHostTrust(o: HostTrustOptions): Promise<HostTrust> {
  const name = knownHostsName(o.source);
  const dir = mkdtempSync(join(o.workDir, TEMP_PREFIX));
  const close = () => rmSync(dir, { recursive: true, force: true });
  try {
    const pin = o.pin;
    if (!pin) return await firstUse(o, name, close);
    const trusted = pin.kind === 'fingerprint' ? await scanForPin(o, pin.fingerprint) : await operatorLines(o, name, dir, pin.text);
    const file = join(dir, 'known_hosts');
    writeFileSync(file, knownHostsText(name, trusted), { mode: 0o600 });
    const ssh: SshSettings = { knownHosts: file, strictHostKeyChecking: 'yes', connectTimeoutSeconds: o.connectTimeoutSeconds };
    return {
      ssh,
      pinned: true,
      close,
      confirm: async () => {
        await remember(o, name, trusted);
        const k = pin.kind === 'fingerprint' ? trusted.find((t) => t.fingerprint === pin.fingerprint) : preferredKey(trusted);
        return { hostKey: k && { fingerprint: k.fingerprint, type: displayKeyType(k.keyType), trust: 'pinned' }, ssh };
      },
    };
  } catch (err) {
    close();
    throw err;
  }
}

/** No pin: the data dir's known_hosts with accept-new; what was there before tells "remembered" from "first use". */
async function firstUse(o: HostTrustOptions, name: string, close: () => void): Promise<HostTrust> {
  const before = await linesFor(o, name, o.knownHosts);
  const ssh: SshSettings = { knownHosts: o.knownHosts, strictHostKeyChecking: 'accept-new', connectTimeoutSeconds: o.connectTimeoutSeconds };
  return {
    ssh,
    pinned: false,
    close,
    confirm: async () => {
      const keys = parseKeyLines(await linesFor(o, name, o.knownHosts));
      const k = preferredKey(keys);
      if (!k) o.logger?.warn({ knownHosts: o.knownHosts }, 'ssh accepted the host but left no key in known_hosts: later captures cannot tell a changed key');
      const hostKey: HostKeyInfo | undefined = k && { fingerprint: k.fingerprint, type: displayKeyType(k.keyType), trust: before.trim() ? 'remembered' : 'first-use' };
      // The key is known now: the rsync sessions that follow must present the same one.
      return { hostKey, ssh: k ? { ...ssh, strictHostKeyChecking: 'yes' } : ssh };
    },
  };
}

/** The host's keys whose fingerprint is the pin, from ssh-keyscan; HOST_KEY when it offers keys but not that one. */
async function scanForPin(o: HostTrustOptions, fingerprint: string): Promise<HostKeyLine[]> {
  const res = await execArgv(keyscanArgv(o.source, o.connectTimeoutSeconds), { signal: o.signal, logger: o.logger });
  const offered = parseKeyLines(res.stdout).filter((k) => !k.marker);
  const match = offered.filter((k) => k.fingerprint === fingerprint);
  o.logger?.debug({ offered: offered.map((k) => k.fingerprint), pinned: fingerprint }, 'ssh-keyscan');
  if (offered.length && !match.length) throw pinMismatchError(o.target, fingerprint, offered);
  // No key at all: the host did not answer ssh-keyscan. The probe's ssh, holding an empty
  // known_hosts with strict checking, then says why (unreachable, refused) or refuses the key.
  return match;
}

/** The operator's known_hosts lines for this host; BAD_USAGE when there are none. */
async function operatorLines(o: HostTrustOptions, name: string, dir: string, text: string): Promise<HostKeyLine[]> {
  const file = join(dir, 'operator_known_hosts');
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o600 });
  const lines = parseKeyLines(await linesFor(o, name, file));
  if (!lines.length) {
    throw new ImgsrvError('BAD_USAGE', `the known_hosts file has no key for ${name}`, {
      hint: `add the host's line (its /etc/ssh/ssh_host_ed25519_key.pub, as "${name} ssh-ed25519 AAAA…") or pin its fingerprint with --host-key`,
    });
  }
  return lines;
}

/** ssh-keygen -F output for `name` in `file` ('' when the file is missing or has no line for it). */
async function linesFor(o: HostTrustOptions, name: string, file: string): Promise<string> {
  if (!existsSync(file)) return '';
  const res = await execArgv(findHostArgv(name, file), { signal: o.signal, logger: o.logger });
  if (res.exitCode === 0) return res.stdout;
  if (res.exitCode === 1) return '';
  throw new ImgsrvError('IO', `ssh-keygen cannot read ${file}: ${res.stderr.trim().split('\n')[0] ?? `exit ${res.exitCode}`}`, { hint: 'check the file is a known_hosts file' });
}

/** Replace the host's lines in the data dir's known_hosts with the pinned keys. */
async function remember(o: HostTrustOptions, name: string, keys: readonly HostKeyLine[]): Promise<void> {
  if (!keys.length) return;
  if ((await linesFor(o, name, o.knownHosts)).trim()) {
    const res = await execArgv(removeHostArgv(name, o.knownHosts), { signal: o.signal, logger: o.logger });
    if (res.exitCode !== 0) throw new ImgsrvError('IO', `cannot update ${o.knownHosts}: ${res.stderr.trim().split('\n')[0]}`, { hint: 'check the data dir is writable' });
    rmSync(`${o.knownHosts}.old`, { force: true });
  }
  appendFileSync(o.knownHosts, knownHostsText(name, keys), { mode: 0o600 });
}
